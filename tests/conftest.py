"""Shared fixtures: keep torch on few threads so the suite behaves on a 2-core CI machine."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

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


def run_emulator(*args: str, timeout: float) -> subprocess.CompletedProcess[str]:
    """`python -m lightavseg_mobile.device.emulator ARGS` from the repository."""
    env = dict(os.environ, PYTHONPATH=str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    return subprocess.run([sys.executable, "-m", "lightavseg_mobile.device.emulator", *args], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)


@contextlib.contextmanager
def emulated_device_up() -> Iterator[None]:
    """Bring the emulated arm64 device up through its CLI; stop it afterwards unless it was already running.

    In CI a device that cannot come up fails the tests; elsewhere the only accepted skip is not being root.
    """
    if os.geteuid() != 0:
        if IN_CI:
            pytest.fail("CI=true but not root: the emulated device needs root", pytrace=False)
        pytest.skip("the emulated device needs root (apt, binfmt, namespaces, chroot)")
    was_running = json.loads(run_emulator("status", "--json", timeout=30).stdout or "{}").get("running", False)
    for step, timeout in (("deps", 900), ("build", 900), ("start", 120)):
        res = run_emulator(step, timeout=timeout)
        if res.returncode != 0:
            pytest.fail(f"emulated device {step} failed: {res.stderr.strip() or res.stdout.strip()}", pytrace=False)
    try:
        yield
    finally:
        if not was_running:
            run_emulator("stop", timeout=60)


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
