"""Import published pre-trained weights: SeaFormer (visual backbone) and PANNs MobileNetV2 (audio encoder).

Both loaders read the files exactly as their projects publish them, keep only
the tensors our module defines, report what they leave out, check every key and
shape, and load strictly. Nothing is downloaded: the user passes a local file.
"""

from __future__ import annotations

import argparse
import functools
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from .errors import WeightImportError
from .model.audio_encoder import MobileNetV2AudioEncoder
from .model.seaformer import SeaFormerBackbone, SeaFormerConfig
from .presets import PRESETS, SEAFORMER_B, SEAFORMER_L, SEAFORMER_T

# The published name of each SeaFormer variant our presets use.
SEAFORMER_VARIANTS: dict[str, SeaFormerConfig] = {
    "SeaFormer-L": SEAFORMER_L,
    "SeaFormer-B": SEAFORMER_B,
    "SeaFormer-T": SEAFORMER_T,
}

# Wrappers the official SeaFormer code unwraps, in its order (EMA weights first).
_SEAFORMER_WRAPPERS = ("state_dict_ema", "state_dict", "model")
# Top-level modules of official checkpoints that are not part of the backbone.
_SEAFORMER_HEADS = ("decode_head", "auxiliary_head", "linear")  # mmseg heads; `linear` is the ImageNet classifier
_PANNS_WRAPPERS = ("model", "state_dict")
# PANNs keeps its waveform front end and AudioSet classifier in the same state dict.
_PANNS_IGNORED = ("spectrogram_extractor", "logmel_extractor", "spec_augmenter", "fc_audioset")
# Counters that checkpoints from before PyTorch 0.4.1 lack; they do not affect inference.
_OPTIONAL_SUFFIX = ".num_batches_tracked"
_SHOWN = 3  # keys named in an error message


@dataclass
class ImportReport:
    """What an import did: where the weights came from, how many tensors landed, what was left out."""

    source: str
    layout: str
    loaded_keys: int
    ignored_keys: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def summary(self) -> str:
        """One line for logs and the command line."""
        text = f"{self.source}: {self.layout}, loaded {self.loaded_keys} tensors, ignored {len(self.ignored_keys)}"
        if self.ignored_keys:
            text += f" ({_preview(self.ignored_keys)})"
        return text + "".join(f"; {n}" for n in self.notes)


def load_seaformer(backbone: SeaFormerBackbone, source: str | Path | dict) -> ImportReport:
    """Load an official SeaFormer checkpoint (mmseg segmentation or ImageNet classification) into `backbone`."""
    raw, where = _read(source)
    state, wrapper = _unwrap(raw, _SEAFORMER_WRAPPERS, where)
    segmentation = any(k.startswith("backbone.") for k in state)
    kept: dict[str, torch.Tensor] = {}
    ignored: list[str] = []
    for key, value in state.items():
        ours = _seaformer_key(key, segmentation)
        if ours is None:
            ignored.append(key)
        else:
            kept[ours] = value
    target = _describe_backbone(backbone.cfg)
    problem = _mismatch(backbone, kept)
    if problem:
        raise WeightImportError(f"SeaFormer checkpoint {where} does not fit {target}: {problem}: {_variant_hint(backbone.cfg, kept)}")
    loaded = _load_strict(backbone, kept)
    kind = "mmseg segmentation checkpoint" if segmentation else "classification checkpoint"
    layout = f"{kind} ({wrapper})" if wrapper else f"{kind} (bare state dict)"
    return ImportReport(source=where, layout=layout, loaded_keys=loaded, ignored_keys=ignored)


def load_panns_mobilenetv2(encoder: MobileNetV2AudioEncoder, source: str | Path | dict) -> ImportReport:
    """Load an official PANNs MobileNetV2 checkpoint into `encoder` (front end and AudioSet classifier left out)."""
    raw, where = _read(source)
    state, wrapper = _unwrap(raw, _PANNS_WRAPPERS, where)
    kept: dict[str, torch.Tensor] = {}
    ignored: list[str] = []
    for key, value in state.items():
        if key.split(".", 1)[0] in _PANNS_IGNORED:
            ignored.append(key)
        else:
            kept[key] = value
    problem = _mismatch(encoder, kept)
    if problem:
        hint = "is it the PANNs MobileNetV2 checkpoint (MobileNetV2_mAP=0.383.pth)?"
        if any(k.startswith("conv_block1.") for k in kept):
            hint = "it is a PANNs CNN (Cnn6/10/14) checkpoint; LightAVSeg needs the PANNs MobileNetV2 one"
        raise WeightImportError(f"PANNs checkpoint {where} does not fit the MobileNetV2 audio encoder: {problem}: {hint}")
    loaded = _load_strict(encoder, kept)
    notes = _panns_front_end_note(state)
    layout = f"PANNs checkpoint ({wrapper})" if wrapper else "PANNs checkpoint (bare state dict)"
    return ImportReport(source=where, layout=layout, loaded_keys=loaded, ignored_keys=ignored, notes=notes)


def _seaformer_key(key: str, segmentation: bool) -> str | None:
    """Our backbone key for an official key, or None when the tensor belongs to a head."""
    if segmentation:
        # mmseg EncoderDecoder: only `backbone.` is ours; decode/auxiliary heads are left out.
        return key[len("backbone."):] if key.startswith("backbone.") else None
    return None if key.split(".", 1)[0] in _SEAFORMER_HEADS else key


# numpy arrays/scalars and argparse.Namespace are plain data that training scripts
# store beside the weights (PANNs: sampler indexes; timm: `args`; mmcv: metric values).
# They are allowed by name so that weights_only loading still refuses everything else.
def _data_globals() -> list[Any]:
    core = (getattr(np, "_core", None) or np.core).multiarray  # files written with numpy 1.x name it numpy.core
    allowed: list[Any] = [np.ndarray, np.dtype, argparse.Namespace, core._reconstruct, core.scalar]
    allowed += [(core._reconstruct, "numpy.core.multiarray._reconstruct"), (core.scalar, "numpy.core.multiarray.scalar")]
    allowed += [getattr(np.dtypes, name) for name in np.dtypes.__all__]
    return allowed


def _read(source: str | Path | dict) -> tuple[dict, str]:
    """The checkpoint object and a description of where it came from."""
    if isinstance(source, dict):
        return source, "(in-memory checkpoint)"
    path = Path(source)
    if not path.is_file():
        raise WeightImportError(f"weights file not found: {path}")
    try:
        with torch.serialization.safe_globals(_data_globals()):
            obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types for damaged or foreign files
        found = re.search(r"(?:GLOBAL |got <class ')([\w.]+)", str(exc))
        if found:
            raise WeightImportError(
                f"{path} holds Python objects besides weights ({found.group(1)}), which are not loaded for safety; "
                "re-save just its state dict with torch.save"
            ) from None
        raise WeightImportError(f"cannot read {path}: not a PyTorch checkpoint or damaged ({type(exc).__name__}); download it again") from None
    if not isinstance(obj, dict):
        raise WeightImportError(f"{path} holds a {type(obj).__name__}, not a state dict")
    return obj, str(path)


def _unwrap(raw: dict, wrappers: tuple[str, ...], where: str) -> tuple[dict[str, torch.Tensor], str]:
    """The state dict inside a checkpoint (first matching wrapper key, else the dict itself)."""
    wrapper = ""
    state: Any = raw
    for name in wrappers:
        if isinstance(raw.get(name), dict):
            state, wrapper = raw[name], f"'{name}'"
            break
    if not state or not all(isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in state.items()):
        top = ", ".join(map(str, list(raw)[:5])) or "nothing"
        expected = " or ".join(f"'{w}'" for w in wrappers)
        raise WeightImportError(f"{where} holds no state dict of tensors (top-level keys: {top}); expected one, bare or under {expected}")
    # Saved from an nn.DataParallel / DistributedDataParallel wrapper.
    if all(k.startswith("module.") for k in state):
        state = {k[len("module."):]: v for k, v in state.items()}
    return dict(state), wrapper


def _mismatch(module: nn.Module, state: dict[str, torch.Tensor]) -> str:
    """Empty when `state` fits `module` key for key and shape, else a description of the first differences."""
    own = module.state_dict()
    missing = [k for k in own if k not in state and not k.endswith(_OPTIONAL_SUFFIX)]
    unexpected = [k for k in state if k not in own]
    wrong = [k for k in state if k in own and tuple(state[k].shape) != tuple(own[k].shape)]
    parts = []
    if missing:
        parts.append(f"missing {len(missing)} keys ({_preview(missing)})")
    if unexpected:
        parts.append(f"unexpected {len(unexpected)} keys ({_preview(unexpected)})")
    if wrong:
        k = wrong[0]
        more = f" and {len(wrong) - 1} more shape mismatches" if len(wrong) > 1 else ""
        parts.append(f"{k} has shape {tuple(state[k].shape)}, expected {tuple(own[k].shape)}{more}")
    return "; ".join(parts)


def _load_strict(module: nn.Module, state: dict[str, torch.Tensor]) -> int:
    """Copy `state` into `module` (dtypes converted to the module's); returns the number of tensors loaded."""
    own = module.state_dict()
    full = {k: state[k].to(own[k].dtype) if k in state else torch.zeros_like(own[k]) for k in own}
    module.load_state_dict(full, strict=True)
    return len(state)


def _preview(keys: list[str]) -> str:
    return ", ".join(keys[:_SHOWN]) + (", ..." if len(keys) > _SHOWN else "")


def _preset_of(cfg: SeaFormerConfig) -> str | None:
    return next((p.name for p in PRESETS.values() if p.visual == cfg), None)


def _variant_name(cfg: SeaFormerConfig) -> str | None:
    return next((name for name, known in SEAFORMER_VARIANTS.items() if known == cfg), None)


def _describe_backbone(cfg: SeaFormerConfig) -> str:
    preset, variant = _preset_of(cfg), _variant_name(cfg)
    if preset:
        return f"the backbone of preset {preset} ({variant})" if variant else f"the backbone of preset {preset}"
    return f"this {variant} backbone" if variant else "this backbone"


@functools.lru_cache(maxsize=None)
def _variant_shapes(name: str) -> tuple[tuple[str, tuple[int, ...]], ...]:
    """(key, shape) of a published SeaFormer variant's backbone (built once, only to explain errors)."""
    with torch.random.fork_rng(devices=[]):  # building draws random weights: keep the caller's RNG stream intact
        backbone = SeaFormerBackbone(SEAFORMER_VARIANTS[name])
    return tuple((k, tuple(v.shape)) for k, v in backbone.state_dict().items() if not k.endswith(_OPTIONAL_SUFFIX))


def _variant_hint(cfg: SeaFormerConfig, state: dict[str, torch.Tensor]) -> str:
    """Name the published variant the checkpoint is, when it is another one than the backbone's."""
    expected = _variant_name(cfg)
    shapes = {k: tuple(v.shape) for k, v in state.items()}
    for name in SEAFORMER_VARIANTS:
        known = dict(_variant_shapes(name))
        fits = all(shapes.get(k) == s for k, s in known.items())
        if name != expected and fits and all(k in known or k.endswith(_OPTIONAL_SUFFIX) for k in shapes):
            preset = _preset_of(SEAFORMER_VARIANTS[name])
            where = f" (preset {preset} uses {name})" if preset else ""
            return f"this is the {name} checkpoint, not {expected or 'the variant of this backbone'}{where}"
    return f"is it the {expected} checkpoint?" if expected else "is it a checkpoint of the same SeaFormer variant?"


def _panns_front_end_note(state: dict[str, torch.Tensor]) -> list[str]:
    """Describe the checkpoint's own waveform front end, which LightAVSeg replaces by VGGish log-mel."""
    stft = state.get("spectrogram_extractor.stft.conv_real.weight")
    mel = state.get("logmel_extractor.melW")
    if stft is None or mel is None or stft.ndim != 3 or mel.ndim != 2:
        return []
    return [f"its own front end (n_fft {stft.shape[-1]}, {mel.shape[1]} mel bins) is not used: the encoder takes VGGish log-mel"]
