"""lavseg-bench on the host as a library: plan the targets, run them with the host runner, assemble the report."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from ..errors import UserError
from ..runtime.cores import resolve_threads
from .assemble import ReportContext, assemble_report
from .machine import git_state, machine_info, matmul_peak
from .ort_profile import ort_profile
from .parity import NoReferenceError, heldout_clips, parity_of
from .plan import BenchRequest, Target, check_inputs_npz, plan
from .runners.base import RunLog, RunSettings
from .runners.host import HostRunner

__all__ = ["BenchRequest", "run_bench"]


def _peak(before: dict | None, after: dict | None) -> dict | None:
    """The matmul peak measured before and after the run: the better of the two, both kept."""
    if not (before and after):
        return None
    peak = dict(before)
    peak["gflops_per_s"] = max(before["gflops_per_s"], after["gflops_per_s"])
    peak["before_after"] = [before["gflops_per_s"], after["gflops_per_s"]]
    return peak


def _profiles(req: BenchRequest, targets: list[Target], settings: RunSettings, log: RunLog,
              say: Callable[[str], None]) -> dict[str, dict[str, Any]]:
    """ONNX Runtime per-node profiles of the whole ONNX models (--modules); a missing names map is a reason."""
    out = {}
    for t in targets:
        if t.module == "model" and t.format == "onnx" and t.label in log.records:
            say(f"profile {t.label} (onnxruntime per-node)")
            try:
                out[t.label] = ort_profile(t, settings, req.profile_runs)
            except UserError as exc:
                log.incomplete.append(f"{t.label}: no onnxruntime per-node breakdown ({exc})")
    return out


def _host_parity(req: BenchRequest, targets: list[Target], settings: RunSettings, log: RunLog,
                 say: Callable[[str], None]) -> dict[str, Any]:
    """The export gate through the benchmarked runtime; a missing reference is a reason, other errors end the run."""
    from ..runtime import load_runtime, runtime_predictor

    def through_runtime(t: Target):
        if t.kind != "runtime":
            return None
        rt = load_runtime(t.path, runtime=t.runtime, threads=settings.threads, delegate=settings.delegate)
        predict = runtime_predictor(rt)
        return predict, heldout_clips(t.manifest, predict.audio_input, req.heldout, req.parity_clips), rt.info()

    results, errors = parity_of(targets, through_runtime, req.checkpoint, req.heldout, say)
    for exc in errors:
        if not isinstance(exc, NoReferenceError):
            raise exc
        log.incomplete.append(f"parity not checked: {exc}")
    return results


def run_bench(req: BenchRequest, progress: Callable[[str], None] | None = None) -> dict:
    """Plan, time, profile and check; returns the validated report dict."""
    say = progress or (lambda msg: None)
    targets, incomplete = plan(req)
    check_inputs_npz(req.inputs_npz, targets)
    settings = RunSettings(req.warmup, req.runs, req.block, resolve_threads(req.threads), req.delegate)
    created = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    peak_before = matmul_peak(settings.threads) if req.peak else None
    runner = HostRunner(req.inputs_npz, req.start_timeout_s, boundary=req.modules, progress=say)
    log = RunLog(incomplete=incomplete)
    runner.run(targets, settings, log)
    # A peer that could not start is already a reason; it has no row.
    targets = [t for t in targets if t.label in log.records or not t.peer]
    peak = _peak(peak_before, matmul_peak(settings.threads) if req.peak else None)
    profiles = _profiles(req, targets, settings, log, say) if req.modules else {}
    parity = _host_parity(req, targets, settings, log, say) if req.parity else {}
    ctx = ReportContext(created=created, git=git_state(), machine=machine_info("host", "native"), runner=runner,
                        settings=settings, modules=req.modules, matmul_peak=peak, parity=parity, profiles=profiles,
                        protocol_extra={"runtime": req.runtime, "inputs": str(req.inputs_npz) if req.inputs_npz
                                        else "seeded normal noise"})
    return assemble_report(targets, log, ctx)
