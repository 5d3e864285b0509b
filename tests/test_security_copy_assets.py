"""android_demo/tools/copy_assets.py: names from the held-out csv never write outside the app's assets folder."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest
import soundfile
from PIL import Image

from lightavseg_mobile.artifact.manifest import Manifest, TensorSpec, artifact_sha256, manifest_path

TOOL = Path(__file__).resolve().parents[1] / "android_demo" / "tools" / "copy_assets.py"


@pytest.fixture(scope="module")
def tool() -> ModuleType:
    spec = importlib.util.spec_from_file_location("copy_assets_under_test", TOOL)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _model(folder: Path) -> Path:
    folder.mkdir(parents=True)
    art = folder / "m.tflite"
    art.write_bytes(b"tflite " * 32)
    man = Manifest(artifact_file=art.name, artifact_sha256=artifact_sha256(art), artifact_size=art.stat().st_size,
                   format="tflite", precision="fp32", preset="t", module="model",
                   inputs=[TensorSpec("frame", [1, 3, 8, 8], "float32")], outputs=[TensorSpec("mask_logits", [1, 1, 8, 8], "float32")],
                   preprocessing={})
    manifest_path(art).write_text(man.to_json())
    return art


def _wav(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    soundfile.write(str(path), np.zeros(1600, np.float32), 16000, subtype="PCM_16")


def _clip(heldout: Path, name: str, split: str = "test") -> None:
    _wav(heldout / "audio_wav" / split / f"{name}.wav")
    for i in range(1, 6):
        png = heldout / "visual_frames" / name / f"{name}.mp4_{i}.png"
        png.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(png)


def _run(tool: ModuleType, tmp: Path, names: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, Path]:
    heldout = tmp / "heldout"
    heldout.mkdir(exist_ok=True)
    (heldout / "ms3_meta_data.csv").write_text("video_id,split\n" + "".join(f"{n},test\n" for n in names))
    assets = tmp / "app" / "assets"
    code = tool.main(["--model", str(_model(tmp / "export")), "--assets", str(assets), "--heldout", str(heldout), "--clips", "8"])
    return code, capsys.readouterr().err, assets


def test_valid_names_are_copied(tool: ModuleType, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _clip(tmp_path / "heldout", "clip_a")
    code, err, assets = _run(tool, tmp_path, ["clip_a"], capsys)
    assert code == 0, err
    assert (assets / "heldout" / "clip_a" / "audio.wav").is_file()
    assert (assets / "heldout" / "clip_a" / "frame_5.png").is_file()


def test_parent_traversal_in_video_id_is_refused(tool: ModuleType, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # The attack: video_id ../../escaped. Its wav resolves to heldout/escaped.wav, which the attacker ships, and
    # the old code created app/escaped/ and wrote audio.wav there (outside app/assets/) before failing on frames.
    heldout = tmp_path / "heldout"
    (heldout / "audio_wav" / "test").mkdir(parents=True)
    (heldout / "visual_frames").mkdir(parents=True)
    _wav(heldout / "escaped.wav")
    _clip(heldout, "clip_a")
    code, err, assets = _run(tool, tmp_path, ["clip_a", "../../escaped"], capsys)
    assert code == 2
    assert err.count("\n") == 1 and "'../../escaped' is not a bare file name" in err
    assert not (tmp_path / "app" / "escaped").exists()
    assert not (assets / "heldout").exists()  # refused before anything was written


@pytest.mark.parametrize("name", ["..", ".", "a/b", "a\\b", "ab\x00c"])
def test_other_non_bare_names_are_refused(tool: ModuleType, tmp_path: Path, capsys: pytest.CaptureFixture[str], name: str) -> None:
    code, err, _ = _run(tool, tmp_path, [name], capsys)
    assert code == 2 and err.count("\n") == 1 and "is not a bare file name" in err


def test_absolute_video_id_is_refused(tool: ModuleType, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    target = tmp_path / "elsewhere"
    # Without the check, assets/heldout / "/abs/path" is "/abs/path": the copy would go there.
    _wav(Path(str(tmp_path / "heldout" / "audio_wav" / "test") + str(target) + ".wav"))
    code, err, _ = _run(tool, tmp_path, [str(target)], capsys)
    assert code == 2 and "is not a bare file name" in err
    assert not target.exists()


def test_bad_split_and_missing_columns_are_one_line(tool: ModuleType, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    heldout = tmp_path / "heldout"
    heldout.mkdir()
    (heldout / "ms3_meta_data.csv").write_text("name,split\nclip_a,test\n")
    code = tool.main(["--model", str(_model(tmp_path / "export")), "--assets", str(tmp_path / "assets"),
                      "--heldout", str(heldout)])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "lacks column(s) video_id" in err
    code = tool.main(["--model", str(tmp_path / "export" / "m.tflite"), "--assets", str(tmp_path / "assets"),
                      "--heldout", str(heldout), "--split", "../test"])
    err = capsys.readouterr().err
    assert code == 2 and "--split '../test' is not a bare file name" in err
