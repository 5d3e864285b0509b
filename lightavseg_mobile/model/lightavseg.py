"""LightAVSeg: the training model (with the alignment branch) and the deployable inference module."""

from __future__ import annotations

import copy

import torch
from torch import nn

from .alignment import AlignmentBranch
from .audio_encoder import AudioEncoderConfig, MobileNetV2AudioEncoder
from .fusion_decoder import FusionDecoder
from .reciprocal import ReciprocalEncoder
from .seaformer import SeaFormerBackbone, SeaFormerConfig
from .seg_head import SegHead

# Top-level module names, in data-flow order. Every per-module report uses them.
INFERENCE_MODULES = ("visual", "audio", "reciprocal_encoder", "fusion_decoder", "seg_head")
TRAINING_ONLY_MODULES = ("alignment",)


def _run(
    visual: SeaFormerBackbone,
    audio: MobileNetV2AudioEncoder,
    reciprocal_encoder: ReciprocalEncoder,
    fusion_decoder: FusionDecoder,
    seg_head: SegHead,
    frame: torch.Tensor,
    logmel: torch.Tensor,
) -> tuple[torch.Tensor, list[torch.Tensor], list[torch.Tensor]]:
    """The inference computation shared by both modules, so their mask logits are identical."""
    audio_embedding = audio(logmel)
    a = audio_embedding
    x = frame
    feats: list[torch.Tensor] = []
    audios: list[torch.Tensor] = []
    for i in range(4):
        v = visual.forward_stage(i, x)
        x, a = reciprocal_encoder(v, a, i)  # the next visual stage sees the enhanced map
        feats.append(x)
        audios.append(a)
    maps, dec_audio = fusion_decoder(feats, audios, audio_embedding)
    return seg_head(maps[-1]), maps, dec_audio


class LightAVSegInference(nn.Module):
    """Deployable LightAVSeg: (frame [B,3,H,W], logmel [B,1,96,64]) -> mask logits [B,1,H,W]."""

    def __init__(
        self,
        visual: SeaFormerBackbone,
        audio: MobileNetV2AudioEncoder,
        reciprocal_encoder: ReciprocalEncoder,
        fusion_decoder: FusionDecoder,
        seg_head: SegHead,
    ) -> None:
        super().__init__()
        self.visual = visual
        self.audio = audio
        self.reciprocal_encoder = reciprocal_encoder
        self.fusion_decoder = fusion_decoder
        self.seg_head = seg_head

    def forward(self, frame: torch.Tensor, logmel: torch.Tensor) -> torch.Tensor:
        logits, _, _ = _run(self.visual, self.audio, self.reciprocal_encoder, self.fusion_decoder, self.seg_head, frame, logmel)
        return logits


class LightAVSeg(nn.Module):
    """Training model: the inference network plus the training-only alignment branch."""

    def __init__(
        self,
        visual_cfg: SeaFormerConfig,
        audio_cfg: AudioEncoderConfig,
        decoder_dim: int,
        decoder_audio_dim: int,
        align_dim: int,
        align_scales: int = 3,
    ) -> None:
        super().__init__()
        self.visual = SeaFormerBackbone(visual_cfg)
        self.audio = MobileNetV2AudioEncoder(audio_cfg)
        channels = self.visual.out_channels
        self.reciprocal_encoder = ReciprocalEncoder(audio_cfg.embed_dim, channels)
        self.fusion_decoder = FusionDecoder(audio_cfg.embed_dim, channels, decoder_dim, decoder_audio_dim)
        self.seg_head = SegHead(decoder_dim)
        self.alignment = AlignmentBranch(decoder_dim, decoder_audio_dim, align_dim, scales=align_scales)
        self.align_scales = align_scales

    def forward(self, frame: torch.Tensor, logmel: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """Returns (mask logits, alignment logits per scale coarse to fine)."""
        logits, maps, dec_audio = _run(self.visual, self.audio, self.reciprocal_encoder, self.fusion_decoder, self.seg_head, frame, logmel)
        k = self.align_scales
        align = self.alignment(maps[-k:], dec_audio[-k:])
        return (logits, *align)

    def for_inference(self) -> LightAVSegInference:
        """A deep copy of the deployable network in eval mode: no alignment branch, no training-only code."""
        parts = {name: copy.deepcopy(getattr(self, name)) for name in INFERENCE_MODULES}
        return LightAVSegInference(**parts).eval()
