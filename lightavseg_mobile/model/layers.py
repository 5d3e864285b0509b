"""Small building blocks shared by every part of the network."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def hsigmoid(x: torch.Tensor) -> torch.Tensor:
    """Hard sigmoid written as relu6(x + 3) / 6.

    Written out (not F.hardsigmoid) because converters lower the fused op to
    RELU_0_TO_1, which XNNPACK does not take; RELU6 + MUL stay delegated.
    """
    return F.relu6(x + 3.0) * (1.0 / 6.0)


def global_max_pool(x: torch.Tensor) -> torch.Tensor:
    """Global max pool to [B, C, 1, 1].

    Written as max_pool2d over the whole map: litert-torch has no lowering for
    adaptive_max_pool2d and the ONNX pre-processing crashes on ReduceMax.
    """
    return F.max_pool2d(x, kernel_size=(int(x.shape[-2]), int(x.shape[-1])))


def global_avg_pool(x: torch.Tensor) -> torch.Tensor:
    """Global average pool to [B, C, 1, 1]."""
    return x.mean(dim=(2, 3), keepdim=True)


class HSigmoid(nn.Module):
    """Module form of `hsigmoid`, for places that hold activations as modules."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return hsigmoid(x)


class ConvBN(nn.Sequential):
    """Convolution without bias followed by BatchNorm; children named `c` and `bn`.

    The child names follow the SeaFormer checkpoints so their weights load by key.
    """

    def __init__(
        self,
        cin: int,
        cout: int,
        kernel: int = 1,
        stride: int = 1,
        pad: int = 0,
        groups: int = 1,
        bn_weight_init: float = 1.0,
    ) -> None:
        super().__init__()
        self.add_module("c", nn.Conv2d(cin, cout, kernel, stride, pad, 1, groups, bias=False))
        bn = nn.BatchNorm2d(cout)
        nn.init.constant_(bn.weight, bn_weight_init)
        nn.init.constant_(bn.bias, 0.0)
        self.add_module("bn", bn)


class DropPath(nn.Module):
    """Stochastic depth: drops the residual branch per sample while training only."""

    def __init__(self, prob: float) -> None:
        super().__init__()
        self.prob = float(prob)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.prob == 0.0:
            return x
        keep = 1.0 - self.prob
        mask = x.new_empty((x.shape[0],) + (1,) * (x.ndim - 1)).bernoulli_(keep)
        return x * mask / keep
