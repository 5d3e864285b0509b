"""Parameters and FLOPs per top-level module, counted with torch's FLOP counter."""

from __future__ import annotations

import copy

import torch
from torch.utils.flop_counter import FlopCounterMode

from .lightavseg import INFERENCE_MODULES, TRAINING_ONLY_MODULES


def module_params(model: torch.nn.Module) -> dict[str, int]:
    """Parameter count of each top-level module present in `model`, plus 'total'."""
    out = {name: sum(p.numel() for p in getattr(model, name).parameters())
           for name in INFERENCE_MODULES + TRAINING_ONLY_MODULES if hasattr(model, name)}
    out["total"] = sum(p.numel() for p in model.parameters())
    return out


def module_flops(model: torch.nn.Module, image_size: int = 224, mel_shape: tuple[int, int] = (96, 64)) -> dict[str, int]:
    """FLOPs (2 per multiply-add) of one inference (batch 1) per top-level module, plus 'total'.

    The visual stages run interleaved with the reciprocal blocks, so each module's
    count is the sum over its directly-called children.
    """
    infer = model.for_inference() if hasattr(model, "for_inference") else copy.deepcopy(model)
    # Count on the meta device: shapes only, no arithmetic, so large sizes cost nothing.
    infer = infer.to("meta")
    counter = FlopCounterMode(display=False)
    frame = torch.zeros(1, 3, image_size, image_size, device="meta")
    logmel = torch.zeros(1, 1, *mel_shape, device="meta")
    with torch.no_grad(), counter:
        infer(frame, logmel)
    counts = counter.get_flop_counts()
    root = type(infer).__name__
    out: dict[str, int] = {}
    for name in INFERENCE_MODULES:
        prefix = f"{root}.{name}"
        if prefix in counts:
            out[name] = int(sum(counts[prefix].values()))
        else:  # called only through its children (visual.forward_stage)
            depth = prefix.count(".") + 1
            out[name] = int(sum(sum(v.values()) for k, v in counts.items() if k.startswith(prefix + ".") and k.count(".") == depth))
    out["total"] = int(sum(counts["Global"].values()))
    return out
