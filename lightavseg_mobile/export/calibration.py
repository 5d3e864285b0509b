"""Calibration data as the quantizers take it: `{input_name: array}` feeds, frames spread evenly over the split's clips."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..data.heldout import ClipBatch


def spread_frames(clips: Sequence[ClipBatch], limit: int | None = None) -> list[tuple[ClipBatch, int]]:
    """(clip, frame index) of every frame; with `limit`, that many spread evenly over every clip."""
    out = [(c, i) for c in clips for i in range(len(c.frames))]
    if limit is not None and limit < len(out):
        out = [out[int(k)] for k in np.linspace(0, len(out) - 1, limit).round()]
    return out


def whole_model_feeds(clips: Sequence[ClipBatch], input_names: Sequence[str], limit: int | None = None) -> list[dict[str, np.ndarray]]:
    """Feeds of the whole model, {frame, logmel|waveform} of one frame each, for the frames `spread_frames` picks."""
    frame, audio = input_names
    return [{frame: c.frames[i:i + 1], audio: c.audio[i:i + 1]} for c, i in spread_frames(clips, limit)]


def logmel(clip: ClipBatch) -> np.ndarray:
    """A clip's log-mel patches [T,1,96,64] (computed from its waveform when the clip holds raw audio)."""
    if clip.audio.ndim == 4:
        return clip.audio
    from ..runtime.predictor import logmel_from_waveform

    return logmel_from_waveform(clip.audio)
