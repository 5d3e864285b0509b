"""Segmentation head: stride-4 decoder map -> one mask logit per pixel at input size."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .layers import ConvBN


class SegHead(nn.Module):
    """Depthwise 3x3 + pointwise refinement, a 1x1 classifier, bilinear upsampling x4."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        hidden = max(dim // 2, 16)
        self.refine = nn.Sequential(ConvBN(dim, dim, 3, 1, 1, groups=dim), nn.ReLU(), ConvBN(dim, hidden), nn.ReLU())
        self.classifier = nn.Conv2d(hidden, 1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        logits = self.classifier(self.refine(x))
        return F.interpolate(logits, scale_factor=4.0, mode="bilinear", align_corners=False)
