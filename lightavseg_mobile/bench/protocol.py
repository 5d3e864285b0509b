"""The timing protocol: summary statistics and paired module sums over interleaved runs.

The primitives that also run on a device (interleaved timing, peak RSS) live in `runtime.timing`
and are re-exported here.
"""

from __future__ import annotations

import numpy as np

from ..errors import UserError
from ..runtime.timing import check_count, interleaved_timing, process_peak_rss_mb

__all__ = ["check_count", "interleaved_timing", "paired_sum_ratio", "process_peak_rss_mb", "summarize"]


def summarize(samples_ms: list[float]) -> dict:
    """p50/p90/p99/mean/std/min/max in ms, the run count and frames per second (1000 / p50)."""
    if len(samples_ms) == 0:
        raise UserError("no latency samples to summarize (runs must be >= 1)")
    a = np.asarray(samples_ms, dtype=np.float64)
    if not np.all(np.isfinite(a)) or np.any(a < 0):
        raise UserError("latency samples must be finite and non-negative")
    p50 = float(np.percentile(a, 50))
    return {
        "p50": p50,
        "p90": float(np.percentile(a, 90)),
        "p99": float(np.percentile(a, 99)),
        "mean": float(a.mean()),
        # Sample standard deviation; 0 for a single run rather than NaN, so JSON stays valid.
        "std": float(a.std(ddof=1)) if a.size > 1 else 0.0,
        "min": float(a.min()),
        "max": float(a.max()),
        "runs": int(a.size),
        # From the median, so one stall does not move the headline number.
        "fps": 1000.0 / max(p50, 1e-9),
    }


def paired_sum_ratio(parts: list[list[float]], whole: list[float], block: int, extra_ms: float = 0.0) -> float | None:
    """Median over round-robin rounds of (sum of the parts' fastest runs + extra_ms) / the whole's fastest run.

    Per round, because a slow stretch of a shared machine lasts longer than a round and hits parts and whole
    alike there, while it moves overall p50s apart. The fastest run of each block, because interference only
    adds time and adds it per call (a woken thread waiting a scheduler tick costs the same 4 ms to a 1 ms
    sub-model as to the whole model), so five sub-model calls collect more of it than one whole-model call.
    None when the sample lists do not line up in rounds of `block`.
    """
    check_count("block", block, 1)
    n = len(whole)
    if n == 0 or any(len(p) != n for p in parts):
        return None
    ratios = []
    for start in range(0, n, block):
        w = min(whole[start:start + block])
        if w <= 0:
            return None
        total = sum(min(p[start:start + block]) for p in parts)
        ratios.append((total + extra_ms) / w)
    return float(np.median(ratios))
