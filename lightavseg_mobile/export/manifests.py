"""The manifest of one exported artifact: tensors, preprocessing, recipe, converter details, tool versions, provenance."""

from __future__ import annotations

import os
import platform
import time
from importlib import metadata
from pathlib import Path

from ..artifact.manifest import Manifest, TensorSpec, artifact_sha256
from ..hostinfo import cpu_model
from .recipes import Recipe

_TOOLS = ("torch", "onnx", "onnxruntime", "onnxscript", "onnxsim", "onnxslim", "litert-torch", "ai-edge-litert",
          "ai-edge-quantizer", "torchao", "numpy", "lightavseg-mobile")


def tool_versions() -> dict[str, str]:
    """Installed versions of every tool an artifact depends on."""
    out = {}
    for dist in _TOOLS:
        try:
            out[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            out[dist] = "not installed"
    return out


def new_manifest(path: Path, fmt: str, recipe: Recipe | None, preset: str, module: str, tensors: tuple[list[TensorSpec], list[TensorSpec]],
                 preprocessing: dict, checkpoint: tuple[str, str], details: dict, params: int, check: dict, t0: float) -> Manifest:
    """The manifest of a converted artifact before its parity verdict; `checkpoint` is (path, sha256)."""
    inputs, outputs = tensors
    return Manifest(
        artifact_file=path.name, artifact_sha256=artifact_sha256(path), artifact_size=path.stat().st_size,
        format=fmt, precision="fp32" if recipe is None else recipe.precision, preset=preset, module=module,
        inputs=inputs, outputs=outputs, preprocessing=preprocessing, checkpoint_sha256=checkpoint[1],
        recipe=None if recipe is None else recipe.to_dict(), format_details=details, params=params,
        alignment_check=check, tools=tool_versions(),
        export={"duration_s": round(time.perf_counter() - t0, 2), "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                "host": {"machine": platform.machine(), "processor": cpu_model(), "cores": os.cpu_count()},
                "checkpoint": checkpoint[0]},
    )
