"""Recipes are validated data; every bad-input case of lavseg-export ends in one line and leaves nothing published."""

from __future__ import annotations

import errno
import json
import os
import signal
from pathlib import Path

import pytest

from lightavseg_mobile.errors import CheckpointError, UserError
from lightavseg_mobile.export import cli_export, onnx_export, pipeline
from lightavseg_mobile.export.errors import ConverterError
from lightavseg_mobile.export.recipes import DEFAULT_RECIPES, RecipeError, available_recipes, load_recipe, parse_recipe

GOOD = {"name": "r", "backend": "ort-static", "scheme": "w8a8", "calibration": {"method": "percentile"}}


def test_every_shipped_recipe_parses_and_is_named_after_its_file():
    names = available_recipes()
    assert set(DEFAULT_RECIPES.values()) <= set(names)
    backends = set()
    for name in names:
        r = load_recipe(name)
        assert r.name == name and name.startswith(r.format + "-")
        backends.add(r.backend)
        assert json.loads(json.dumps(r.to_dict()))["name"] == name
    assert backends == {"ort-static", "pt2e", "aiq"}


@pytest.mark.parametrize("patch, key", [
    ({"bogus": 1}, "bogus"),
    ({"backend": "tensorrt"}, "backend"),
    ({"scheme": "w4a4"}, "scheme"),
    ({"calibration": {"method": "median"}}, "calibration.method"),
    ({"calibration": {"frames": 3}}, "calibration.frames"),
    ({"calibration": {"method": "percentile", "percentile": 120}}, "calibration.percentile"),
    ({"keep_float": ["alignment"]}, "keep_float"),
    ({"per_channel": "yes"}, "per_channel"),
    ({"activation_dtype": "int4"}, "activation_dtype"),
])
def test_bad_recipe_key_is_named(patch, key):
    with pytest.raises(RecipeError) as exc:
        parse_recipe({**GOOD, **patch}, "mine.json")
    msg = str(exc.value)
    assert f"key {key!r}" in msg and "mine.json" in msg and "\n" not in msg


def test_incompatible_recipe_values_are_rejected():
    with pytest.raises(RecipeError, match="keep_float"):
        parse_recipe({"name": "x", "backend": "pt2e", "scheme": "w8a8", "keep_float": ["seg_head"]})
    with pytest.raises(RecipeError, match="calibration.method"):
        parse_recipe({"name": "x", "backend": "aiq", "scheme": "dynamic_wi8_afp32", "calibration": {"method": "minmax"}})
    assert parse_recipe(GOOD).calibration.method == "percentile"


def test_recipe_path_and_unknown_name(tmp_path):
    p = tmp_path / "mine.json"
    p.write_text(json.dumps({**GOOD, "keep_float": ["seg_head"]}))
    r = load_recipe(str(p))
    assert r.keep_float == ("seg_head",) and r.precision == "mixed"
    with pytest.raises(RecipeError, match="unknown recipe 'nope'"):
        load_recipe("nope")
    bad = tmp_path / "bad.json"
    bad.write_text("{ not json")
    with pytest.raises(RecipeError, match="not valid JSON"):
        load_recipe(str(bad))


@pytest.mark.parametrize("argv, match", [
    (["--format", "coreml"], "unknown format 'coreml'"),
    (["--audio-input", "mp3"], "unknown --audio-input 'mp3'"),
    (["--recipe", "nope"], "unknown recipe 'nope'"),
    (["--frobnicate"], "unrecognized arguments"),
])
def test_cli_user_mistakes_are_one_line(argv, match, tiny_ckpt, tmp_path):
    with pytest.raises(UserError, match=match) as exc:
        cli_export.main([str(tiny_ckpt), "--out", str(tmp_path / "o"), *argv])
    assert exc.value.exit_code == 2 and "\n" not in str(exc.value)
    assert not (tmp_path / "o").exists() or not any((tmp_path / "o").iterdir())


def test_ctrl_c_in_lavseg_export_is_one_line_exit_2(tiny_ckpt, tmp_path, monkeypatch, capsys):
    from lightavseg_mobile import cli

    def interrupted(req):
        raise KeyboardInterrupt

    monkeypatch.setattr(cli_export, "run_export", interrupted)
    assert cli.export([str(tiny_ckpt), "--format", "onnx", "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("interrupted:") and err.count("\n") == 1
    # The other commands keep the shell's convention for an interrupt.
    assert cli._guard(lambda argv: (_ for _ in ()).throw(KeyboardInterrupt()))([]) == 130


def test_recipe_of_other_format_and_waveform_pt2e(tiny_ckpt, tmp_path):
    with pytest.raises(RecipeError, match="makes tflite artifacts"):
        cli_export.main([str(tiny_ckpt), "--format", "onnx", "--recipe", "tflite-pt2e-w8a8", "--out", str(tmp_path)])
    with pytest.raises(RecipeError, match="waveform"):
        cli_export.main([str(tiny_ckpt), "--format", "tflite", "--int8", "--audio-input", "waveform", "--out", str(tmp_path)])


def test_corrupt_and_wrong_preset_checkpoints(tiny_ckpt, tmp_path):
    broken = tmp_path / "broken.pt"
    broken.write_bytes(tiny_ckpt.read_bytes()[:5000])
    with pytest.raises(CheckpointError, match="truncated|corrupt"):
        cli_export.main([str(broken), "--format", "onnx", "--out", str(tmp_path / "o")])
    with pytest.raises(CheckpointError, match="holds preset 'lightavseg-tiny', not 'lightavseg'"):
        cli_export.main([str(tiny_ckpt), "--preset", "lightavseg", "--format", "onnx", "--out", str(tmp_path / "o")])
    assert not (tmp_path / "o").exists()


def test_unwritable_output_dir(tiny_ckpt, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(UserError, match="not writable") as exc:
        cli_export.main([str(tiny_ckpt), "--format", "onnx", "--out", str(blocker / "sub")])
    assert exc.value.exit_code == 2


def _req(ckpt: Path, out: Path) -> pipeline.ExportRequest:
    return pipeline.ExportRequest(checkpoint=ckpt, formats=("onnx",), out=out, max_heldout_clips=1)


@pytest.mark.slow
@pytest.mark.parametrize("fault, expected", [
    (OSError(errno.ENOSPC, "No space left on device"), "is full"),
    (ConverterError("torch.onnx.export rejected the model: UnsupportedOp: aten::frob"), "rejected"),
    (KeyboardInterrupt(), None),
    ("SIGTERM", None),
])
def test_faults_during_conversion_leave_nothing(fault, expected, tiny_ckpt, tmp_path, monkeypatch):
    out = tmp_path / "exports"

    def boom(*args, **kwargs):
        # A half-written file in the temp folder, as a converter dying mid-write would leave.
        Path(args[-1]).write_bytes(b"partial")
        if fault == "SIGTERM":
            os.kill(os.getpid(), signal.SIGTERM)  # a supervisor stopping the job: unwinds like Ctrl-C
        raise fault

    monkeypatch.setattr(onnx_export, "export_onnx_fp32", boom)
    if expected is None:
        with pytest.raises(KeyboardInterrupt):
            pipeline.run_export(_req(tiny_ckpt, out))
    else:
        with pytest.raises(UserError, match=expected) as exc:
            pipeline.run_export(_req(tiny_ckpt, out))
        assert exc.value.exit_code == 2 and "\n" not in str(exc.value)
    assert list(out.iterdir()) == []  # no artifact, no manifest, no temp folder
