"""`lavseg-bench --device arm64`: benchmark artifacts on an adb device and report in the bench schema.

Runner 1 (default) pushes a cached bundle (runner_bundle.py) and numpy + runtime wheels (wheels.py,
unless --device-wheels device) and runs device_runner.py with the device's Python: same protocol as
the host (warm-up, interleaved runs, percentiles, cold start and peak RSS in a fresh process),
held-out outputs pulled back and checked on the host against the torch float model with the export
parity gate. Runner 2 (`--benchmark-binary PATH`) pushes LiteRT's
benchmark_model and runs it per .tflite (whole models and split sub-models), op profile as CSV.
Runner 3 (`--runner app`, app_runner.py) starts the Android demo app's bench mode and reads its report
and per-clip outputs; parity is checked on the host as for runner 1.

Faults end as one-line DeviceError/UserError; whatever was measured is still written, marked
incomplete; the device's run directory is deleted (or, if the device vanished, on the next run).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import re
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from lightavseg_mobile.device import app_runner as app
from lightavseg_mobile.device import benchmark_model as bm
from lightavseg_mobile.device import runner_bundle as rb
from lightavseg_mobile.device import wheels as wh
from lightavseg_mobile.device.adb import Device, list_devices, select_device
from lightavseg_mobile.device.errors import DeviceError
from lightavseg_mobile.errors import ParityError, UserError
from lightavseg_mobile.io_atomic import write_text_atomic

DELEGATES = ("auto", "cpu", "xnnpack", "nnapi", "gpu")
RUNNERS = ("python", "benchmark-model", "app")
# protocol.runner and protocol.isolation of each runner in the report.
_RUNNER_LABEL = {"python": "python on device", "benchmark-model": "benchmark_model", "app": "app"}
_ISOLATION = {"python": "subprocess per artifact", "benchmark-model": "one benchmark_model process per artifact",
              "app": "the demo app's process, one model, its bundled held-out clips"}
EMULATED = "emulated (qemu)"
DEFAULT_STEP_TIMEOUT = 900.0
NO_CONCLUSIONS = ("emulated (qemu) device: these timings measure an emulator on this host, not a phone; "
                  "no latency conclusions are drawn from them")
# Extra facts the bench schema wants that adb.facts() does not read (one round trip, constant text).
_EXTRA_PROBE = r"""
echo "@@features"; grep -m1 -i '^Features' /proc/cpuinfo 2>/dev/null
echo "@@governor"; cat /sys/devices/system/cpu/cpu0/cpufreq/scaling_governor 2>/dev/null
echo "@@python"; command -v python3 2>/dev/null
echo "@@end"
"""

Progress = Callable[[str, str], None]


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
    # Called once the device runner (or benchmark_model) has been started: used to inject faults in tests.
    on_run_started: Callable[[Device, str], None] | None = None


@dataclass
class _State:
    """What one device run has gathered so far (kept when the run fails)."""

    device: Device | None = None
    facts: dict[str, Any] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)
    runner: dict[str, Any] | None = None
    bench_model: dict[str, dict[str, Any]] = field(default_factory=dict)
    outputs: dict[str, np.ndarray] = field(default_factory=dict)
    steps: list[dict[str, Any]] = field(default_factory=list)
    push: dict[str, Any] | None = None
    run_dir: str | None = None
    run_dir_cleaned: bool | None = None
    stale_removed: list[str] = field(default_factory=list)
    wheels: dict[str, Any] | None = None  # the report's device_wheels record (python runner)
    app: dict[str, Any] | None = None  # the app's own bench_report.json (runner app)
    app_label: str | None = None  # the artifact whose sha256 the app reported
    app_apk_path: str | None = None


def _say(opts: DeviceBenchOptions, stage: str, message: str) -> None:
    (opts.progress or (lambda s, m: print(f"[{s}] {m}", file=sys.stderr, flush=True)))(stage, message)


def _step(state: _State, name: str, t0: float, **info: Any) -> None:
    state.steps.append({"step": name, "seconds": round(time.monotonic() - t0, 3), **info})


def extra_facts(device: Device) -> dict[str, Any]:
    """CPU feature flags, cpufreq governor and the device python (None where unreadable)."""
    from lightavseg_mobile.device.facts import split_sections

    res = device.shell(["sh", "-c", _EXTRA_PROBE], timeout=60.0)
    sec = split_sections(res.stdout)
    feats = " ".join(sec.get("features", [])).partition(":")[2].split()
    gov = next((ln.strip() for ln in sec.get("governor", []) if ln.strip()), None)
    py = next((ln.strip() for ln in sec.get("python", []) if ln.strip()), None)
    return {"cpu_flags": feats, "governor": gov, "python": py}


def machine_block(facts: dict[str, Any], extra: dict[str, Any], libraries: dict[str, str]) -> dict[str, Any]:
    """The report's `machine` for a device; emulated devices are labelled `emulated (qemu)`."""
    execution = EMULATED if facts.get("emulated") else "native"
    soc = facts.get("soc_model") or facts.get("board_platform") or facts.get("hardware") or "unknown"
    cores = facts.get("cores") or 1
    if facts.get("android_release") and not str(facts.get("android_release")).startswith("debian"):
        os_name = f"Android {facts['android_release']} (SDK {facts.get('android_sdk')}), kernel {facts.get('kernel')}"
    else:
        os_name = f"Linux {facts.get('kernel')} ({facts.get('android_release') or 'no Android release'})"
    model = facts.get("model") or "unknown"
    return {
        "kind": "device", "execution": execution,
        "label": f"device {model} ({soc}), {cores} cores, {facts.get('serial')}" + (f", {EMULATED}" if facts.get("emulated") else ""),
        "arch": facts.get("machine") or "unknown", "os": os_name, "cpu_model": soc,
        "logical_cpus": int(cores), "physical_cores": int(cores),
        "cpu_flags": extra.get("cpu_flags") or [], "governor": extra.get("governor"),
        "libraries": libraries, "device": facts,
    }


# ---------------------------------------------------------------- host side inputs and parity

def _heldout_clips(heldout: Path | None, manifest: Any, audio: str, limit: int | None) -> list[Any]:
    """Held-out clips (the export's held-out split) preprocessed as the manifest says."""
    from lightavseg_mobile.export import pipeline

    image = manifest.preprocessing.get("image", {})
    size = int(image.get("size") or manifest.inputs[0].shape[-1])
    root = heldout or pipeline.DEFAULT_DATA
    return pipeline.load_clips(root, pipeline.HELDOUT_SPLIT, size, tuple(image.get("mean", (0.485, 0.456, 0.406))),
                                tuple(image.get("std", (0.229, 0.224, 0.225))), audio, limit)


def _audio_kinds(manifests: list[Any]) -> list[str]:
    kinds = []
    for m in manifests:
        for s in m.inputs:
            if s.name in ("logmel", "waveform") and s.name not in kinds:
                kinds.append(s.name)
    return kinds or ["logmel"]


def host_parity(label: str, manifest: Any, outputs: np.ndarray, clips: list[Any], checkpoint: Path | None) -> dict[str, Any]:
    """The export parity gate on device outputs: torch float model (host) vs the device's mask logits."""
    from lightavseg_mobile.bench.run import BenchRequest, _baseline_checkpoint
    from lightavseg_mobile.checkpoint import load_checkpoint
    from lightavseg_mobile.export import graph, pipeline
    from lightavseg_mobile.parity import compare

    ck_path = _baseline_checkpoint(BenchRequest(checkpoint=checkpoint), manifest.preset, [manifest], [])
    if ck_path is None:
        raise UserError(f"no torch fp32 checkpoint of preset {manifest.preset} for the parity check of {label}: pass --checkpoint")
    ckpt = load_checkpoint(ck_path, expect_preset=manifest.preset)
    if manifest.checkpoint_sha256 and ckpt.sha256 != manifest.checkpoint_sha256:
        raise UserError(f"checkpoint {ck_path} is not the one {label} was exported from "
                        f"(sha256 {ckpt.sha256[:12]} != {manifest.checkpoint_sha256[:12]}): pass the right --checkpoint")
    net = ckpt.build_model().for_inference()
    audio = "waveform" if any(s.name == "waveform" for s in manifest.inputs) else "logmel"
    reference = pipeline.torch_reference_predictor(graph.WaveformModel(net) if audio == "waveform" else net)
    per_clip = []
    start = 0
    for clip in clips:
        n = len(clip.frames)
        per_clip.append(outputs[start:start + n])
        start += n
    if start != len(outputs):
        raise DeviceError(f"{label}: the device returned {len(outputs)} output frames, the held-out clips have {start}")
    it = iter(per_clip)

    def device_predict(frames: np.ndarray, audio_in: np.ndarray) -> np.ndarray:
        got = next(it)
        if got.shape[0] != frames.shape[0]:
            raise DeviceError(f"{label}: device output has {got.shape[0]} frames for a clip of {frames.shape[0]}")
        return got

    res = compare(reference, device_predict, clips, "fp32" if manifest.precision == "fp32" else "int8")
    res["reference_checkpoint"] = str(ck_path)
    res["where"] = "outputs computed on the device, compared on the host"
    return res


# ---------------------------------------------------------------- the run

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


def _plan_targets(paths: list[Path], modules: bool, runner: str) -> list[tuple[str, Path, Any, bool]]:
    """(label, artifact path, manifest, whole) for every artifact to run, sub-models after their model."""
    from lightavseg_mobile.bench.run import BenchRequest, plan

    if runner == "app" and modules:
        raise UserError("--runner app times the whole model the app bundles: drop --modules")
    req = BenchRequest(paths=list(paths), modules=modules, baseline=False, peak=False)
    targets, _ = plan(req)
    out = []
    for t in targets:
        if t.kind != "runtime" or t.manifest is None:
            continue
        if runner == "benchmark-model" and t.format != "tflite":
            raise UserError(f"--benchmark-binary runs .tflite only; {t.path} is {t.format}: drop it or run without "
                            "--benchmark-binary (Python on the device)")
        if runner == "app" and (t.format != "tflite" or t.module != "model"):
            raise UserError(f"--runner app: {t.path} is not a whole-model .tflite; name the .tflite artifact(s) "
                            "copied into the app (make android-assets MODEL=...)")
        out.append((t.label, t.path, t.manifest, t.module == "model"))
    if not out:
        raise UserError("nothing to run on the device: name .onnx/.tflite artifacts (or folders holding them)")
    return out


def run_device_bench(paths: list[Path], *, warmup: int = 1, runs: int = 5, block: int = 1, threads: int | None = None,
                     modules: bool = False, parity: bool = False, checkpoint: Path | None = None,
                     opts: DeviceBenchOptions | None = None, device: Device | None = None) -> dict[str, Any]:
    """Benchmark artifacts on one adb device; return the report (also written to opts.report_dir).

    On any failure the partial report is written (incomplete, with the reason) and the error re-raised.
    """
    opts = opts or DeviceBenchOptions()
    opts = dataclasses.replace(opts, runner=resolve_runner(opts.runner, opts.benchmark_binary, opts.app_apk))
    if opts.delegate not in DELEGATES:
        raise UserError(f"unknown --delegate {opts.delegate!r}; choose one of: {', '.join(DELEGATES)}")
    for name, value, low in (("--runs", runs, 1), ("--warmup", warmup, 0), ("--block", block, 1)):
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            raise UserError(f"{name} must be an integer >= {low}, got {value!r}")
    if opts.benchmark_binary is not None and not Path(opts.benchmark_binary).is_file():
        raise UserError(f"--benchmark-binary {opts.benchmark_binary} is not a file: download LiteRT's prebuilt "
                        "android_aarch64_benchmark_model (see docs) or build it")
    targets = _plan_targets(list(paths), modules, opts.runner)
    # The app's outputs always come back, so its runs are always checked (step 3 of the app runner).
    parity = parity or opts.runner == "app"
    state = _State(device=device)
    created = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    error: BaseException | None = None
    clips: list[Any] = []
    try:
        t0 = time.monotonic()
        if state.device is None:
            state.device = select_device(opts.serial)
        dev = state.device
        state.facts = dev.facts()
        state.extra = extra_facts(dev)
        _step(state, "facts", t0)
        _say(opts, "device", f"{dev.serial}: {state.facts.get('model')} ({state.facts.get('soc_model')}), "
                             f"{state.facts.get('cores')} cores" + (f", {EMULATED}" if state.facts.get("emulated") else ""))
        threads_used = threads or int(state.facts.get("cores") or 1)
        if opts.runner == "app":
            target, clips = _run_app(state, targets, opts, warmup, threads)
            targets = [target]
        else:
            with tempfile.TemporaryDirectory(prefix="lavseg-devbench-") as tmp:
                staging = Path(tmp)
                whole = [m for _, _, m, w in targets if w]
                inputs: dict[str, np.ndarray] = {}
                clip_rows = []
                if opts.benchmark_binary is None and whole:
                    kinds = _audio_kinds(whole)
                    per_kind = {k: _heldout_clips(opts.heldout, whole[0], k, opts.max_clips) for k in kinds}
                    clips = per_kind[kinds[0]]
                    inputs["frame"] = np.concatenate([c.frames for c in clips])
                    for k, cs in per_kind.items():
                        inputs[k] = np.concatenate([c.audio for c in cs])
                    clip_rows = [{"name": c.name, "frames": int(len(c.frames))} for c in clips]
                bundle = rb.build_bundle(targets, inputs, staging / "bundle", clip_rows)
                t0 = time.monotonic()
                state.stale_removed = rb.clean_stale_runs(dev)
                state.push = rb.ensure_on_device(dev, bundle, staging / "bundle", lambda s, m: _say(opts, s, m))
                _step(state, "push", t0, **state.push)
                if opts.benchmark_binary is None:
                    t0 = time.monotonic()
                    state.wheels = wh.prepare(dev, opts.device_wheels, staging / "wheels", lambda s, m: _say(opts, s, m))
                    _step(state, "wheels", t0, **{k: state.wheels[k] for k in ("source", "pushed", "bytes_pushed")})
                state.run_dir, _ = rb.make_run_dir(dev, staging)
                if opts.benchmark_binary is None:
                    _run_python(state, bundle, opts, warmup, runs, block, threads_used, parity)
                else:
                    _run_benchmark_model(state, bundle, opts, staging, warmup, runs, threads_used)
    except BaseException as exc:  # noqa: BLE001 - includes KeyboardInterrupt: keep partial results, then re-raise
        error = exc
    finally:
        if state.device is not None and state.run_dir is not None:
            state.run_dir_cleaned = rb.clean_run_dir(state.device, state.run_dir)
    report = assemble_report(state, targets, created, warmup, runs, block, threads or int(state.facts.get("cores") or 1),
                             opts, modules, error)
    parity_error: UserError | None = None
    if error is None and parity and opts.runner != "benchmark-model":
        for label, path, manifest, is_whole in targets:
            if not is_whole or label not in state.outputs:
                continue
            _say(opts, "parity", f"{label}: device outputs vs torch float model on {len(clips)} held-out clips")
            try:
                res = host_parity(label, manifest, state.outputs[label], clips, checkpoint)
            except UserError as exc:  # e.g. no checkpoint: keep the timings, say why parity is missing
                _mark_incomplete(report, f"parity of {label} not checked: {exc}")
                parity_error = parity_error or exc
                continue
            res["runtime"] = (state.app or {}).get("runtime") if opts.runner == "app" else \
                ((state.runner or {}).get("artifacts", {}).get(label) or {}).get("runtime")
            report["parity"][label] = res
            if not res["passed"] and parity_error is None:
                parity_error = ParityError(f"{label} failed the parity gate on device {state.facts.get('serial')} "
                                           f"({res['reason']})")
    elif parity and opts.runner == "benchmark-model":
        _mark_incomplete(report, "parity not checked: benchmark_model feeds random inputs and returns no outputs "
                                 "(run without --benchmark-binary for on-device parity)")
    _finish_report(report, opts)
    if error is not None:
        raise error
    if parity_error is not None:
        raise parity_error
    return report


def _mark_incomplete(report: dict[str, Any], reason: str) -> None:
    report["incomplete"] = True
    report["incomplete_reason"] = "; ".join(r for r in (report.get("incomplete_reason"), reason) if r)


def _run_python(state: _State, bundle: rb.Bundle, opts: DeviceBenchOptions, warmup: int, runs: int, block: int,
                threads: int, parity: bool) -> None:
    """Runner 1: the Python runner on the device, then pull its result and outputs."""
    dev = state.device
    assert dev is not None and state.run_dir is not None
    plan = {"artifacts": [e.plan() for e in bundle.entries], "warmup": warmup, "runs": runs, "block": block,
            "threads": threads, "delegate": opts.delegate, "allow_fallback": opts.allow_fallback, "outputs": True,
            "cold_start": opts.cold_start, "cold_timeout_s": opts.step_timeout / 2}
    # env PYTHONPATH=SITE python3 -S (pushed wheels) or python3 (the device's own), as argv: no shell string.
    cmd = [*wh.python_command(state.wheels), f"{bundle.device_dir}/{rb.RUNNER}", "--bundle", bundle.device_dir,
           "--out", state.run_dir,
           "--plan", json.dumps(plan, sort_keys=True)]
    _say(opts, "run", f"device runner: {len(bundle.entries)} artifacts, {warmup} warm-up + {runs} runs, "
                      f"{threads} threads, delegate {opts.delegate} (step timeout {opts.step_timeout:g} s)")
    t0 = time.monotonic()
    if opts.on_run_started is not None:
        threading.Thread(target=opts.on_run_started, args=(dev, state.run_dir), daemon=True).start()
    try:
        result = dev.shell(cmd, timeout=opts.step_timeout)
    finally:
        _pull_result(state)
    _step(state, "run", t0, exit_code=result.exit_code)
    if not result.ok:
        last = (result.stderr.strip() or result.stdout.strip() or "no output").splitlines()[-1]
        if result.exit_code == 3:
            raise UserError(f"on {dev.serial}: {last.removeprefix('error: ')}")
        raise DeviceError(f"the device runner failed on {dev.serial} (exit {result.exit_code}): {last}")
    t0 = time.monotonic()
    for e in bundle.entries:
        row = (state.runner or {}).get("artifacts", {}).get(e.label) or {}
        if row.get("outputs"):
            with tempfile.TemporaryDirectory(prefix="lavseg-out-") as d:
                local = Path(d) / "out.npy"
                dev.pull(f"{state.run_dir}/{row['outputs']}", local, timeout=opts.step_timeout)
                state.outputs[e.label] = np.load(local)
    _step(state, "pull", t0, outputs=len(state.outputs))


def _pull_result(state: _State) -> None:
    """Best effort: fetch RUN/result.json (complete or partial) into the state."""
    dev = state.device
    if dev is None or state.run_dir is None:
        return
    try:
        with tempfile.TemporaryDirectory(prefix="lavseg-res-") as d:
            local = Path(d) / "result.json"
            dev.pull(f"{state.run_dir}/result.json", local, timeout=60.0)
            state.runner = json.loads(local.read_text())
    except (DeviceError, OSError, ValueError):
        pass


def _run_benchmark_model(state: _State, bundle: rb.Bundle, opts: DeviceBenchOptions, staging: Path, warmup: int,
                         runs: int, threads: int) -> None:
    """Runner 2: LiteRT's benchmark_model per .tflite, log and op-profile CSV parsed into the report."""
    dev = state.device
    assert dev is not None and state.run_dir is not None and opts.benchmark_binary is not None
    binary = Path(opts.benchmark_binary)
    digest = rb.artifact_sha256(binary)[:24]
    remote_bin = f"{rb.CACHE_DIR}/bin-{digest}/benchmark_model"
    t0 = time.monotonic()
    if not dev.shell(["test", "-x", remote_bin], timeout=30.0).ok:
        rb.check_space(dev, binary.stat().st_size)
        dev.push(binary, remote_bin)
        dev.shell(["chmod", "755", remote_bin], timeout=30.0).check("chmod benchmark_model")
    _step(state, "push_binary", t0)
    delegate = "xnnpack" if opts.delegate == "auto" else opts.delegate
    if opts.on_run_started is not None:
        threading.Thread(target=opts.on_run_started, args=(dev, state.run_dir), daemon=True).start()
    for i, e in enumerate(bundle.entries):
        csv_remote = f"{state.run_dir}/profile{i:02d}.csv"
        graph = f"{bundle.device_dir}/{e.manifest_rel.replace('.manifest.json', '.tflite')}"
        cmd = bm.build_command(remote_bin, graph, threads=threads, warmup=max(warmup, 1), runs=runs, delegate=delegate,
                               profile_csv=csv_remote)
        _say(opts, "run", f"benchmark_model {e.label} ({delegate}, {threads} threads)")
        t0 = time.monotonic()
        res = dev.shell(cmd, timeout=opts.step_timeout)
        text = res.stdout + "\n" + res.stderr
        if not res.ok:
            last = (res.stderr.strip() or res.stdout.strip() or "no output").splitlines()[-1]
            raise DeviceError(f"benchmark_model failed on {e.label} (exit {res.exit_code}): {last}")
        parsed = bm.parse_log(text)
        outcome = bm.delegate_outcome(delegate, parsed["delegation"])
        if outcome["fallback_reason"] and not opts.allow_fallback and opts.delegate != "auto":
            raise UserError(f"delegate {delegate!r} did not run {e.label} on {dev.serial} ({outcome['fallback_reason']}); "
                            "pass --allow-fallback to accept the CPU path")
        row: dict[str, Any] = {"log": parsed, "delegate": outcome, "profile": None}
        with tempfile.TemporaryDirectory(prefix="lavseg-csv-") as d:
            local = Path(d) / "p.csv"
            try:
                dev.pull(csv_remote, local, timeout=120.0)
                row["profile"] = bm.parse_op_profile_csv(local.read_text(errors="replace"))
            except (DeviceError, bm.BenchmarkOutputError) as exc:
                row["profile_error"] = str(exc)
        state.bench_model[e.label] = row
        _step(state, f"benchmark_model {e.label}", t0)


def _run_app(state: _State, targets: list[tuple[str, Path, Any, bool]], opts: DeviceBenchOptions, warmup: int,
             threads: int | None) -> tuple[tuple[str, Path, Any, bool], list[Any]]:
    """Runner 3: the demo app's bench mode; returns the target the app ran and the held-out clips it ran, in order."""
    dev = state.device
    assert dev is not None
    t0 = time.monotonic()
    state.app_apk_path = app.ensure_installed(dev, opts.app_apk, opts.step_timeout)
    _step(state, "install" if opts.app_apk is not None else "app_installed", t0, apk=state.app_apk_path)
    app.clear_previous(dev)
    extras = ["--es", "delegate", app.APP_DELEGATES[opts.delegate], "--ei", "warmup", str(warmup)]
    if threads is not None:
        extras += ["--ei", "threads", str(threads)]
    _say(opts, "run", f"app {app.PACKAGE} bench mode (step timeout {opts.step_timeout:g} s)")
    t0 = time.monotonic()
    app.start_bench(dev, extras, opts.step_timeout)
    if opts.on_run_started is not None:
        threading.Thread(target=opts.on_run_started, args=(dev, app.BENCH_DIR), daemon=True).start()
    waited = app.wait_for_report(dev, opts.step_timeout)
    _step(state, "run", t0, waited_s=round(waited, 3))
    t0 = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="lavseg-app-") as d:
        result = app.pull_results(dev, Path(d), opts.step_timeout)
    state.app = result.report
    _step(state, "pull", t0, outputs=len(result.outputs))
    sha = result.report["artifact"]["sha256"]
    target = next((t for t in targets if t[2].artifact_sha256 == sha), None)
    if target is None:
        given = ", ".join(f"{p.name} ({m.artifact_sha256[:12]})" for _, p, m, _ in targets)
        raise UserError(f"the app on {dev.serial} runs {result.report['artifact'].get('file')} (sha256 {sha[:12]}), which "
                        f"matches none of the artifacts given: {given}; pass the .tflite copied into the app")
    label, _, manifest, _ = target
    used = str(result.report["runtime"].get("delegate") or "")
    if "fell back" in used and not opts.allow_fallback and opts.delegate in ("nnapi", "gpu"):
        raise UserError(f"delegate {opts.delegate!r} did not run {label} in the app on {dev.serial} ({used}); "
                        "pass --allow-fallback to accept the CPU path")
    audio = "waveform" if any(s.name == "waveform" for s in manifest.inputs) else "logmel"
    clips = _heldout_clips(opts.heldout, manifest, audio, None)
    spec = next((s for s in manifest.outputs if s.name == "mask_logits"), None)
    if spec is None:
        raise UserError(f"{label}: its manifest lists no mask_logits output; re-export it with lavseg-export")
    hw = (int(spec.shape[-2]), int(spec.shape[-1]))
    picked, state.outputs[label] = app.match_clips(result, clips, hw, str(opts.heldout or "the shipped held-out set"))
    state.app_label = label
    return target, picked


# ---------------------------------------------------------------- report

def _artifact_row(label: str, path: Path, manifest: Any, runtime: dict[str, Any], latency: dict[str, Any],
                  cold: float | None, rss: float | None, extra: dict[str, Any]) -> dict[str, Any]:
    v = runtime.get("ops_not_delegated")
    return {
        "label": label, "file": str(path), "sha256": manifest.artifact_sha256, "format": manifest.format,
        "precision": manifest.precision, "preset": manifest.preset, "module": manifest.module,
        "recipe": (manifest.recipe or {}).get("name"), "size_mb": manifest.artifact_size / 2**20,
        "runtime": runtime, "latency_ms": latency, "cold_start_ms": cold, "peak_rss_mb": rss,
        "ratio_to_baseline": None, "gflops": None, "gflops_per_s": None, "fraction_of_peak": None,
        "non_delegated_ops": v if isinstance(v, int) and not isinstance(v, bool) else None, **extra,
    }


def _costs(presets: set[str]) -> dict[str, dict[str, Any]]:
    """{preset: {module: {params, gflops}}} as the host bench counts them (empty where counting fails)."""
    from lightavseg_mobile.bench.run import _cost

    out: dict[str, dict[str, Any]] = {}
    for preset in presets:
        try:
            out[preset] = _cost(preset)
        except Exception:  # noqa: BLE001 - FLOPs are informative; a failure must not lose device timings
            out[preset] = {}
    return out


def assemble_report(state: _State, targets: list[tuple[str, Path, Any, bool]], created: str, warmup: int, runs: int,
                    block: int, threads: int, opts: DeviceBenchOptions, modules: bool,
                    error: BaseException | None) -> dict[str, Any]:
    """The bench-schema report from whatever the run gathered (incomplete when something is missing)."""
    from lightavseg_mobile.bench import modules as mod
    from lightavseg_mobile.bench.machine import git_state
    from lightavseg_mobile.bench.protocol import summarize
    from lightavseg_mobile.bench.schema import REPORT_SCHEMA, REPORT_SCHEMA_VERSION

    kind = opts.runner or ("benchmark-model" if opts.benchmark_binary is not None else "python")
    runner = state.runner or {}
    libraries = dict(runner.get("libraries") or {})
    if opts.benchmark_binary is not None:
        libraries["benchmark_model"] = f"{Path(opts.benchmark_binary).name} sha256:{rb.artifact_sha256(opts.benchmark_binary)[:16]}"
    app_rt = dict((state.app or {}).get("runtime") or {})
    if kind == "app" and app_rt:
        libraries[str(app_rt["name"])] = str(app_rt.get("version") or "unknown")
    reasons: list[str] = []
    rows, untimed = [], []
    p50: dict[str, float] = {}
    boundary: dict[str, float] = {}
    samples: dict[str, list[float]] = {}  # python runner only: one interleaved run, so rounds line up
    for label, path, manifest, whole in targets:
        if kind == "app":
            if state.app is None or label != state.app_label:
                untimed.append(label)
                continue
            app_lat = state.app["latency_ms"]
            lat = app.latency_block(app_lat)
            used = str(app_rt.get("delegate") or "")
            extra = {"delegate": used or None,
                     "fallback": ({"from": app_rt.get("delegate_requested"), "to": "cpu (xnnpack)", "reason": used}
                                  if "fell back" in used else None),
                     "latency_scope": app_lat.get("scope"), "latency_std": "population (ddof 0), from the app",
                     "app_report": {k: state.app.get(k) for k in ("created", "producer", "device", "artifact")}}
            rows.append(_artifact_row(label, path, manifest, app_rt, lat, None, None, extra))
        elif kind == "python":
            r = (runner.get("artifacts") or {}).get(label)
            if not r or not r.get("samples_ms"):
                untimed.append(label)
                continue
            lat = summarize(r["samples_ms"])
            samples[label] = [float(x) for x in r["samples_ms"]]
            rt = dict(r.get("runtime") or {})
            rt.setdefault("name", rt.get("runtime", "unknown"))
            rt["delegate_outcome"] = r.get("delegate")
            extra = {"samples_ms": [round(x, 4) for x in r["samples_ms"]], "load_ms": r.get("load_ms"),
                     "first_run_ms": r.get("first_run_ms"),
                     "delegate": (r.get("delegate") or {}).get("used"), "fallback": (r.get("delegate") or {}).get("fallback")}
            rows.append(_artifact_row(label, path, manifest, rt, lat, r.get("cold_start_ms"), r.get("peak_rss_mb"), extra))
            if r.get("boundary_ms") is not None:
                boundary[label] = float(r["boundary_ms"])
        else:
            r = state.bench_model.get(label)
            if not r:
                untimed.append(label)
                continue
            log = r["log"]
            outcome = r["delegate"]
            lat = bm.latency_ms(log)
            rt = {"name": "litert", "tool": "benchmark_model", "delegate": outcome["used"], "threads": threads,
                  "delegate_outcome": outcome}
            extra = {"delegate": outcome["used"],
                     "fallback": ({"from": opts.delegate, "to": outcome["used"], "reason": outcome["fallback_reason"]}
                                  if outcome["fallback_reason"] else None),
                     "benchmark_model": {k: log[k] for k in ("init_us", "first_inference_us", "warmup_avg_us",
                                                             "inference_avg_us", "memory_delta_mb", "peak_memory_mb")},
                     "op_profile": r.get("profile"), "op_profile_error": r.get("profile_error")}
            cold = (log["init_us"] + log["first_inference_us"]) / 1e3
            rows.append(_artifact_row(label, path, manifest, rt, lat, cold, log.get("peak_memory_mb"), extra))
        p50[label] = lat["p50"]
    if untimed:
        reasons.append(f"not timed on the device: {', '.join(untimed)}")
    if kind == "python" and runner and runner.get("errors"):
        reasons.append("; ".join(runner["errors"]))
    costs = _costs({m.preset for _, _, m, _ in targets if m.preset})
    for row in rows:
        c = costs.get(row["preset"] or "", {})
        gf = (c.get("total") if row["module"] == "model" else c.get(row["module"])) or {}
        if gf.get("gflops"):
            row["gflops"] = gf["gflops"]
            row["gflops_per_s"] = gf["gflops"] / (row["latency_ms"]["p50"] / 1e3)
    module_rows: list[dict[str, Any]] = []
    module_sums: list[dict[str, Any]] = []
    if modules:
        for label, path, manifest, whole in targets:
            if not whole:
                continue
            sub_labels = {m.module: lab for lab, p, m, w in targets
                          if not w and lab in p50 and p.name == f"{path.stem}.{m.module}{path.suffix}"}
            subs = {m: p50[lab] for m, lab in sub_labels.items()}
            if subs:
                module_rows += mod.module_rows(label, "split", subs, costs.get(manifest.preset))
                if len(subs) == len(mod.MODULES) and label in p50:
                    paired = all(lab in samples for lab in sub_labels.values())
                    module_sums.append(mod.split_sum_check(label, subs, p50[label], boundary.get(label, 0.0),
                                                           [samples[lab] for lab in sub_labels.values()] if paired else None,
                                                           samples.get(label), block))
            else:
                reasons.append(f"{label}: no timed split sub-models (export with --split-modules)")
    if error is not None:
        what = "interrupted (Ctrl-C)" if isinstance(error, KeyboardInterrupt) else f"{type(error).__name__}: {error}"
        reasons.insert(0, f"run failed: {what}")
    if state.run_dir is not None and state.run_dir_cleaned is False:
        reasons.append(f"device temp dir {state.run_dir} could not be deleted (device unreachable); "
                       "the next run on this device deletes it")
    if kind == "app" and state.app is not None:
        # What the app actually did, not what was asked (it times every frame of its clips).
        warmup, runs, block = int(state.app["latency_ms"]["warmup"]), int(state.app["latency_ms"]["runs"]), 1
        threads = app_rt["threads"] if isinstance(app_rt.get("threads"), int) else threads
    facts = state.facts or {"serial": getattr(state.device, "serial", opts.serial), "emulated": False}
    emulated = bool(facts.get("emulated"))
    report: dict[str, Any] = {
        "schema": REPORT_SCHEMA, "schema_version": REPORT_SCHEMA_VERSION, "created": created, "git": git_state(),
        "machine": machine_block(facts, state.extra, libraries),
        "protocol": {"warmup": warmup, "runs": runs, "block": block, "threads": threads, "baseline": None,
                     "interleaved": kind == "python", "isolation": _ISOLATION[kind], "runner": _RUNNER_LABEL[kind],
                     "delegate_requested": opts.delegate, "allow_fallback": opts.allow_fallback},
        "matmul_peak": None, "artifacts": rows, "modules": module_rows, "module_sums": module_sums,
        "parity": {}, "paper_reference": dict(mod.PAPER_REFERENCE), "targets": [],
        "extra": {"device": {"serial": facts.get("serial"), "facts": facts, "steps": state.steps, "push": state.push,
                             "run_dir": state.run_dir, "run_dir_cleaned": state.run_dir_cleaned,
                             "stale_runs_removed": state.stale_removed,
                             "device_wheels": {**state.wheels, "imports": runner.get("imports")} if state.wheels else None,
                             "runner_phase": runner.get("phase"), "runner_complete": runner.get("complete"),
                             "app": ({"package": app.PACKAGE, "apk": state.app_apk_path, "bench_dir": app.BENCH_DIR}
                                     if kind == "app" else None),
                             "latency_conclusions": not emulated,
                             "note": NO_CONCLUSIONS if emulated else None}},
        "incomplete": bool(reasons), "incomplete_reason": "; ".join(reasons) or None,
    }
    return report


def _finish_report(report: dict[str, Any], opts: DeviceBenchOptions) -> None:
    """Validate and write the report (bench.json and bench.md in opts.report_dir)."""
    from lightavseg_mobile.bench.report import markdown
    from lightavseg_mobile.bench.schema import validate_report

    validate_report(report)
    if opts.report_dir is not None:
        write_text_atomic(Path(opts.report_dir) / "bench.json", json.dumps(report, indent=2, sort_keys=True, default=str) + "\n")
        write_text_atomic(Path(opts.report_dir) / "bench.md", markdown(report))


def human_summary(report: dict[str, Any]) -> str:
    """Plain-text table of a device report; an emulated device gets timings but no conclusions."""
    from lightavseg_mobile.bench.modules import sum_summary
    m = report["machine"]
    lines = [f"{m['label']}"]
    emulated = m["execution"] == EMULATED
    if emulated:
        lines.append(f"NOTE: {NO_CONCLUSIONS}")
    for a in report["artifacts"]:
        lat = a["latency_ms"]
        cold = f"{a['cold_start_ms']:.0f} ms" if a.get("cold_start_ms") is not None else "-"
        rss = f"{a['peak_rss_mb']:.0f} MiB" if a.get("peak_rss_mb") is not None else "-"
        fb = f" (fallback from {a['fallback']['from']})" if a.get("fallback") else ""
        lines.append(f"  {a['label']:<48} {a['runtime'].get('name')}/{a.get('delegate')}{fb}  p50 {lat['p50']:.2f} ms  "
                     f"p90 {lat['p90']:.2f}  cold {cold}  rss {rss}")
    for r in report["modules"]:
        lines.append(f"    module {r['module']:<20} {r['time_ms']:.2f} ms  ({100 * r['share']:.0f} %)  [{r['artifact']}]")
    for s in report["module_sums"]:
        lines.append(f"    modules {sum_summary(s)}")
    for label, p in report["parity"].items():
        t = p.get("tensor", {})
        lines.append(f"  parity {label}: {'passed' if p.get('passed') else 'FAILED'}  max abs {t.get('max_abs', float('nan')):.3g}, "
                     f"mIoU drop {100 * p.get('miou_drop', float('nan')):.2f} pt  {p.get('reason') or ''}".rstrip())
    if report["incomplete"]:
        lines.append(f"INCOMPLETE: {report['incomplete_reason']}")
    return "\n".join(lines)


# ---------------------------------------------------------------- CLI wiring

def add_device_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the `--device arm64` options to a lavseg-bench parser."""
    g = parser.add_argument_group("device (--device arm64)")
    g.add_argument("--device", choices=("host", "arm64"), default="host",
                   help="host (default) or arm64: run on an adb device (a phone, a board, or the emulated device)")
    g.add_argument("--serial", default=None,
                   help="adb serial of the device, or 'all' for every attached device (one report each); "
                        "default: ANDROID_SERIAL, else the only device")
    g.add_argument("--runner", choices=RUNNERS, default=None,
                   help="python: Python on the device (default); benchmark-model: LiteRT's benchmark_model per .tflite "
                        "(needs --benchmark-binary, the default when it is given); app: the Android demo app's bench mode "
                        "(the app must be installed, or pass --app-apk; name the .tflite copied into it; parity always "
                        "checked on the host; --warmup, --threads, --delegate go to the app, which times every frame "
                        "of its bundled clips)")
    g.add_argument("--benchmark-binary", type=Path, default=None, metavar="PATH",
                   help="LiteRT benchmark_model for the device (e.g. android_aarch64_benchmark_model): run it per "
                        ".tflite instead of Python on the device (--runner benchmark-model)")
    g.add_argument("--app-apk", type=Path, default=None, metavar="PATH",
                   help="--runner app: install this demo APK first (adb install -r), e.g. "
                        "android_demo/build/apk/lightavseg-demo-debug.apk")
    g.add_argument("--allow-fallback", action="store_true",
                   help="run on the CPU path when --delegate is unavailable (recorded in the report) instead of failing")
    g.add_argument("--step-timeout", type=float, default=DEFAULT_STEP_TIMEOUT, metavar="S",
                   help=f"time limit of each device step (push, run, pull; with --runner app: the wait for the app's "
                        f"report), seconds (default {DEFAULT_STEP_TIMEOUT:g})")
    g.add_argument("--device-clips", type=int, default=2, metavar="N",
                   help="held-out clips run on the device for --parity (default 2)")
    g.add_argument("--no-cold-start", action="store_true", help="skip the fresh-process cold start and RSS measurement")
    g.add_argument("--device-wheels", choices=wh.SOURCES, default="bundle",
                   help="where the Python runner's numpy/onnxruntime/ai-edge-litert come from: bundle (default: aarch64 "
                        "wheels for the device's Python, fetched once into ~/.cache/lightavseg/device-wheels and cached "
                        "on the device by content hash) or device (what the device's python3 already has)")


def _serial_dirname(serial: str) -> str:
    """A serial as a safe folder name (serials may hold ':' or anything else)."""
    return re.sub(r"[^A-Za-z0-9_.-]", "_", serial)[:80] or "device"


def run(args: argparse.Namespace) -> int:
    """Run `lavseg-bench --device arm64` from parsed arguments; return the exit code (errors as one line)."""
    delegate = getattr(args, "delegate", "auto") or "auto"
    report_dir = getattr(args, "report", None)
    opts_kw = dict(delegate=delegate, allow_fallback=bool(getattr(args, "allow_fallback", False)),
                   benchmark_binary=getattr(args, "benchmark_binary", None),
                   runner=getattr(args, "runner", None), app_apk=getattr(args, "app_apk", None),
                   step_timeout=float(getattr(args, "step_timeout", DEFAULT_STEP_TIMEOUT)),
                   heldout=getattr(args, "heldout", None), max_clips=int(getattr(args, "device_clips", 2)),
                   cold_start=not getattr(args, "no_cold_start", False),
                   device_wheels=getattr(args, "device_wheels", "bundle"))
    kw = dict(warmup=int(getattr(args, "warmup", 1)), runs=int(getattr(args, "runs", 5)), block=int(getattr(args, "block", 1)),
              threads=getattr(args, "threads", None), modules=bool(getattr(args, "modules", False)),
              parity=bool(getattr(args, "parity", False)), checkpoint=getattr(args, "checkpoint", None))
    paths = [Path(p) for p in (getattr(args, "artifacts", None) or getattr(args, "paths", None) or [])]
    as_json = bool(getattr(args, "json", False))
    try:
        # Flag mistakes are reported before any adb traffic.
        resolve_runner(getattr(args, "runner", None), getattr(args, "benchmark_binary", None), getattr(args, "app_apk", None))
        if getattr(args, "serial", None) == "all":
            serials = [d.serial for d in list_devices() if d.state == "device"]
            if not serials:
                raise DeviceError("--serial all: no adb device in state 'device' (see `adb devices -l`)")
        else:
            serials = [select_device(getattr(args, "serial", None)).serial]
        results: dict[str, Any] = {}

        def one(serial: str) -> None:
            rdir = Path(report_dir) / _serial_dirname(serial) if (report_dir and len(serials) > 1) else report_dir
            opts = DeviceBenchOptions(serial=serial, report_dir=Path(rdir) if rdir else None, **opts_kw)
            try:
                results[serial] = run_device_bench(paths, opts=opts, device=Device(serial), **kw)
            except BaseException as exc:  # noqa: BLE001 - collected and reported per device below
                results[serial] = exc

        if len(serials) == 1:
            one(serials[0])
        else:
            threads = [threading.Thread(target=one, args=(s,), daemon=True) for s in serials]
            for t in threads:
                t.start()
            for t in threads:
                while t.is_alive():
                    t.join(0.2)
        code = 0
        for serial in serials:
            res = results.get(serial)
            if isinstance(res, KeyboardInterrupt):
                raise res
            if isinstance(res, BaseException):
                if not isinstance(res, UserError):
                    raise res
                prefix = f"{serial}: " if len(serials) > 1 else ""
                print(f"error: {prefix}{res}", file=sys.stderr)
                code = max(code, res.exit_code)
                continue
            print(json.dumps(res, indent=2, sort_keys=True, default=str) if as_json else human_summary(res))
        return code
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        where = f"; partial report in {report_dir}" if report_dir else ""
        print(f"error: interrupted; device temp dir removed, partial results kept and marked incomplete{where}",
              file=sys.stderr)
        return 130


def build_parser() -> argparse.ArgumentParser:
    """A standalone parser (`python -m lightavseg_mobile.device.bench_device`) with the bench options it reads."""
    ap = argparse.ArgumentParser(prog="lavseg-bench --device arm64",
                                 description="Benchmark exported artifacts on an adb device (phone, board, emulated arm64).")
    ap.add_argument("artifacts", nargs="+", type=Path, help=".onnx/.tflite artifacts (or folders of them)")
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--block", type=int, default=1)
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--delegate", choices=DELEGATES, default="auto")
    ap.add_argument("--modules", action="store_true", help="also time the split sub-models beside each artifact")
    ap.add_argument("--parity", action="store_true", help="check the device's outputs against the torch float model")
    ap.add_argument("--checkpoint", type=Path, default=None)
    ap.add_argument("--heldout", type=Path, default=None)
    ap.add_argument("--report", type=Path, default=None, help="write REPORT/bench.json")
    ap.add_argument("--json", action="store_true")
    add_device_arguments(ap)
    return ap


def main(argv: list[str] | None = None) -> int:
    """Standalone entry point."""
    args = build_parser().parse_args(argv)
    args.device = "arm64"
    return run(args)


if __name__ == "__main__":
    sys.exit(main())
