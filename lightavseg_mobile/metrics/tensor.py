"""Tensor comparison metrics for parity checks (float64, numpy only)."""

from __future__ import annotations

import math

import numpy as np

from lightavseg_mobile.errors import UserError


def _pair(a: np.ndarray, b: np.ndarray, names: tuple[str, str]) -> tuple[np.ndarray, np.ndarray]:
    """Both arrays as float64, after checking that their shapes match."""
    x = np.asarray(a, dtype=np.float64)
    y = np.asarray(b, dtype=np.float64)
    if x.shape != y.shape:
        raise UserError(f"{names[0]} shape {x.shape} differs from {names[1]} shape {y.shape}; compare matching outputs")
    return x, y


def max_abs(a: np.ndarray, b: np.ndarray) -> float:
    """Largest absolute elementwise difference (0.0 for empty arrays, NaN if either holds NaN)."""
    x, y = _pair(a, b, ("a", "b"))
    if x.size == 0:
        return 0.0
    return float(np.max(np.abs(x - y)))


def mean_abs(a: np.ndarray, b: np.ndarray) -> float:
    """Mean absolute elementwise difference (0.0 for empty arrays)."""
    x, y = _pair(a, b, ("a", "b"))
    if x.size == 0:
        return 0.0
    return float(np.mean(np.abs(x - y)))


def sqnr_db(reference: np.ndarray, test: np.ndarray) -> float:
    """Signal-to-quantisation-noise ratio 10*log10(sum ref^2 / sum (ref-test)^2) in dB; inf when identical."""
    ref, tst = _pair(reference, test, ("reference", "test"))
    noise = float(np.sum(np.square(ref - tst)))
    signal = float(np.sum(np.square(ref)))
    if math.isnan(noise) or math.isnan(signal):
        return float("nan")
    if noise == 0.0:
        return float("inf")
    if signal == 0.0:
        return float("-inf")
    return 10.0 * math.log10(signal / noise)


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    """Cosine similarity of the flattened arrays; 1.0 if both are all zero, 0.0 if only one is."""
    x, y = _pair(a, b, ("a", "b"))
    x = x.ravel()
    y = y.ravel()
    nx = float(np.linalg.norm(x))
    ny = float(np.linalg.norm(y))
    if nx == 0.0 and ny == 0.0:
        return 1.0
    if nx == 0.0 or ny == 0.0:
        return 0.0
    # Clip: rounding can push |cos| a hair above 1 for (anti)parallel vectors.
    return float(np.clip(np.dot(x, y) / (nx * ny), -1.0, 1.0))


def tensor_report(reference: np.ndarray, test: np.ndarray) -> dict:
    """{"max_abs", "mean_abs", "sqnr_db", "cosine"} of `test` against `reference`."""
    return {
        "max_abs": max_abs(reference, test),
        "mean_abs": mean_abs(reference, test),
        "sqnr_db": sqnr_db(reference, test),
        "cosine": cosine(reference, test),
    }
