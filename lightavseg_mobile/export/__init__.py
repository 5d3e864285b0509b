"""Export to ONNX / TFLite (fp32, int8) with the parity gate.

The library entry point is `export.pipeline.run_export(ExportRequest(...))` (+ `check_parity`);
recipes are in `export.recipes`, quantization backends in `export.backends`; the console script
is `export.cli_export.main`.
"""
