"""`lavseg-bench --device arm64 --runner app` against the emulated arm64 device, host side for real.

The emulated device is Debian arm64 under qemu with adbd: it has no Android activity or package manager.
For these tests only, `pm` and `am` in the device's /usr/local/bin are TEST STAND-INS (shell scripts,
removed afterwards) that play the Android side of the protocol: `pm path` prints `package:/data/app/...`
once `pm install -r` has "installed" the app, and `am start ... --es mode bench` copies a prepared
bench_report.json and per-clip .npy files into the app's files dir, in the background and the report
last, as the app does. Everything the host does (pm/am calls, polling, pulls, checks, parity, report)
is the real code.

The prepared files hold real outputs: lightavseg-tiny exported to fp32 TFLite, run by LiteRT ON THE HOST
(lightavseg_mobile.runtime.load_runtime) over the shipped held-out clips; the report and .npy files are
then written by the app's own Java core classes (BenchReport, Npy, LatencyStats, Manifest) on the host
JVM through tests/fixtures/android_app/AppBenchWriter.java. No Android code runs and no phone is involved.

In CI (CI=true) a device that cannot come up fails these tests, never skips (conftest.emulated_device_up).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest
from conftest import EMULATED_SERIAL as SERIAL, emulated_device_up

from lightavseg_mobile.bench import cli_bench
from lightavseg_mobile.console import guard as _guard
from lightavseg_mobile.device import adb
from lightavseg_mobile.device import app_runner as app
from lightavseg_mobile.device.errors import DeviceError

REPO = Path(__file__).resolve().parents[1]
WRITER = Path(__file__).parent / "fixtures" / "android_app" / "AppBenchWriter.java"
JSON_JAR = Path("/usr/share/java/com.android.json.jar")
CLIPS = 2
# Where the stand-ins keep their state on the device (prepared files, "installed" marker, am's argv log).
STANDIN = "/data/local/tmp/lavseg-app-standin"
PM = f"""#!/bin/sh
# TEST STAND-IN for Android's package manager (tests/test_device_app_runner.py); not Android's pm.
case "$1" in
  path) [ "$2" = {app.PACKAGE} ] && [ -f {STANDIN}/installed ] && echo "package:/data/app/{app.PACKAGE}-1/base.apk" && exit 0
        exit 1 ;;
  install) [ "$2" = -r ] && [ -f "$3" ] || {{ echo "Failure [INSTALL_FAILED_INVALID_URI]"; exit 1; }}
           mkdir -p {STANDIN} && cp "$3" {STANDIN}/installed && echo Success ;;
  *) echo "stand-in pm: unsupported: $*" >&2; exit 1 ;;
esac
"""
# The activity an earlier start left on top (kept outside STANDIN, which _prepare resets).
ON_TOP = "/data/local/tmp/lavseg-app-standin-on-top"
AM = f"""#!/bin/sh
# TEST STAND-IN for Android's activity manager (tests/test_device_app_runner.py); not Android's am.
mkdir -p {STANDIN} && echo "$*" >> {STANDIN}/am.log
[ "$1" = start ] || {{ echo "stand-in am: unsupported: $*" >&2; exit 1; }}
# Like Android: without -S, a start that meets the activity already on top only brings it to the front.
case " $* " in
  *" -S "*) echo "Stopping: {app.PACKAGE}"; rm -f {ON_TOP} ;;
  *) if [ -f {ON_TOP} ]; then
       echo "Starting: Intent {{ cmp={app.ACTIVITY} (has extras) }}"
       echo "Warning: Activity not started, its current task has been brought to the front"; exit 0
     fi ;;
esac
echo "Starting: Intent {{ cmp={app.ACTIVITY} (has extras) }}"
touch {ON_TOP}
d={app.BENCH_DIR}
# An app build that never reaches bench mode: no marker, nothing else.
[ -f {STANDIN}/never_starts ] && exit 0
# Like the app: the started marker first, then (asynchronously) outputs, the report renamed into place last.
mkdir -p "$d" && echo delegate=cpu > "$d/{app.STARTED_FILE}"
# Nothing prepared = an app that starts but never writes its report.
[ -f {STANDIN}/prepared/{app.REPORT_FILE} ] || exit 0
(sleep 2; mkdir -p "$d/outputs" && cp {STANDIN}/prepared/outputs/*.npy "$d/outputs/" &&
  cp {STANDIN}/prepared/{app.REPORT_FILE} "$d/{app.REPORT_FILE}.tmp" && mv "$d/{app.REPORT_FILE}.tmp" "$d/{app.REPORT_FILE}") \\
  </dev/null >/dev/null 2>&1 &
echo "Status: ok"
"""

bench = _guard(cli_bench.main)


@pytest.fixture(scope="module")
def exported(tiny_ckpt: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """lightavseg-tiny exported once to a fp32 whole-model TFLite (with its manifest)."""
    from lightavseg_mobile.export.pipeline import ExportRequest, run_export

    out = tmp_path_factory.mktemp("app-export")
    run_export(ExportRequest(checkpoint=tiny_ckpt, formats=("tflite",), int8=False, max_heldout_clips=1, out=out, threads=1),
               progress=lambda s, m: None)
    path = out / "lightavseg-tiny.fp32.tflite"
    assert path.is_file(), sorted(p.name for p in out.iterdir())
    return path


def _core_classes(build: Path) -> str:
    """Compile android_demo/core on the host JVM (installing its Debian packages if missing); return the classpath."""
    if not JSON_JAR.is_file() or shutil.which("javac") is None:
        r = subprocess.run([str(REPO / "android_demo" / "tools" / "android.sh"), "deps"], capture_output=True, text=True,
                           timeout=900)
        assert r.returncode == 0, r.stderr[-2000:]
    classes = build / "classes"
    sources = sorted(str(p) for p in (REPO / "android_demo" / "core" / "src" / "main" / "java").rglob("*.java"))
    r = subprocess.run(["javac", "-nowarn", "-encoding", "UTF-8", "-cp", str(JSON_JAR), "-d", str(classes), *sources],
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-2000:]
    return f"{JSON_JAR}{os.pathsep}{classes}"


@pytest.fixture(scope="module")
def app_files(exported: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The app's bench dir as the app would leave it: LiteRT outputs from the host, written by the app's Java core."""
    from lightavseg_mobile.artifact.manifest import load_manifest, manifest_path
    from lightavseg_mobile.bench.parity import heldout_clips
    from lightavseg_mobile.runtime import load_runtime

    build = tmp_path_factory.mktemp("app-bench")
    manifest, _ = load_manifest(exported)
    clips = heldout_clips(manifest, "logmel", None, CLIPS)
    rt = load_runtime(exported, threads=1)
    warmup = 1
    for _ in range(warmup):
        rt.run({"frame": clips[0].frames[:1], "logmel": clips[0].audio[:1]})
    timings, args = [], []
    for clip in clips:
        frames = []
        for i in range(len(clip.frames)):
            t0 = time.perf_counter()
            out = rt.run({"frame": clip.frames[i:i + 1], "logmel": clip.audio[i:i + 1]})["mask_logits"]
            timings.append((time.perf_counter() - t0) * 1e3)
            frames.append(out)
        np.save(build / f"{clip.name}.in.npy", np.concatenate(frames).astype(np.float32))
        args.append(f"{clip.name}={build / f'{clip.name}.in.npy'}")
    (build / "timings.txt").write_text("\n".join(f"{t:.6f}" for t in timings) + "\n")
    bench_dir = build / "bench"
    cp = _core_classes(build)
    r = subprocess.run(["java", "-cp", cp, str(WRITER), str(manifest_path(exported)), str(exported), str(bench_dir),
                        str(build / "timings.txt"), str(warmup), *args], capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    report = json.loads((bench_dir / app.REPORT_FILE).read_text())
    assert report["latency_ms"]["p50"] == pytest.approx(float(np.percentile(timings, 50)))
    return bench_dir


@pytest.fixture(scope="module")
def device() -> Iterator[adb.Device]:
    """The emulated device with the pm/am stand-ins installed (and removed afterwards)."""
    with emulated_device_up():
        os.environ.pop("ANDROID_SERIAL", None)
        dev = adb.select_device(SERIAL)
        had_sdcard = dev.shell(["test", "-e", "/sdcard"], timeout=30).ok
        tmp = Path(os.environ.get("TMPDIR", "/tmp"))
        for name, text in (("pm", PM), ("am", AM)):
            local = tmp / f"lavseg-standin-{os.getpid()}-{name}"
            local.write_text(text)
            try:
                dev.push(local, f"/usr/local/bin/{name}")
            finally:
                local.unlink()
            dev.shell(["chmod", "755", f"/usr/local/bin/{name}"], timeout=30).check("chmod stand-in")
        try:
            yield dev
        finally:
            ours = "/sdcard" if not had_sdcard else f"/sdcard/Android/data/{app.PACKAGE}"
            stale = ["/usr/local/bin/pm", "/usr/local/bin/am", STANDIN, ON_TOP, ours]
            with contextlib.suppress(DeviceError):  # a device already gone has nothing left to clean
                dev.shell(["rm", "-rf", *stale], timeout=60)


def _prepare(dev: adb.Device, bench_dir: Path | None, tmp: Path, *, installed: bool = True,
             report_edit: Callable[[dict], object] | None = None,
             outputs_edit: Callable[[np.ndarray], np.ndarray] | None = None, never_starts: bool = False) -> None:
    """Reset the stand-ins: what `am start` will deliver (None: nothing, ever), whether the app is installed and
    whether its start ever reaches bench mode."""
    dev.shell(["rm", "-rf", STANDIN, app.BENCH_DIR], timeout=60).check("reset stand-in state")
    dev.shell(["mkdir", "-p", f"{STANDIN}/prepared/outputs"], timeout=30).check("mkdir")
    if installed:
        dev.shell(["touch", f"{STANDIN}/installed"], timeout=30).check("touch")
    if never_starts:
        dev.shell(["touch", f"{STANDIN}/never_starts"], timeout=30).check("touch")
    if bench_dir is None:
        return
    report = json.loads((bench_dir / app.REPORT_FILE).read_text())
    if report_edit:
        report_edit(report)
    (tmp / app.REPORT_FILE).write_text(json.dumps(report))
    dev.push(tmp / app.REPORT_FILE, f"{STANDIN}/prepared/{app.REPORT_FILE}")
    for f in sorted((bench_dir / "outputs").glob("*.npy")):
        arr = np.load(f)
        if outputs_edit:
            arr = outputs_edit(arr)
        np.save(tmp / f.name, arr)
        dev.push(tmp / f.name, f"{STANDIN}/prepared/outputs/{f.name}")


def _run(exported: Path, tiny_ckpt: Path, tmp: Path, *extra: str) -> int:
    return bench(["--device", "arm64", "--runner", "app", "--serial", SERIAL, str(exported), "--checkpoint", str(tiny_ckpt),
                  "--report", str(tmp / "report"), "--step-timeout", "120", *extra])


def _report(tmp: Path) -> dict:
    from lightavseg_mobile.bench.schema import validate_report

    report = json.loads((tmp / "report" / "bench.json").read_text())
    validate_report(report)
    return report


def _one_line_error(err: str) -> str:
    lines = [ln for ln in err.splitlines() if not ln.startswith("[")]  # drop progress lines
    assert len(lines) == 1 and lines[0].startswith("error: ") and "Traceback" not in err, err
    return lines[0]


# --- the app runs and parity passes ---------------------------------------------------------------

@pytest.mark.slow
def test_app_runner_installs_runs_and_passes_parity(device: adb.Device, exported: Path, tiny_ckpt: Path, app_files: Path,
                                                    tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _prepare(device, app_files, tmp_path, installed=False)
    # A stale report from an earlier run must be deleted before bench mode starts, never read.
    stale = tmp_path / "stale.json"
    stale.write_text(json.dumps({"schema": app.APP_SCHEMA, "status": "error", "error": "stale"}))
    device.shell(["mkdir", "-p", app.BENCH_DIR], timeout=30).check("mkdir")
    device.push(stale, app.REPORT_PATH)
    apk = tmp_path / "stand-in.apk"
    apk.write_bytes(b"not an APK: the stand-in pm only records that it was installed")
    assert _run(exported, tiny_ckpt, tmp_path, "--app-apk", str(apk), "--warmup", "2", "--threads", "1") == 0, \
        capsys.readouterr().err
    report = _report(tmp_path)
    expected = json.loads((app_files / app.REPORT_FILE).read_text())
    (row,) = report["artifacts"]
    assert row["label"] == exported.name and row["sha256"] == expected["artifact"]["sha256"]
    assert report["protocol"]["runner"] == "app" and report["protocol"]["threads"] == 1
    assert row["runtime"]["name"] == "litert-android" and row["runtime"]["delegate"].startswith("cpu (xnnpack)")
    assert row["runtime"]["delegate_outcome"]["applied"] == "xnnpack"
    assert row["delegate"] == "xnnpack" and row["fallback"] is None  # runtime.delegate_outcome.applied
    lat = row["latency_ms"]
    assert lat["p50"] == pytest.approx(expected["latency_ms"]["p50"]) and lat["runs"] == expected["latency_ms"]["runs"] == 10
    assert lat["fps"] == pytest.approx(1000 / lat["p50"]) and row["cold_start_ms"] is None
    assert report["machine"]["execution"] == "emulated (qemu)" and report["extra"]["device"]["latency_conclusions"] is False
    parity = report["parity"][exported.name]
    assert parity["passed"] is True and parity["frames"] == 5 * CLIPS, parity
    assert parity["where"].startswith("outputs computed on the device")
    assert report["incomplete"] is False, report["incomplete_reason"]
    assert (tmp_path / "report" / "bench.md").read_text().startswith("# lavseg-bench: device")
    am_log = device.shell(["cat", f"{STANDIN}/am.log"], timeout=30).stdout
    assert am_log.startswith(f"start -S -W -n {app.ACTIVITY} --es mode bench --es delegate cpu --ei warmup 2 --ei threads 1")
    assert device.shell(["test", "-f", f"{STANDIN}/installed"], timeout=30).ok  # --app-apk went through pm install -r
    assert "no latency conclusions" in capsys.readouterr().out


@pytest.mark.slow
def test_wrong_outputs_from_the_app_fail_parity(device: adb.Device, exported: Path, tiny_ckpt: Path, app_files: Path,
                                                tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _prepare(device, app_files, tmp_path, outputs_edit=lambda a: -a)
    assert _run(exported, tiny_ckpt, tmp_path) == 3
    assert "failed the parity gate" in _one_line_error(capsys.readouterr().err)
    report = _report(tmp_path)
    assert report["parity"][exported.name]["passed"] is False and report["artifacts"][0]["latency_ms"]["runs"] == 10


@pytest.mark.slow
def test_second_run_starts_while_the_activity_is_still_on_top(device: adb.Device, exported: Path, tiny_ckpt: Path,
                                                              app_files: Path, tmp_path: Path,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    # An earlier run (e.g. --delegate cpu before --delegate gpu) left the activity on top: without -S, am only
    # brings it to the front and bench mode never starts.
    _prepare(device, app_files, tmp_path)
    device.shell(["touch", ON_TOP], timeout=30).check("touch")
    assert _run(exported, tiny_ckpt, tmp_path, "--step-timeout", "30") == 0, capsys.readouterr().err
    assert " -S " in device.shell(["cat", f"{STANDIN}/am.log"], timeout=30).stdout
    assert _report(tmp_path)["incomplete"] is False


@pytest.mark.slow
def test_gpu_fallback_is_read_from_the_apps_accounting(device: adb.Device, exported: Path, tiny_ckpt: Path,
                                                       app_files: Path, tmp_path: Path,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    reason = "gpu accepted the model but took none of its 40 operators"

    def edit(r: dict) -> None:
        # The label reads like the GPU ran; only the accounting says it did not.
        r["runtime"]["delegate"] = "gpu"
        r["runtime"]["delegate_outcome"].update(requested="gpu", applied="xnnpack", nodes_total=40, plan_nodes=40,
                                                nodes_delegated_min=0, fallback=True, reason=reason)
    _prepare(device, app_files, tmp_path, report_edit=edit)
    assert _run(exported, tiny_ckpt, tmp_path, "--delegate", "gpu") == 2
    assert "pass --allow-fallback" in _one_line_error(capsys.readouterr().err)
    assert device.shell(["cat", f"{STANDIN}/am.log"], timeout=30).stdout.count("--es delegate gpu") == 1
    _prepare(device, app_files, tmp_path, report_edit=edit)
    assert _run(exported, tiny_ckpt, tmp_path, "--delegate", "gpu", "--allow-fallback") == 0, capsys.readouterr().err
    (row,) = _report(tmp_path)["artifacts"]
    assert row["delegate"] == "xnnpack"
    assert row["fallback"] == {"from": "gpu", "to": "xnnpack", "reason": reason}


# --- faults: one line, exit != 0 ------------------------------------------------------------------

@pytest.mark.slow
def test_a_start_that_never_reaches_bench_mode_fails_in_bounded_time(device: adb.Device, exported: Path,
                                                                     tiny_ckpt: Path, app_files: Path, tmp_path: Path,
                                                                     capsys: pytest.CaptureFixture[str]) -> None:
    _prepare(device, app_files, tmp_path, never_starts=True)
    t0 = time.monotonic()
    assert _run(exported, tiny_ckpt, tmp_path, "--step-timeout", "300") == 2
    assert time.monotonic() - t0 < app.START_TIMEOUT + 60  # not the 300 s step timeout
    line = _one_line_error(capsys.readouterr().err)
    assert f"did not start within {app.START_TIMEOUT:g} s" in line and "bench_started" in line
    assert _report(tmp_path)["incomplete"] is True


@pytest.mark.slow
def test_model_sha_mismatch_is_exit_2(device: adb.Device, exported: Path, tiny_ckpt: Path, app_files: Path,
                                      tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _prepare(device, app_files, tmp_path, report_edit=lambda r: r["artifact"].update(sha256="ab" * 32))
    assert _run(exported, tiny_ckpt, tmp_path) == 2
    line = _one_line_error(capsys.readouterr().err)
    assert "sha256 abababababab" in line and "matches none of the artifacts given" in line and exported.name in line
    assert _report(tmp_path)["incomplete"] is True


@pytest.mark.slow
def test_app_not_installed_is_exit_2(device: adb.Device, exported: Path, tiny_ckpt: Path, tmp_path: Path,
                                     capsys: pytest.CaptureFixture[str]) -> None:
    _prepare(device, None, tmp_path, installed=False)
    assert _run(exported, tiny_ckpt, tmp_path) == 2
    line = _one_line_error(capsys.readouterr().err)
    assert f"{app.PACKAGE} is not installed" in line and "adb install -r" in line and "--app-apk" in line
    assert device.shell(["test", "-e", f"{STANDIN}/am.log"], timeout=30).exit_code == 1  # never started


@pytest.mark.slow
def test_report_never_written_times_out_with_an_incomplete_report(device: adb.Device, exported: Path, tiny_ckpt: Path,
                                                                  tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _prepare(device, None, tmp_path)
    t0 = time.monotonic()
    assert _run(exported, tiny_ckpt, tmp_path, "--step-timeout", "4") == 2
    assert time.monotonic() - t0 < 60
    line = _one_line_error(capsys.readouterr().err)
    assert "wrote no bench_report.json within 4 s" in line and "logcat" in line
    report = _report(tmp_path)
    assert report["incomplete"] is True and "DeviceTimeoutError" in report["incomplete_reason"]
    assert report["artifacts"] == [] and report["protocol"]["runner"] == "app"


@pytest.mark.slow
def test_app_error_status_is_one_line(device: adb.Device, exported: Path, tiny_ckpt: Path, app_files: Path,
                                      tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    msg = "This APK was built without the LiteRT library, so it cannot run the model"
    _prepare(device, app_files, tmp_path, report_edit=lambda r: r.update(status="error", error=msg, latency_ms=None, outputs=[]))
    assert _run(exported, tiny_ckpt, tmp_path) == 2
    assert msg in _one_line_error(capsys.readouterr().err)
    assert _report(tmp_path)["incomplete"] is True


# --- no device needed -----------------------------------------------------------------------------

@pytest.mark.parametrize("argv, message", [
    (["--runner", "benchmark-model"], "--runner benchmark-model needs --benchmark-binary"),
    (["--runner", "app", "--benchmark-binary", "x"], "--benchmark-binary is used by --runner benchmark-model only"),
    (["--app-apk", "x.apk"], "--app-apk is used by --runner app only"),
    (["--runner", "app", "--app-apk", "/nonexistent.apk"], "is not a file"),
])
def test_runner_flag_mistakes_are_one_line_exit_2(argv: list[str], message: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert bench(["--device", "arm64", "x.tflite", *argv]) == 2
    assert message in _one_line_error(capsys.readouterr().err)


def _good_report(**outcome: object) -> dict:
    return {"schema": app.APP_SCHEMA, "schema_version": 2, "producer": app.PRODUCER, "created": "t", "device": {},
            "runtime": {"name": "litert-android", "delegate": "gpu", "delegate_outcome": {
                "requested": "gpu", "applied": "gpu", "nodes_total": 40, "plan_nodes": 1, "nodes_delegated_min": 40,
                "partial": False, "fallback": False, "reason": None, **outcome}},
            "status": "ok", "artifact": {"sha256": "0" * 64},
            "latency_ms": {**{k: 1.0 for k in ("p50", "p90", "p99", "mean", "std", "min", "max")}, "runs": 5, "warmup": 1},
            "outputs": [{"clip": "c", "file": "outputs/c.npy", "tensor": "mask_logits", "dtype": "float32", "format": "npy",
                         "shape": [5, 1, 8, 8], "frames": 5}]}


def test_bench_start_command_force_stops_the_app_first() -> None:
    assert app.bench_start_command(["--es", "delegate", "gpu"]) == [
        "am", "start", "-S", "-W", "-n", app.ACTIVITY, "--es", "mode", "bench", "--es", "delegate", "gpu"]


class _FakeDevice:
    """Answers `am start` with canned text and `test -f` for the started marker; records the commands."""

    serial = "fake-serial"

    def __init__(self, am_out: str, marker_after: int | None) -> None:
        self.am_out = am_out
        self.marker_after = marker_after  # polls before the marker exists; None: never
        self.polls = 0
        self.commands: list[list[str]] = []

    def shell(self, args: list[str], timeout: float = 0) -> adb.ShellResult:
        self.commands.append(list(args))
        if args[0] == "am":
            return adb.ShellResult(0, self.am_out, "")
        assert args[:2] == ["test", "-f"] and args[2] == app.STARTED_PATH
        self.polls += 1
        found = self.marker_after is not None and self.polls > self.marker_after
        return adb.ShellResult(0 if found else 1, "", "")


def test_start_bench_checks_that_bench_mode_really_started(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(app, "POLL_SECONDS", 0.01)
    ok = "Stopping: org.lightavseg.demo\nStarting: Intent { cmp=org.lightavseg.demo/.MainActivity }\nStatus: ok\n"
    dev = _FakeDevice(ok, marker_after=3)
    app.start_bench(dev, [], timeout=10)  # type: ignore[arg-type]
    assert dev.commands[0][:4] == ["am", "start", "-S", "-W"] and dev.polls == 4
    # am exits 0 and prints a warning when the activity was on top: a failure, said at once.
    warned = _FakeDevice("Starting: Intent { ... }\nWarning: Activity not started, its current task has been brought "
                         "to the front\n", marker_after=0)
    with pytest.raises(DeviceError, match="Warning: Activity not started"):
        app.start_bench(warned, [], timeout=10)  # type: ignore[arg-type]
    assert warned.polls == 0
    # A start that never reaches bench mode: bounded by START_TIMEOUT, not by the step timeout.
    monkeypatch.setattr(app, "START_TIMEOUT", 0.2)
    never = _FakeDevice(ok, marker_after=None)
    t0 = time.monotonic()
    with pytest.raises(DeviceError, match=r"did not start within 0\.2 s .*am said: Status: ok"):
        app.start_bench(never, [], timeout=600)  # type: ignore[arg-type]
    assert time.monotonic() - t0 < 5


def test_delegate_fields_come_from_the_accounting_not_the_label() -> None:
    from lightavseg_mobile.bench.runners.app import delegate_fields
    from lightavseg_mobile.bench.runners.base import RunSettings
    from lightavseg_mobile.errors import UserError

    gpu = RunSettings(1, 1, 1, 1, "gpu", False)
    # The label says "gpu" and nothing about falling back; the accounting says the GPU took nothing.
    fell = _good_report(applied="xnnpack", plan_nodes=40, nodes_delegated_min=0, fallback=True, reason="took none")
    app.check_report(fell)
    with pytest.raises(UserError, match=r"did not run m\.tflite .*\(took none\); pass --allow-fallback"):
        delegate_fields(fell, gpu, "m.tflite", "s")
    used, fallback, details = delegate_fields(fell, RunSettings(1, 1, 1, 1, "gpu", True), "m.tflite", "s")
    assert used == "xnnpack" and fallback == {"from": "gpu", "to": "xnnpack", "reason": "took none"}
    assert details["nodes_total"] == 40 and details["fallback"] is True
    # The label's "fell back" text is no longer read: a partial GPU run is the GPU, with its counts.
    partial = _good_report(plan_nodes=6, nodes_delegated_min=35, partial=True)
    partial["runtime"]["delegate"] = "cpu (xnnpack) (gpu fell back)"
    used, fallback, details = delegate_fields(partial, gpu, "m.tflite", "s")
    assert used == "gpu" and fallback is None and details["partial"] is True and details["nodes_delegated_min"] == 35
    # Schema 1 has no accounting: nothing is guessed from its label.
    old = _good_report()
    old["schema_version"] = 1
    del old["runtime"]["delegate_outcome"]
    app.check_report(old)
    with pytest.raises(UserError, match="schema 1, which does not say whether 'gpu' ran"):
        delegate_fields(old, gpu, "m.tflite", "s")
    assert delegate_fields(old, RunSettings(1, 1, 1, 1, "cpu", False), "m.tflite", "s")[:2] == (None, None)


def test_app_report_checks_name_the_bad_field() -> None:
    good = {"schema": app.APP_SCHEMA, "schema_version": 1, "producer": app.PRODUCER, "created": "t", "device": {},
            "runtime": {"name": "litert-android"}, "status": "ok", "artifact": {"sha256": "0" * 64},
            "latency_ms": {**{k: 1.0 for k in ("p50", "p90", "p99", "mean", "std", "min", "max")}, "runs": 5, "warmup": 1},
            "outputs": [{"clip": "c", "file": "outputs/c.npy", "tensor": "mask_logits", "dtype": "float32", "format": "npy",
                         "shape": [5, 1, 8, 8], "frames": 5}]}
    app.check_report(good)
    for edit, message in ((lambda r: r["outputs"][0].update(file="../../x.npy"), "expected 'outputs/c.npy'"),
                          (lambda r: r["outputs"][0].update(clip="../c"), "not a plain, unique clip name"),
                          (lambda r: r["outputs"][0].update(shape=[4, 1, 8, 8]), "is not [frames=5, 1, H, W]"),
                          (lambda r: r.update(schema_version=3), "schema_version 3 is not one of 1, 2"),
                          (lambda r: r["latency_ms"].pop("p90"), "missing field 'latency_ms.p90'")):
        bad = json.loads(json.dumps(good))
        edit(bad)
        with pytest.raises(app.AppReportError, match=re.escape(message)):
            app.check_report(bad)
    v2 = _good_report()
    app.check_report(v2)
    for edit, message in ((lambda r: r["runtime"].pop("delegate_outcome"), "missing field 'runtime.delegate_outcome'"),
                          (lambda r: r["runtime"]["delegate_outcome"].update(fallback="no"),
                           "'runtime.delegate_outcome.fallback' must be bool"),
                          (lambda r: r["runtime"]["delegate_outcome"].update(nodes_total=True),
                           "'runtime.delegate_outcome.nodes_total' must be int or NoneType"),
                          (lambda r: r["runtime"]["delegate_outcome"].update(applied="npu"),
                           "applied is 'npu'; expected one of xnnpack, cpu, nnapi, gpu")):
        bad = json.loads(json.dumps(v2))
        edit(bad)
        with pytest.raises(app.AppReportError, match=re.escape(message)):
            app.check_report(bad)
