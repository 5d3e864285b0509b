"""One adb device for the length of a bench run: facts, timed steps, the pushed bundle, the run directory.

Shared by the device runners (adb_python, benchmark_model, app); what it gathered is kept when a run fails
and goes into the report's `extra.device`.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ...device import runner_bundle as rb
from ...device.adb import Device
from ...device.facts import extra_facts

Progress = Callable[[str, str], None]


@dataclass
class DeviceSession:
    """What one device run has gathered so far (kept when the run fails)."""

    device: Device | None  # None until the run selects one (adb.select_device)
    step_timeout: float
    progress: Progress | None = None
    # Called once a runner has started on the device (with the device and its run or bench dir): tests inject faults.
    on_run_started: Callable[[Device, str], None] | None = None
    facts: dict[str, Any] = field(default_factory=dict)
    extra_facts: dict[str, Any] = field(default_factory=dict)
    steps: list[dict[str, Any]] = field(default_factory=list)
    push: dict[str, Any] | None = None
    run_dir: str | None = None
    run_dir_cleaned: bool | None = None
    stale_removed: list[str] = field(default_factory=list)
    # Runner-specific facts for the report's extra.device (device_wheels, runner_phase, app, ...).
    notes: dict[str, Any] = field(default_factory=dict)

    def say(self, stage: str, message: str) -> None:
        """One progress line (stderr unless a progress callback was given)."""
        (self.progress or (lambda s, m: print(f"[{s}] {m}", file=sys.stderr, flush=True)))(stage, message)

    def step(self, name: str, t0: float, **info: Any) -> None:
        """Record a finished step and its wall time (time.monotonic() at its start)."""
        self.steps.append({"step": name, "seconds": round(time.monotonic() - t0, 3), **info})

    def read_facts(self) -> None:
        """Device facts (adb.facts) plus CPU flags, governor and python (facts.extra_facts)."""
        t0 = time.monotonic()
        self.facts = self.device.facts()
        self.extra_facts = extra_facts(self.device)
        self.step("facts", t0)

    def started(self, where: str) -> None:
        """Tell the on_run_started hook (if any) that a runner now runs on the device, without waiting for it."""
        if self.on_run_started is not None:
            threading.Thread(target=self.on_run_started, args=(self.device, where), daemon=True).start()

    def push_bundle(self, bundle: rb.Bundle, staging: Path) -> None:
        """Remove stale run dirs, push the bundle unless cached, and open this run's private directory."""
        t0 = time.monotonic()
        self.stale_removed = rb.clean_stale_runs(self.device)
        self.push = rb.ensure_on_device(self.device, bundle, staging / "bundle", self.say)
        self.step("push", t0, **self.push)

    def open_run_dir(self, staging: Path) -> str:
        """Create this run's directory on the device (deleted again by close())."""
        self.run_dir, _ = rb.make_run_dir(self.device, staging)
        return self.run_dir

    def close(self) -> None:
        """Kill what still runs in the run directory and delete it (remembered for the next run if unreachable)."""
        if self.run_dir is not None:
            self.run_dir_cleaned = rb.clean_run_dir(self.device, self.run_dir)

    def reasons(self) -> list[str]:
        """Incomplete reasons the session itself knows of."""
        if self.run_dir is not None and self.run_dir_cleaned is False:
            return [f"device temp dir {self.run_dir} could not be deleted (device unreachable); "
                    "the next run on this device deletes it"]
        return []
