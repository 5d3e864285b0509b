"""Clips as model-ready batches: the one loader used by export parity, bench/device parity, evaluation and peers.

The shipped held-out set (`assets/heldout`, MS3 layout) is the default everywhere: split `val` calibrates
int8, split `test` gates parity and is never calibrated on.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import UserError

DEFAULT_HELDOUT = Path(__file__).resolve().parents[1] / "assets" / "heldout"
CALIBRATION_SPLIT = "val"
HELDOUT_SPLIT = "test"
AUDIO_INPUTS = ("logmel", "waveform")


@dataclass(frozen=True)
class ClipBatch:
    """One clip ready to feed: model inputs plus ground truth."""

    name: str
    frames: np.ndarray  # [T,3,H,W] float32, normalised
    audio: np.ndarray  # [T,1,96,64] log-mel or [T,15600] waveform
    masks: np.ndarray  # [T,H,W] uint8
    valid: np.ndarray  # [T] bool


def load_split(root: str | Path, split: str, image_size: int, subset: str | None = None) -> list:
    """Every clip of one split of an AVSBench-layout folder (S4 or MS3, detected when not given), as data.clip.Clip."""
    from .avsbench import AVSBenchDataset, detect_subset

    root = Path(root)
    ds = AVSBenchDataset(root, subset=subset or detect_subset(root), split=split, image_size=image_size)
    return [ds[i] for i in range(len(ds))]


def load_clips(root: str | Path, split: str, size: int, mean: Sequence[float], std: Sequence[float], audio_input: str,
               limit: int | None = None) -> list[ClipBatch]:
    """Clips of one split as model-ready arrays (frames normalised, log-mel or waveform windows) with their masks."""
    from ..audio import waveform_patches
    from ..audio.logmel_numpy import read_wav
    from .avsbench import AVSBenchDataset, detect_subset
    from .preprocess import frames_to_input

    if audio_input not in AUDIO_INPUTS:
        raise UserError(f"unknown audio input {audio_input!r}; choose one of: {', '.join(AUDIO_INPUTS)}")
    root = Path(root)
    ds = AVSBenchDataset(root, subset=detect_subset(root), split=split, image_size=size)
    n = len(ds) if limit is None else min(limit, len(ds))
    if n == 0:
        raise UserError(f"{root} has no clips in split {split!r}; the export needs a calibration (val) and a held-out (test) split")
    clips = []
    for i in range(n):
        c = ds[i]
        if audio_input == "waveform":
            data, rate = read_wav(ds.layout.wav_path(ds.records[i]))
            audio = waveform_patches(data, rate, c.num_frames)
        else:
            audio = c.logmel[:, None].astype(np.float32)
        clips.append(ClipBatch(c.name, frames_to_input(c.frames, mean, std, size), audio, c.masks, c.mask_valid))
    return clips


def load_heldout(root: str | Path | None, size: int, mean: Sequence[float], std: Sequence[float], audio_input: str,
                 limit: int | None = None) -> list[ClipBatch]:
    """The held-out (`test`) split of `root` (default: the shipped set)."""
    return load_clips(root or DEFAULT_HELDOUT, HELDOUT_SPLIT, size, mean, std, audio_input, limit)
