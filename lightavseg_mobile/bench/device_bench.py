"""`lavseg-bench --device arm64` as a library: benchmark artifacts on one adb device with one of three runners.

Runner python (default, runners/adb_python.py): the bundle and numpy + runtime wheels pushed, device_runner.py
run by the device's Python under the host's protocol, held-out outputs pulled back and checked on the host.
Runner benchmark-model (`--benchmark-binary PATH`, runners/benchmark_model.py): LiteRT's benchmark_model per
.tflite, op profile as CSV. Runner app (`--runner app`, runners/app.py): the Android demo app's bench mode.
Every runner returns target records; bench/assemble.py builds the report, bench/report.py writes it.

Faults end as one-line DeviceError/UserError; whatever was measured is still written, marked incomplete;
the device's run directory is deleted (or, if the device vanished, on the next run).
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..device import app_runner as app
from ..device import benchmark_model as bm
from ..device.adb import Device, select_device
from ..errors import ParityError, UserError
from .assemble import ReportContext, assemble_report
from .machine import EMULATED, NO_CONCLUSIONS, device_machine, git_state
from .parity import outputs_predictor, parity_of
from .plan import BenchRequest, Target, check_counts, plan
from .runners.adb_python import AdbPythonRunner
from .runners.app import AppRunner
from .runners.base import RunLog, RunSettings, TargetRunner
from .runners.benchmark_model import BenchmarkModelRunner
from .runners.session import DeviceSession, Progress

RUNNERS = ("python", "benchmark-model", "app")
DEFAULT_STEP_TIMEOUT = 900.0


@dataclass
class DeviceBenchOptions:
    """Device-side settings of one `--device arm64` run."""

    serial: str | None = None
    delegate: str = "auto"
    allow_fallback: bool = False
    benchmark_binary: Path | None = None
    # python | benchmark-model | app; None: benchmark-model when benchmark_binary is set, else python.
    runner: str | None = None
    app_apk: Path | None = None
    step_timeout: float = DEFAULT_STEP_TIMEOUT
    heldout: Path | None = None
    max_clips: int = 2
    cold_start: bool = True
    device_wheels: str = "bundle"  # bundle: push numpy/runtime wheels; device: the device's own (wheels.py)
    report_dir: Path | None = None
    progress: Progress | None = None
    # Called once the device runner (or benchmark_model, or the app) has been started: used to inject faults in tests.
    on_run_started: Callable[[Device, str], None] | None = None


def resolve_runner(runner: str | None, benchmark_binary: Path | None, app_apk: Path | None = None) -> str:
    """The runner to use (default: benchmark-model with --benchmark-binary, else python); bad combinations are UserError."""
    if runner is None:
        runner = "benchmark-model" if benchmark_binary is not None else "python"
    if runner not in RUNNERS:
        raise UserError(f"unknown --runner {runner!r}; choose one of: {', '.join(RUNNERS)}")
    if runner == "benchmark-model" and benchmark_binary is None:
        raise UserError("--runner benchmark-model needs --benchmark-binary PATH (LiteRT's android_aarch64_benchmark_model)")
    if runner != "benchmark-model" and benchmark_binary is not None:
        raise UserError(f"--benchmark-binary is used by --runner benchmark-model only, not {runner}: drop one of them")
    if app_apk is not None and runner != "app":
        raise UserError("--app-apk is used by --runner app only: add --runner app or drop --app-apk")
    if app_apk is not None and not Path(app_apk).is_file():
        raise UserError(f"--app-apk {app_apk} is not a file: build it with `make android-apk` (android_demo/README.md)")
    return runner


def check_options(opts: DeviceBenchOptions, warmup: int, runs: int, block: int) -> DeviceBenchOptions:
    """Every flag mistake as a one-line UserError before any adb traffic; returns opts with the runner resolved."""
    opts = dataclasses.replace(opts, runner=resolve_runner(opts.runner, opts.benchmark_binary, opts.app_apk))
    check_counts(warmup, runs, block, None, opts.delegate)
    if opts.runner == "benchmark-model":
        bm.requested_delegate(opts.delegate)
        if not Path(opts.benchmark_binary).is_file():
            raise UserError(f"--benchmark-binary {opts.benchmark_binary} is not a file: download LiteRT's prebuilt "
                            "android_aarch64_benchmark_model (see docs) or build it")
    if opts.runner == "app":
        app.app_extra(opts.delegate)
    return opts


def device_targets(paths: list[Path], modules: bool, runner: str) -> list[Target]:
    """The artifacts to run on the device (sub-models after their model with --modules); what a runner cannot run
    is a UserError."""
    if runner == "app" and modules:
        raise UserError("--runner app times the whole model the app bundles: drop --modules")
    targets, _ = plan(BenchRequest(paths=list(paths), modules=modules, baseline=False, peak=False))
    out = [t for t in targets if t.kind == "runtime" and t.manifest is not None]
    for t in out:
        if runner == "benchmark-model" and t.format != "tflite":
            raise UserError(f"--benchmark-binary runs .tflite only; {t.path} is {t.format}: drop it or run without "
                            "--benchmark-binary (Python on the device)")
        if runner == "app" and (t.format != "tflite" or t.module != "model"):
            raise UserError(f"--runner app: {t.path} is not a whole-model .tflite; name the .tflite artifact(s) "
                            "copied into the app (make android-assets MODEL=...)")
    if not out:
        raise UserError("nothing to run on the device: name .onnx/.tflite artifacts (or folders holding them)")
    return out


def make_runner(opts: DeviceBenchOptions, session: DeviceSession, threads_given: bool) -> TargetRunner:
    """The runner `opts.runner` names, on `session`."""
    if opts.runner == "benchmark-model":
        return BenchmarkModelRunner(session, Path(opts.benchmark_binary))
    if opts.runner == "app":
        return AppRunner(session, opts.app_apk, opts.heldout, threads_given)
    return AdbPythonRunner(session, opts.heldout, opts.max_clips, opts.cold_start, opts.device_wheels)


def device_extra(session: DeviceSession, facts: dict[str, Any], emulated: bool) -> dict[str, Any]:
    """The report's extra.device: facts, timed steps, push, run directory, runner state."""
    notes = session.notes
    wheels = notes.get("device_wheels")
    return {"serial": facts.get("serial"), "facts": facts, "steps": session.steps, "push": session.push,
            "run_dir": session.run_dir, "run_dir_cleaned": session.run_dir_cleaned,
            "stale_runs_removed": session.stale_removed,
            "device_wheels": {**wheels, "imports": notes.get("imports")} if wheels else None,
            "runner_phase": notes.get("runner_phase"), "runner_complete": notes.get("runner_complete"),
            "app": notes.get("app"), "latency_conclusions": not emulated, "note": NO_CONCLUSIONS if emulated else None}


def _device_parity(targets: list[Target], log: RunLog, checkpoint: Path | None, heldout: Path | None,
                   session: DeviceSession) -> tuple[dict[str, Any], list[UserError]]:
    """The export gate on the outputs the device computed, compared on the host."""
    def from_outputs(t: Target):
        rec = log.records.get(t.label)
        if rec is None or rec.outputs is None or not rec.clips:
            return None
        return outputs_predictor(t.label, rec.outputs, rec.clips), rec.clips, rec.runtime

    results, errors = parity_of(targets, from_outputs, checkpoint, heldout, lambda m: session.say("parity", m))
    for res in results.values():
        res["where"] = "outputs computed on the device, compared on the host"
    for exc in errors:
        log.incomplete.append(f"parity not checked: {exc}")
    failed = [ParityError(f"{label} failed the parity gate on device {session.facts.get('serial')} ({res['reason']})")
              for label, res in results.items() if not res["passed"]]
    return results, errors + failed


def _run(runner: TargetRunner, session: DeviceSession, targets: list[Target], settings: RunSettings, threads: int | None,
         serial: str | None, log: RunLog) -> tuple[RunSettings, BaseException | None]:
    """Select the device, read its facts and run; (settings used, the error that ended the run or None)."""
    try:
        if session.device is None:
            session.device = select_device(serial)
        session.read_facts()
        f = session.facts
        session.say("device", f"{session.device.serial}: {f.get('model')} ({f.get('soc_model')}), {f.get('cores')} cores"
                              + (f", {EMULATED}" if f.get("emulated") else ""))
        settings = dataclasses.replace(settings, threads=threads or int(f.get("cores") or 1))
        runner.run(targets, settings, log)
        return settings, None
    except BaseException as exc:  # noqa: BLE001 - includes KeyboardInterrupt: keep partial results, then re-raise
        return settings, exc
    finally:
        if session.device is not None:
            session.close()


def run_device_bench(paths: list[Path], *, warmup: int = 1, runs: int = 5, block: int = 1, threads: int | None = None,
                     modules: bool = False, parity: bool = False, checkpoint: Path | None = None,
                     opts: DeviceBenchOptions | None = None, device: Device | None = None) -> dict[str, Any]:
    """Benchmark artifacts on one adb device; return the report (also written to opts.report_dir).

    On any failure the partial report is written (incomplete, with the reason) and the error re-raised.
    """
    from .report import write_report

    opts = check_options(opts or DeviceBenchOptions(), warmup, runs, block)
    targets = device_targets(list(paths), modules, opts.runner)
    # The app's outputs always come back, so its runs are always checked.
    parity = parity or opts.runner == "app"
    created = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    session = DeviceSession(device, opts.step_timeout, opts.progress, opts.on_run_started)
    runner = make_runner(opts, session, threads is not None)
    log = RunLog()
    settings = RunSettings(warmup, runs, block, threads or 1, opts.delegate, opts.allow_fallback)
    settings, error = _run(runner, session, targets, settings, threads, opts.serial, log)
    problems: list[UserError] = []
    results: dict[str, Any] = {}
    if error is None and parity and opts.runner != "benchmark-model":
        results, problems = _device_parity(targets, log, checkpoint, opts.heldout, session)
    elif parity and opts.runner == "benchmark-model":
        log.incomplete.append("parity not checked: benchmark_model feeds random inputs and returns no outputs "
                              "(run without --benchmark-binary for on-device parity)")
    if error is not None:
        what = "interrupted (Ctrl-C)" if isinstance(error, KeyboardInterrupt) else f"{type(error).__name__}: {error}"
        log.incomplete.insert(0, f"run failed: {what}")
    log.incomplete += session.reasons()
    facts = session.facts or {"serial": getattr(session.device, "serial", opts.serial), "emulated": False}
    emulated = bool(facts.get("emulated"))
    log.extra["device"] = device_extra(session, facts, emulated)
    ctx = ReportContext(created=created, git=git_state(), machine=device_machine(facts, session.extra_facts, log.libraries),
                        runner=runner, settings=settings, modules=modules, parity=results, latency_conclusions=not emulated)
    report = assemble_report(targets, log, ctx)
    if opts.report_dir is not None:
        write_report(report, opts.report_dir)
    if error is not None:
        raise error
    if problems:
        raise problems[0]
    return report
