"""One audio-visual clip in memory: the unit every loader and generator produces."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# VGGish log-mel patch: 96 frames of 10 ms by 64 mel bands, one patch per video frame.
LOGMEL_FRAMES = 96
LOGMEL_BANDS = 64


@dataclass
class Clip:
    """T frames with their per-second log-mel patches and binary sounding-object masks.

    frames: uint8 [T,H,W,3] RGB; logmel: float32 [T,96,64]; masks: uint8 {0,1} [T,H,W];
    mask_valid: bool [T], False where the frame has no ground truth (its mask is all zero);
    category: the clip's class name where the dataset has one (AVSBench S4), else None.
    """

    name: str
    frames: np.ndarray
    logmel: np.ndarray
    masks: np.ndarray
    mask_valid: np.ndarray
    category: str | None = None

    def __post_init__(self) -> None:
        # Fail at construction, not deep inside training, when a loader breaks the contract.
        f, lm, m, v = self.frames, self.logmel, self.masks, self.mask_valid
        if f.dtype != np.uint8 or f.ndim != 4 or f.shape[-1] != 3:
            raise ValueError(f"Clip {self.name}: frames must be uint8 [T,H,W,3], got {f.dtype} {f.shape}")
        t, h, w = f.shape[:3]
        if lm.dtype != np.float32 or lm.shape != (t, LOGMEL_FRAMES, LOGMEL_BANDS):
            raise ValueError(
                f"Clip {self.name}: logmel must be float32 [{t},{LOGMEL_FRAMES},{LOGMEL_BANDS}], "
                f"got {lm.dtype} {lm.shape}"
            )
        if m.dtype != np.uint8 or m.shape != (t, h, w):
            raise ValueError(f"Clip {self.name}: masks must be uint8 [{t},{h},{w}], got {m.dtype} {m.shape}")
        if m.size and int(m.max()) > 1:
            raise ValueError(f"Clip {self.name}: masks must hold only 0 and 1, found {int(m.max())}")
        if v.dtype != np.bool_ or v.shape != (t,):
            raise ValueError(f"Clip {self.name}: mask_valid must be bool [{t}], got {v.dtype} {v.shape}")

    @property
    def num_frames(self) -> int:
        """Number of frames T."""
        return int(self.frames.shape[0])

    @property
    def image_size(self) -> tuple[int, int]:
        """(height, width) of the frames."""
        return int(self.frames.shape[1]), int(self.frames.shape[2])
