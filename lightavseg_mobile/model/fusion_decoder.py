"""Fusion decoder: top-down over the four scales, audio re-gated by visual context at each scale."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .layers import ConvBN, global_avg_pool, hsigmoid


class FusionStep(nn.Module):
    """One decoder scale.

    A*_i = ReLU(W_c [Â_prev ; A_i]);  Â_i = A*_i * hsigmoid(W_g pool(X_i));
    X_i_dec = refine(X_i + broadcast(W_o Â_i)), where X_i is the lateral
    projection of V_i' plus the upsampled coarser decoder map.
    """

    def __init__(self, visual_ch: int, audio_prev: int, audio_ch: int, dim: int, audio_dim: int) -> None:
        super().__init__()
        self.lateral = ConvBN(visual_ch, dim)
        # The audio path works on [B, C, 1, 1] vectors: wide costs parameters, not FLOPs.
        self.audio_fuse = nn.Conv2d(audio_prev + audio_ch, audio_dim, 1)
        self.context_gate = nn.Conv2d(dim, audio_dim, 1)
        self.inject = nn.Conv2d(audio_dim, dim, 1)
        self.refine = nn.Sequential(ConvBN(dim, dim, 3, 1, 1, groups=dim), nn.ReLU(), ConvBN(dim, dim), nn.ReLU())

    def forward(
        self, visual: torch.Tensor, audio: torch.Tensor, audio_prev: torch.Tensor, coarser: torch.Tensor | None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        x = self.lateral(visual)
        if coarser is not None:
            x = x + F.interpolate(coarser, size=(int(x.shape[-2]), int(x.shape[-1])), mode="bilinear", align_corners=False)
        fused = torch.relu(self.audio_fuse(torch.cat([audio_prev, audio], dim=1)))
        fused = fused * hsigmoid(self.context_gate(global_avg_pool(x)))
        x = self.refine(x + self.inject(fused))
        return x, fused


class FusionDecoder(nn.Module):
    """Top-down decoder; `steps[0]` is the coarsest (stride 32) scale."""

    def __init__(self, embed_dim: int, channels: list[int], dim: int, audio_dim: int) -> None:
        super().__init__()
        coarse_first = list(reversed(channels))
        self.steps = nn.ModuleList(
            FusionStep(c, embed_dim if i == 0 else audio_dim, c, dim, audio_dim) for i, c in enumerate(coarse_first)
        )

    def forward(
        self, visual: list[torch.Tensor], audio: list[torch.Tensor], audio_embedding: torch.Tensor
    ) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
        """visual/audio ordered fine to coarse (scale 1..4); returns decoder maps and audio, coarse to fine."""
        maps: list[torch.Tensor] = []
        audios: list[torch.Tensor] = []
        x: torch.Tensor | None = None
        a_prev = audio_embedding
        for step, v, a in zip(self.steps, reversed(visual), reversed(audio)):
            x, a_prev = step(v, a, a_prev, x)
            maps.append(x)
            audios.append(a_prev)
        return maps, audios
