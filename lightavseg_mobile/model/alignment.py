"""Training-only multi-scale audio-visual alignment branch (L_msa); never exported."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class AlignmentBranch(nn.Module):
    """Per decoder scale: cosine similarity of projected pixel features and projected audio, / temperature.

    Returns similarity logits; sigmoid(logit) is the predicted sounding-pixel map
    that L_msa compares with the ground-truth mask.
    """

    def __init__(self, dim: int, audio_dim: int, proj_dim: int, scales: int = 3, temperature: float = 0.1) -> None:
        super().__init__()
        self.temperature = temperature
        self.visual_proj = nn.ModuleList(nn.Conv2d(dim, proj_dim, 1) for _ in range(scales))
        self.audio_proj = nn.ModuleList(nn.Conv2d(audio_dim, proj_dim, 1) for _ in range(scales))

    def forward(self, maps: list[torch.Tensor], audios: list[torch.Tensor]) -> list[torch.Tensor]:
        """maps/audios: the last `scales` decoder outputs (coarse to fine) -> similarity logits per scale."""
        out = []
        for vp, ap, x, a in zip(self.visual_proj, self.audio_proj, maps, audios):
            v = F.normalize(vp(x), dim=1)
            u = F.normalize(ap(a), dim=1)
            out.append((v * u).sum(dim=1, keepdim=True) / self.temperature)
        return out
