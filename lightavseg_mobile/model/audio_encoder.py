"""PANNs-style MobileNetV2 audio encoder on a 96x64 log-mel patch.

Parameter names follow the published PANNs MobileNetV2 checkpoints (`bn0`,
`features.N...`, `fc1`), so AudioSet weights load by key. The classifier
(`fc_audioset` in PANNs) is not part of the encoder: LightAVSeg uses the 1024-d
embedding, and our audio pre-training keeps its classifier outside the model.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from .layers import avg_downsample


@dataclass(frozen=True)
class AudioEncoderConfig:
    """Width and depth of the MobileNetV2 audio encoder."""

    mel_bins: int = 64
    stem_channels: int = 32
    last_channels: int = 1280
    embed_dim: int = 1024
    # (expand, channels, repeats, stride) per group, as in PANNs MobileNetV2
    setting: tuple[tuple[int, int, int, int], ...] = (
        (1, 16, 1, 1),
        (6, 24, 2, 2),
        (6, 32, 3, 2),
        (6, 64, 4, 2),
        (6, 96, 3, 2),
        (6, 160, 3, 1),
        (6, 320, 1, 1),
    )


class AudioInvertedResidual(nn.Module):
    """MobileNetV2 block with PANNs' downsampling: stride-1 conv then average pool."""

    def __init__(self, cin: int, cout: int, stride: int, expand: int) -> None:
        super().__init__()
        hidden = round(cin * expand)
        self.use_residual = stride == 1 and cin == cout
        layers: list[nn.Module] = []
        if expand != 1:
            layers += [nn.Conv2d(cin, hidden, 1, 1, 0, bias=False), nn.BatchNorm2d(hidden), nn.ReLU6()]
        layers += [
            nn.Conv2d(hidden, hidden, 3, 1, 1, groups=hidden, bias=False),
            avg_downsample(hidden, stride),
            nn.BatchNorm2d(hidden),
            nn.ReLU6(),
            nn.Conv2d(hidden, cout, 1, 1, 0, bias=False),
            nn.BatchNorm2d(cout),
        ]
        self.conv = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.conv(x)
        return x + y if self.use_residual else y


class MobileNetV2AudioEncoder(nn.Module):
    """Log-mel patch [B, 1, 96, 64] -> audio embedding [B, embed_dim, 1, 1]."""

    def __init__(self, cfg: AudioEncoderConfig = AudioEncoderConfig()) -> None:
        super().__init__()
        self.cfg = cfg
        self.bn0 = nn.BatchNorm2d(cfg.mel_bins)
        layers: list[nn.Module] = [
            nn.Sequential(
                nn.Conv2d(1, cfg.stem_channels, 3, 1, 1, bias=False),
                avg_downsample(cfg.stem_channels, 2),
                nn.BatchNorm2d(cfg.stem_channels),
                nn.ReLU6(),
            )
        ]
        cin = cfg.stem_channels
        for expand, channels, repeats, stride in cfg.setting:
            for i in range(repeats):
                layers.append(AudioInvertedResidual(cin, channels, stride if i == 0 else 1, expand))
                cin = channels
        layers.append(nn.Sequential(nn.Conv2d(cin, cfg.last_channels, 1, 1, 0, bias=False), nn.BatchNorm2d(cfg.last_channels), nn.ReLU6()))
        self.features = nn.Sequential(*layers)
        self.fc1 = nn.Linear(cfg.last_channels, cfg.embed_dim, bias=True)

    def forward(self, logmel: torch.Tensor) -> torch.Tensor:
        # Normalise each mel bin (BatchNorm over the mel axis, as PANNs does).
        x = self.bn0(logmel.transpose(1, 3)).transpose(1, 3)
        x = self.features(x)
        x = x.mean(dim=3)  # over mel
        x = x.amax(dim=2) + x.mean(dim=2)  # over time: max + mean
        x = torch.relu(self.fc1(x))
        return x[:, :, None, None]
