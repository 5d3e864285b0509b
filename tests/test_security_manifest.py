"""A manifest is read from disk and trusted by every runtime: malformed or hostile ones are one-line ManifestErrors."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from lightavseg_mobile.artifact.manifest import (Manifest, ManifestError, Quantization, TensorSpec, artifact_sha256,
                                                 load_manifest, manifest_path)


def _write(folder: Path, name: str = "model.tflite", data: bytes = b"model bytes " * 64) -> tuple[Path, dict[str, Any]]:
    art = folder / name
    art.write_bytes(data)
    man = Manifest(
        artifact_file=name, artifact_sha256=artifact_sha256(art), artifact_size=len(data), format="tflite",
        precision="int8", preset="tiny", module="model",
        inputs=[TensorSpec("frame", [1, 3, 32, 32], "int8", "NCHW", Quantization(0.02, -3), "args_0"),
                TensorSpec("logmel", [1, 1, 96, 64], "float32", "-", None, "args_1")],
        outputs=[TensorSpec("mask_logits", [1, 1, 32, 32], "float32", "NCHW")],
        preprocessing={"image_size": 32}, recipe={"name": "r"}, tools={"torch": "2.13"},
    )
    raw = json.loads(man.to_json())
    manifest_path(art).write_text(json.dumps(raw))
    return art, raw


def _refused(art: Path, raw: Any, *needles: str) -> str:
    manifest_path(art).write_text(json.dumps(raw))
    with pytest.raises(ManifestError) as info:
        load_manifest(art, verify=True)
    message = str(info.value)
    assert "\n" not in message
    assert str(manifest_path(art)) in message
    for needle in needles:
        assert needle in message, message
    return message


def test_valid_manifest_still_loads(tmp_path: Path) -> None:
    art, _ = _write(tmp_path)
    man, path = load_manifest(art, verify=True)
    assert path == art and man.inputs[0].quantization == Quantization(0.02, -3)
    assert man.inputs[1].shape == [1, 1, 96, 64] and man.recipe == {"name": "r"}


def test_artifact_outside_the_manifest_folder_is_refused(tmp_path: Path) -> None:
    # The attack: a manifest naming ../outside.bin with that file's own hash passed verify=True.
    inner = tmp_path / "exports"
    inner.mkdir()
    art, raw = _write(inner)
    outside = tmp_path / "outside.bin"
    outside.write_bytes(b"some other file")
    raw.update(artifact_file="../outside.bin", artifact_sha256=artifact_sha256(outside), artifact_size=outside.stat().st_size)
    _refused(art, raw, "'artifact_file'", "bare file name")
    raw["artifact_file"] = str(outside)  # absolute
    _refused(art, raw, "'artifact_file'")


@pytest.mark.parametrize("name", ["", ".", "..", "sub/model.tflite", "sub\\model.tflite", "model\x00.tflite",
                                  "/etc/passwd", "./model.tflite", 7, None, ["model.tflite"]])
def test_artifact_file_must_be_a_bare_name(tmp_path: Path, name: Any) -> None:
    art, raw = _write(tmp_path)
    raw["artifact_file"] = name
    _refused(art, raw, "'artifact_file'")


@pytest.mark.parametrize("doc", [[], [{"schema": "lightavseg-manifest"}], "manifest", 3, None, True])
def test_a_manifest_that_is_not_an_object_is_refused(tmp_path: Path, doc: Any) -> None:
    art, _ = _write(tmp_path)
    _refused(art, doc, "not a LightAVSeg manifest")


@pytest.mark.parametrize("version", [True, False, "1", 1.0, 0, -1, None])
def test_schema_version_must_be_a_positive_integer(tmp_path: Path, version: Any) -> None:
    art, raw = _write(tmp_path)
    raw["schema_version"] = version
    _refused(art, raw, "'schema_version'")


# (field path, bad value, field name the message must give)
BAD_FIELDS = [
    (("artifact_sha256",), 123, "'artifact_sha256'"),
    (("artifact_size",), True, "'artifact_size'"),
    (("artifact_size",), "60", "'artifact_size'"),
    (("artifact_size",), 768.0, "'artifact_size'"),
    (("artifact_size",), -1, "'artifact_size'"),
    (("format",), ["tflite"], "'format'"),
    (("precision",), None, "'precision'"),
    (("preset",), 1, "'preset'"),
    (("module",), {}, "'module'"),
    (("status",), False, "'status'"),
    (("params",), True, "'params'"),
    (("params",), "12", "'params'"),
    (("checkpoint_sha256",), 0, "'checkpoint_sha256'"),
    (("preprocessing",), [], "'preprocessing'"),
    (("recipe",), "int8", "'recipe'"),
    (("format_details",), [], "'format_details'"),
    (("alignment_check",), "ok", "'alignment_check'"),
    (("export",), 1, "'export'"),
    (("parity",), [], "'parity'"),
    (("tools",), [], "'tools'"),
    (("tools", "torch"), 2.13, "'tools.torch'"),
    (("inputs",), {"frame": {}}, "'inputs'"),
    (("outputs",), "mask_logits", "'outputs'"),
    (("inputs", 0), ["frame"], "'inputs[0]'"),
    (("inputs", 0, "name"), 1, "'inputs[0].name'"),
    (("inputs", 0, "shape"), "1,3,32,32", "'inputs[0].shape'"),
    (("inputs", 0, "shape", 1), "3", "'inputs[0].shape[1]'"),
    (("inputs", 0, "shape", 1), True, "'inputs[0].shape[1]'"),
    (("inputs", 0, "shape", 1), 3.5, "'inputs[0].shape[1]'"),
    (("inputs", 0, "dtype"), None, "'inputs[0].dtype'"),
    (("inputs", 0, "layout"), 4, "'inputs[0].layout'"),
    (("inputs", 0, "artifact_name"), ["args_0"], "'inputs[0].artifact_name'"),
    (("inputs", 0, "quantization"), [0.02, -3], "'inputs[0].quantization'"),
    (("inputs", 0, "quantization", "scale"), "0.02", "'inputs[0].quantization.scale'"),
    (("inputs", 0, "quantization", "scale"), True, "'inputs[0].quantization.scale'"),
    (("inputs", 0, "quantization", "zero_point"), True, "'inputs[0].quantization.zero_point'"),
    (("inputs", 0, "quantization", "zero_point"), -3.5, "'inputs[0].quantization.zero_point'"),
    (("outputs", 0, "shape"), None, "'outputs[0].shape'"),
]


@pytest.mark.parametrize(("where", "value", "field"), BAD_FIELDS, ids=[f"{'.'.join(map(str, w))}={v!r}" for w, v, _ in BAD_FIELDS])
def test_every_field_is_type_checked(tmp_path: Path, where: tuple[Any, ...], value: Any, field: str) -> None:
    art, raw = _write(tmp_path)
    target = raw
    for key in where[:-1]:
        target = target[key]
    target[where[-1]] = value
    _refused(art, raw, field)


def test_missing_and_unknown_fields_are_named(tmp_path: Path) -> None:
    art, raw = _write(tmp_path)
    del raw["inputs"]
    _refused(art, raw, "required field 'inputs'")
    _, raw = _write(tmp_path)
    del raw["outputs"][0]["dtype"]
    _refused(art, raw, "outputs[0]", "'dtype'")
    _, raw = _write(tmp_path)
    del raw["inputs"][0]["quantization"]["scale"]
    _refused(art, raw, "inputs[0].quantization", "'scale'")
    _, raw = _write(tmp_path)
    raw["run_this"] = "rm -rf /"
    _refused(art, raw, "unknown field", "'run_this'")
    _, raw = _write(tmp_path)
    raw["inputs"][1]["extra"] = 1
    _refused(art, raw, "inputs[1]", "'extra'")


def test_unreadable_manifest_text_is_one_line(tmp_path: Path) -> None:
    art, _ = _write(tmp_path)
    manifest_path(art).write_bytes(b'{"schema": "\xff\xfe"}')  # not UTF-8
    with pytest.raises(ManifestError, match="cannot read manifest") as info:
        load_manifest(art, verify=True)
    assert "\n" not in str(info.value)
    manifest_path(art).write_text("[" * 100000 + "]" * 100000)  # nesting deep enough to exhaust the recursion limit
    with pytest.raises(ManifestError) as info:
        load_manifest(art, verify=True)
    assert "\n" not in str(info.value)
