"""One Runtime interface over torch, ONNX Runtime and LiteRT; `load_runtime` picks one from the file.

Importing this package imports none of torch, onnxruntime or LiteRT: each backend module
is imported when it is asked for, so the package works on a device that has only one.
"""

from __future__ import annotations

import importlib.util
import os
from importlib import metadata
from pathlib import Path
from typing import Any

from ..errors import UserError
from ..export.manifest import MANIFEST_SUFFIX, load_manifest
from .base import Runtime, boundary_call, timed_call
from .cores import physical_cores
from .predictor import ModelInputs, RuntimePredictor, audio_input, runtime_predictor

__all__ = ["RUNTIMES", "ModelInputs", "Runtime", "RuntimePredictor", "audio_input", "available_runtimes", "load_runtime",
           "physical_cores", "runtime_predictor", "timed_call", "boundary_call"]

RUNTIMES = ("torch", "onnxruntime", "litert")
# What each runtime loads, and the delegate/provider names it accepts ("auto" is always accepted).
_FORMAT_OF_RUNTIME = {"torch": "torch", "onnxruntime": "onnx", "litert": "tflite"}
_DELEGATES = {"torch": ("none",), "onnxruntime": ("cpu", "xnnpack", "nnapi", "qnn", "coreml", "cuda", "openvino"),
              "litert": ("xnnpack", "none")}
_AUTO_DELEGATE = {"torch": "none", "onnxruntime": "cpu", "litert": "xnnpack"}
_SUFFIX_FORMAT = {".onnx": "onnx", ".tflite": "tflite", ".pt": "torch", ".pth": "torch"}
# Distributions that provide each runtime, in order of preference.
_DISTRIBUTIONS = {"torch": (("torch", "torch"),), "onnxruntime": (("onnxruntime", "onnxruntime"),),
                  "litert": (("ai_edge_litert", "ai-edge-litert"), ("tflite_runtime", "tflite-runtime"))}


def available_runtimes() -> dict[str, str | None]:
    """Runtime name -> installed version (None when not installed), without importing any of them."""
    out: dict[str, str | None] = {}
    for name, candidates in _DISTRIBUTIONS.items():
        out[name] = None
        for module, dist in candidates:
            if importlib.util.find_spec(module) is not None:
                try:
                    out[name] = metadata.version(dist)
                except metadata.PackageNotFoundError:
                    out[name] = "unknown"
                break
    return out


def artifact_format(path: str | os.PathLike[str]) -> str:
    """onnx | tflite | torch, from the manifest when given one, else from the file suffix."""
    p = Path(path)
    if p.name.endswith(MANIFEST_SUFFIX):
        return load_manifest(p, verify=False)[0].format
    fmt = _SUFFIX_FORMAT.get(p.suffix.lower())
    if fmt is None:
        raise UserError(f"cannot tell the format of {p}: expected one of {', '.join(sorted(_SUFFIX_FORMAT))} or *{MANIFEST_SUFFIX}")
    return fmt


def load_runtime(
    artifact_or_checkpoint: str | os.PathLike[str],
    runtime: str = "auto",
    threads: int | None = None,
    delegate: str = "auto",
    **options: Any,
) -> Runtime:
    """Load an artifact (or a checkpoint, for torch) into a runtime; "auto" picks it from the format.

    delegate: LiteRT "xnnpack" | "none"; ONNX Runtime provider "cpu" | "xnnpack" | ...; torch "none".
    options go to the runtime's constructor (profile_dir for onnxruntime, preset for torch).
    """
    if runtime != "auto" and runtime not in RUNTIMES:
        raise UserError(f"unknown runtime {runtime!r}; choose one of: auto, {', '.join(RUNTIMES)}")
    fmt = artifact_format(artifact_or_checkpoint)
    wanted = next(r for r, f in _FORMAT_OF_RUNTIME.items() if f == fmt)
    if runtime == "auto":
        runtime = wanted
    elif runtime != wanted:
        raise UserError(f"runtime {runtime!r} cannot load the {fmt} file {artifact_or_checkpoint}; it needs runtime {wanted!r}")
    if delegate == "auto":
        delegate = _AUTO_DELEGATE[runtime]
    elif delegate not in _DELEGATES[runtime]:
        raise UserError(f"unknown delegate {delegate!r} for {runtime}; choose one of: auto, {', '.join(_DELEGATES[runtime])}")
    if runtime == "onnxruntime":
        from .onnxruntime_rt import OnnxRuntime

        return OnnxRuntime(artifact_or_checkpoint, threads=threads, provider=delegate, **options)
    if runtime == "litert":
        from .litert_rt import LiteRTRuntime

        return LiteRTRuntime(artifact_or_checkpoint, threads=threads, delegate=delegate, **options)
    from .torch_rt import TorchRuntime

    return TorchRuntime(artifact_or_checkpoint, threads=threads, **options)
