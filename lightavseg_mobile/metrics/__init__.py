"""Task metrics (AVSBench J and F) and tensor comparison metrics; numpy only, safe to run on a device."""

from lightavseg_mobile.metrics.task import (
    F_BETA2,
    F_THRESHOLDS,
    IOU_EPS,
    NUM_THRESHOLDS,
    PR_EPS,
    TaskMetrics,
    f_curve,
    f_score,
    f_score_grouped,
    logits_to_mask,
    mask_agreement_iou,
    mask_iou,
    sigmoid,
)
from lightavseg_mobile.metrics.tensor import cosine, max_abs, mean_abs, sqnr_db, tensor_report

__all__ = [
    "F_BETA2",
    "F_THRESHOLDS",
    "IOU_EPS",
    "NUM_THRESHOLDS",
    "PR_EPS",
    "TaskMetrics",
    "cosine",
    "f_curve",
    "f_score",
    "f_score_grouped",
    "logits_to_mask",
    "mask_agreement_iou",
    "mask_iou",
    "max_abs",
    "mean_abs",
    "sigmoid",
    "sqnr_db",
    "tensor_report",
]
