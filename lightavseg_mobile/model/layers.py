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


def linear_resize_matrix(src: int, dst: int) -> torch.Tensor:
    """[src, dst] weights so that `x @ W` equals 1-D linear interpolation (align_corners=False) of x's last axis.

    Built from Python numbers at trace time, so an exported graph holds one constant matmul instead of
    the index arithmetic F.interpolate lowers to (its clamp becomes RELU_0_TO_1, which XNNPACK refuses).
    """
    w = [[0.0] * dst for _ in range(src)]
    for j in range(dst):
        pos = max((j + 0.5) * src / dst - 0.5, 0.0)
        i0 = min(int(pos), src - 1)
        i1 = min(i0 + 1, src - 1)
        frac = pos - i0
        w[i0][j] += 1.0 - frac
        w[i1][j] += frac
    return torch.tensor(w, dtype=torch.float32)


class AvgPoolDepthwise(nn.Module):
    """k x k average pool with stride k, written as a depthwise convolution with fixed 1/k^2 weights.

    Same numbers as nn.AvgPool2d(k); int8 AVERAGE_POOL_2D falls off XNNPACK while an int8 depthwise
    convolution stays delegated. The kernel is a non-persistent buffer: checkpoints are unchanged.
    """

    def __init__(self, channels: int, k: int) -> None:
        super().__init__()
        self.k = k
        self.register_buffer("pool_kernel", torch.full((channels, 1, k, k), 1.0 / (k * k)), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(x, self.pool_kernel, stride=self.k, groups=int(self.pool_kernel.shape[0]))


def avg_downsample(channels: int, k: int) -> nn.Module:
    """Average-pool downsampling by `k` (identity for k == 1)."""
    return nn.Identity() if k == 1 else AvgPoolDepthwise(channels, k)


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
