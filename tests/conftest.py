"""Shared fixtures and helpers: make, the emulated arm64 device, a tiny checkpoint; torch kept on few threads."""

from __future__ import annotations

import contextlib
import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tools.arm64_device.emulator import DEFAULT_PORT

os.environ.setdefault("OMP_NUM_THREADS", "2")

REPO = Path(__file__).resolve().parents[1]
HELDOUT = REPO / "lightavseg_mobile" / "assets" / "heldout"
CHECKPOINTS = REPO / "lightavseg_mobile" / "assets" / "checkpoints"


@pytest.fixture(scope="session")
def repo() -> Path:
    """Repository root."""
    return REPO


@pytest.fixture(scope="session")
def heldout_dir() -> Path:
    """The shipped held-out synthetic set (MS3 layout)."""
    return HELDOUT


IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
EMULATED_SERIAL = f"127.0.0.1:{DEFAULT_PORT}"


def run_make(*args: str, check: bool = True, timeout: float = 900) -> subprocess.CompletedProcess[str]:
    """`make -s ARGS` in the repository; with check, fails the test with the output's tail on error."""
    env = dict(os.environ, OMP_NUM_THREADS="1")
    r = subprocess.run(["make", "-s", *args], cwd=REPO, capture_output=True, text=True, timeout=timeout, env=env,
                       stdin=subprocess.DEVNULL)
    if check:
        assert r.returncode == 0, f"make {' '.join(args)} failed ({r.returncode}):\n{r.stdout[-3000:]}\n{r.stderr[-3000:]}"
    return r


def run_emulator(*args: str, timeout: float) -> subprocess.CompletedProcess[str]:
    """`python -m tools.arm64_device.emulator ARGS` from the repository root, as `make arm64-device` runs it."""
    return subprocess.run([sys.executable, "-m", "tools.arm64_device.emulator", *args], cwd=REPO,
                          capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)


def emulator_must(result: subprocess.CompletedProcess[str], step: str) -> str:
    """Return the emulator CLI's stdout; fail the test run (never skip) with its one-line error otherwise."""
    if result.returncode != 0:
        pytest.fail(f"emulated device {step} failed (exit {result.returncode}): "
                    f"{result.stderr.strip() or result.stdout.strip()}", pytrace=False)
    return result.stdout


@contextlib.contextmanager
def emulated_device_up(timings: dict[str, float] | None = None) -> Iterator[None]:
    """Bring the emulated arm64 device up through its CLI; stop it afterwards unless it was already running.

    In CI a device that cannot come up fails the tests; elsewhere the only accepted skip is not being root.
    `timings` receives the seconds of each step (deps_s, build_s, start_s).
    """
    if os.geteuid() != 0:
        if IN_CI:
            pytest.fail("CI=true but not root: the emulated device needs root", pytrace=False)
        pytest.skip("the emulated device needs root (apt, binfmt, namespaces, chroot)")
    status = emulator_must(run_emulator("status", "--json", timeout=30), "status")
    was_running = json.loads(status or "{}").get("running", False)
    for step, timeout in (("deps", 900), ("build", 900), ("start", 120)):
        t0 = time.monotonic()
        emulator_must(run_emulator(step, timeout=timeout), step)
        if timings is not None:
            timings[f"{step}_s"] = time.monotonic() - t0
    try:
        yield
    finally:
        if not was_running:
            emulator_must(run_emulator("stop", timeout=60), "stop")


@pytest.fixture(scope="module")
def tiny_ckpt(tmp_path_factory) -> Path:
    """A randomly initialised lightavseg-tiny checkpoint (seed 0) saved once per test module."""
    import torch

    from lightavseg_mobile.checkpoint import save_checkpoint
    from lightavseg_mobile.presets import create_model, get_preset

    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("ckpt") / "tiny.pt"
    save_checkpoint(path, create_model("lightavseg-tiny"), get_preset("lightavseg-tiny"))
    return path


# A line our commands print on stderr: a progress line `[  12.3s stage] ...` or `[stage] ...`, or an error line.
# Anything else there is library output that should have gone to the command's log (console.quiet).
OUR_STDERR_LINE = re.compile(r"^(\[\s*\d+\.\d+s [\w-]+\] |\[\w+\] |error: |interrupted: )")
