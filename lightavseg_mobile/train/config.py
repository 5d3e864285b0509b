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
