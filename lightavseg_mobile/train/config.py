"""Training configuration as data."""

from __future__ import annotations

from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class TrainConfig:
    """Hyper-parameters of one training run (paper defaults: AdamW, lr 1e-4, batch 8, 60 epochs)."""

    preset: str = "lightavseg"
    stage: str = "seg"  # "audio" (pre-train the audio encoder as a classifier) or "seg"
    epochs: int = 60
    batch_size: int = 8
    lr: float = 1e-4
    weight_decay: float = 1e-2
    msa_weight: float = 0.5
    image_size: int = 224
    seed: int = 0
    freeze_audio: bool = True
    warmup_steps: int = 0
    cosine: bool = False
    max_minutes: float = 0.0  # 0 = no time budget; otherwise stop (and checkpoint) after this many minutes
    threads: int = 0  # 0 = torch default

    def to_dict(self) -> dict:
        """JSON-friendly form (stored in checkpoints)."""
        return asdict(self)


# Fields a resumed run may change: how long it runs and on how many threads, not what it learns.
RESUMABLE_CHANGES = frozenset({"epochs", "max_minutes", "threads"})


def config_differences(stored: object, new: TrainConfig) -> list[str]:
    """`name: old -> new` for every hyper-parameter a resume would silently change (empty when they agree)."""
    if not isinstance(stored, dict):
        return [f"the checkpoint stores no config ({type(stored).__name__})"]
    now = new.to_dict()
    return [f"{k}: {stored.get(k)!r} -> {now[k]!r}" for k in sorted(now)
            if k not in RESUMABLE_CHANGES and stored.get(k) != now[k]]
