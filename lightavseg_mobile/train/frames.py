"""In-memory bank of training frames, sampled in random batches with flips."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from ..data.clip import Clip


class FrameBank:
    """All frames with ground truth from a list of clips, stacked for fast batch sampling."""

    def __init__(self, clips: Sequence[Clip], mean: Sequence[float], std: Sequence[float]) -> None:
        frames, logmels, masks = [], [], []
        for clip in clips:
            idx = np.flatnonzero(clip.mask_valid)
            frames.append(clip.frames[idx])
            logmels.append(clip.logmel[idx])
            masks.append(clip.masks[idx])
        if not frames or sum(len(f) for f in frames) == 0:
            raise ValueError("no frames with ground truth to train on")
        self.frames = torch.from_numpy(np.concatenate(frames))  # uint8 N,H,W,3
        self.logmel = torch.from_numpy(np.concatenate(logmels))  # float32 N,96,64
        self.masks = torch.from_numpy(np.concatenate(masks))  # uint8 N,H,W
        self.mean = torch.tensor(mean, dtype=torch.float32).view(1, 3, 1, 1)
        self.std = torch.tensor(std, dtype=torch.float32).view(1, 3, 1, 1)

    def __len__(self) -> int:
        return int(self.frames.shape[0])

    def batch(self, index: torch.Tensor, flip: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(frames [B,3,H,W] normalised, logmel [B,1,96,64], masks [B,1,H,W] float) for `index`."""
        x = self.frames[index].permute(0, 3, 1, 2).float() / 255.0
        x = (x - self.mean) / self.std
        m = self.masks[index].unsqueeze(1).float()
        if flip is not None and bool(flip.any()):
            x = torch.where(flip.view(-1, 1, 1, 1), x.flip(-1), x)
            m = torch.where(flip.view(-1, 1, 1, 1), m.flip(-1), m)
        return x.contiguous(), self.logmel[index].unsqueeze(1), m.contiguous()
