"""AVSBench task metrics: mask IoU (J) and F-score (F), one-shot and streaming, numpy only.

Semantics follow the AVSBench evaluation (S4/MS3 `mask_iou`, `Eval_Fmeasure`, `_eval_pr`):

* J: a pixel is foreground when sigmoid(logit) > 0.5. Per frame IoU = inter / (union + 1e-7). A frame whose
  ground truth is empty is scored as the IoU of the background: (pixels negative in both) / (all pixels + 1e-7).
  mIoU is the mean over frames; with no frame at all it is NaN (AVSBench divides by N = 0).
* F: probabilities sigmoid(logit), 255 thresholds linspace(0, 1 - 1e-10, 255), a pixel is predicted at threshold
  t when prob >= t. Per frame precision = tp / (predicted + 1e-20), recall = tp / (gt + 1e-20),
  F = (1 + 0.3) * P * R / (0.3 * P + R) with NaN -> 0. Frames with an empty ground truth are skipped. The per-frame
  F curves are averaged over frames and the maximum over thresholds is the score. With no non-empty frame the
  score is 0.0 (AVSBench starts from a zero curve and returns its max).
* Ground-truth masks are binary; values > 0.5 are foreground (bool, 0/1 and 0/255 masks all work).

Precision. AVSBench computes in float32, and three float32 effects are part of its numbers, so the per-pixel
decisions here are made in float32 too (counts, sums and means are float64):
* 1 - 1e-10 rounds to 1.0: the last threshold is exactly 1.0;
* sigmoid computed as 1 / (1 + exp(-x)) in float32 is exactly 1.0 for logits above about 16.64, so that last
  threshold keeps every pixel above ~16.64 (in float64 it would need logits above ~23; on confident logits the
  max F moved by 4 points between the two);
* the IoU eps vanishes: union + 1e-7 rounds back to union for any union >= 2, so a perfect frame scores 1.0.
Bit-level agreement with a torch run is not possible (torch's CPU linspace differs from the rounded nominal
thresholds by one ulp in 10 of 255 values, and exp implementations differ by an ulp); that moves only pixels
whose probability sits on that ulp.

Aggregation. AVSBench's test.py averages metrics per evaluation batch (F = mean over batches of each batch's
max; test.sh uses 4 clips = 20 frames per batch). The default here is the single F over all frames; pass
`group_size` to `TaskMetrics` (or use `f_score_grouped`) to get the batch-averaged number their tables report.
"""

from __future__ import annotations

import numpy as np

from lightavseg_mobile.errors import UserError

F_BETA2 = 0.3
IOU_EPS = np.float32(1e-7)
PR_EPS = 1e-20
NUM_THRESHOLDS = 255
# float32 thresholds, as in AVSBench: the last one is 1.0, not 1 - 1e-10.
F_THRESHOLDS = np.linspace(0.0, 1.0 - 1e-10, NUM_THRESHOLDS).astype(np.float32)

# Threshold lookup for the vectorised >= comparison: a guess c = floor(prob * 254) in float32, then one exact
# comparison. floor(F_THRESHOLDS[j] * 254) == j for every j and rounded multiplication is monotone, so
# prob >= F_THRESHOLDS[j] implies c >= j: the guess can be one too high next to a threshold, never too low.
_INV_STEP = np.float32(NUM_THRESHOLDS - 1)
# About 1-2 MB per chunk keeps the per-pixel passes in cache.
_CHUNK_PIXELS = 1 << 18


def sigmoid(logits: np.ndarray) -> np.ndarray:
    """float32 logistic 1 / (1 + exp(-x)) as torch computes it on float32 logits (exactly 1.0 above x ~ 16.64)."""
    x = np.atleast_1d(np.asarray(logits, dtype=np.float32))
    scalar = np.ndim(logits) == 0
    # exp in float64 rounded to float32 is within an ulp of torch's float32 exp; the add and the reciprocal are
    # then exact IEEE float32 operations, which is what makes 1 + exp(-x) round to 1 above x ~ 16.64.
    with np.errstate(over="ignore"):
        e = np.exp(np.negative(x, dtype=np.float64)).astype(np.float32)
    e += np.float32(1.0)
    np.reciprocal(e, out=e)
    return e.reshape(()) if scalar else e


def logits_to_mask(logits: np.ndarray) -> np.ndarray:
    """Binary mask sigmoid(logits) > 0.5 (NaN logits give background), any shape."""
    x = np.asarray(logits)
    if x.ndim == 0:
        return sigmoid(x) > 0.5
    out = np.empty(x.shape, dtype=bool)
    rows = max(1, _CHUNK_PIXELS // max(1, x[0].size))
    for s in range(0, x.shape[0], rows):
        out[s : s + rows] = sigmoid(x[s : s + rows]) > 0.5
    return out


def _as_frames(arr: np.ndarray, name: str) -> np.ndarray:
    """View an [N,H,W] or [N,1,H,W] array as [N,H,W]."""
    a = np.asarray(arr)
    if a.ndim == 4 and a.shape[1] == 1:
        a = a[:, 0]
    if a.ndim != 3:
        raise UserError(f"{name} has shape {a.shape}; expected [N,H,W] or [N,1,H,W]")
    return a


def _check_pair(pred_logits: np.ndarray, gt_masks: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Validate and reshape a (prediction, ground truth) pair to matching [N,H,W] arrays."""
    pred = _as_frames(pred_logits, "pred_logits")
    gt = _as_frames(gt_masks, "gt_masks")
    if pred.shape != gt.shape:
        raise UserError(
            f"pred_logits frames {pred.shape} and gt_masks frames {gt.shape} differ; resize the prediction to the "
            "ground-truth size before scoring"
        )
    return pred, gt


def _threshold_index(prob: np.ndarray) -> np.ndarray:
    """Number of thresholds t with prob >= t, per pixel (0..255), exactly as the 255 comparisons would give."""
    p = np.asarray(prob, dtype=np.float32)
    nan = np.isnan(p)
    if nan.any():
        # NaN >= t is false for every t: move NaN below every threshold.
        p = np.where(nan, np.float32(-1.0), p)
    c = (p * _INV_STEP).astype(np.intp)
    np.clip(c, 0, NUM_THRESHOLDS - 1, out=c)
    k = c + 1
    k -= F_THRESHOLDS[c] > p
    return k


def _f_curves(prob: np.ndarray, fg: np.ndarray, n_gt: np.ndarray) -> np.ndarray:
    """Per-frame F curves [M,255] from probabilities [M,P], foreground [M,P] and foreground counts [M]."""
    m = prob.shape[0]
    idx = _threshold_index(prob)
    idx *= 2
    idx += fg
    idx += (np.arange(m, dtype=np.intp) * (2 * (NUM_THRESHOLDS + 1)))[:, None]
    counts = np.bincount(idx.ravel(), minlength=m * 2 * (NUM_THRESHOLDS + 1)).reshape(m, NUM_THRESHOLDS + 1, 2)
    # Pixels predicted at threshold j are those with index > j: a reversed cumulative sum over indices 255..1.
    above = counts[:, :0:-1, :].cumsum(axis=1)[:, ::-1, :].astype(np.float64)
    tp = above[:, :, 1]
    n_pred = above[:, :, 0] + tp
    prec = tp / (n_pred + PR_EPS)
    rec = tp / (n_gt[:, None].astype(np.float64) + PR_EPS)
    with np.errstate(invalid="ignore", divide="ignore"):
        f = (1.0 + F_BETA2) * prec * rec / (F_BETA2 * prec + rec)
    f[np.isnan(f)] = 0.0
    return f


def _frame_stats(
    pred_logits: np.ndarray, gt_masks: np.ndarray, need_f: bool
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Per-frame IoU [N], non-empty-ground-truth flags [N] and (if asked) F curves [N,255] (zero rows when empty)."""
    pred, gt = _check_pair(pred_logits, gt_masks)
    n, h, w = pred.shape
    pixels = h * w
    iou = np.empty(n, dtype=np.float64)
    has_gt = np.empty(n, dtype=bool)
    curves = np.zeros((n, NUM_THRESHOLDS), dtype=np.float64) if need_f else None
    rows = max(1, _CHUNK_PIXELS // max(1, pixels))
    for s in range(0, n, rows):
        p = sigmoid(pred[s : s + rows].reshape(-1, pixels))
        g = gt[s : s + rows].reshape(-1, pixels)
        fg = g if g.dtype == bool else g > 0.5
        pos = p > 0.5
        n_gt = np.count_nonzero(fg, axis=1)
        n_pos = np.count_nonzero(pos, axis=1)
        inter = np.count_nonzero(pos & fg, axis=1)
        union = n_pos + n_gt - inter
        empty = n_gt == 0
        # Empty ground truth: IoU of the background, i.e. pixels negative in both over all pixels.
        inter = np.where(empty, pixels - union, inter)
        union = np.where(empty, pixels, union)
        m = p.shape[0]
        # The eps is added in float32 as AVSBench does (it only survives for a union of 1).
        iou[s : s + m] = inter / (union.astype(np.float32) + IOU_EPS).astype(np.float64)
        has_gt[s : s + m] = ~empty
        if curves is not None and not empty.all():
            keep = ~empty
            curves[s : s + m][keep] = _f_curves(p[keep], fg[keep], n_gt[keep])
    return iou, has_gt, curves


def _seq_sum(start: np.ndarray | float, values: np.ndarray) -> np.ndarray | float:
    """start + v0 + v1 + ... added strictly in order, so any split of the stream gives identical bits."""
    if len(values) == 0:
        return start
    stacked = np.concatenate([np.asarray(start, dtype=np.float64)[None], np.asarray(values, dtype=np.float64)])
    total = np.add.accumulate(stacked, axis=0)[-1]
    return float(total) if total.ndim == 0 else total


def _valid_flags(valid: np.ndarray | None, n: int) -> np.ndarray:
    """Boolean [N] mask of frames to score (all when None)."""
    if valid is None:
        return np.ones(n, dtype=bool)
    v = np.asarray(valid).reshape(-1)
    if v.shape[0] != n:
        raise UserError(f"valid has {v.shape[0]} entries for {n} frames; give one flag per frame")
    return v.astype(bool)


class TaskMetrics:
    """Streaming J/F accumulator: update() per batch or clip, result() equals the one-shot functions bit for bit."""

    def __init__(self, group_size: int | None = None) -> None:
        """Create an empty accumulator; `group_size` frames per group also gives AVSBench's batch-averaged numbers."""
        if group_size is not None and group_size < 1:
            raise UserError(f"group_size={group_size} must be a positive number of frames (AVSBench test.sh: 20)")
        self.group_size = group_size
        self.reset()

    def reset(self) -> None:
        """Forget everything seen so far."""
        self._iou_sum = 0.0
        self._frames = 0
        self._curve_sum = np.zeros(NUM_THRESHOLDS, dtype=np.float64)
        self._f_frames = 0
        # Group state: position in the frame stream (valid or not), the open group, the closed groups' scores.
        self._pos = 0
        self._g_iou_sum = 0.0
        self._g_frames = 0
        self._g_curve_sum = np.zeros(NUM_THRESHOLDS, dtype=np.float64)
        self._g_f_frames = 0
        self._group_miou: list[float] = []
        self._group_f: list[float] = []

    def update(self, pred_logits: np.ndarray, gt_masks: np.ndarray, valid: np.ndarray | None = None) -> None:
        """Add frames: logits and masks [N,H,W] or [N,1,H,W]; frames with valid[i] false are not scored."""
        iou, has_gt, curves = _frame_stats(pred_logits, gt_masks, need_f=True)
        ok = _valid_flags(valid, iou.shape[0])
        use_f = ok & has_gt
        self._iou_sum = _seq_sum(self._iou_sum, iou[ok])
        self._frames += int(ok.sum())
        self._curve_sum = _seq_sum(self._curve_sum, curves[use_f])
        self._f_frames += int(use_f.sum())
        if self.group_size is not None:
            for i in range(iou.shape[0]):
                self._add_to_group(iou[i], curves[i], bool(ok[i]), bool(use_f[i]))

    def _add_to_group(self, iou: float, curve: np.ndarray, ok: bool, use_f: bool) -> None:
        """Add one frame to the open group; close the group when it holds group_size frame positions."""
        if ok:
            self._g_iou_sum += float(iou)
            self._g_frames += 1
        if use_f:
            self._g_curve_sum = self._g_curve_sum + curve
            self._g_f_frames += 1
        self._pos += 1
        if self._pos % self.group_size == 0:
            self._close_group()

    def _close_group(self) -> None:
        """Score the open group as AVSBench scores one test batch and start a new one."""
        if self._g_frames > 0:
            self._group_miou.append(self._g_iou_sum / self._g_frames)
            # A batch whose ground truths are all empty scores F = 0 and still counts in the average.
            f = float(np.max(self._g_curve_sum / self._g_f_frames)) if self._g_f_frames else 0.0
            self._group_f.append(f)
        self._g_iou_sum = 0.0
        self._g_frames = 0
        self._g_curve_sum = np.zeros(NUM_THRESHOLDS, dtype=np.float64)
        self._g_f_frames = 0

    def f_curve(self) -> np.ndarray:
        """Mean F over non-empty frames at each of the 255 thresholds (zeros when there is none)."""
        if self._f_frames == 0:
            return np.zeros(NUM_THRESHOLDS, dtype=np.float64)
        return self._curve_sum / self._f_frames

    def result(self) -> dict:
        """{"miou", "f", "frames", "f_frames", "f_threshold"} (+ "miou_grouped", "f_grouped", "groups")."""
        curve = self.f_curve()
        best = int(np.argmax(curve))
        out = {
            "miou": self._iou_sum / self._frames if self._frames else float("nan"),
            "f": float(curve[best]),
            "frames": self._frames,
            "f_frames": self._f_frames,
            "f_threshold": float(F_THRESHOLDS[best]) if self._f_frames else float("nan"),
        }
        if self.group_size is not None:
            miou_g, f_g = list(self._group_miou), list(self._group_f)
            if self._g_frames > 0:
                # The last, shorter batch counts like any other (as AVSBench's last test batch does).
                miou_g.append(self._g_iou_sum / self._g_frames)
                f_g.append(float(np.max(self._g_curve_sum / self._g_f_frames)) if self._g_f_frames else 0.0)
            out["miou_grouped"] = float(np.mean(miou_g)) if miou_g else float("nan")
            out["f_grouped"] = float(np.mean(f_g)) if f_g else float("nan")
            out["groups"] = len(miou_g)
        return out


def mask_iou(pred_logits: np.ndarray, gt_masks: np.ndarray) -> float:
    """AVSBench mIoU (J): mean per-frame IoU of sigmoid > 0.5, background IoU for empty ground truths."""
    iou, _, _ = _frame_stats(pred_logits, gt_masks, need_f=False)
    if iou.shape[0] == 0:
        return float("nan")
    return _seq_sum(0.0, iou) / iou.shape[0]


def f_curve(pred_logits: np.ndarray, gt_masks: np.ndarray) -> np.ndarray:
    """AVSBench F-measure curve [255]: mean over non-empty frames of the per-threshold F (beta^2 = 0.3)."""
    acc = TaskMetrics()
    acc.update(pred_logits, gt_masks)
    return acc.f_curve()


def f_score(pred_logits: np.ndarray, gt_masks: np.ndarray) -> float:
    """AVSBench F: max over the 255 thresholds of the mean F curve; 0.0 when every ground truth is empty."""
    return float(np.max(f_curve(pred_logits, gt_masks)))


def f_score_grouped(pred_logits: np.ndarray, gt_masks: np.ndarray, group_size: int) -> float:
    """F as AVSBench's test.py reports it: F of each run of `group_size` frames, averaged over the runs."""
    acc = TaskMetrics(group_size=group_size)
    acc.update(pred_logits, gt_masks)
    return acc.result()["f_grouped"]


def mask_agreement_iou(logits_a: np.ndarray, logits_b: np.ndarray) -> float:
    """IoU of the two binarised masks (sigmoid > 0.5) pooled over every pixel of every frame; 1.0 if both empty."""
    a = np.asarray(logits_a)
    b = np.asarray(logits_b)
    if a.shape != b.shape:
        raise UserError(f"logit arrays differ in shape: {a.shape} vs {b.shape}; compare outputs of the same input")
    ma = logits_to_mask(a)
    mb = logits_to_mask(b)
    union = int(np.count_nonzero(ma | mb))
    if union == 0:
        return 1.0
    return int(np.count_nonzero(ma & mb)) / union
