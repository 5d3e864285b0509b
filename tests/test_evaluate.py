"""Evaluation helpers: the audio-matters checks on clips whose answer is known."""

from __future__ import annotations

import numpy as np

from lightavseg_mobile.data.clip import Clip
from lightavseg_mobile.evaluate import ImageContract, audio_checks, evaluate

CONTRACT = ImageContract(32, (0.0, 0.0, 0.0), (1.0, 1.0, 1.0))


def _clip(name: str, sounding: bool) -> Clip:
    frames = np.zeros((2, 32, 32, 3), np.uint8)
    frames[:, 8:20, 8:20, 0] = 255  # a red square
    masks = np.zeros((2, 32, 32), np.uint8)
    if sounding:
        masks[:, 8:20, 8:20] = 1
    logmel = np.full((2, 96, 64), 1.0 if sounding else -1.0, np.float32)
    return Clip(name, frames, logmel, masks, np.ones(2, bool))


def audio_driven(frame: np.ndarray, logmel: np.ndarray) -> np.ndarray:
    """Segments the red square only when the audio 'sounds' (positive log-mel)."""
    red = frame[:, :1] > 0.5
    on = logmel.mean(axis=(1, 2, 3)) > 0
    return np.where(red & on[:, None, None, None], 5.0, -5.0).astype(np.float32)


def audio_blind(frame: np.ndarray, logmel: np.ndarray) -> np.ndarray:
    return np.where(frame[:, :1] > 0.5, 5.0, -5.0).astype(np.float32)


CLIPS = [_clip("a", True), _clip("b", True), _clip("c", False), _clip("d", False)]


def test_audio_driven_predictor_passes_every_check():
    r = audio_checks(audio_driven, CLIPS, CONTRACT)
    assert r["miou"] == 1.0 and r["f"] > 0.99
    # swapping pairs sounding clips with silent ones: every frame goes wrong
    assert r["miou_audio_swapped"] < 0.5 and r["miou_drop_audio_swapped"] > 0.5
    assert r["silent_clips"] == 2 and r["silent_area_ratio"] == 0.0
    assert r["silent_fg_area_with_donor_audio"] > 0


def test_audio_blind_predictor_is_caught():
    r = audio_checks(audio_blind, CLIPS, CONTRACT)
    assert r["miou_drop_audio_swapped"] == 0.0
    assert r["silent_area_ratio"] == 1.0
    assert evaluate(audio_blind, CLIPS, CONTRACT)["miou"] == r["miou"]
