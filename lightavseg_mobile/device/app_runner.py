"""`lavseg-bench --device arm64 --runner app`: drive the Android demo app's bench mode over adb and read its report.

The app (android_demo/) runs the held-out clips bundled in it through its LiteRT model and writes
bench_report.json (a documented subset of the bench schema, android_demo/README.md) plus one mask-logits
.npy per clip into its external files dir. This module installs/checks the app, starts bench mode,
waits for the report and pulls and checks it; the bench engine's app runner (bench/runners/app.py) turns it
into a target record and runs the host parity check, with the same code as the other runners.
"""

from __future__ import annotations

import contextlib
import json
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from lightavseg_mobile.device.adb import Device
from lightavseg_mobile.device.errors import DeviceError, DeviceTimeoutError
from lightavseg_mobile.runtime.registry import check_tool_delegate, tool_delegates

PACKAGE = "org.lightavseg.demo"
ACTIVITY = f"{PACKAGE}/.MainActivity"
# MainActivity writes to getExternalFilesDir(null)/bench: this path for the device's primary user.
BENCH_DIR = f"/sdcard/Android/data/{PACKAGE}/files/bench"
REPORT_FILE = "bench_report.json"
REPORT_PATH = f"{BENCH_DIR}/{REPORT_FILE}"
OUTPUTS_DIR = f"{BENCH_DIR}/outputs"
# Written by every start of bench mode before anything else (BenchReport.STARTED_FILE): proof that this start ran.
STARTED_FILE = "bench_started"
STARTED_PATH = f"{BENCH_DIR}/{STARTED_FILE}"
# How long the host waits for that marker after `am start` returns (capped by --step-timeout).
START_TIMEOUT = 30.0
APP_SCHEMA = "lightavseg-bench-report"
# 2 added runtime.delegate_outcome; 1 (no delegate accounting) is still read.
APP_SCHEMA_VERSION = 2
APP_SCHEMA_VERSIONS = (1, 2)
PRODUCER = "lightavseg-android-demo"
INSTALL_HINT = ("build and install it (android_demo/README.md: make android-assets MODEL=...; make android-apk; "
                "adb install -r android_demo/build/apk/lightavseg-demo-debug.apk) or pass --app-apk PATH")
# Our delegate (runtime.registry.DELEGATES) -> the app's `--es delegate` value (the app's CPU path is XNNPACK).
APP_DELEGATES = tool_delegates("the demo app", {"auto": "cpu", "cpu": "cpu", "xnnpack": "cpu", "nnapi": "nnapi", "gpu": "gpu"})
# runtime.delegate_outcome.applied (DelegateOutcome): already our vocabulary ("cpu" = LiteRT's built-in kernels).
APP_APPLIED = tool_delegates("the demo app", {"xnnpack": "xnnpack", "cpu": "cpu", "nnapi": "nnapi", "gpu": "gpu"})
# AM's refusals: "Error: ..." and, when the activity is already on top, "Warning: Activity not started, ...".
_AM_FAILURES = ("Error", "Warning: Activity not started")
POLL_SECONDS = 1.0
_CLIP_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,128}$")
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_LATENCY_KEYS = ("p50", "p90", "p99", "mean", "std", "min", "max")


class AppReportError(DeviceError):
    """The app's bench report or its outputs do not follow the documented format."""


@dataclass(frozen=True)
class AppResult:
    """The app's report and its mask logits per clip ([frames, 1, H, W] float32, in the report's order)."""

    report: dict[str, Any]
    outputs: dict[str, np.ndarray]


def _last_line(text: str) -> str:
    return (text.strip() or "no output").splitlines()[-1]


def installed_path(dev: Device) -> str | None:
    """The app's APK path on the device (`pm path`), or None when it is not installed."""
    res = dev.shell(["pm", "path", PACKAGE], timeout=60.0)
    if res.exit_code == 127:
        raise DeviceError(f"{dev.serial} has no Android package manager (`pm`): --runner app needs an Android device")
    paths = [ln.strip().removeprefix("package:") for ln in res.stdout.splitlines() if ln.strip().startswith("package:")]
    return paths[0] if paths else None


def install_apk(dev: Device, apk: Path, timeout: float) -> None:
    """`adb install -r APK` done by hand: push to a private temp dir, `pm install -r`, delete the copy."""
    remote_dir = dev.make_tempdir("lavseg-apk")
    try:
        dev.push(apk, f"{remote_dir}/app.apk", timeout=timeout)
        res = dev.shell(["pm", "install", "-r", f"{remote_dir}/app.apk"], timeout=timeout)
    finally:
        with contextlib.suppress(DeviceError):
            dev.remove_tree(remote_dir)
    # Old pm releases exit 0 on failure: "Success" is the only sure sign.
    if not res.ok or "Success" not in res.stdout:
        raise DeviceError(f"installing {apk} on {dev.serial} failed: {_last_line(res.stdout + res.stderr)}")


def ensure_installed(dev: Device, apk: Path | None, timeout: float) -> str:
    """Install `apk` when given, then return the app's APK path; not installed is a one-line DeviceError."""
    if apk is not None:
        install_apk(dev, apk, timeout)
    where = installed_path(dev)
    if where is None:
        raise DeviceError(f"the demo app {PACKAGE} is not installed on {dev.serial}: {INSTALL_HINT}")
    return where


def clear_previous(dev: Device) -> None:
    """Delete a stale report and outputs, so polling never finds the last run's report."""
    dev.shell(["rm", "-rf", "--", REPORT_PATH, OUTPUTS_DIR, STARTED_PATH], timeout=60.0).check(
        "removing the previous app report")


def app_extra(delegate: str) -> str:
    """The app's `--es delegate` value for our `delegate`; one-line UserError for a delegate the app cannot use."""
    return check_tool_delegate("--runner app", APP_DELEGATES, delegate)


def bench_start_command(extras: list[str]) -> list[str]:
    """`am start` for bench mode: -S force-stops the app first, so an activity left on top from an earlier run
    cannot swallow the start ("Warning: Activity not started"); -W waits until the activity is launched."""
    return ["am", "start", "-S", "-W", "-n", ACTIVITY, "--es", "mode", "bench", *extras]


def start_bench(dev: Device, extras: list[str], timeout: float) -> str:
    """Start bench mode and make sure it really started (its marker appears); return am's output."""
    res = dev.shell(bench_start_command(extras), timeout=timeout)
    text = res.stdout + res.stderr
    # am exits 0 on both of these on many releases: its text is the only sign.
    errors = [ln.strip() for ln in text.splitlines() if ln.strip().startswith(_AM_FAILURES)]
    if not res.ok or errors:
        raise DeviceError(f"`am start` of {ACTIVITY} failed on {dev.serial}: {errors[0] if errors else _last_line(text)}")
    wait_for_start(dev, min(START_TIMEOUT, timeout), _last_line(text))
    return text


def wait_for_start(dev: Device, timeout: float, am_said: str = "") -> float:
    """Poll for the app's started marker; a start that never ran is a one-line DeviceError after `timeout` s."""
    t0 = time.monotonic()
    while not dev.shell(["test", "-f", STARTED_PATH], timeout=30.0).ok:
        if time.monotonic() - t0 >= timeout:
            said = f" (am said: {am_said})" if am_said else ""
            raise DeviceError(f"bench mode of {PACKAGE} did not start within {timeout:g} s on {dev.serial}{said}: "
                              "no bench_started marker; see `adb logcat -s LightAVSeg`, or reinstall the app from this checkout")
        time.sleep(POLL_SECONDS)
    return time.monotonic() - t0


def wait_for_report(dev: Device, timeout: float) -> float:
    """Poll until the app has written its report (it is renamed into place last); return the seconds waited."""
    t0 = time.monotonic()
    while not dev.shell(["test", "-f", REPORT_PATH], timeout=30.0).ok:
        if time.monotonic() - t0 >= timeout:
            raise DeviceTimeoutError(f"the app wrote no {REPORT_FILE} within {timeout:g} s on {dev.serial} (it crashed "
                                     "or is still running): see `adb logcat -s LightAVSeg`, or raise --step-timeout")
        time.sleep(POLL_SECONDS)
    return time.monotonic() - t0


def _field(d: Any, key: str, types: type | tuple[type, ...], where: str) -> Any:
    """d[key] checked for presence and type (bool never passes as a number)."""
    if not isinstance(d, dict) or key not in d:
        raise AppReportError(f"app bench report: missing field '{where}{key}'")
    value = d[key]
    types = types if isinstance(types, tuple) else (types,)
    if (isinstance(value, bool) and bool not in types) or not isinstance(value, types):
        raise AppReportError(f"app bench report: field '{where}{key}' must be {' or '.join(t.__name__ for t in types)}, "
                             f"got {type(value).__name__}")
    return value


def check_report(report: Any) -> None:
    """Check the app's report against the documented subset of the bench schema (android_demo/README.md)."""
    if _field(report, "schema", str, "") != APP_SCHEMA:
        raise AppReportError(f"app bench report: schema is {report['schema']!r}; expected {APP_SCHEMA!r}")
    version = _field(report, "schema_version", int, "")
    if version not in APP_SCHEMA_VERSIONS:
        raise AppReportError(f"app bench report schema_version {version} is not one of "
                             f"{', '.join(map(str, APP_SCHEMA_VERSIONS))}: rebuild the app from this checkout, "
                             "or upgrade lightavseg-mobile")
    if _field(report, "producer", str, "") != PRODUCER:
        raise AppReportError(f"app bench report: producer is {report['producer']!r}; expected {PRODUCER!r}")
    _field(report, "created", str, "")
    _field(report, "device", dict, "")
    _field(_field(report, "runtime", dict, ""), "name", str, "runtime.")
    if _field(report, "status", str, "") not in ("ok", "error"):
        raise AppReportError(f"app bench report: status is {report['status']!r}; expected 'ok' or 'error'")
    artifact = _field(report, "artifact", dict, "")
    if report["status"] == "error":
        return
    if version >= 2:
        delegate_outcome(report)
    if not _SHA256.match(_field(artifact, "sha256", str, "artifact.")):
        raise AppReportError(f"app bench report: artifact.sha256 {artifact['sha256']!r} is not a sha256 hex digest")
    lat = _field(report, "latency_ms", dict, "")
    for k in _LATENCY_KEYS:
        _field(lat, k, (int, float), "latency_ms.")
    for k in ("runs", "warmup"):
        _field(lat, k, int, "latency_ms.")
    if lat["runs"] < 1:
        raise AppReportError(f"app bench report: latency_ms.runs is {lat['runs']}; expected >= 1")
    outputs = _field(report, "outputs", list, "")
    if not outputs:
        raise AppReportError("app bench report: status ok but no outputs")
    seen: set[str] = set()
    for i, o in enumerate(outputs):
        w = f"outputs[{i}]."
        clip = _field(o, "clip", str, w)
        # The clip name becomes a device path: only plain names, and the file the app documents for it.
        if not _CLIP_NAME.match(clip) or clip in seen:
            raise AppReportError(f"app bench report: {w}clip {clip!r} is not a plain, unique clip name")
        seen.add(clip)
        if _field(o, "file", str, w) != f"outputs/{clip}.npy":
            raise AppReportError(f"app bench report: {w}file is {o['file']!r}; expected 'outputs/{clip}.npy'")
        for key, want in (("tensor", "mask_logits"), ("dtype", "float32"), ("format", "npy")):
            if _field(o, key, str, w) != want:
                raise AppReportError(f"app bench report: {w}{key} is {o[key]!r}; expected {want!r}")
        shape = _field(o, "shape", list, w)
        frames = _field(o, "frames", int, w)
        if len(shape) != 4 or not all(isinstance(s, int) and not isinstance(s, bool) and s > 0 for s in shape) \
                or shape[0] != frames or shape[1] != 1:
            raise AppReportError(f"app bench report: {w}shape {shape} is not [frames={frames}, 1, H, W]")


_OUTCOME_FIELDS: tuple[tuple[str, type | tuple[type, ...]], ...] = (
    ("requested", str), ("applied", str), ("nodes_total", (int, type(None))), ("plan_nodes", (int, type(None))),
    ("nodes_delegated_min", (int, type(None))), ("partial", bool), ("fallback", bool), ("reason", (str, type(None))))


def delegate_outcome(report: dict[str, Any]) -> dict[str, Any] | None:
    """runtime.delegate_outcome, checked (what the app's DelegateAccounting counted); None in a schema 1 report."""
    if report.get("schema_version") == 1:
        return None
    out = _field(report["runtime"], "delegate_outcome", dict, "runtime.")
    for key, types in _OUTCOME_FIELDS:
        _field(out, key, types, "runtime.delegate_outcome.")
    if out["applied"] not in APP_APPLIED:
        raise AppReportError(f"app bench report: runtime.delegate_outcome.applied is {out['applied']!r}; "
                             f"expected one of {', '.join(APP_APPLIED)}")
    return out


def load_output(path: Path, entry: dict[str, Any]) -> np.ndarray:
    """One pulled .npy, checked against its report entry (float32, the reported shape)."""
    try:
        arr = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise AppReportError(f"app output {entry['file']} is not a readable .npy: {exc}") from None
    if arr.dtype != np.float32 or list(arr.shape) != entry["shape"]:
        raise AppReportError(f"app output {entry['file']} is {arr.dtype} {list(arr.shape)}; "
                             f"the report says float32 {entry['shape']}")
    return arr


def pull_results(dev: Device, dest: Path, timeout: float) -> AppResult:
    """Pull and check the report, then (status ok) every output it lists; status error is a one-line DeviceError."""
    local = dest / REPORT_FILE
    dev.pull(REPORT_PATH, local, timeout=timeout)
    try:
        report = json.loads(local.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise AppReportError(f"{REPORT_PATH} on {dev.serial} is not JSON: {exc}") from None
    check_report(report)
    if report["status"] != "ok":
        raise DeviceError(f"the app's bench mode failed on {dev.serial}: {report.get('error') or 'no reason given'}")
    outputs = {}
    for i, entry in enumerate(report["outputs"]):
        path = dest / f"output{i:04d}.npy"
        dev.pull(f"{BENCH_DIR}/{entry['file']}", path, timeout=timeout)
        outputs[entry["clip"]] = load_output(path, entry)
    return AppResult(report, outputs)


def match_clips(result: AppResult, clips: list[Any], mask_hw: tuple[int, int], heldout: str) -> tuple[list[Any], np.ndarray]:
    """The host's held-out clips the app ran (in its order) and its outputs stacked; names, frames and H, W must match."""
    by_name = {c.name: c for c in clips}
    picked = []
    for name, arr in result.outputs.items():
        clip = by_name.get(name)
        if clip is None:
            raise AppReportError(f"the app ran clip {name!r}, which is not in the held-out split of {heldout}: "
                                 "pass the --heldout the app's assets were copied from")
        if arr.shape[0] != len(clip.frames) or tuple(arr.shape[2:]) != mask_hw:
            raise AppReportError(f"app output for {name} is {list(arr.shape)}; the host expects "
                                 f"[{len(clip.frames)}, 1, {mask_hw[0]}, {mask_hw[1]}]")
        picked.append(clip)
    return picked, np.concatenate(list(result.outputs.values()))


def latency_block(app_latency: dict[str, Any]) -> dict[str, Any]:
    """The app's latency summary as the bench schema's latency_ms (fps from the median, as the host does)."""
    lat: dict[str, Any] = {k: float(app_latency[k]) for k in _LATENCY_KEYS}
    lat["runs"] = int(app_latency["runs"])
    lat["fps"] = 1000.0 / max(lat["p50"], 1e-9)
    return lat
