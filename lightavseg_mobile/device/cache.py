"""The host cache shared by device work: downloaded device wheels here, the emulated root in tools/."""

from __future__ import annotations

import os
from pathlib import Path


def cache_root() -> Path:
    """Return $XDG_CACHE_HOME/lightavseg (or ~/.cache/lightavseg)."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "lightavseg"
