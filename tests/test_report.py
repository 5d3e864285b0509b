"""Overlays, clip strips and the evaluation report folder."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import lightavseg_mobile.report.eval_report as eval_report
from lightavseg_mobile.errors import UserError
from lightavseg_mobile.metrics import f_score, mask_iou
from lightavseg_mobile.report import clip_strip, overlay_mask, write_eval_report
from lightavseg_mobile.report.overlay import CONTOUR_COLOR, GAP_COLOR, PRED_COLOR

T, H, W = 3, 20, 24


def make_clip(seed: int, name: str) -> tuple[str, np.ndarray, np.ndarray, np.ndarray]:
    """A small synthetic clip: frames, logits and ground truth."""
    rng = np.random.default_rng(seed)
    frames = rng.integers(0, 256, size=(T, H, W, 3), dtype=np.uint8)
    gt = np.zeros((T, H, W), bool)
    gt[:, 5:15, 6:18] = True
    logits = rng.normal(scale=2.0, size=(T, 1, H, W)).astype(np.float32) + 3.0 * (gt[:, None] - 0.5)
    return name, frames, logits, gt


# ---------------------------------------------------------------- overlays


def test_overlay_tints_mask_and_draws_contour():
    frame = np.full((6, 7, 3), 100, np.uint8)
    mask = np.zeros((6, 7), bool)
    mask[0, 0] = True
    gt = np.zeros((6, 7), bool)
    gt[1:5, 2:6] = True  # 4x4 block: 12 contour pixels, 4 interior
    out = overlay_mask(frame, mask, gt)
    assert out.dtype == np.uint8 and out.shape == frame.shape
    expected_tint = np.rint(0.5 * 100 + 0.5 * np.array(PRED_COLOR)).astype(np.uint8)
    assert np.array_equal(out[0, 0], expected_tint)
    contour = np.all(out == np.array(CONTOUR_COLOR, np.uint8), axis=-1)
    assert contour.sum() == 12
    assert not contour[2:4, 3:5].any()  # interior untouched
    untouched = ~mask & ~contour
    assert np.all(out[untouched] == 100)


def test_overlay_rejects_bad_inputs():
    frame = np.zeros((4, 4, 3), np.uint8)
    with pytest.raises(UserError, match="logits"):
        overlay_mask(frame, np.zeros((4, 4), np.float32))
    with pytest.raises(UserError, match="does not match"):
        overlay_mask(frame, np.zeros((4, 5), bool))
    with pytest.raises(UserError, match="uint8"):
        overlay_mask(frame.astype(np.float32), np.zeros((4, 4), bool))


def test_clip_strip_layout():
    _, frames, logits, gt = make_clip(0, "c")
    pred = logits[:, 0] > 0
    strip = clip_strip(frames, pred, gt, gap=2)
    assert strip.shape == (2 * H + 2, T * W + (T - 1) * 2, 3)
    assert np.array_equal(strip[:H, :W], overlay_mask(frames[0], pred[0], gt[0]))
    assert np.array_equal(strip[:H, W + 2 : 2 * W + 2], overlay_mask(frames[1], pred[1], gt[1]))
    assert np.all(strip[:, W : W + 2] == np.array(GAP_COLOR, np.uint8))  # vertical gap
    assert np.all(strip[H : H + 2] == np.array(GAP_COLOR, np.uint8))  # horizontal gap
    # the bottom row shows the ground truth, not the prediction
    assert not np.array_equal(strip[H + 2 :, :W], strip[:H, :W])
    top_only = clip_strip(frames, pred[:, None], None, gap=2)
    assert top_only.shape == (H, T * W + (T - 1) * 2, 3)


# ---------------------------------------------------------------- report folder


def _links(md: str) -> list[str]:
    return re.findall(r"!\[[^\]]*\]\(([^)]+)\)", md)


def test_report_files_links_and_json(tmp_path):
    clips = [make_clip(i, name) for i, name in enumerate(["dog barking/a1", "piano", "car|horn"])]
    metrics = {"miou": 0.75612, "f": 0.86201, "frames": 15, "sqnr_db": float("inf"), "latency": {"p50_ms": 163.4}}
    tables = {"Per module": [{"module": "visual", "ms": 139.4}, {"module": "head", "ms": 7.6, "note": "a|b"}]}
    out = tmp_path / "reports" / "s4"
    md_path = write_eval_report(out, "S4 test", metrics, clips, extra_tables=tables, max_images=2)
    assert md_path == out / "report.md" and md_path.is_file()
    md = md_path.read_text()
    assert md.startswith("# S4 test\n")
    assert "| miou | 0.7561 |" in md and "| latency.p50_ms | 163.4000 |" in md and "| sqnr_db | inf |" in md
    assert "## Per module" in md and "| visual | 139.4000 |" in md and "a\\|b" in md
    links = _links(md)
    assert len(links) == 2  # max_images
    for link in links:
        png = out / link
        assert png.is_file() and png.parent == out / "images"
        with Image.open(png) as im:
            assert im.format == "PNG"
            assert im.size == (T * W + (T - 1) * 2, 2 * H + 2)
    assert sorted(p.name for p in (out / "images").iterdir()) == sorted(Path(link).name for link in links)
    data = json.loads((out / "metrics.json").read_text())
    assert data["title"] == "S4 test"
    assert data["metrics"]["miou"] == 0.75612 and data["metrics"]["sqnr_db"] == "inf"
    assert [c["clip"] for c in data["clips"]] == ["dog barking/a1", "piano", "car|horn"]
    name, _, logits, gt = clips[2]
    assert data["clips"][2]["miou"] == mask_iou(logits, gt)
    assert data["clips"][2]["f"] == f_score(logits, gt)
    assert data["clips"][2]["image"] is None and data["clips"][0]["image"] == links[0]
    assert data["extra_tables"]["Per module"][1]["note"] == "a|b"
    # nothing but the report is left beside it
    assert [p.name for p in out.parent.iterdir()] == ["s4"]


def test_report_clip_without_ground_truth(tmp_path):
    name, frames, logits, _ = make_clip(3, "nogt")
    write_eval_report(tmp_path / "r", "t", {}, [(name, frames, logits, None)])
    data = json.loads((tmp_path / "r" / "metrics.json").read_text())
    assert data["clips"][0]["miou"] is None and data["clips"][0]["frames"] == T
    with Image.open(tmp_path / "r" / data["clips"][0]["image"]) as im:
        assert im.size == (T * W + (T - 1) * 2, H)


def test_report_rerun_replaces_and_refuses_foreign_folder(tmp_path):
    out = tmp_path / "r"
    write_eval_report(out, "first", {"miou": 0.1}, [make_clip(0, "a"), make_clip(1, "b")])
    write_eval_report(out, "second", {"miou": 0.2}, [make_clip(2, "c")])
    assert (out / "report.md").read_text().startswith("# second")
    assert [p.name for p in (out / "images").iterdir()] == ["000_c.png"]  # old strips are gone
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r"]
    foreign = tmp_path / "home"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("keep me")
    with pytest.raises(UserError, match="not part of a report"):
        write_eval_report(foreign, "x", {}, [])
    assert (foreign / "notes.txt").read_text() == "keep me"


def test_interrupted_report_leaves_previous_one(tmp_path, monkeypatch):
    out = tmp_path / "r"
    write_eval_report(out, "good", {"miou": 0.5}, [make_clip(0, "a")])
    before = {p.relative_to(out): p.read_bytes() for p in out.rglob("*") if p.is_file()}
    calls = {"n": 0}
    real = eval_report.clip_strip

    def failing_strip(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(eval_report, "clip_strip", failing_strip)
    with pytest.raises(KeyboardInterrupt):
        write_eval_report(out, "half", {"miou": 0.9}, [make_clip(1, "b"), make_clip(2, "c")])
    after = {p.relative_to(out): p.read_bytes() for p in out.rglob("*") if p.is_file()}
    assert after == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r"]  # no temp folder left behind
    # and a first run that fails leaves no folder at all
    with pytest.raises(KeyboardInterrupt):
        calls["n"] = 1
        write_eval_report(tmp_path / "new", "half", {}, [make_clip(1, "b")])
    assert not (tmp_path / "new").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r"]
