"""AVSBench J/F metrics and tensor metrics against hand-computed values and a brute-force reference."""

from __future__ import annotations

import math
import time

import numpy as np
import pytest

from lightavseg_mobile.errors import UserError
from lightavseg_mobile.metrics import (
    F_THRESHOLDS,
    TaskMetrics,
    cosine,
    f_curve,
    f_score,
    f_score_grouped,
    logits_to_mask,
    mask_agreement_iou,
    mask_iou,
    max_abs,
    mean_abs,
    sigmoid,
    sqnr_db,
    tensor_report,
)
from lightavseg_mobile.metrics.task import _threshold_index


def logits_of(mask: np.ndarray, scale: float = 10.0) -> np.ndarray:
    """Confident logits for a boolean mask."""
    return np.where(mask, scale, -scale).astype(np.float32)


def logit(p: np.ndarray) -> np.ndarray:
    """Inverse sigmoid."""
    p = np.asarray(p, dtype=np.float64)
    return np.log(p / (1.0 - p))


def brute_f_score(pred_logits: np.ndarray, gt: np.ndarray) -> float:
    """Straight transcription of the protocol: one comparison pass per threshold, per frame (float32 decisions)."""
    probs = sigmoid(pred_logits)
    thresholds = np.float32(np.linspace(0.0, 1.0 - 1e-10, 255))
    total = np.zeros(255)
    used = 0
    for i in range(probs.shape[0]):
        g = gt[i].astype(np.float64)
        if g.mean() == 0.0:
            continue
        curve = np.zeros(255)
        for j in range(255):
            y = (probs[i] >= thresholds[j]).astype(np.float64)
            tp = (y * g).sum()
            prec = tp / (y.sum() + 1e-20)
            rec = tp / (g.sum() + 1e-20)
            denom = 0.3 * prec + rec
            curve[j] = 0.0 if denom == 0 else 1.3 * prec * rec / denom
        total += curve
        used += 1
    if used == 0:
        return 0.0
    return float((total / used).max())


def brute_mask_iou(pred_logits: np.ndarray, gt: np.ndarray) -> float:
    """Per-frame loop version of the AVSBench IoU (eps as a float32 addition)."""
    probs = sigmoid(pred_logits)
    vals = []
    for i in range(probs.shape[0]):
        p = probs[i] > 0.5
        g = gt[i] > 0.5
        if g.sum() == 0:
            inter, union = np.sum(~p & ~g), p.size
        else:
            inter, union = np.sum(p & g), np.sum(p | g)
        vals.append(inter / float(np.float32(union) + np.float32(1e-7)))
    return float(np.mean(vals))


# ---------------------------------------------------------------- mask IoU


def test_iou_perfect_prediction():
    gt = np.zeros((2, 6, 6), bool)
    gt[0, 1:4, 1:4] = True  # 9 px
    gt[1, :, :2] = True  # 12 px
    # in float32 union + 1e-7 rounds back to the union: a perfect frame is exactly 1
    assert mask_iou(logits_of(gt), gt) == 1.0


def test_iou_eps_survives_only_for_a_one_pixel_union():
    gt = np.zeros((1, 3, 3), bool)
    gt[0, 1, 1] = True
    assert mask_iou(logits_of(gt), gt) == 1.0 / (1.0 + 2.0**-23)  # 1 + 1e-7 is 1 + one float32 ulp


def test_iou_all_wrong_is_zero():
    gt = np.zeros((1, 4, 4), bool)
    gt[0, :2] = True
    assert mask_iou(logits_of(~gt), gt) == 0.0


def test_iou_half_overlap():
    gt = np.zeros((1, 4, 8), bool)
    gt[0, :, 0:4] = True
    pred = np.zeros_like(gt)
    pred[0, :, 2:6] = True
    # intersection 2 columns x 4 = 8, union 6 columns x 4 = 24
    assert mask_iou(logits_of(pred), gt) == 8 / 24


def test_iou_empty_gt_empty_pred_is_one():
    gt = np.zeros((1, 4, 4), bool)
    assert mask_iou(logits_of(gt), gt) == 1.0


def test_iou_empty_gt_scores_background():
    gt = np.zeros((1, 4, 4), bool)
    pred = np.zeros_like(gt)
    pred[0, 0, :] = True  # 4 false positives, 12 true negatives
    assert mask_iou(logits_of(pred), gt) == 12 / 16


def test_iou_all_foreground_gt():
    gt = np.ones((2, 4, 4), bool)
    pred = np.ones_like(gt)
    pred[1, :2] = False
    assert mask_iou(logits_of(pred), gt) == (1.0 + 0.5) / 2


def test_iou_threshold_is_strictly_above_half():
    gt = np.ones((1, 1, 2), bool)
    pred = np.array([[[0.0, 1e-3]]])  # sigmoid(0) = 0.5 is not foreground
    assert mask_iou(pred, gt) == 0.5


def test_iou_accepts_channel_dim_and_uint8_gt():
    rng = np.random.default_rng(1)
    gt = rng.random((3, 8, 8)) < 0.4
    pred = rng.normal(size=(3, 8, 8))
    ref = mask_iou(pred, gt)
    assert mask_iou(pred[:, None], (gt * 255).astype(np.uint8)[:, None]) == ref
    assert ref == pytest.approx(brute_mask_iou(pred, gt), abs=1e-12)


def test_iou_no_frames_is_nan():
    assert math.isnan(mask_iou(np.zeros((0, 4, 4)), np.zeros((0, 4, 4))))


def test_shape_errors_are_user_errors():
    with pytest.raises(UserError, match="differ"):
        mask_iou(np.zeros((2, 4, 4)), np.zeros((2, 4, 5)))
    with pytest.raises(UserError, match="expected"):
        f_score(np.zeros((4, 4)), np.zeros((4, 4)))
    with pytest.raises(UserError, match="valid"):
        TaskMetrics().update(np.zeros((2, 4, 4)), np.zeros((2, 4, 4)), valid=[True])


# ---------------------------------------------------------------- F-score


def test_f_hand_computed_curve():
    # probabilities 0.9, 0.6, 0.3, 0.1 with ground truth 1, 0, 1, 0
    probs = np.array([[[0.9, 0.6, 0.3, 0.1]]])
    gt = np.array([[[1, 0, 1, 0]]], dtype=bool)
    curve = f_curve(logit(probs), gt)
    assert F_THRESHOLDS[0] == 0.0 and F_THRESHOLDS[-1] == 1.0  # 1 - 1e-10 is 1.0 in float32
    # t = 0: everything predicted, P = 1/2, R = 1
    assert curve[0] == pytest.approx(1.3 * 0.5 / (0.3 * 0.5 + 1.0), abs=1e-12)
    # t ~ 0.197 (j = 50): {0.9, 0.6, 0.3}, P = 2/3, R = 1
    assert 0.1 < F_THRESHOLDS[50] <= 0.3
    assert curve[50] == pytest.approx(1.3 * (2 / 3) / (0.3 * (2 / 3) + 1.0), abs=1e-12)
    # t ~ 0.5 (j = 127): {0.9, 0.6}, P = R = 1/2
    assert curve[127] == pytest.approx(0.5, abs=1e-12)
    # t ~ 0.787 (j = 200): {0.9}, P = 1, R = 1/2
    assert curve[200] == pytest.approx(1.3 * 0.5 / (0.3 + 0.5), abs=1e-12)
    # t > 0.9: nothing predicted, P = R = 0 -> NaN -> 0
    assert np.all(curve[230:] == 0.0)
    assert f_score(logit(probs), gt) == pytest.approx(0.8125, abs=1e-12)


def test_f_is_max_of_mean_curve_not_mean_of_maxima():
    probs = np.array([[[0.9, 0.6, 0.3, 0.1]], [[0.9, 0.6, 0.3, 0.1]]])
    gt = np.array([[[1, 0, 1, 0]], [[0, 1, 0, 0]]], dtype=bool)
    c0 = f_curve(logit(probs[:1]), gt[:1])
    c1 = f_curve(logit(probs[1:]), gt[1:])
    both = f_score(logit(probs), gt)
    assert both == pytest.approx(((c0 + c1) / 2).max(), abs=1e-12)
    assert both < (c0.max() + c1.max()) / 2 - 0.05


def test_f_perfect_and_all_wrong():
    gt = np.zeros((1, 4, 4), bool)
    gt[0, :1] = True  # 4 of 16 px
    assert f_score(logits_of(gt), gt) == pytest.approx(1.0, abs=1e-12)
    # all wrong: only t = 0 (and tiny thresholds below sigmoid(-10)) find the object, with P = 1/4, R = 1
    q = 0.25
    assert f_score(logits_of(~gt), gt) == pytest.approx(1.3 * q / (0.3 * q + 1.0), abs=1e-12)


def test_f_top_threshold_keeps_saturated_logits():
    # logits above ~16.64 give probability exactly 1.0 in float32, which passes the last threshold (1.0)
    gt = np.array([[[True, True, False, False]]])
    pred = np.array([[[20.0, 12.0, 12.0, 12.0]]])
    curve = f_curve(pred, gt)
    assert curve[-1] == pytest.approx(1.3 * 1.0 * 0.5 / (0.3 * 1.0 + 0.5), abs=1e-12)  # P = 1, R = 1/2
    assert f_score(pred, gt) == curve[-1]


def test_f_skips_empty_gt_frames():
    rng = np.random.default_rng(2)
    gt = rng.random((3, 8, 8)) < 0.3
    pred = rng.normal(size=(3, 8, 8))
    base = f_score(pred, gt)
    gt_more = np.concatenate([gt, np.zeros((2, 8, 8), bool)])
    pred_more = np.concatenate([pred, rng.normal(size=(2, 8, 8))])
    assert f_score(pred_more, gt_more) == base
    res = TaskMetrics()
    res.update(pred_more, gt_more)
    assert res.result()["f_frames"] == 3 and res.result()["frames"] == 5


def test_nan_logits_are_never_foreground():
    # sigmoid(NaN) >= t is false for every t, and > 0.5 is false too
    gt = np.array([[[True, True, False, False]]])
    pred = np.array([[[np.nan, np.nan, -10.0, -10.0]]])
    assert f_curve(pred, gt)[0] == 0.0  # at t = 0 only the two background pixels are predicted
    assert f_score(pred, gt) == 0.0
    assert mask_iou(pred, gt) == 0.0
    assert not logits_to_mask(pred).any()


def test_f_all_empty_is_zero():
    gt = np.zeros((3, 4, 4), bool)
    assert f_score(np.ones((3, 4, 4)), gt) == 0.0
    assert f_score(np.zeros((0, 4, 4)), np.zeros((0, 4, 4))) == 0.0


def _tie_logits() -> np.ndarray:
    """float32 logits whose sigmoid lands exactly on a threshold (found by walking float32 ulps)."""
    found = []
    for j in range(1, 255, 3):
        x = np.float32(logit(min(float(F_THRESHOLDS[j]), 1 - 1e-7)))
        for _ in range(64):
            p = sigmoid(np.array([x]))[0]
            if p == F_THRESHOLDS[j]:
                found.append(x)
                break
            x = np.nextafter(x, np.float32(np.inf if p < F_THRESHOLDS[j] else -np.inf))
    return np.array(found, dtype=np.float32)


def test_f_matches_brute_force_on_random_data():
    rng = np.random.default_rng(3)
    n, h, w = 7, 12, 10
    gt = np.zeros((n, h, w), bool)
    for i in range(n):
        r, c = rng.integers(0, h - 3), rng.integers(0, w - 3)
        gt[i, r : r + rng.integers(1, 6), c : c + rng.integers(1, 6)] = True
    gt[2] = False  # one empty frame
    gt[4] = True  # one full frame
    pred = (rng.normal(scale=3.0, size=(n, h, w)) + 2.0 * gt).astype(np.float32)
    ties = _tie_logits()
    assert len(ties) >= 30  # make sure the >= boundary is really exercised
    pred.ravel()[: len(ties)] = ties
    pred[5, 0, :6] = [40.0, -40.0, 800.0, -800.0, 16.7, 16.6]  # saturated probabilities 1.0 and 0.0
    pred[6, 1, 0] = np.nan  # NaN >= t is false everywhere
    assert f_score(pred, gt) == pytest.approx(brute_f_score(pred, gt), abs=1e-9)
    assert mask_iou(pred, gt) == pytest.approx(brute_mask_iou(pred, gt), abs=1e-12)
    for seed in range(4):
        r = np.random.default_rng(100 + seed)
        p = r.normal(scale=r.uniform(0.5, 12.0), size=(5, 9, 9))
        g = r.random((5, 9, 9)) < r.uniform(0.05, 0.6)
        assert f_score(p, g) == pytest.approx(brute_f_score(p, g), abs=1e-9)


def test_threshold_index_is_exact_at_boundaries():
    t = F_THRESHOLDS
    down1 = np.nextafter(t, np.float32(-np.inf))
    up1 = np.nextafter(t, np.float32(np.inf))
    probs = np.concatenate(
        [t, down1, up1, np.nextafter(down1, np.float32(-np.inf)), np.nextafter(up1, np.float32(np.inf))]
        + [np.array([0.0, 1.0, 0.5, 1e-40], dtype=np.float32)]
    )
    expected = np.array([np.sum(p >= t) for p in probs])
    assert np.array_equal(_threshold_index(probs), expected)
    # the property the lookup relies on: its first guess is never below the true index at a threshold
    assert np.array_equal(np.floor(t * np.float32(254)).astype(int), np.arange(255))
    # on a dense random sample too
    p = np.random.default_rng(11).random(20000, dtype=np.float32)
    assert np.array_equal(_threshold_index(p), np.searchsorted(t, p, side="right"))


def test_float32_semantics_match_torch():
    import torch  # a pinned dependency; the metrics themselves stay numpy-only
    thr = torch.linspace(0, 1 - 1e-10, 255).numpy()
    assert thr[-1] == F_THRESHOLDS[-1] == 1.0
    # torch's CPU linspace differs from the rounded nominal values by at most one ulp
    assert np.max(np.abs(thr - F_THRESHOLDS)) <= 6e-8
    x = np.linspace(-30, 30, 600001, dtype=np.float32)
    ref = torch.sigmoid(torch.from_numpy(x)).numpy()
    ours = sigmoid(x)
    assert ours.dtype == np.float32
    assert np.max(np.abs(ours.astype(np.float64) - ref) / np.maximum(ref, 1e-30)) < 5e-7
    # the saturation point (prob == 1.0 above x ~ 16.64) is the same, which decides the top threshold
    assert np.array_equal(ours == 1.0, ref == 1.0)
    assert x[ours == 1.0].min() == pytest.approx(16.6355, abs=1e-3)


# ---------------------------------------------------------------- streaming accumulator


def _random_set(seed: int, n: int = 23) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    gt = rng.random((n, 10, 12)) < rng.uniform(0.05, 0.5, size=(n, 1, 1))
    gt[rng.random(n) < 0.2] = False
    pred = (rng.normal(scale=2.0, size=gt.shape) + 3.0 * (gt - 0.5)).astype(np.float32)
    return pred, gt


def test_accumulator_equals_one_shot_for_any_split():
    pred, gt = _random_set(4)
    one = {"miou": mask_iou(pred, gt), "f": f_score(pred, gt)}
    rng = np.random.default_rng(5)
    for _ in range(5):
        cuts = np.sort(rng.choice(np.arange(1, len(pred)), size=rng.integers(1, 8), replace=False))
        acc = TaskMetrics()
        for a, b in zip(np.r_[0, cuts], np.r_[cuts, len(pred)]):
            acc.update(pred[a:b], gt[a:b][:, None])
        res = acc.result()
        assert res["miou"] == one["miou"]
        assert res["f"] == one["f"]
        assert res["frames"] == len(pred)
    assert one["f"] == pytest.approx(brute_f_score(pred, gt), abs=1e-9)


def test_accumulator_valid_mask_drops_frames():
    pred, gt = _random_set(6)
    valid = np.random.default_rng(7).random(len(pred)) < 0.6
    acc = TaskMetrics()
    acc.update(pred[:10], gt[:10], valid=valid[:10])
    acc.update(pred[10:], gt[10:], valid=valid[10:])
    res = acc.result()
    assert res["frames"] == int(valid.sum())
    assert res["miou"] == mask_iou(pred[valid], gt[valid])
    assert res["f"] == f_score(pred[valid], gt[valid])


def test_grouped_scores_follow_avsbench_batches():
    pred, gt = _random_set(8, n=20)
    gt[15:] = False  # the last group of 5 has no object: AVSBench scores its F as 0 and keeps it
    groups = [slice(i, i + 5) for i in range(0, 20, 5)]
    want_f = np.mean([f_score(pred[s], gt[s]) for s in groups])
    want_j = np.mean([mask_iou(pred[s], gt[s]) for s in groups])
    assert f_score_grouped(pred, gt, 5) == pytest.approx(want_f, abs=1e-12)
    assert f_score_grouped(pred, gt, 20) == pytest.approx(f_score(pred, gt), abs=1e-12)
    acc = TaskMetrics(group_size=5)
    for a, b in [(0, 3), (3, 11), (11, 12), (12, 20)]:
        acc.update(pred[a:b], gt[a:b])
    res = acc.result()
    assert res["groups"] == 4
    assert res["f_grouped"] == pytest.approx(want_f, abs=1e-12)
    assert res["miou_grouped"] == pytest.approx(want_j, abs=1e-12)
    assert res["f_grouped"] < res["f"]  # the empty group drags the batch average down
    # a trailing partial group counts as one more batch
    assert f_score_grouped(pred[:12], gt[:12], 5) == pytest.approx(
        np.mean([f_score(pred[s], gt[s]) for s in (slice(0, 5), slice(5, 10), slice(10, 12))]), abs=1e-12
    )


def test_speed_is_vectorised():
    rng = np.random.default_rng(9)
    pred = rng.normal(scale=4.0, size=(200, 224, 224)).astype(np.float32)
    gt = np.zeros(pred.shape, bool)
    gt[:, 60:160, 50:170] = True
    start = time.perf_counter()
    acc = TaskMetrics()
    acc.update(pred, gt)
    acc.result()
    # Target is < 2 s for 1000 frames; 200 frames in 2 s leaves room for a busy machine.
    assert time.perf_counter() - start < 2.0


# ---------------------------------------------------------------- mask agreement


def test_mask_agreement_iou():
    a = np.full((2, 4, 4), -5.0)
    b = np.full((2, 4, 4), -5.0)
    assert mask_agreement_iou(a, b) == 1.0  # both empty
    a[0, :2] = 5.0  # 8 px
    b[0, 1:3] = 5.0  # 8 px, 4 shared
    b[1, 0, 0] = 5.0  # 1 more px, only in b
    assert mask_agreement_iou(a, b) == pytest.approx(4 / 13, abs=1e-15)
    assert mask_agreement_iou(a, a) == 1.0
    assert logits_to_mask(a).sum() == 8
    with pytest.raises(UserError):
        mask_agreement_iou(a, b[:1])


# ---------------------------------------------------------------- tensor metrics


def test_tensor_metrics_known_values():
    ref = np.array([1.0, 1.0, 1.0, 1.0])
    tst = np.array([1.0, 1.0, 1.0, 0.0])
    assert max_abs(ref, tst) == 1.0
    assert mean_abs(ref, tst) == 0.25
    assert sqnr_db(ref, tst) == pytest.approx(10 * math.log10(4.0), abs=1e-12)
    assert sqnr_db(ref, ref) == math.inf
    assert sqnr_db(np.zeros(3), np.ones(3)) == -math.inf
    assert cosine([1.0, 0.0], [1.0, 1.0]) == pytest.approx(1 / math.sqrt(2), abs=1e-15)
    assert cosine([1.0, 2.0], [-2.0, -4.0]) == pytest.approx(-1.0, abs=1e-15)
    assert cosine(np.zeros(3), np.zeros(3)) == 1.0
    assert cosine(np.zeros(3), np.ones(3)) == 0.0
    x = np.arange(6, dtype=np.float32).reshape(2, 3)
    rep = tensor_report(x, x + 0.5)
    assert set(rep) == {"max_abs", "mean_abs", "sqnr_db", "cosine"}
    assert rep["max_abs"] == 0.5 and rep["mean_abs"] == 0.5
    assert rep["sqnr_db"] == pytest.approx(10 * math.log10(55.0 / 1.5), abs=1e-12)
    with pytest.raises(UserError, match="shape"):
        tensor_report(x, x.T)


def test_scalar_logits_are_accepted():
    from lightavseg_mobile.metrics.task import logits_to_mask, sigmoid

    assert sigmoid(np.float32(0.0)) == np.float32(0.5) and np.ndim(sigmoid(0.0)) == 0
    assert bool(logits_to_mask(np.array(0.3))) and not bool(logits_to_mask(np.array(-0.3)))
