"""Reciprocal audio-visual encoder: per scale, visual features refine the audio and the audio enhances the visual."""

from __future__ import annotations

import torch
from torch import nn

from .layers import global_max_pool, hsigmoid


class ReciprocalBlock(nn.Module):
    """One scale: A_i = W_a A_{i-1} * hsigmoid(W_v gmp(V_i)); V_i' = V_i + broadcast(A_i).

    Only global pooling and 1x1 convolutions on [B, C, 1, 1] vectors plus one
    broadcast add: the cost grows linearly with H*W.
    """

    def __init__(self, audio_in: int, channels: int) -> None:
        super().__init__()
        self.audio_proj = nn.Conv2d(audio_in, channels, 1)
        self.visual_gate = nn.Conv2d(channels, channels, 1)

    def forward(self, visual: torch.Tensor, audio: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        audio = self.audio_proj(audio) * hsigmoid(self.visual_gate(global_max_pool(visual)))
        return visual + audio, audio


class ReciprocalEncoder(nn.Module):
    """The four reciprocal blocks, one per visual scale; `blocks[i]` runs after visual stage i."""

    def __init__(self, audio_dim: int, channels: list[int]) -> None:
        super().__init__()
        ins = [audio_dim] + list(channels[:-1])
        self.blocks = nn.ModuleList(ReciprocalBlock(a, c) for a, c in zip(ins, channels))

    def forward(self, visual: torch.Tensor, audio: torch.Tensor, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Run block `index`: (V_i, A_{i-1}) -> (V_i', A_i)."""
        return self.blocks[index](visual, audio)
