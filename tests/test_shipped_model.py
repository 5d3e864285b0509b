"""The shipped checkpoints on the shipped held-out test split: quality bar and proof that audio matters."""

from __future__ import annotations

import pytest

from lightavseg_mobile.checkpoint import load_checkpoint, shipped_checkpoint
from lightavseg_mobile.evaluate import ImageContract, audio_checks, torch_predictor
from lightavseg_mobile.data.heldout import load_split


@pytest.fixture(scope="module")
def test_clips(heldout_dir):
    return load_split(heldout_dir, "test", 224)


def _checks(preset, clips):
    ckpt = load_checkpoint(shipped_checkpoint(preset), expect_preset=preset)
    p = ckpt.preset
    model = ckpt.build_model().for_inference()
    return audio_checks(torch_predictor(model), clips, ImageContract(p.image_size, p.mean, p.std))


def test_heldout_splits_are_disjoint_and_sized(heldout_dir):
    calib = {c.name for c in load_split(heldout_dir, "val", 64)}
    test = {c.name for c in load_split(heldout_dir, "test", 64)}
    assert len(calib) >= 16 and len(test) >= 24 and not calib & test


@pytest.mark.slow
def test_lightavseg_quality_and_audio_matters(test_clips):
    r = _checks("lightavseg", test_clips)
    assert r["miou"] >= 0.70, r
    assert r["miou_drop_audio_swapped"] >= 0.20, r
    assert r["silent_clips"] >= 2 and r["silent_area_ratio"] <= 0.20, r


@pytest.mark.slow
def test_lightavseg_tiny_is_trained(test_clips):
    r = _checks("lightavseg-tiny", test_clips)
    assert r["miou"] >= 0.70, r
    assert r["miou_drop_audio_swapped"] >= 0.20, r
    assert r["silent_area_ratio"] <= 0.20, r
