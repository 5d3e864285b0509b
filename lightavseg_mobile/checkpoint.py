"""Checkpoint files: written atomically, validated fully on load (format, version, preset, hash, keys)."""

from __future__ import annotations

import hashlib
import io
import os
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from . import __version__
from .errors import CheckpointError, UserError
from .artifact.hashing import file_sha256
from .io_atomic import write_bytes_atomic
from .presets import Preset, get_preset

FORMAT = "lightavseg-checkpoint"
FORMAT_VERSION = 1
ASSET_DIR = Path(__file__).parent / "assets" / "checkpoints"


def state_dict_sha256(state: dict[str, torch.Tensor]) -> str:
    """Content hash of a state dict: key names, dtypes, shapes and bytes, in sorted key order."""
    h = hashlib.sha256()
    for key in sorted(state):
        t = state[key].detach().cpu().contiguous()
        h.update(f"{key}|{t.dtype}|{tuple(t.shape)}|".encode())
        h.update(t.numpy().tobytes() if t.dtype != torch.bfloat16 else t.view(torch.int16).numpy().tobytes())
    return h.hexdigest()


@dataclass
class Checkpoint:
    """A loaded, validated checkpoint."""

    path: Path
    preset: Preset
    state_dict: dict[str, torch.Tensor]
    meta: dict[str, Any]
    sha256: str  # of the file
    optimizer: dict[str, Any] | None = None

    def build_model(self):  # -> LightAVSeg
        """The training model with these weights loaded (eval mode)."""
        from .presets import create_model

        model = create_model(self.preset.name)
        load_state_checked(model, self.state_dict, source=str(self.path))
        return model.eval()


def load_state_checked(model: torch.nn.Module, state: dict[str, torch.Tensor], source: str) -> None:
    """Load a state dict strictly; a mismatch raises one line naming the first missing/unexpected keys."""
    own = model.state_dict()
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    if missing or unexpected:
        parts = []
        if missing:
            parts.append(f"missing {len(missing)} key(s) e.g. {', '.join(missing[:3])}")
        if unexpected:
            parts.append(f"unexpected {len(unexpected)} key(s) e.g. {', '.join(unexpected[:3])}")
        raise CheckpointError(f"{source}: weights do not fit this model: {'; '.join(parts)}")
    for k, v in state.items():
        if tuple(v.shape) != tuple(own[k].shape):
            raise CheckpointError(f"{source}: {k} has shape {tuple(v.shape)}, the model expects {tuple(own[k].shape)}")
    model.load_state_dict({k: v.to(own[k].dtype) for k, v in state.items()}, strict=True)


def save_checkpoint(
    path: str | os.PathLike[str],
    model: torch.nn.Module,
    preset: Preset,
    meta: dict[str, Any] | None = None,
    optimizer: torch.optim.Optimizer | None = None,
    half: bool = False,
) -> str:
    """Write a checkpoint atomically; returns the state-dict hash stored in it."""
    state = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
    if half:
        # fp16 on disk halves the size; integer buffers (BN counters) stay as they are.
        state = {k: (v.half() if v.is_floating_point() else v) for k, v in state.items()}
    digest = state_dict_sha256(state)
    payload = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "package_version": __version__,
        "preset": preset.name,
        "preset_config": preset.to_dict(),
        "state_dict": state,
        "state_dict_sha256": digest,
        "meta": meta or {},
    }
    if optimizer is not None:
        payload["optimizer"] = optimizer.state_dict()
    buf = io.BytesIO()
    torch.save(payload, buf)
    write_bytes_atomic(path, buf.getvalue())
    return digest


def load_checkpoint(path: str | os.PathLike[str], expect_preset: str | None = None) -> Checkpoint:
    """Read and validate a checkpoint; any problem is a one-line CheckpointError."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint not found: {path}")
    if path.stat().st_size == 0:
        raise CheckpointError(f"checkpoint {path} is empty")
    if not zipfile.is_zipfile(path):
        raise CheckpointError(f"checkpoint {path} is truncated or not a checkpoint file (re-copy it or re-train)")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types for damaged archives
        raise CheckpointError(f"checkpoint {path} is corrupt ({type(exc).__name__}); re-copy it or re-train") from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise CheckpointError(f"{path} is not a LightAVSeg checkpoint (no '{FORMAT}' header)")
    version = payload.get("format_version")
    if version != FORMAT_VERSION:
        raise CheckpointError(f"{path} has checkpoint format version {version}; this package reads version {FORMAT_VERSION}")
    preset_name = payload.get("preset")
    if not isinstance(preset_name, str):
        raise CheckpointError(f"{path}: field 'preset' is a {type(preset_name).__name__}, not a preset name")
    try:
        preset = get_preset(preset_name)
    except UserError as exc:  # name the file: "unknown preset" alone does not say which checkpoint is at fault
        raise CheckpointError(f"{path}: {exc}") from None
    if expect_preset is not None and preset_name != expect_preset:
        raise CheckpointError(f"{path} holds preset {preset_name!r}, not {expect_preset!r}")
    if payload.get("preset_config") != preset.to_dict():
        raise CheckpointError(f"{path}: preset {preset_name!r} was saved with a different architecture than this package defines")
    state = payload.get("state_dict")
    if not isinstance(state, dict):
        raise CheckpointError(f"{path} has no state_dict")
    # weights_only=True still admits strings, numbers, lists and dicts as values; hashing and loading need tensors.
    for key, value in state.items():
        if not isinstance(key, str) or not isinstance(value, torch.Tensor):
            raise CheckpointError(f"{path}: state_dict entry {_short(key)} holds a {type(value).__name__}, not a tensor "
                                  "(file damaged or edited)")
    meta = payload.get("meta")
    if meta is not None and not isinstance(meta, dict):
        raise CheckpointError(f"{path}: field 'meta' is a {type(meta).__name__}, not a dict (file damaged or edited)")
    if state_dict_sha256(state) != payload.get("state_dict_sha256"):
        raise CheckpointError(f"{path}: weights do not match their stored hash (file damaged or edited)")
    return Checkpoint(
        path=path,
        preset=preset,
        state_dict={k: (v.float() if v.is_floating_point() else v) for k, v in state.items()},
        meta=dict(meta or {}),
        sha256=file_sha256(path),
        optimizer=payload.get("optimizer"),
    )


def _short(value: Any) -> str:
    text = repr(value)  # repr keeps the message on one line
    return text if len(text) <= 60 else text[:57] + "..."


def shipped_checkpoint(preset: str) -> Path:
    """Path of the trained checkpoint shipped with the package for `preset`."""
    path = ASSET_DIR / f"{preset}.pt"
    if not path.is_file():
        shipped = sorted(p.stem for p in ASSET_DIR.glob("*.pt"))
        raise CheckpointError(f"no shipped checkpoint for preset {preset!r}; shipped: {', '.join(shipped) or 'none'}")
    return path
