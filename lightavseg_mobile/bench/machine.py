"""Facts about the machine a benchmark ran on, and its fp32 matmul peak measured in the same run."""

from __future__ import annotations

import os
import platform
import subprocess
import sys
from importlib import metadata
from pathlib import Path
from typing import Any

from ..hostinfo import cpu_model, cpuinfo_fields
from ..runtime.cores import physical_cores

# Flags that change which kernels runtimes pick; the full x86 flag list is long noise.
_RELEVANT_FLAGS = ("sse4_2", "avx", "avx2", "fma", "f16c", "avx512f", "avx512bw", "avx512vl", "avx512_vnni", "avx512_bf16",
                   "avx512_fp16", "avx_vnni", "amx_bf16", "amx_int8", "amx_tile", "neon", "asimd", "asimddp", "asimdhp",
                   "i8mm", "bf16", "sve", "sve2", "sme")
_LIBRARIES = ("numpy", "torch", "onnxruntime", "ai-edge-litert", "tflite-runtime", "litert-torch", "executorch", "torchao",
              "onnx", "matplotlib", "lightavseg-mobile")


def cpu_flags() -> list[str]:
    """The SIMD-relevant CPU flags (x86 'flags' or arm 'Features')."""
    info = cpuinfo_fields()
    flags = set((info.get("flags") or info.get("features") or "").split())
    return [f for f in _RELEVANT_FLAGS if f in flags]


def governor() -> str | None:
    """cpufreq scaling governor of cpu0, None if not readable (containers, VMs)."""
    try:
        return Path("/sys/devices/system/cpu/cpu0/cpufreq/scaling_governor").read_text().strip() or None
    except OSError:
        return None


def library_versions() -> dict[str, str]:
    """Installed versions of the libraries that affect the numbers (absent ones omitted)."""
    out = {"python": platform.python_version()}
    for dist in _LIBRARIES:
        try:
            out[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            continue
    return out


def git_state(repo: Path | None = None) -> dict:
    """{commit, dirty} of the source tree, nulls outside a git checkout."""
    repo = repo or Path(__file__).resolve().parents[2]
    try:
        commit = subprocess.run(["git", "-C", str(repo), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=10)
        if commit.returncode != 0:
            return {"commit": None, "dirty": None}
        # Committed results are not source: a suite writes one preset's results before it reports the next,
        # which must not make the next report call its own source tree dirty.
        status = subprocess.run(["git", "-C", str(repo), "status", "--porcelain", "--untracked-files=no", "--", ".",
                                 ":(exclude)benchmarks/results"], capture_output=True, text=True, timeout=20)
        return {"commit": commit.stdout.strip(), "dirty": bool(status.stdout.strip()) if status.returncode == 0 else None}
    except (OSError, subprocess.SubprocessError):
        return {"commit": None, "dirty": None}


def machine_info(kind: str = "host", execution: str = "native") -> dict:
    """The report's `machine` block for this process's machine."""
    model = cpu_model()
    logical = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    cores = physical_cores()
    return {
        "kind": kind,
        "execution": execution,
        "label": f"{kind} {platform.machine()}, {model}, {cores} cores",
        "arch": platform.machine(),
        "os": f"{platform.system()} {platform.release()}",
        "cpu_model": model,
        "logical_cpus": logical,
        "physical_cores": cores,
        "cpu_flags": cpu_flags(),
        "governor": governor(),
        "load_average": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
        "libraries": library_versions(),
        "python_executable": sys.executable,
    }


def matmul_peak(threads: int, size: int = 1024, runs: int = 15) -> dict:
    """fp32 GEMM throughput (GFLOP/s, best of `runs`) with `threads` torch threads: the roofline the models are held to.

    Best-of rather than median: the peak is what the hardware can do when nothing interferes,
    which is the bar the issue sets; the models' own latencies are medians.
    """
    import time

    import torch

    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        g = torch.Generator().manual_seed(0)
        a = torch.randn(size, size, generator=g)
        b = torch.randn(size, size, generator=g)
        for _ in range(3):
            torch.mm(a, b)
        best = float("inf")
        for _ in range(runs):
            t0 = time.perf_counter()
            torch.mm(a, b)
            best = min(best, time.perf_counter() - t0)
    finally:
        torch.set_num_threads(previous)
    flops = 2.0 * size ** 3
    return {"gflops_per_s": flops / best / 1e9, "size": size, "threads": threads, "dtype": "float32", "runs": runs,
            "library": f"torch {torch.__version__} (torch.mm)", "statistic": "best of runs"}


EMULATED = "emulated (qemu)"


def device_machine(facts: dict[str, Any], extra: dict[str, Any], libraries: dict[str, str]) -> dict[str, Any]:
    """The report's `machine` block for an adb device (device.facts); emulated devices are labelled `emulated (qemu)`."""
    emulated = bool(facts.get("emulated"))
    soc = facts.get("soc_model") or facts.get("board_platform") or facts.get("hardware") or "unknown"
    cores = facts.get("cores") or 1
    release = facts.get("android_release")
    if release and not str(release).startswith("debian"):
        os_name = f"Android {release} (SDK {facts.get('android_sdk')}), kernel {facts.get('kernel')}"
    else:
        os_name = f"Linux {facts.get('kernel')} ({release or 'no Android release'})"
    model = facts.get("model") or "unknown"
    return {
        "kind": "device", "execution": EMULATED if emulated else "native",
        "label": f"device {model} ({soc}), {cores} cores, {facts.get('serial')}" + (f", {EMULATED}" if emulated else ""),
        "arch": facts.get("machine") or "unknown", "os": os_name, "cpu_model": soc,
        "logical_cpus": int(cores), "physical_cores": int(cores),
        "cpu_flags": extra.get("cpu_flags") or [], "governor": extra.get("governor"),
        "libraries": libraries, "device": facts,
    }
NO_CONCLUSIONS = ("emulated (qemu) device: these timings measure an emulator on this host, not a phone; "
                  "no latency conclusions are drawn from them")
