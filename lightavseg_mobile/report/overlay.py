"""Mask overlays for qualitative results: a tinted prediction, a ground-truth contour, one strip per clip."""

from __future__ import annotations

import numpy as np

from lightavseg_mobile.errors import UserError

PRED_COLOR = (255, 48, 48)
GT_COLOR = (48, 220, 48)
CONTOUR_COLOR = (48, 220, 48)
GAP_COLOR = (255, 255, 255)


def _as_bool_masks(masks: np.ndarray, name: str) -> np.ndarray:
    """Boolean masks from bool or integer (0/1, 0/255) arrays; float input is refused as probable logits."""
    m = np.asarray(masks)
    if m.dtype == bool:
        return m
    if np.issubdtype(m.dtype, np.integer):
        return m > 0
    raise UserError(
        f"{name} has dtype {m.dtype}; pass boolean masks "
        "(binarise logits with lightavseg_mobile.metrics.logits_to_mask)"
    )


def _contour(mask: np.ndarray) -> np.ndarray:
    """Pixels of `mask` that touch a background pixel (4-neighbourhood; outside the image counts as background)."""
    padded = np.pad(mask, 1, constant_values=False)
    interior = padded[1:-1, 1:-1] & padded[:-2, 1:-1] & padded[2:, 1:-1] & padded[1:-1, :-2] & padded[1:-1, 2:]
    return mask & ~interior


def overlay_mask(
    frame_uint8: np.ndarray,
    mask_bool: np.ndarray,
    gt_bool: np.ndarray | None = None,
    color: tuple[int, int, int] = PRED_COLOR,
    alpha: float = 0.5,
    contour_color: tuple[int, int, int] = CONTOUR_COLOR,
) -> np.ndarray:
    """Frame [H,W,3] uint8 with `mask_bool` tinted in `color` and, if given, the ground-truth contour drawn."""
    frame = np.asarray(frame_uint8)
    if frame.dtype != np.uint8 or frame.ndim != 3 or frame.shape[2] != 3:
        raise UserError(f"frame has shape {frame.shape} and dtype {frame.dtype}; expected uint8 [H,W,3] RGB")
    mask = _as_bool_masks(mask_bool, "mask_bool")
    if mask.shape != frame.shape[:2]:
        raise UserError(f"mask shape {mask.shape} does not match frame size {frame.shape[:2]}; resize one to the other")
    out = frame.astype(np.float32)
    tint = np.asarray(color, dtype=np.float32)
    out[mask] = (1.0 - alpha) * out[mask] + alpha * tint
    out = np.clip(np.rint(out), 0, 255).astype(np.uint8)
    if gt_bool is not None:
        gt = _as_bool_masks(gt_bool, "gt_bool")
        if gt.shape != mask.shape:
            raise UserError(f"ground-truth shape {gt.shape} does not match mask shape {mask.shape}")
        out[_contour(gt)] = np.asarray(contour_color, dtype=np.uint8)
    return out


def _frames_hw3(frames: np.ndarray) -> np.ndarray:
    """Check a clip of frames is uint8 [T,H,W,3]."""
    f = np.asarray(frames)
    if f.dtype != np.uint8 or f.ndim != 4 or f.shape[3] != 3:
        raise UserError(f"frames have shape {f.shape} and dtype {f.dtype}; expected uint8 [T,H,W,3] RGB")
    return f


def _squeeze_masks(masks: np.ndarray, name: str) -> np.ndarray:
    """Masks [T,H,W] or [T,1,H,W] as boolean [T,H,W]."""
    m = _as_bool_masks(masks, name)
    if m.ndim == 4 and m.shape[1] == 1:
        m = m[:, 0]
    if m.ndim != 3:
        raise UserError(f"{name} has shape {m.shape}; expected [T,H,W] or [T,1,H,W]")
    return m


def clip_strip(
    frames: np.ndarray, pred_masks: np.ndarray, gt_masks: np.ndarray | None = None, gap: int = 2
) -> np.ndarray:
    """The T frames side by side: top row prediction overlays (with GT contour), bottom row ground truth.

    Size: height 2*H + gap (H without ground truth), width T*W + (T-1)*gap; gaps are white.
    """
    f = _frames_hw3(frames)
    pred = _squeeze_masks(pred_masks, "pred_masks")
    t, h, w, _ = f.shape
    if pred.shape != (t, h, w):
        raise UserError(f"pred_masks shape {pred.shape} does not match frames {(t, h, w)}")
    gt = None
    if gt_masks is not None:
        gt = _squeeze_masks(gt_masks, "gt_masks")
        if gt.shape != (t, h, w):
            raise UserError(f"gt_masks shape {gt.shape} does not match frames {(t, h, w)}")
    rows = 1 if gt is None else 2
    out = np.empty((rows * h + (rows - 1) * gap, t * w + (t - 1) * gap, 3), dtype=np.uint8)
    out[...] = np.asarray(GAP_COLOR, dtype=np.uint8)
    for i in range(t):
        x0 = i * (w + gap)
        out[:h, x0 : x0 + w] = overlay_mask(f[i], pred[i], None if gt is None else gt[i])
        if gt is not None:
            out[h + gap :, x0 : x0 + w] = overlay_mask(f[i], gt[i], None, color=GT_COLOR)
    return out
