"""One Runtime interface over torch, ONNX Runtime and LiteRT; `load_runtime` picks one from the file.

Importing this package imports none of torch, onnxruntime or LiteRT: each backend module
is imported when it is asked for, so the package works on a device that has only one.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from ..errors import UserError
from ..artifact.manifest import MANIFEST_SUFFIX, load_manifest
from .base import Runtime, boundary_call, timed_call
from .cores import physical_cores
from .predictor import ModelInputs, RuntimePredictor, audio_input, runtime_predictor
from .registry import DELEGATES, RUNTIMES, RuntimeSpec, get_spec, native_delegate, spec_for_format, spec_for_suffix

__all__ = ["DELEGATES", "RUNTIMES", "RuntimeSpec", "ModelInputs", "Runtime", "RuntimePredictor", "audio_input", "available_runtimes", "load_runtime",
           "physical_cores", "runtime_predictor", "timed_call", "boundary_call"]


def available_runtimes() -> dict[str, str | None]:
    """Runtime name -> installed version (None when not installed), without importing any of them."""
    from .registry import installed_version

    return {name: installed_version(spec) for name, spec in RUNTIMES.items()}


def artifact_format(path: str | os.PathLike[str]) -> str:
    """onnx | tflite | torch, from the manifest when given one, else from the file suffix."""
    p = Path(path)
    if p.name.endswith(MANIFEST_SUFFIX):
        return load_manifest(p, verify=False)[0].format
    spec = spec_for_suffix(p.suffix)
    if spec is None:
        known = sorted(s for r in RUNTIMES.values() for s in r.suffixes)
        raise UserError(f"cannot tell the format of {p}: expected one of {', '.join(known)} or *{MANIFEST_SUFFIX}")
    return spec.format


def load_runtime(
    artifact_or_checkpoint: str | os.PathLike[str],
    runtime: str = "auto",
    threads: int | None = None,
    delegate: str = "auto",
    **options: Any,
) -> Runtime:
    """Load an artifact (or a checkpoint, for torch) into a runtime; "auto" picks it from the format.

    delegate: a name from registry.DELEGATES that the runtime accepts; never a silent fallback.
    options go to the runtime's constructor (profile_dir for onnxruntime, preset for torch).
    """
    if runtime != "auto":
        get_spec(runtime)
    spec = spec_for_format(artifact_format(artifact_or_checkpoint))
    if runtime not in ("auto", spec.name):
        raise UserError(f"runtime {runtime!r} cannot load the {spec.format} file {artifact_or_checkpoint}; "
                        f"it needs runtime {spec.name!r}")
    native = native_delegate(spec, delegate)
    if native is None and delegate != "auto" and spec.delegate_kwarg is not None:
        raise UserError(f"delegate {delegate!r} is not reachable from Python for {spec.name}; on a phone use "
                        "lavseg-bench --device arm64 --runner benchmark-model or --runner app")
    if spec.delegate_kwarg is not None:
        options[spec.delegate_kwarg] = native
    from .registry import runtime_class

    return runtime_class(spec)(artifact_or_checkpoint, threads=threads, **options)
