"""Shared fixtures: keep torch on few threads so the suite behaves on a 2-core CI machine."""

from __future__ import annotations

import os
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
