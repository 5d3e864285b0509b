"""The pinned aarch64 wheels a device's python3 needs for the runner: numpy, ONNX Runtime, LiteRT.

One list for both users: lavseg-bench pushes it to a device (wheels.py) and the emulated device's
root build (tools/arm64_device) preinstalls the same pins, so what is measured there is what ships.
"""

from __future__ import annotations

# The device-side runner's wheels and their dependencies, pinned so a rebuild is the same set.
DEVICE_WHEELS = (
    "numpy==2.4.6",
    "onnxruntime==1.32.0",
    "ai-edge-litert==2.3.0",
    "backports.strenum==1.2.8",
    "flatbuffers==25.12.19",
    "ml_dtypes==0.6.0",
    "packaging==26.3",
    "protobuf==7.36.2",
    "tqdm==4.70.1",
    "typing_extensions==4.16.0",
)
# pip does not widen an explicit manylinux_2_X tag to older ones, and wheels pick any of
# 2_17..2_28: list every glibc the emulated root (2.41) can load.
WHEEL_PLATFORMS = ("manylinux2014_aarch64",) + tuple(
    f"manylinux_2_{minor}_aarch64" for minor in range(17, 42)
)


def pip_target_args(python: str, platforms: tuple[str, ...] = WHEEL_PLATFORMS) -> list[str]:
    """Return pip's target-interpreter options: binary wheels for CPython `python` on aarch64 `platforms`."""
    args = ["--only-binary=:all:", "--implementation", "cp", "--python-version", python]
    for platform in platforms:
        args += ["--platform", platform]
    return args
