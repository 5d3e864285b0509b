"""The exact torch graphs that get exported: the whole network (log-mel or waveform input) and the per-module sub-models.

Every graph is built from `LightAVSeg.for_inference()` modules only, so no alignment-branch
parameter can reach an artifact.

Sub-model boundaries (`--split-modules`). The visual backbone runs interleaved with the
reciprocal blocks: stage i+1 sees V_i' = V_i + broadcast(A_i). The split keeps each module's
own compute and cuts at the tensors that cross between modules:

  audio              logmel [1,1,96,64]                       -> audio_embedding [1,E,1,1]
  visual             frame, a1, a2, a3 ([1,C_i,1,1])          -> v1..v4 (raw stage outputs)
                     (stage i+1 runs on v_i + a_i: the 3 broadcast adds of the reciprocal blocks are
                      counted in visual, since they are the visual path's input; they cost nothing)
  reciprocal_encoder v1..v4, audio_embedding                  -> e1..e4 (enhanced maps), a1..a4
  fusion_decoder     e1..e4, a1..a4, audio_embedding          -> decoder_map [1,D,H/4,W/4]
  seg_head           decoder_map                              -> mask_logits [1,1,H,W]

Feeding each sub-model the tensors the whole float model produced (see `module_io`) gives
per-module error and time; chaining them (a1..a3 from a first reciprocal pass) reproduces the
whole model exactly in float.
"""

from __future__ import annotations

import torch
from torch import nn

from .lightavseg import LightAVSegInference

SPLIT_MODULES = ("visual", "audio", "reciprocal_encoder", "fusion_decoder", "seg_head")


class WaveformModel(nn.Module):
    """(frame, waveform [B,15600]) -> mask logits: the fp32 VGGish log-mel front end inside the graph."""

    def __init__(self, net: LightAVSegInference) -> None:
        super().__init__()
        from ..audio.logmel_torch import LogMelFrontEnd

        self.frontend = LogMelFrontEnd()
        self.net = net

    def forward(self, frame: torch.Tensor, waveform: torch.Tensor) -> torch.Tensor:
        return self.net(frame, self.frontend(waveform))


class AudioPart(nn.Module):
    """logmel -> audio embedding."""

    def __init__(self, net: LightAVSegInference) -> None:
        super().__init__()
        self.audio = net.audio

    def forward(self, logmel: torch.Tensor) -> torch.Tensor:
        return self.audio(logmel)


class VisualPart(nn.Module):
    """(frame, a1, a2, a3) -> v1..v4: the four backbone stages, stage i+1 on v_i + a_i."""

    def __init__(self, net: LightAVSegInference) -> None:
        super().__init__()
        self.visual = net.visual

    def forward(self, frame: torch.Tensor, a1: torch.Tensor, a2: torch.Tensor, a3: torch.Tensor):
        v1 = self.visual.forward_stage(0, frame)
        v2 = self.visual.forward_stage(1, v1 + a1)
        v3 = self.visual.forward_stage(2, v2 + a2)
        v4 = self.visual.forward_stage(3, v3 + a3)
        return v1, v2, v3, v4


class ReciprocalPart(nn.Module):
    """(v1..v4, audio embedding) -> (e1..e4, a1..a4)."""

    def __init__(self, net: LightAVSegInference) -> None:
        super().__init__()
        self.reciprocal_encoder = net.reciprocal_encoder

    def forward(self, v1, v2, v3, v4, audio_embedding):
        a = audio_embedding
        enhanced, audios = [], []
        for i, v in enumerate((v1, v2, v3, v4)):
            e, a = self.reciprocal_encoder(v, a, i)
            enhanced.append(e)
            audios.append(a)
        return (*enhanced, *audios)


class FusionPart(nn.Module):
    """(e1..e4, a1..a4, audio embedding) -> the finest decoder map."""

    def __init__(self, net: LightAVSegInference) -> None:
        super().__init__()
        self.fusion_decoder = net.fusion_decoder

    def forward(self, e1, e2, e3, e4, a1, a2, a3, a4, audio_embedding):
        maps, _ = self.fusion_decoder([e1, e2, e3, e4], [a1, a2, a3, a4], audio_embedding)
        return maps[-1]


class HeadPart(nn.Module):
    """decoder map -> mask logits."""

    def __init__(self, net: LightAVSegInference) -> None:
        super().__init__()
        self.seg_head = net.seg_head

    def forward(self, decoder_map):
        return self.seg_head(decoder_map)


_PARTS = {"audio": AudioPart, "visual": VisualPart, "reciprocal_encoder": ReciprocalPart,
          "fusion_decoder": FusionPart, "seg_head": HeadPart}
PART_INPUTS = {
    "audio": ("logmel",),
    "visual": ("frame", "a1", "a2", "a3"),
    "reciprocal_encoder": ("v1", "v2", "v3", "v4", "audio_embedding"),
    "fusion_decoder": ("e1", "e2", "e3", "e4", "a1", "a2", "a3", "a4", "audio_embedding"),
    "seg_head": ("decoder_map",),
}
PART_OUTPUTS = {
    "audio": ("audio_embedding",),
    "visual": ("v1", "v2", "v3", "v4"),
    "reciprocal_encoder": ("e1", "e2", "e3", "e4", "a1", "a2", "a3", "a4"),
    "fusion_decoder": ("decoder_map",),
    "seg_head": ("mask_logits",),
}


def part(net: LightAVSegInference, name: str) -> nn.Module:
    """The sub-model of one top-level module (eval mode)."""
    return _PARTS[name](net).eval()


@torch.no_grad()
def module_io(net: LightAVSegInference, frame: torch.Tensor, logmel: torch.Tensor) -> dict[str, torch.Tensor]:
    """Every boundary tensor of the float network for one input (names as in PART_INPUTS/PART_OUTPUTS)."""
    t: dict[str, torch.Tensor] = {"frame": frame, "logmel": logmel}
    t["audio_embedding"] = net.audio(logmel)
    a = t["audio_embedding"]
    x = frame
    for i in range(4):
        v = net.visual.forward_stage(i, x)
        x, a = net.reciprocal_encoder(v, a, i)
        t[f"v{i + 1}"], t[f"e{i + 1}"], t[f"a{i + 1}"] = v, x, a
    maps, _ = net.fusion_decoder([t[f"e{i}"] for i in range(1, 5)], [t[f"a{i}"] for i in range(1, 5)], t["audio_embedding"])
    t["decoder_map"] = maps[-1]
    t["mask_logits"] = net.seg_head(maps[-1])
    return t


def conv_weight_buffers_as_parameters(gm: torch.fx.GraphModule) -> torch.fx.GraphModule:
    """Re-register buffers that feed a convolution's weight as (frozen) parameters, in place; returns `gm`.

    The model's average pools are depthwise convolutions with a fixed kernel held as a buffer; PT2E folds
    the BatchNorm that follows into the conv by assigning a new *parameter* under the weight's name,
    which fails on a buffer.
    """
    buffers = {name for name, _ in gm.named_buffers()}
    for node in gm.graph.nodes:
        if node.op != "call_function" or node.target is not torch.ops.aten.conv2d.default:
            continue
        weight = node.args[1]
        if getattr(weight, "op", None) == "get_attr" and weight.target in buffers:
            owner_path, _, attr = weight.target.rpartition(".")
            owner = gm.get_submodule(owner_path)
            tensor = owner._buffers.pop(attr)
            owner.register_parameter(attr, torch.nn.Parameter(tensor, requires_grad=False))
            buffers.discard(weight.target)
    return gm
