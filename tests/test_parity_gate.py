"""The parity gate's arithmetic: tensor and task metrics, drops, and the fp32 / int8 verdicts."""

from __future__ import annotations

import numpy as np

from lightavseg_mobile.parity import ClipBatch, Thresholds, compare, module_sqnr


def _clip(seed: int) -> ClipBatch:
    rng = np.random.default_rng(seed)
    masks = np.zeros((5, 32, 32), np.uint8)
    masks[:, 8:24, 8:24] = 1
    return ClipBatch(f"c{seed}", rng.standard_normal((5, 3, 32, 32)).astype(np.float32),
                     rng.standard_normal((5, 1, 96, 64)).astype(np.float32), masks, np.ones(5, bool))


def _ref(frames, audio):
    # A "model" whose logits are +4 inside the ground-truth square and -4 outside.
    out = np.full((len(frames), 1, 32, 32), -4.0, np.float32)
    out[:, :, 8:24, 8:24] = 4.0
    return out


def test_fp32_gate_uses_the_max_abs_bound():
    clips = [_clip(0), _clip(1)]
    close = compare(_ref, lambda f, a: _ref(f, a) + 5e-5, clips, "fp32")
    assert close["passed"] and close["tensor"]["max_abs"] < 1e-4 and close["mask_agreement_iou"] == 1.0
    far = compare(_ref, lambda f, a: _ref(f, a) + 1e-3, clips, "fp32")
    assert not far["passed"] and "max abs logit error" in far["reason"]
    # The relative term: with logits of magnitude 4, 1e-5 * 4 < 1e-4, so the absolute bound still rules.
    assert far["gate"] == "max abs logit error <= 0.0001"
    loose = compare(_ref, lambda f, a: _ref(f, a) + 1e-3, clips, "fp32", Thresholds(fp32_rel=1e-3))
    assert loose["passed"]


def test_int8_gate_uses_task_metric_drops():
    clips = [_clip(0)]
    noisy = compare(_ref, lambda f, a: _ref(f, a) * 0.5 + 0.3, clips, "int8")  # big tensor error, same masks
    assert noisy["passed"] and noisy["tensor"]["sqnr_db"] < 20 and noisy["miou_drop"] == 0.0

    def shifted(f, a):
        out = _ref(f, a)
        out[:, :, 8:24, 8:12] = -4.0  # a quarter of the object lost
        return out

    bad = compare(_ref, shifted, clips, "int8")
    assert not bad["passed"] and abs(bad["miou_drop"] - 0.25) < 1e-6 and bad["f_drop"] > 0.01
    assert bad["float"]["miou"] == 1.0 and "mIoU drop 25.00 points" in bad["reason"]


def test_module_sqnr_reports_the_worst_output():
    ref = {"a": np.ones(10), "b": np.ones(10)}
    res = module_sqnr(ref, {"a": np.ones(10) * 1.001, "b": np.ones(10) * 1.1})
    assert abs(res["sqnr_db"] - 20.0) < 1e-6 and res["outputs"]["a"]["sqnr_db"] > 50
