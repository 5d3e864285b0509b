"""`lavseg-data` synth and inspect subcommands."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from lightavseg_mobile.data import cli_data
from lightavseg_mobile.errors import DataError, UserError


def _synth(out: Path, *extra: str) -> int:
    # Seed 2: the first of its three videos is silent, so the silent count is exercised.
    return cli_data.main(["synth", "--out", str(out), "--videos", "3", "--seed", "2", "--image-size", "48", *extra])


def test_synth_json_and_inspect(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "set"
    assert _synth(out, "--json", "--split-fractions", "train=0.34,val=0.33,test=0.33") == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["videos"] == 3 and summary["out"] == str(out)
    assert sum(summary["splits"].values()) == 3
    assert (out / "ms3_meta_data.csv").is_file() and (out / "synth_meta.json").is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["set"]  # no temp folder left behind

    assert cli_data.main(["inspect", str(out), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["subset"] == "ms3" and report["synthetic"] is True
    total = report["total"]
    assert total["videos"] == 3 and total["frames"] == 15 and total["masks"] == 15
    assert total["frames_missing"] == total["masks_missing"] == 0
    assert total["pkl"] == total["wav"] == 3
    meta = json.loads((out / "synth_meta.json").read_text())
    assert total["silent"] == sum(c["silent"] for c in meta["clips"]) >= 1
    for split, n in summary["splits"].items():
        assert report["splits"][split]["videos"] == n

    assert cli_data.main(["inspect", str(out)]) == 0
    text = capsys.readouterr().out
    assert "MS3" in text and "total" in text


def test_inspect_counts_missing_and_silent(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "set"
    _synth(out, "--split-fractions", "train=1")
    capsys.readouterr()
    meta = json.loads((out / "synth_meta.json").read_text())
    name = meta["clips"][0]["name"]
    (out / "visual_frames" / name / f"{name}.mp4_2.png").unlink()
    report = cli_data.inspect_dataset(out)
    assert report["splits"]["train"]["frames_missing"] == 1
    assert report["splits"]["train"]["frames"] == 14


def test_non_empty_out_is_refused_unless_forced(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "set"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    with pytest.raises(UserError) as err:
        _synth(out)
    msg = str(err.value)
    assert "--force" in msg and "\n" not in msg
    assert (out / "keep.txt").read_text() == "mine"
    assert _synth(out, "--force") == 0
    assert not (out / "keep.txt").exists() and (out / "ms3_meta_data.csv").is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["set"]
    (tmp_path / "file").write_text("x")
    with pytest.raises(UserError, match="not a folder"):
        _synth(tmp_path / "file", "--force")


def test_interrupted_run_leaves_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real = cli_data.write_synthetic

    def interrupted(out, videos, seed, image_size, splits, progress=None):  # noqa: ANN001, ANN202
        real(out, 1, seed, image_size, splits)
        raise KeyboardInterrupt

    monkeypatch.setattr(cli_data, "write_synthetic", interrupted)
    with pytest.raises(KeyboardInterrupt):
        _synth(tmp_path / "set")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    "args, match",
    [
        (["--split-fractions", "train=0.5,val=0.2"], "sum to 1"),
        (["--split-fractions", "train:1"], "bad --split-fractions"),
        (["--split-fractions", "train=0.9,dev=0.1"], "unknown split"),
        (["--image-size", "8"], "--image-size"),
    ],
)
def test_user_mistakes_are_one_line_user_errors(tmp_path: Path, args: list[str], match: str) -> None:
    with pytest.raises(UserError, match=match) as err:
        _synth(tmp_path / "set", *args)
    assert "\n" not in str(err.value)
    assert not (tmp_path / "set").exists()
    with pytest.raises(UserError, match="at least 1"):
        cli_data.main(["synth", "--out", str(tmp_path / "x"), "--videos", "0", "--seed", "1"])


def test_inspect_errors(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="not a folder"):
        cli_data.main(["inspect", str(tmp_path / "missing")])
    with pytest.raises(DataError, match="neither"):
        cli_data.main(["inspect", str(tmp_path)])


def test_help_explains_every_flag(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as e:
        cli_data.main(["synth", "--help"])
    assert e.value.code == 0
    text = capsys.readouterr().out
    for flag in ("--out", "--videos", "--seed", "--image-size", "--split-fractions", "--force", "--json"):
        assert flag in text
    with pytest.raises(SystemExit):
        cli_data.main(["inspect", "--help"])
    assert "--json" in capsys.readouterr().out
