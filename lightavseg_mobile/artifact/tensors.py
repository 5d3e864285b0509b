"""Manifest-driven input/output handling shared by every runtime: validate, quantize, lay out, dequantize.

Numpy only (runs on a device). Every runtime feeds float32 arrays in the logical
layout (NCHW images) and gets float32 arrays back; what the artifact needs at its
boundary (int8/uint8 with a scale and zero point, NHWC) comes from its TensorSpec.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from ..errors import UserError
from .manifest import MANIFEST_SUFFIX, Manifest, ManifestError, Quantization, TensorSpec, load_manifest, manifest_path
from .verified import read_verified_at

# Integer ranges of the quantized dtypes a manifest may declare.
QUANT_RANGES: dict[str, tuple[int, int]] = {"int8": (-128, 127), "uint8": (0, 255), "int16": (-32768, 32767)}
FLOAT_DTYPES = ("float32", "float16")
LAYOUTS = ("NCHW", "NHWC", "-")


def open_artifact(path: str | os.PathLike[str], fmt: str, runtime: str) -> tuple[Manifest, Path]:
    """Load and hash-check the manifest of an artifact (or manifest path) that `runtime` runs; its specs are checked too."""
    manifest, artifact = load_manifest(path, verify=True)
    _check_opened(path, manifest, artifact, fmt, runtime)
    return manifest, artifact


def open_verified(path: str | os.PathLike[str], fmt: str, runtime: str) -> tuple[Manifest, Path, bytes]:
    """Like open_artifact, but also the artifact's bytes, read once and hash-checked: hand these to the runtime."""
    manifest, artifact, data = read_verified_at(path)
    _check_opened(path, manifest, artifact, fmt, runtime)
    return manifest, artifact, data


def _check_opened(path: str | os.PathLike[str], manifest: Manifest, artifact: Path, fmt: str, runtime: str) -> None:
    given = Path(path)
    if not given.name.endswith(MANIFEST_SUFFIX) and given.name != manifest.artifact_file:
        raise ManifestError(f"{given} has no manifest of its own: {manifest_path(artifact)} "
                            f"describes {manifest.artifact_file}; give each artifact its own name")
    if manifest.format != fmt:
        raise UserError(f"{artifact} is a {manifest.format!r} artifact; {runtime} runs {fmt} artifacts (use runtime='auto')")
    check_specs(manifest.inputs + manifest.outputs, str(artifact))


def quantize(x: np.ndarray, q: Quantization, dtype: str) -> np.ndarray:
    """real -> integer: clip(round_half_away(float32(x / scale)) + zero_point) in the range of `dtype`.

    The same rule as LiteRT's QUANTIZE kernel (std::round on a float quotient) and
    the Android app's core, so host, device and app feed identical integers.
    """
    lo, hi = _qrange(dtype)
    # All in float32, two buffers: this runs on every int8 input of every timed run (4x faster than a float64
    # pass on a 224x224 frame). trunc(v + copysign(0.5, v)) is exact in float32 for every |v| < 2**23 except
    # |v| = 0.5 - 2**-25, where the sum rounds up to 1; those (and only those) are set back to 0 below.
    # Larger |v| are clipped anyway. Checked bit for bit against a float64 reference in tests/test_runtime_core.py.
    v = np.divide(np.asarray(x, dtype=np.float32), np.float32(q.scale), dtype=np.float32)
    r = np.copysign(np.float32(0.5), v)
    r += v
    np.trunc(r, out=r)
    r[np.abs(v) < 0.5] = 0
    r += np.float32(q.zero_point)
    np.clip(r, lo, hi, out=r)
    np.nan_to_num(r, copy=False, nan=float(q.zero_point))
    return r.astype(dtype)


def dequantize(q_arr: np.ndarray, q: Quantization) -> np.ndarray:
    """integer -> real: scale * (q - zero_point), float32."""
    return ((q_arr.astype(np.float32) - np.float32(q.zero_point)) * np.float32(q.scale)).astype(np.float32)


def logical_shape(spec: TensorSpec) -> tuple[int, ...]:
    """The shape callers use: the artifact shape with an NHWC image turned back to NCHW."""
    shape = tuple(int(d) for d in spec.shape)
    if spec.layout == "NHWC" and len(shape) == 4:
        n, h, w, c = shape
        return (n, c, h, w)
    return shape


def artifact_key(spec: TensorSpec) -> str:
    """The tensor's name inside the artifact (signature key, ONNX graph input name)."""
    return spec.artifact_name or spec.name


def check_specs(specs: Sequence[TensorSpec], source: str) -> None:
    """Refuse a spec the runtimes cannot honour (unknown dtype/layout, integer tensor without quantization)."""
    for spec in specs:
        if spec.dtype not in FLOAT_DTYPES and spec.dtype not in QUANT_RANGES:
            raise ManifestError(f"{source}: tensor {spec.name!r} has dtype {spec.dtype!r}; "
                                f"supported: {', '.join(FLOAT_DTYPES + tuple(QUANT_RANGES))}")
        if spec.layout not in LAYOUTS:
            raise ManifestError(f"{source}: tensor {spec.name!r} has layout {spec.layout!r}; supported: {', '.join(LAYOUTS)}")
        if spec.dtype in QUANT_RANGES:
            q = spec.quantization
            if q is None:
                raise ManifestError(f"{source}: tensor {spec.name!r} is {spec.dtype} but has no quantization (scale, zero_point)")
            lo, hi = QUANT_RANGES[spec.dtype]
            if not (math.isfinite(q.scale) and q.scale > 0) or not lo <= q.zero_point <= hi:
                raise ManifestError(f"{source}: tensor {spec.name!r} has invalid quantization scale={q.scale} "
                                    f"zero_point={q.zero_point} for {spec.dtype}")


def _shape_matches(expected: Sequence[int], got: Sequence[int]) -> bool:
    # A dimension <= 0 in a manifest means "any size" (a dynamic axis).
    return len(expected) == len(got) and all(e <= 0 or e == g for e, g in zip(expected, got))


def _qrange(dtype: str) -> tuple[int, int]:
    try:
        return QUANT_RANGES[dtype]
    except KeyError:
        raise UserError(f"cannot quantize to {dtype!r}; quantized dtypes: {', '.join(QUANT_RANGES)}") from None


def validate_inputs(specs: Sequence[TensorSpec], inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Check names, dtypes and shapes of caller inputs against the specs; float32 C-contiguous copies by logical name."""
    names = [s.name for s in specs]
    missing = [n for n in names if n not in inputs]
    extra = sorted(set(inputs) - set(names))
    if missing or extra:
        parts = ([f"missing {missing}"] if missing else []) + ([f"unexpected {extra}"] if extra else [])
        raise UserError(f"wrong model inputs: {'; '.join(parts)}; the artifact takes {names}")
    out: dict[str, np.ndarray] = {}
    for spec in specs:
        x = np.asarray(inputs[spec.name])
        if x.dtype.kind != "f":
            raise UserError(f"input {spec.name!r} has dtype {x.dtype}; pass float32 (the runtime quantizes when the artifact needs it)")
        expected = logical_shape(spec)
        if not _shape_matches(expected, x.shape):
            raise UserError(f"input {spec.name!r} has shape {tuple(x.shape)}; expected {expected}")
        out[spec.name] = np.ascontiguousarray(x, dtype=np.float32)
    return out


def to_artifact(spec: TensorSpec, x: np.ndarray, quantized_as_float: bool = False) -> np.ndarray:
    """One validated float32 logical input -> what the artifact takes (layout, then quantization).

    With quantized_as_float (a float reference such as torch standing in for an int8 artifact)
    the input is rounded through the quantization and handed over as float32.
    """
    if spec.layout == "NHWC" and x.ndim == 4:
        x = np.ascontiguousarray(x.transpose(0, 2, 3, 1))
    if spec.dtype in QUANT_RANGES:
        if spec.quantization is None:
            raise ManifestError(f"input {spec.name!r} is {spec.dtype} but the manifest gives no quantization")
        q = quantize(x, spec.quantization, spec.dtype)
        return dequantize(q, spec.quantization) if quantized_as_float else q
    if spec.dtype == "float16" and not quantized_as_float:
        return x.astype(np.float16)
    return x


def from_artifact(spec: TensorSpec, y: np.ndarray) -> np.ndarray:
    """One raw artifact output -> float32 in the logical layout (dequantized when the artifact emits integers)."""
    y = np.asarray(y)
    if y.dtype.kind in "iu":
        if spec.quantization is None:
            raise ManifestError(f"output {spec.name!r} comes out as {y.dtype} but the manifest gives no quantization for it")
        y = dequantize(y, spec.quantization)
    if spec.layout == "NHWC" and y.ndim == 4:
        y = y.transpose(0, 3, 1, 2)
    return np.ascontiguousarray(y, dtype=np.float32)


def prepare_feed(specs: Sequence[TensorSpec], inputs: Mapping[str, np.ndarray], quantized_as_float: bool = False) -> dict[str, np.ndarray]:
    """Validate caller inputs and convert them into the artifact's feed, keyed by artifact names."""
    checked = validate_inputs(specs, inputs)
    return {artifact_key(s): to_artifact(s, checked[s.name], quantized_as_float) for s in specs}


def collect_outputs(specs: Sequence[TensorSpec], raw: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Raw artifact outputs keyed by artifact name -> float32 outputs keyed by logical name."""
    return {s.name: from_artifact(s, raw[artifact_key(s)]) for s in specs}


def check_boundary(spec: TensorSpec, shape: Sequence[object], dtype: str, quant: Quantization | None, source: str) -> None:
    """Compare what the loaded artifact declares for one tensor with its manifest spec (ManifestError if they disagree).

    `shape` may hold None or strings for dynamic dimensions; `quant` None means the artifact does not say.
    """
    what = f"{source}: tensor {spec.name!r} ({artifact_key(spec)})"
    if dtype != spec.dtype:
        raise ManifestError(f"{what} is {dtype} in the artifact but {spec.dtype} in the manifest; re-export it")
    dims = [d if isinstance(d, int) and d > 0 else -1 for d in shape]
    if len(dims) != len(spec.shape) or any(a > 0 and e > 0 and a != e for a, e in zip(dims, spec.shape)):
        raise ManifestError(f"{what} has shape {list(shape)} in the artifact but {spec.shape} in the manifest; re-export it")
    if quant is not None and spec.quantization is not None:
        mq = spec.quantization
        if quant.zero_point != mq.zero_point or not math.isclose(quant.scale, mq.scale, rel_tol=1e-6):
            raise ManifestError(f"{what} is quantized with scale={quant.scale} zero_point={quant.zero_point} in the artifact "
                                f"but scale={mq.scale} zero_point={mq.zero_point} in the manifest; re-export it")
