"""The host runner: each target in its own worker process, runs interleaved round-robin, one worker computing at a time."""

from __future__ import annotations

import statistics
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from ...errors import UserError
from ...runtime.registry import RUNTIMES, our_delegate
from ..plan import Target
from .base import RunLog, RunSettings, TargetRecord
from .host_worker import Worker, interleave_workers


def worker_spec(t: Target, delegate: str, threads: int, inputs_npz: Path | None = None,
                profile_dir: str | None = None) -> dict[str, Any]:
    """The JSON spec `bench.worker` loads one target from."""
    runs_artifact = t.kind == "runtime"
    spec: dict[str, Any] = {"kind": t.kind, "path": str(t.path), "threads": threads, "seed": 0,
                            "runtime": t.runtime if runs_artifact else "torch",
                            "delegate": delegate if runs_artifact else "auto"}
    if inputs_npz is not None and t.module == "model" and t.kind in ("runtime", "torch", "torch-compile"):
        spec["inputs_npz"] = str(inputs_npz)
    if profile_dir:
        spec["profile_dir"] = profile_dir
    return spec


class HostRunner:
    """Worker subprocesses on this machine: cold start and peak RSS per process, times measured inside each worker."""

    name = "host worker"
    isolation = "subprocess per artifact (cold start, peak RSS); one worker computes at a time"
    interleaved = True

    def __init__(self, inputs_npz: Path | None = None, start_timeout_s: float = 1800.0, boundary: bool = False,
                 progress: Callable[[str], None] | None = None) -> None:
        self.inputs_npz = inputs_npz
        self.start_timeout_s = start_timeout_s
        self.boundary = boundary  # time whole models' numpy conversion (for the module-sum check)
        self.say = progress or (lambda msg: None)

    def _start(self, targets: Sequence[Target], settings: RunSettings, log: RunLog) -> dict[str, Worker]:
        """A ready worker per target; a peer that cannot start is a reason, anything else an error."""
        workers: dict[str, Worker] = {}
        try:
            for t in targets:
                self.say(f"start {t.label}")
                spec = worker_spec(t, settings.delegate, settings.threads, self.inputs_npz)
                try:
                    workers[t.label] = Worker(t.label, spec, timeout_s=self.start_timeout_s)
                except UserError as exc:
                    if not t.peer:
                        raise
                    # A peer that cannot build or start (e.g. torch.compile timing out) is reported, not fatal.
                    log.incomplete.append(f"peer {t.label} not timed: {exc}")
        except BaseException:
            for w in workers.values():
                w.close(kill=True)
            raise
        return workers

    def run(self, targets: Sequence[Target], settings: RunSettings, log: RunLog) -> None:
        """Start a worker per target, time them interleaved, then close them for their peak RSS."""
        workers = self._start(targets, settings, log)
        boundary: dict[str, float] = {}
        try:
            self.say(f"timing {len(workers)} targets: {settings.warmup} warm-up + {settings.runs} runs each, "
                     f"round-robin blocks of {settings.block}")
            samples = interleave_workers(workers, settings.warmup, settings.runs, settings.block)
            if self.boundary:
                for label in {t.whole for t in targets if t.whole} & set(workers):
                    times = workers[label].boundary(settings.runs)
                    boundary[label] = statistics.median(times) if times else 0.0
        finally:
            closing = {label: w.close() for label, w in workers.items()}
        for t in targets:
            if t.label in workers:
                log.records[t.label] = _record(t, workers[t.label], samples[t.label], closing[t.label],
                                               boundary.get(t.label))


def _record(t: Target, w: Worker, samples: list[float], closing: dict[str, Any], boundary: float | None) -> TargetRecord:
    info = w.info
    name = info.get("runtime", t.runtime)
    spec = RUNTIMES.get(t.runtime)
    native = info.get("delegate")
    return TargetRecord(
        label=t.label, runtime={"name": name, **info}, samples_ms=list(samples), cold_start_ms=w.cold_start_ms,
        cold_start_breakdown_ms={k: w.ready[k] for k in ("startup_ms", "load_ms", "first_run_ms")},
        peak_rss_mb=closing.get("peak_rss_mb"), boundary_ms=boundary,
        # The host never falls back: an unavailable delegate fails the worker (load_runtime).
        delegate=our_delegate(spec, native) if spec is not None else native, fallback=None)
