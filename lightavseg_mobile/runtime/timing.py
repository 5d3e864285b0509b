"""Timing primitives shared by the host bench and the on-device runner: interleaved runs and peak memory.

numpy-free, stdlib only (the device runner bundle carries this module), so `device/` and `bench/`
time with the same code without `device/` importing `bench/`.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable

from ..errors import UserError

__all__ = ["check_count", "interleaved_timing", "process_peak_rss_mb"]


def check_count(name: str, value: object, minimum: int) -> int:
    """`value` if it is an integer >= minimum (bools refused), else a one-line UserError naming `name`."""
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise UserError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return value


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
    check_count("warmup", warmup, 0)
    check_count("runs", runs, 1)
    check_count("block", block, 1)
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
