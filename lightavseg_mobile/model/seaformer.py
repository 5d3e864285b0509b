"""SeaFormer visual backbone (squeeze-enhanced axial transformer), four output scales.

Module and parameter names follow the published SeaFormer segmentation
checkpoints (`smb1..smb5`, `trans1..transN`, `Conv2d_BN` children `c`/`bn`), so
official weights load by key (see `lightavseg_mobile.weights`).

One deliberate difference from the segmentation backbone: LightAVSeg uses four
scales at strides 4/8/16/32, so the last stacked block (`smb5`) runs at stride 1
and is grouped with `smb4` into the 1/32 stage. Strides do not change weight
shapes, so official weights still load.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from .layers import ConvBN, DropPath, hsigmoid, linear_resize_matrix


def make_divisible(value: float, divisor: int = 8) -> int:
    """Round a channel count to a multiple of `divisor`, never more than 10 % down."""
    rounded = max(divisor, int(value + divisor / 2) // divisor * divisor)
    if rounded < 0.9 * value:
        rounded += divisor
    return rounded


@dataclass(frozen=True)
class SeaFormerConfig:
    """Architecture of one SeaFormer variant: stacked MobileNetV2 blocks + axial transformers."""

    blocks: tuple[tuple[tuple[int, int, int, int], ...], ...]  # per smb: (kernel, expand, channels, stride)
    channels: tuple[int, ...]  # input channels of each smb (stem width first)
    emb_dims: tuple[int, ...]  # width of each transformer stage (= channels of the smb it follows)
    key_dims: tuple[int, ...]
    depths: tuple[int, ...]
    num_heads: int
    mlp_ratios: tuple[float, ...]
    attn_ratio: float = 2.0
    drop_path_rate: float = 0.1
    pos_embed_len: int = 16
    last_stride_one: bool = field(default=True)

    @property
    def num_smb(self) -> int:
        """Number of stacked MobileNetV2 blocks."""
        return len(self.blocks)

    def smb_out_channels(self, i: int) -> int:
        """Output channels of stacked block `i` (0-based)."""
        return make_divisible(self.blocks[i][-1][2])

    def stage_groups(self) -> list[list[str]]:
        """Names of the submodules run in each of the four output stages, in order."""
        first_trans_smb = self.num_smb - len(self.depths)
        groups: list[list[str]] = [[] for _ in range(4)]
        for i in range(self.num_smb):
            stage = min(i, 3)
            groups[stage].append(f"smb{i + 1}")
            if i >= first_trans_smb:
                groups[stage].append(f"trans{i - first_trans_smb + 1}")
        return groups


class InvertedResidual(nn.Module):
    """MobileNetV2 block: pointwise expand, depthwise, pointwise project (+ residual)."""

    def __init__(self, cin: int, cout: int, kernel: int, stride: int, expand: int) -> None:
        super().__init__()
        hidden = int(round(cin * expand))
        self.use_residual = stride == 1 and cin == cout
        layers: list[nn.Module] = []
        if expand != 1:
            layers += [ConvBN(cin, hidden, 1), nn.ReLU()]
        layers += [
            ConvBN(hidden, hidden, kernel, stride, kernel // 2, groups=hidden),
            nn.ReLU(),
            ConvBN(hidden, cout, 1),
        ]
        self.conv = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.conv(x)
        return x + y if self.use_residual else y


class StackedMV2Block(nn.Module):
    """A run of inverted residual blocks, optionally preceded by the stride-2 stem."""

    def __init__(self, cfgs: tuple[tuple[int, int, int, int], ...], stem: bool, cin: int, stride_override: int | None = None) -> None:
        super().__init__()
        self.stem = stem
        if stem:
            self.stem_block = nn.Sequential(ConvBN(3, cin, 3, 2, 1), nn.ReLU())
        self.layer_names: list[str] = []
        for i, (kernel, expand, channels, stride) in enumerate(cfgs):
            cout = make_divisible(channels)
            if i == 0 and stride_override is not None:
                stride = stride_override
            name = f"layer{i + 1}"
            self.add_module(name, InvertedResidual(cin, cout, kernel, stride, expand))
            self.layer_names.append(name)
            cin = cout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.stem:
            x = self.stem_block(x)
        for name in self.layer_names:
            x = getattr(self, name)(x)
        return x


class AxialPositionalEmbedding(nn.Module):
    """Learned 1-D positional embedding, resampled to the current row/column length."""

    def __init__(self, dim: int, length: int) -> None:
        super().__init__()
        self.pos_embed = nn.Parameter(torch.randn(1, dim, length))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n = int(x.shape[-1])
        length = int(self.pos_embed.shape[-1])
        if n == length:
            return x + self.pos_embed
        return x + torch.matmul(self.pos_embed, linear_resize_matrix(length, n))


class SeaAttention(nn.Module):
    """Squeeze-enhanced axial attention: row and column attention on pooled tokens plus a detail branch."""

    def __init__(self, dim: int, key_dim: int, num_heads: int, attn_ratio: float, pos_len: int) -> None:
        super().__init__()
        self.num_heads = num_heads
        self.scale = key_dim**-0.5
        qk_dim = key_dim * num_heads
        self.dh = int(attn_ratio * key_dim) * num_heads
        self.to_q = ConvBN(dim, qk_dim)
        self.to_k = ConvBN(dim, qk_dim)
        self.to_v = ConvBN(dim, self.dh)
        self.proj = nn.Sequential(nn.ReLU6(), ConvBN(self.dh, dim, bn_weight_init=0.0))
        self.proj_encode_row = nn.Sequential(nn.ReLU6(), ConvBN(self.dh, self.dh, bn_weight_init=0.0))
        self.pos_emb_rowq = AxialPositionalEmbedding(qk_dim, pos_len)
        self.pos_emb_rowk = AxialPositionalEmbedding(qk_dim, pos_len)
        self.proj_encode_column = nn.Sequential(nn.ReLU6(), ConvBN(self.dh, self.dh, bn_weight_init=0.0))
        self.pos_emb_columnq = AxialPositionalEmbedding(qk_dim, pos_len)
        self.pos_emb_columnk = AxialPositionalEmbedding(qk_dim, pos_len)
        self.dwconv = ConvBN(2 * self.dh, 2 * self.dh, 3, 1, 1, groups=2 * self.dh)
        self.act = nn.ReLU6()
        self.pwconv = ConvBN(2 * self.dh, dim)

    def _axial(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        """Attention along one squeezed axis: q, k [B, C, L], v [B, Dh, L] -> [B, Dh, L]."""
        b, _, length = q.shape
        heads = self.num_heads
        q = q.reshape(b, heads, -1, length).transpose(2, 3)  # B h L d
        k = k.reshape(b, heads, -1, length)  # B h d L
        v = v.reshape(b, heads, -1, length).transpose(2, 3)  # B h L dv
        # Scale q before the product: the int8 quantizer then leaves q @ k and attn @ v in float, which
        # XNNPACK runs; an int8 q @ k with an asymmetric k (zero point != 0) falls off the delegate.
        attn = torch.softmax(torch.matmul(q * self.scale, k), dim=-1)
        out = torch.matmul(attn, v)  # B h L dv
        return out.transpose(2, 3).reshape(b, self.dh, length)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, _, h, w = x.shape
        q, k, v = self.to_q(x), self.to_k(x), self.to_v(x)
        detail = self.pwconv(self.act(self.dwconv(torch.cat([q, k, v], dim=1))))
        row = self._axial(self.pos_emb_rowq(q.mean(-1)), self.pos_emb_rowk(k.mean(-1)), v.mean(-1))
        row = self.proj_encode_row(row.reshape(b, self.dh, h, 1))
        col = self._axial(self.pos_emb_columnq(q.mean(-2)), self.pos_emb_columnk(k.mean(-2)), v.mean(-2))
        col = self.proj_encode_column(col.reshape(b, self.dh, 1, w))
        ctx = self.proj(v + (row + col))
        return hsigmoid(ctx) * detail


class Mlp(nn.Module):
    """Pointwise expand, depthwise 3x3, pointwise project."""

    def __init__(self, dim: int, hidden: int) -> None:
        super().__init__()
        self.fc1 = ConvBN(dim, hidden)
        self.dwconv = nn.Conv2d(hidden, hidden, 3, 1, 1, groups=hidden, bias=True)
        self.act = nn.ReLU6()
        self.fc2 = ConvBN(hidden, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.act(self.dwconv(self.fc1(x))))


class SeaBlock(nn.Module):
    """Transformer block: sea attention and MLP, each residual."""

    def __init__(self, dim: int, key_dim: int, num_heads: int, mlp_ratio: float, attn_ratio: float, drop_path: float, pos_len: int) -> None:
        super().__init__()
        self.attn = SeaAttention(dim, key_dim, num_heads, attn_ratio, pos_len)
        self.drop_path = DropPath(drop_path) if drop_path > 0 else nn.Identity()
        self.mlp = Mlp(dim, int(dim * mlp_ratio))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.drop_path(self.attn(x))
        return x + self.drop_path(self.mlp(x))


class BasicLayer(nn.Module):
    """A stack of transformer blocks at one resolution."""

    def __init__(self, depth: int, dim: int, key_dim: int, num_heads: int, mlp_ratio: float, attn_ratio: float, drop_paths: list[float], pos_len: int) -> None:
        super().__init__()
        self.transformer_blocks = nn.ModuleList(
            SeaBlock(dim, key_dim, num_heads, mlp_ratio, attn_ratio, drop_paths[i], pos_len) for i in range(depth)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for block in self.transformer_blocks:
            x = block(x)
        return x


class SeaFormerBackbone(nn.Module):
    """SeaFormer visual backbone split into four stages (strides 4, 8, 16, 32)."""

    def __init__(self, cfg: SeaFormerConfig) -> None:
        super().__init__()
        self.cfg = cfg
        for i in range(cfg.num_smb):
            last = i == cfg.num_smb - 1
            override = 1 if (last and cfg.last_stride_one) else None
            self.add_module(f"smb{i + 1}", StackedMV2Block(cfg.blocks[i], stem=i == 0, cin=cfg.channels[i], stride_override=override))
        for i, depth in enumerate(cfg.depths):
            rates = torch.linspace(0, cfg.drop_path_rate, depth).tolist()
            self.add_module(
                f"trans{i + 1}",
                BasicLayer(depth, cfg.emb_dims[i], cfg.key_dims[i], cfg.num_heads, cfg.mlp_ratios[i], cfg.attn_ratio, rates, cfg.pos_embed_len),
            )
        self.groups = cfg.stage_groups()
        self.out_channels = self._infer_out_channels()

    def _infer_out_channels(self) -> list[int]:
        outs = []
        for names in self.groups:
            smbs = [n for n in names if n.startswith("smb")]
            outs.append(self.cfg.smb_out_channels(int(smbs[-1][3:]) - 1))
        return outs

    def forward_stage(self, index: int, x: torch.Tensor) -> torch.Tensor:
        """Run output stage `index` (0..3) on `x`."""
        for name in self.groups[index]:
            x = getattr(self, name)(x)
        return x

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """Visual features alone (no audio enhancement): used for per-module export and cost."""
        feats = []
        for i in range(4):
            x = self.forward_stage(i, x)
            feats.append(x)
        return feats[0], feats[1], feats[2], feats[3]
