"""CPU core counting and the thread-count rule shared by the runtimes (numpy-free, device-safe)."""

from __future__ import annotations

import os
from pathlib import Path

from ..errors import UserError

_SYS_CPU = Path("/sys/devices/system/cpu")


def _allowed_cpus() -> list[int]:
    if hasattr(os, "sched_getaffinity"):
        return sorted(os.sched_getaffinity(0))
    return list(range(os.cpu_count() or 1))


def physical_cores() -> int:
    """Physical cores this process may run on (hyper-threads counted once); logical CPUs if topology is unreadable."""
    allowed = _allowed_cpus()
    cores: set[tuple[str, str]] = set()
    for cpu in allowed:
        topo = _SYS_CPU / f"cpu{cpu}" / "topology"
        try:
            # (package, core) and not core alone: big.LITTLE phones number cores per cluster.
            cores.add(((topo / "physical_package_id").read_text().strip(), (topo / "core_id").read_text().strip()))
        except OSError:
            # Containers and emulated devices may hide the topology: every allowed CPU is a core then.
            return max(1, len(allowed))
    return max(1, len(cores))


def resolve_threads(threads: int | None) -> int:
    """`threads` checked to be a positive int; None means one per physical core."""
    if threads is None:
        return physical_cores()
    if isinstance(threads, bool) or not isinstance(threads, int) or threads < 1:
        raise UserError(f"threads must be a positive integer (or None for one per physical core), got {threads!r}")
    return threads
