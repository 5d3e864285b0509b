"""Per-module parameters and FLOPs of a preset, counted on the meta device (no weights, no data)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from .modules import MODULES


def preset_cost(preset: str, image_size: int | None = None) -> dict[str, dict[str, Any]]:
    """{module: {params, gflops}} plus 'total' for a preset."""
    from ..model.cost import module_flops, module_params
    from ..presets import create_model, get_preset

    p = get_preset(preset)
    model = create_model(preset)
    params = module_params(model.for_inference() if hasattr(model, "for_inference") else model)
    flops = module_flops(model, image_size or p.image_size)
    out = {m: {"params": int(params.get(m, 0)), "gflops": flops.get(m, 0) / 1e9} for m in MODULES}
    out["total"] = {"params": int(params["total"]), "gflops": flops["total"] / 1e9}
    return out


def costs_for(presets: Iterable[str | None]) -> tuple[dict[str, dict[str, Any]], list[str]]:
    """({preset: preset_cost}, reasons) for every preset; a preset whose counting fails gets {} and a reason."""
    costs: dict[str, dict[str, Any]] = {}
    reasons: list[str] = []
    for preset in presets:
        if not preset or preset in costs:
            continue
        try:
            costs[preset] = preset_cost(preset)
        except Exception as exc:  # noqa: BLE001 - FLOPs are informative; a failure must not lose the timings
            # ...but it must not vanish either: the report's incomplete_reason names it, with its message.
            first = (str(exc).strip().splitlines() or [""])[0][:200]
            reasons.append(f"FLOPs of {preset} not counted ({type(exc).__name__}{': ' + first if first else ''})")
            costs[preset] = {}
    return costs, reasons
