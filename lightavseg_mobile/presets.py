"""Registry of LightAVSeg presets: architecture plus the preprocessing contract."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from .errors import UserError
from .model.audio_encoder import AudioEncoderConfig
from .model.seaformer import SeaFormerConfig

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


@dataclass(frozen=True)
class Preset:
    """One named LightAVSeg configuration."""

    name: str
    visual: SeaFormerConfig
    audio: AudioEncoderConfig
    decoder_dim: int
    decoder_audio_dim: int
    align_dim: int
    image_size: int = 224
    mean: tuple[float, float, float] = IMAGENET_MEAN
    std: tuple[float, float, float] = IMAGENET_STD
    frames_per_clip: int = 5
    description: str = ""
    extra: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        """JSON-friendly description (stored in checkpoints and manifests)."""
        return asdict(self)


# SeaFormer variants as published for segmentation (k, expand, channels, stride per block).
SEAFORMER_L = SeaFormerConfig(
    blocks=(
        ((3, 3, 32, 1), (3, 4, 64, 2), (3, 4, 64, 1)),
        ((5, 4, 128, 2), (5, 4, 128, 1)),
        ((3, 4, 192, 2), (3, 4, 192, 1)),
        ((5, 4, 256, 2),),
        ((3, 6, 320, 2),),
    ),
    channels=(32, 64, 128, 192, 256, 320),
    emb_dims=(192, 256, 320),
    key_dims=(16, 20, 24),
    depths=(3, 3, 3),
    num_heads=8,
    mlp_ratios=(2, 4, 6),
)
SEAFORMER_B = SeaFormerConfig(
    blocks=(
        ((3, 1, 16, 1), (3, 4, 32, 2), (3, 3, 32, 1)),
        ((5, 3, 64, 2), (5, 3, 64, 1)),
        ((3, 3, 128, 2), (3, 3, 128, 1)),
        ((5, 4, 192, 2),),
        ((3, 6, 256, 2),),
    ),
    channels=(16, 32, 64, 128, 192, 256),
    emb_dims=(192, 256),
    key_dims=(16, 24),
    depths=(4, 4),
    num_heads=8,
    mlp_ratios=(2, 4),
)
SEAFORMER_T = SeaFormerConfig(
    blocks=(
        ((3, 1, 16, 1), (3, 4, 16, 2), (3, 3, 16, 1)),
        ((5, 3, 32, 2), (5, 3, 32, 1)),
        ((3, 3, 64, 2), (3, 3, 64, 1)),
        ((5, 3, 128, 2),),
        ((3, 6, 160, 2),),
    ),
    channels=(16, 16, 32, 64, 128, 160),
    emb_dims=(128, 160),
    key_dims=(16, 24),
    depths=(2, 2),
    num_heads=4,
    mlp_ratios=(2, 4),
)

PRESETS: dict[str, Preset] = {
    p.name: p
    for p in (
        Preset("lightavseg", SEAFORMER_L, AudioEncoderConfig(), decoder_dim=128, decoder_audio_dim=640, align_dim=64,
               description="SeaFormer-L visual backbone, PANNs MobileNetV2 audio encoder (the paper's model)"),
        Preset("lightavseg-base", SEAFORMER_B, AudioEncoderConfig(), decoder_dim=96, decoder_audio_dim=512, align_dim=64,
               description="SeaFormer-B visual backbone (the paper's ablation)"),
        Preset("lightavseg-tiny", SEAFORMER_T, AudioEncoderConfig(), decoder_dim=64, decoder_audio_dim=256, align_dim=32,
               description="SeaFormer-T visual backbone (the paper's ablation; fastest)"),
    )
}


def get_preset(name: str) -> Preset:
    """Look up a preset by name; an unknown name lists the valid ones."""
    try:
        return PRESETS[name]
    except KeyError:
        raise UserError(f"unknown preset {name!r}; choose one of: {', '.join(PRESETS)}") from None


def create_model(name: str):  # -> LightAVSeg (import kept local: presets stay importable without building torch modules)
    """Build the (randomly initialised) training model of a preset."""
    from .model import LightAVSeg

    p = get_preset(name)
    return LightAVSeg(p.visual, p.audio, p.decoder_dim, p.decoder_audio_dim, p.align_dim)
