"""Training losses: Dice + BCE on the mask, and the multi-scale alignment loss L_msa."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def dice_loss(logits: torch.Tensor, target: torch.Tensor, eps: float = 1.0) -> torch.Tensor:
    """Soft Dice loss per sample, averaged: 1 - (2|P.G| + eps) / (|P| + |G| + eps)."""
    p = torch.sigmoid(logits).flatten(1)
    g = target.flatten(1)
    inter = (p * g).sum(1)
    return (1.0 - (2.0 * inter + eps) / (p.sum(1) + g.sum(1) + eps)).mean()


def alignment_loss(align_logits: list[torch.Tensor], target: torch.Tensor) -> torch.Tensor:
    """L_msa: BCE between sigmoid(similarity / tau), upsampled to mask size, and the mask; mean over scales."""
    size = target.shape[-2:]
    losses = [
        F.binary_cross_entropy_with_logits(F.interpolate(a, size=size, mode="bilinear", align_corners=False), target)
        for a in align_logits
    ]
    return torch.stack(losses).mean()


def total_loss(outputs: tuple[torch.Tensor, ...], target: torch.Tensor, msa_weight: float = 0.5) -> tuple[torch.Tensor, dict[str, float]]:
    """Dice + BCE + msa_weight * L_msa (the paper's objective); returns the loss and its parts."""
    logits, align = outputs[0], list(outputs[1:])
    dice = dice_loss(logits, target)
    bce = F.binary_cross_entropy_with_logits(logits, target)
    msa = alignment_loss(align, target) if align else logits.new_zeros(())
    loss = dice + bce + msa_weight * msa
    parts = {"dice": dice, "bce": bce, "msa": msa, "loss": loss}
    return loss, {k: float(v.detach()) for k, v in parts.items()}
