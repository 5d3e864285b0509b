"""The artifact manifest: the contract between export, runtimes, benchmarks and the Android app.

Plain JSON next to every artifact (`ARTIFACT_FILE.manifest.json`, e.g. `lightavseg.fp32.tflite.manifest.json`). Importable without torch
(devices read it). Bump SCHEMA_VERSION on any incompatible change; readers
refuse newer versions.
"""

from __future__ import annotations

import json
import os
from dataclasses import MISSING, asdict, dataclass, field, fields
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
    def from_dict(d: dict[str, Any], source: str = "manifest", field_name: str = "tensor") -> "TensorSpec":
        """Parse from JSON, checking every field's type (ManifestError naming `source` and the field)."""
        d = _expect(d, dict, source, field_name)
        _no_unknown(d, _SPEC_FIELDS, source, field_name)
        where = f"{field_name}.quantization"
        q = d.get("quantization")
        if q is not None:
            q = _expect(q, dict, source, where)
            _no_unknown(q, ("scale", "zero_point"), source, where)
            q = Quantization(float(_expect(_required(q, "scale", source, where), float, source, f"{where}.scale")),
                             _expect(_required(q, "zero_point", source, where), int, source, f"{where}.zero_point"))
        shape = _expect(_required(d, "shape", source, field_name), list, source, f"{field_name}.shape")
        return TensorSpec(
            name=_expect(_required(d, "name", source, field_name), str, source, f"{field_name}.name"),
            shape=[_expect(x, int, source, f"{field_name}.shape[{i}]") for i, x in enumerate(shape)],
            dtype=_expect(_required(d, "dtype", source, field_name), str, source, f"{field_name}.dtype"),
            layout=_expect(d.get("layout", "NCHW"), str, source, f"{field_name}.layout"),
            quantization=q,
            artifact_name=_expect(d.get("artifact_name"), (str, type(None)), source, f"{field_name}.artifact_name"),
        )


_SPEC_FIELDS = ("name", "shape", "dtype", "layout", "quantization", "artifact_name")


def _type_name(kind: type | tuple[type, ...]) -> str:
    kinds = kind if isinstance(kind, tuple) else (kind,)
    names = {str: "a string", int: "an integer", float: "a number", bool: "true/false", list: "a list",
             dict: "an object", type(None): "null"}
    return " or ".join(names.get(k, k.__name__) for k in kinds)


def _expect(value: Any, kind: type | tuple[type, ...], source: str, field_name: str) -> Any:
    """`value` if it has JSON type `kind`, else a one-line ManifestError naming the file and the field."""
    kinds = kind if isinstance(kind, tuple) else (kind,)
    # JSON true/false are Python bools, which are ints: never accept them where a number is expected.
    ok = not isinstance(value, bool) or bool in kinds
    ok = ok and (isinstance(value, kinds) or (float in kinds and isinstance(value, int) and not isinstance(value, bool)))
    if not ok:
        got = "true/false" if isinstance(value, bool) else type(value).__name__
        raise ManifestError(f"{source}: field {field_name!r} must be {_type_name(kind)}, got {got} {_short(value)}")
    return value


def _required(d: dict[str, Any], key: str, source: str, where: str) -> Any:
    if key not in d:
        raise ManifestError(f"{source}: {where} lacks the required field {key!r}")
    return d[key]


def _no_unknown(d: dict[str, Any], known: tuple[str, ...], source: str, where: str) -> None:
    extra = sorted(k for k in d if k not in known)
    if extra:
        raise ManifestError(f"{source}: {where} has unknown field(s) {', '.join(repr(k) for k in extra)}")


def _short(value: Any) -> str:
    text = repr(value)  # repr escapes newlines, so the message stays on one line
    return text if len(text) <= 60 else text[:57] + "..."


def check_artifact_file(name: Any, source: str = "manifest") -> str:
    """`name` if it is a bare file name (no folder part, not . or .., no NUL), else ManifestError."""
    name = _expect(name, str, source, "artifact_file")
    # The artifact is opened as manifest_dir / artifact_file: anything but a bare name could point elsewhere.
    if not name or name in (".", "..") or "/" in name or "\\" in name or "\x00" in name or os.path.isabs(name) \
            or Path(name).name != name:
        raise ManifestError(f"{source}: field 'artifact_file' must be a bare file name next to the manifest, got {_short(name)}")
    return name


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
        """Parse and validate a manifest dict: every field's type, the artifact name, the schema version."""
        if not isinstance(d, dict):
            raise ManifestError(f"{source} is not a LightAVSeg manifest (a JSON {type(d).__name__}, not an object)")
        if d.get("schema") != SCHEMA:
            raise ManifestError(f"{source} is not a LightAVSeg manifest (schema={_short(d.get('schema'))})")
        version = d.get("schema_version")
        if isinstance(version, bool) or not isinstance(version, int) or version < 1:
            raise ManifestError(f"{source}: field 'schema_version' must be a positive integer, got {_short(version)}")
        if version > SCHEMA_VERSION:
            raise ManifestError(f"{source} has manifest schema version {version}; this package reads up to {SCHEMA_VERSION}: upgrade lightavseg-mobile")
        known = {f.name: f for f in fields(Manifest)}
        _no_unknown(d, tuple(known), source, "the manifest")
        values: dict[str, Any] = {}
        for key, f in known.items():
            if key not in d:
                if f.default is MISSING and f.default_factory is MISSING:
                    raise ManifestError(f"{source}: the manifest lacks the required field {key!r}")
                continue
            value = d[key]
            if key == "artifact_file":
                value = check_artifact_file(value, source)
            elif key in ("inputs", "outputs"):
                specs = _expect(value, list, source, key)
                value = [TensorSpec.from_dict(x, source, f"{key}[{i}]") for i, x in enumerate(specs)]
            elif key == "tools":
                value = _expect(value, dict, source, key)
                for name, version_text in value.items():
                    _expect(version_text, str, source, f"tools.{name}")
            else:
                value = _expect(value, _FIELD_TYPES[key], source, key)
            values[key] = value
        if values["artifact_size"] < 0:
            raise ManifestError(f"{source}: field 'artifact_size' must not be negative, got {values['artifact_size']}")
        return Manifest(**values)

    def input(self, name: str) -> TensorSpec:
        """The input spec called `name`."""
        for spec in self.inputs:
            if spec.name == name:
                return spec
        raise ManifestError(f"artifact {self.artifact_file} has no input {name!r}; inputs: {[s.name for s in self.inputs]}")


# JSON types of the Manifest fields that are not parsed specially (artifact_file, inputs, outputs, tools).
_FIELD_TYPES: dict[str, type | tuple[type, ...]] = {
    "artifact_sha256": str, "artifact_size": int, "format": str, "precision": str, "preset": str, "module": str,
    "preprocessing": dict, "checkpoint_sha256": str, "recipe": (dict, type(None)), "format_details": dict,
    "params": int, "alignment_check": dict, "export": dict, "parity": dict, "status": str, "schema": str,
    "schema_version": int,
}


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


def check_size(man: Manifest, artifact: Path, size: int) -> None:
    """ManifestError if the manifest gives a size and `size` (of the artifact's bytes) differs."""
    if man.artifact_size and size != man.artifact_size:
        raise ManifestError(f"artifact {artifact} has {size} bytes, its manifest says {man.artifact_size}: it was modified or "
                            "truncated; re-export it")


def check_digest(man: Manifest, artifact: Path, digest: str) -> None:
    """ManifestError if `digest` (sha256 of the artifact's bytes) is not the manifest's."""
    if digest != man.artifact_sha256:
        raise ManifestError(f"artifact {artifact} does not match its manifest (sha256 {digest[:12]}… != {man.artifact_sha256[:12]}…): "
                            "it was modified or replaced; re-export it")


def load_manifest(path: str | os.PathLike[str], verify: bool = True) -> tuple[Manifest, Path]:
    """Read the manifest of an artifact (or a manifest path); with verify, check the artifact's hash and size.

    Returns (manifest, artifact path).
    """
    mpath = manifest_path(path)
    if not mpath.is_file():
        raise ManifestError(f"no manifest next to {path} (expected {mpath}); re-export with lavseg-export")
    try:
        raw = json.loads(mpath.read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError) as exc:  # ValueError: bad JSON or bad UTF-8
        raise ManifestError(f"cannot read manifest {mpath}: {type(exc).__name__}: {(str(exc).splitlines() or [''])[0]}") from None
    man = Manifest.from_dict(raw, source=str(mpath))
    artifact = mpath.parent / man.artifact_file
    if verify:
        if not artifact.is_file():
            raise ManifestError(f"artifact {artifact} named by {mpath} is missing")
        size = artifact.stat().st_size
        check_size(man, artifact, size)
        check_digest(man, artifact, artifact_sha256(artifact))
    return man, artifact
