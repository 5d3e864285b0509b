"""The bench engine's target runners: one `TargetRunner` protocol (base.py), one module per place a model runs.

host.py: a worker subprocess per target on this machine; adb_python.py: Python on an adb device;
benchmark_model.py: LiteRT's benchmark_model on an adb device; app.py: the Android demo app's bench mode.
"""
