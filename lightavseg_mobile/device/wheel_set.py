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


# sha256 of every pinned aarch64 wheel, per device CPython (from `pip download` of the pins above, 2026-12):
# the host cache is checked against these, never trusted by file name, and pip downloads with --require-hashes.
# A new Python version or pin: `pip download` the set (wheels.download_command) and add its hashes here.
DEVICE_WHEEL_SHA256: dict[str, dict[str, str]] = {
    "3.11": {
        "ai_edge_litert-2.3.0-cp311-cp311-manylinux_2_27_aarch64.whl":
            "853fc608f96da87bd5f3458465dfb9abbf18d5ae6b94eceacead407146f175ae",
        "backports_strenum-1.2.8-py3-none-any.whl":
            "fc297cb26971f7d5e15a478a06a78575197f81daea47975771b1aae996dcccf4",
        "flatbuffers-25.12.19-py2.py3-none-any.whl":
            "7634f50c427838bb021c2d66a3d1168e9d199b0607e6329399f04846d42e20b4",
        "ml_dtypes-0.6.0-cp311-cp311-manylinux_2_27_aarch64.manylinux_2_28_aarch64.whl":
            "7728c0420ec1c338564fc8b01015ff2d58567e70f17fedce5a0a7c0308c0d5b9",
        "numpy-2.4.6-cp311-cp311-manylinux_2_27_aarch64.manylinux_2_28_aarch64.whl":
            "0ab0a9c4ffb1a6d95ef519fe4247dba8eb6b18ad93999f76b7f657039acabd47",
        "onnxruntime-1.32.0-cp311-cp311-manylinux_2_28_aarch64.whl":
            "2303372a85299b6757b0e11e1cbf13e410ddf7e10c37f4b37e99d1c90e7daf7c",
        "packaging-26.3-py3-none-any.whl":
            "d7193f7c8e4e93f444fde0262bf90af30e16fa0ad0ad44cb553c87339b23cd1c",
        "protobuf-7.36.2-cp310-abi3-manylinux2014_aarch64.whl":
            "e11e1f0180583a2af89db6a2ecd9e8dc40aa6d2988ca175bfd0e6d12ea72d74e",
        "tqdm-4.70.1-py3-none-any.whl":
            "c293e525e6fef9c20e8728fd4612df02a0aa31bb5fe91ecd93e123b1b7bffa73",
        "typing_extensions-4.16.0-py3-none-any.whl":
            "481caa481374e813c1b176ada14e97f1f67a4539ce9cfeb3f350d78d6370c2e8",
    },
    "3.12": {
        "ai_edge_litert-2.3.0-cp312-cp312-manylinux_2_27_aarch64.whl":
            "9891611b23a87cc2ace60e4b5ee9a2ee6f0fb7f395f009470961ae6e6310e1b8",
        "backports_strenum-1.2.8-py3-none-any.whl":
            "fc297cb26971f7d5e15a478a06a78575197f81daea47975771b1aae996dcccf4",
        "flatbuffers-25.12.19-py2.py3-none-any.whl":
            "7634f50c427838bb021c2d66a3d1168e9d199b0607e6329399f04846d42e20b4",
        "ml_dtypes-0.6.0-cp312-cp312-manylinux_2_27_aarch64.manylinux_2_28_aarch64.whl":
            "37da32aa97749251025666d62372775019594577b9c9e9cfda83bed48d778fdb",
        "numpy-2.4.6-cp312-cp312-manylinux_2_27_aarch64.manylinux_2_28_aarch64.whl":
            "5f9fb9157b4ce2971008323afe46053787b526ef624fea915b261468a8421a0f",
        "onnxruntime-1.32.0-cp312-cp312-manylinux_2_28_aarch64.whl":
            "e36c187006e7a7c8b8d6d57f1a209dd63f52430dca6c282b177718ad6b841054",
        "packaging-26.3-py3-none-any.whl":
            "d7193f7c8e4e93f444fde0262bf90af30e16fa0ad0ad44cb553c87339b23cd1c",
        "protobuf-7.36.2-cp310-abi3-manylinux2014_aarch64.whl":
            "e11e1f0180583a2af89db6a2ecd9e8dc40aa6d2988ca175bfd0e6d12ea72d74e",
        "tqdm-4.70.1-py3-none-any.whl":
            "c293e525e6fef9c20e8728fd4612df02a0aa31bb5fe91ecd93e123b1b7bffa73",
        "typing_extensions-4.16.0-py3-none-any.whl":
            "481caa481374e813c1b176ada14e97f1f67a4539ce9cfeb3f350d78d6370c2e8",
    },
    "3.13": {
        "ai_edge_litert-2.3.0-cp313-cp313-manylinux_2_27_aarch64.whl":
            "2ab71e4f5dfa65b3882634b42755f455f3e7415630d720200bd792733e15e257",
        "backports_strenum-1.2.8-py3-none-any.whl":
            "fc297cb26971f7d5e15a478a06a78575197f81daea47975771b1aae996dcccf4",
        "flatbuffers-25.12.19-py2.py3-none-any.whl":
            "7634f50c427838bb021c2d66a3d1168e9d199b0607e6329399f04846d42e20b4",
        "ml_dtypes-0.6.0-cp313-cp313-manylinux_2_27_aarch64.manylinux_2_28_aarch64.whl":
            "28d676428b104bb9717b0928bc5c5129f2d6b51b6727587cc4289e7bf8713cb5",
        "numpy-2.4.6-cp313-cp313-manylinux_2_27_aarch64.manylinux_2_28_aarch64.whl":
            "72fbe16c6fac95aedf5937fa873445cec2110be35d8a4e9433d7501fd98dae6b",
        "onnxruntime-1.32.0-cp313-cp313-manylinux_2_28_aarch64.whl":
            "54d02baff2df38777b4c3cc7af326406fe8b8a48f54720f4c446d2d327920a79",
        "packaging-26.3-py3-none-any.whl":
            "d7193f7c8e4e93f444fde0262bf90af30e16fa0ad0ad44cb553c87339b23cd1c",
        "protobuf-7.36.2-cp310-abi3-manylinux2014_aarch64.whl":
            "e11e1f0180583a2af89db6a2ecd9e8dc40aa6d2988ca175bfd0e6d12ea72d74e",
        "tqdm-4.70.1-py3-none-any.whl":
            "c293e525e6fef9c20e8728fd4612df02a0aa31bb5fe91ecd93e123b1b7bffa73",
        "typing_extensions-4.16.0-py3-none-any.whl":
            "481caa481374e813c1b176ada14e97f1f67a4539ce9cfeb3f350d78d6370c2e8",
    },
}


def locked_wheels(python: str) -> dict[str, str] | None:
    """Wheel file name -> sha256 of the pinned set for CPython `python` on aarch64 (None: no lock for it)."""
    return DEVICE_WHEEL_SHA256.get(python)
