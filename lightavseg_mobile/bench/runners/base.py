"""The contract every runner meets: time targets, return one `TargetRecord` per target, keep partial results."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

import numpy as np

from ...errors import UserError
from ..plan import Target
from ..protocol import summarize


@dataclass(frozen=True)
class RunSettings:
    """The protocol a runner is asked to follow: counts, threads and the delegate in our vocabulary."""

    warmup: int
    runs: int
    block: int
    threads: int
    delegate: str = "auto"
    allow_fallback: bool = False


@dataclass
class TargetRecord:
    """What one runner measured for one target and what actually ran, before any report row is built."""

    label: str
    runtime: dict[str, Any]  # the runtime's info(): at least "name"; what ran, not what was asked
    samples_ms: list[float] | None = None  # per-run latencies, when the runner has them
    latency_ms: dict[str, Any] | None = None  # the runner's own summary, when it has no samples (benchmark_model, app)
    cold_start_ms: float | None = None
    cold_start_breakdown_ms: dict[str, float] | None = None
    peak_rss_mb: float | None = None
    boundary_ms: float | None = None  # a whole model's numpy input/output conversion (runtime.boundary_call)
    delegate: str | None = None  # what ran, in our vocabulary (runtime.registry.DELEGATES)
    fallback: dict[str, Any] | None = None  # {from, to, reason} when the asked delegate did not run
    outputs: np.ndarray | None = None  # held-out mask logits, clips concatenated (device and app runners)
    clips: list[Any] | None = None  # the held-out clips `outputs` covers, in order
    details: dict[str, Any] = field(default_factory=dict)  # runner-specific row fields (op profile, app report, ...)

    def latency(self) -> dict[str, Any]:
        """The report's latency_ms: summarized samples, else the runner's own summary."""
        if self.samples_ms:
            return summarize(self.samples_ms)
        if self.latency_ms is None:
            raise UserError(f"{self.label}: the runner returned neither samples nor a latency summary")
        return dict(self.latency_ms)


@dataclass
class RunLog:
    """What a run gathered so far; a runner that fails leaves in it everything it finished."""

    records: dict[str, TargetRecord] = field(default_factory=dict)
    incomplete: list[str] = field(default_factory=list)
    libraries: dict[str, str] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)
    # The settings actually used when a runner cannot follow the asked ones (the app times its own way).
    settings_used: RunSettings | None = None
    # Labels the runner chose to run (the app runs one model); None: every target it was given.
    selected: list[str] | None = None


@runtime_checkable
class TargetRunner(Protocol):
    """Times targets somewhere (host process, device Python, benchmark_model, the app) under one protocol."""

    name: str  # the report's protocol.runner
    isolation: str  # the report's protocol.isolation
    interleaved: bool  # runs of different targets interleaved round-robin

    def run(self, targets: Sequence[Target], settings: RunSettings, log: RunLog) -> None:
        """Time `targets`; put a TargetRecord per target into `log.records` as soon as it is known."""
        ...
