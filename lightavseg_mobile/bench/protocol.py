"""The timing protocol: warm-up, round-robin interleaving, summary statistics, peak memory.

numpy + stdlib only: the same code times artifacts on the host and on an arm64 device.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable

import numpy as np

from ..errors import UserError

__all__ = ["interleaved_timing", "paired_sum_ratio", "process_peak_rss_mb", "summarize"]


def _check_count(name: str, value: int, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise UserError(f"{name} must be an integer >= {minimum}, got {value!r}")


def interleaved_timing(
    runners: dict[str, Callable[[], object]], warmup: int, runs: int, block: int = 1
) -> dict[str, list[float]]:
    """Time every runner `runs` times, labels interleaved round-robin in blocks; returns label -> latencies in ms.

    Warm-up calls are interleaved the same way and discarded. Interleaving makes drift on a
    shared machine (another job, thermal throttling, frequency changes) hit every label alike,
    so ratios between labels stay meaningful even when absolute numbers move.
    """
    if not runners:
        raise UserError("nothing to time: no runners given")
    _check_count("warmup", warmup, 0)
    _check_count("runs", runs, 1)
    _check_count("block", block, 1)
    labels = list(runners)
    for _ in range(warmup):
        for label in labels:
            runners[label]()
    samples: dict[str, list[float]] = {label: [] for label in labels}
    clock = time.perf_counter_ns
    done = 0
    while done < runs:
        n = min(block, runs - done)
        for label in labels:
            fn = runners[label]
            out = samples[label]
            for _ in range(n):
                t0 = clock()
                fn()
                out.append((clock() - t0) / 1e6)
        done += n
    return samples


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
    _check_count("block", block, 1)
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


def process_peak_rss_mb() -> float:
    """Peak resident set size of this process so far, in MiB (VmHWM, else getrusage)."""
    # VmHWM first: it exists on Linux and Android and has one unit (kB) everywhere.
    try:
        with open(f"/proc/{os.getpid()}/status", encoding="ascii", errors="replace") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return float(line.split()[1]) / 1024.0
    except OSError:
        pass
    try:
        import resource
    except ImportError:  # pragma: no cover - platforms without resource (Windows)
        return float("nan")
    peak = float(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
    # ru_maxrss is bytes on macOS, kilobytes on Linux/BSD.
    return peak / (1024.0 * 1024.0) if sys.platform == "darwin" else peak / 1024.0
