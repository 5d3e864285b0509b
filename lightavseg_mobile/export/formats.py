"""Artifact formats: the fp32 conversion of each format and the tensor specs its manifest records."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch

from ..artifact.manifest import Quantization, TensorSpec
from . import onnx_export, tflite_export
from .errors import ConverterError

Shapes = Sequence[Sequence[int]]


def convert_fp32(fmt: str, module: torch.nn.Module, args: tuple[torch.Tensor, ...], in_names: Sequence[str],
                 out_names: Sequence[str], dest: Path) -> dict:
    """Convert `module` to an fp32 artifact of format `fmt` at `dest`; returns the manifest's format details."""
    if fmt == "onnx":
        # Looked up at call time (not bound at import) so tests can substitute a converter.
        return onnx_export.export_onnx_fp32(module, args, in_names, out_names, dest)
    return tflite_export.export_tflite_fp32(module, args, dest)


def layout(shape: Sequence[int]) -> str:
    """Manifest layout of a tensor: NCHW for 4-D maps, '-' otherwise."""
    return "NCHW" if len(shape) == 4 else "-"


def float_specs(names: Sequence[str], shapes: Shapes) -> list[TensorSpec]:
    """Specs of float32 tensors under their logical names (ONNX keeps the names given at export)."""
    return [TensorSpec(name=n, shape=list(s), dtype="float32", layout=layout(s)) for n, s in zip(names, shapes)]


def tflite_specs(path: Path, in_names: Sequence[str], out_names: Sequence[str], in_shapes: Shapes,
                 out_shapes: Shapes) -> tuple[list[TensorSpec], list[TensorSpec]]:
    """Manifest specs of a .tflite: logical names mapped to signature keys (args_i / output_j), dtypes and scales read back."""
    ins, outs = tflite_export.signature_io(path)

    def build(rows: list[dict], names: Sequence[str], shapes: Shapes, prefix: str) -> list[TensorSpec]:
        by_key = {r["name"]: r for r in rows}
        specs = []
        for i, (n, s) in enumerate(zip(names, shapes)):
            key = f"{prefix}{i}"
            if key not in by_key:
                raise ConverterError(f"converted .tflite has signature tensors {sorted(by_key)}, expected {key}")
            r = by_key[key]
            q = Quantization(**r["quantization"]) if r["quantization"] and r["dtype"] in ("int8", "uint8", "int16") else None
            specs.append(TensorSpec(name=n, shape=r["shape"], dtype=r["dtype"], layout=layout(s), quantization=q, artifact_name=key))
        return specs

    return build(ins, in_names, in_shapes, "args_"), build(outs, out_names, out_shapes, "output_")


def tensor_specs(fmt: str, path: Path, in_names: Sequence[str], out_names: Sequence[str], in_shapes: Shapes,
                 out_shapes: Shapes) -> tuple[list[TensorSpec], list[TensorSpec]]:
    """Input and output specs of an artifact as its manifest records them."""
    if fmt == "tflite":
        return tflite_specs(path, in_names, out_names, in_shapes, out_shapes)
    return float_specs(in_names, in_shapes), float_specs(out_names, out_shapes)


def format_details(fmt: str, details: dict) -> dict:
    """Converter details plus what a runtime needs to call the artifact (the TFLite signature key)."""
    return {**details, "signature_key": tflite_export.SIGNATURE} if fmt == "tflite" else details
