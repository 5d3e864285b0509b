"""Facts about the CPU this process runs on (stdlib only: export manifests, training records and benchmarks share it)."""

from __future__ import annotations

import platform
from pathlib import Path


def cpuinfo_fields() -> dict[str, str]:
    """First value of every /proc/cpuinfo field, keys lower-cased (empty where unreadable)."""
    out: dict[str, str] = {}
    try:
        text = Path("/proc/cpuinfo").read_text(errors="replace")
    except OSError:
        return out
    for line in text.splitlines():
        if ":" in line:
            k, v = line.split(":", 1)
            out.setdefault(k.strip().lower(), v.strip())
    return out


def cpu_model() -> str:
    """CPU model name from /proc/cpuinfo (x86 'model name', arm 'Hardware'/'CPU part'), else platform."""
    info = cpuinfo_fields()
    for key in ("model name", "hardware", "cpu model", "processor"):
        v = info.get(key, "")
        if v and not v.isdigit():
            return v
    return platform.processor() or platform.machine() or "unknown"
