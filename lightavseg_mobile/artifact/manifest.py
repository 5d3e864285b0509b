"""The artifact manifest: the contract between export, runtimes, benchmarks and the Android app.

Plain JSON next to every artifact (`ARTIFACT_FILE.manifest.json`, e.g. `lightavseg.fp32.tflite.manifest.json`). Importable without torch
(devices read it). Bump SCHEMA_VERSION on any incompatible change; readers
refuse newer versions.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ..errors import UserError
from .hashing import file_sha256

SCHEMA = "lightavseg-manifest"
SCHEMA_VERSION = 1
MANIFEST_SUFFIX = ".manifest.json"


class ManifestError(UserError):
    """A manifest is missing, malformed, of a newer schema, or does not match its artifact."""


@dataclass(frozen=True)
class Quantization:
    """Affine int8/uint8 quantization of one tensor: real = scale * (q - zero_point)."""

    scale: float
    zero_point: int


@dataclass(frozen=True)
class TensorSpec:
    """One model input or output as the artifact sees it."""

    name: str  # logical name: frame, logmel, waveform, mask_logits (or a sub-model's tensor names)
    shape: list[int]
    dtype: str  # dtype at the artifact boundary: float32, int8, uint8
    layout: str = "NCHW"  # NCHW, NHWC or "-" for non-image tensors
    quantization: Quantization | None = None
    artifact_name: str | None = None  # the name inside the artifact when it differs (e.g. TFLite signature key)

    @staticmethod
    def from_dict(d: dict[str, Any]) -> "TensorSpec":
        """Parse from JSON."""
        q = d.get("quantization")
        return TensorSpec(
            name=d["name"], shape=[int(x) for x in d["shape"]], dtype=d["dtype"], layout=d.get("layout", "NCHW"),
            quantization=Quantization(float(q["scale"]), int(q["zero_point"])) if q else None,
            artifact_name=d.get("artifact_name"),
        )


@dataclass
class Manifest:
    """Everything a runtime needs to feed an artifact and everything a report needs to cite it."""

    artifact_file: str  # file name, relative to the manifest's folder
    artifact_sha256: str
    artifact_size: int
    format: str  # onnx | tflite
    precision: str  # fp32 | int8 | int8-dynamic | int8-weight-only | mixed
    preset: str
    module: str  # "model" for the whole network, else visual/audio/reciprocal_encoder/fusion_decoder/seg_head
    inputs: list[TensorSpec]
    outputs: list[TensorSpec]
    preprocessing: dict[str, Any]
    checkpoint_sha256: str = ""
    recipe: dict[str, Any] | None = None
    format_details: dict[str, Any] = field(default_factory=dict)  # opset, tflite schema, ...
    params: int = 0
    alignment_check: dict[str, Any] = field(default_factory=dict)
    tools: dict[str, str] = field(default_factory=dict)
    export: dict[str, Any] = field(default_factory=dict)  # duration_s, created, git_commit, host
    parity: dict[str, Any] = field(default_factory=dict)
    status: str = "published"  # published | failed-parity
    schema: str = SCHEMA
    schema_version: int = SCHEMA_VERSION

    def to_json(self) -> str:
        """Serialise (stable key order)."""
        return json.dumps(asdict(self), indent=2, sort_keys=True, default=_json_default)

    @staticmethod
    def from_dict(d: dict[str, Any], source: str = "manifest") -> "Manifest":
        """Parse and validate a manifest dict."""
        if d.get("schema") != SCHEMA:
            raise ManifestError(f"{source} is not a LightAVSeg manifest (schema={d.get('schema')!r})")
        version = d.get("schema_version")
        if not isinstance(version, int) or version > SCHEMA_VERSION:
            raise ManifestError(f"{source} has manifest schema version {version}; this package reads up to {SCHEMA_VERSION}: upgrade lightavseg-mobile")
        try:
            d = dict(d)
            d["inputs"] = [TensorSpec.from_dict(x) for x in d["inputs"]]
            d["outputs"] = [TensorSpec.from_dict(x) for x in d["outputs"]]
            return Manifest(**d)
        except (KeyError, TypeError, ValueError) as exc:
            raise ManifestError(f"{source} is malformed ({type(exc).__name__}: {exc})") from None

    def input(self, name: str) -> TensorSpec:
        """The input spec called `name`."""
        for spec in self.inputs:
            if spec.name == name:
                return spec
        raise ManifestError(f"artifact {self.artifact_file} has no input {name!r}; inputs: {[s.name for s in self.inputs]}")


def _json_default(obj: Any) -> Any:
    if hasattr(obj, "item"):
        return obj.item()
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


def manifest_path(artifact: str | os.PathLike[str]) -> Path:
    """`exports/x.fp32.tflite` -> `exports/x.fp32.tflite.manifest.json` (one manifest per artifact file, never shared)."""
    p = Path(artifact)
    return p.with_name(p.name + MANIFEST_SUFFIX) if not p.name.endswith(MANIFEST_SUFFIX) else p


def artifact_sha256(path: str | os.PathLike[str]) -> str:
    """sha256 of an artifact file."""
    return file_sha256(path)


def load_manifest(path: str | os.PathLike[str], verify: bool = True) -> tuple[Manifest, Path]:
    """Read the manifest of an artifact (or a manifest path); with verify, check the artifact's hash and size.

    Returns (manifest, artifact path).
    """
    mpath = manifest_path(path)
    if not mpath.is_file():
        raise ManifestError(f"no manifest next to {path} (expected {mpath}); re-export with lavseg-export")
    try:
        raw = json.loads(mpath.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise ManifestError(f"cannot read manifest {mpath}: {exc}") from None
    man = Manifest.from_dict(raw, source=str(mpath))
    artifact = mpath.parent / man.artifact_file
    if verify:
        if not artifact.is_file():
            raise ManifestError(f"artifact {artifact} named by {mpath} is missing")
        size = artifact.stat().st_size
        if man.artifact_size and size != man.artifact_size:
            raise ManifestError(f"artifact {artifact} has {size} bytes, its manifest says {man.artifact_size}: it was modified or "
                                "truncated; re-export it")
        digest = artifact_sha256(artifact)
        if digest != man.artifact_sha256:
            raise ManifestError(f"artifact {artifact} does not match its manifest (sha256 {digest[:12]}… != {man.artifact_sha256[:12]}…): "
                                "it was modified or replaced; re-export it")
    return man, artifact
