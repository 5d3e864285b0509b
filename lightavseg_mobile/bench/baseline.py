"""Which torch fp32 checkpoint is the baseline and the parity reference of a preset."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from ..artifact.manifest import Manifest


def baseline_checkpoint(preset: str, manifests: Sequence[Manifest] = (), checkpoints: Sequence[Path] = (),
                        explicit: Path | None = None) -> Path | None:
    """The torch fp32 checkpoint of `preset`: `explicit` (--checkpoint), a named .pt, the manifests' source, or the
    shipped one; None when there is none."""
    from ..checkpoint import CheckpointError, load_checkpoint, shipped_checkpoint

    candidates: list[Path] = [explicit] if explicit is not None else []
    candidates += list(checkpoints)
    for m in manifests:
        src = (m.export or {}).get("checkpoint")
        if m.preset == preset and src:
            candidates.append(Path(src))
    for c in candidates:
        if not Path(c).is_file():
            continue
        try:
            ck = load_checkpoint(c)
        except CheckpointError:
            continue
        if ck.preset.name == preset:
            return Path(c)
    try:
        return shipped_checkpoint(preset)
    except CheckpointError:
        return None
