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
AM = f"""#!/bin/sh
# TEST STAND-IN for Android's activity manager (tests/test_device_app_runner.py); not Android's am.
echo "$*" >> {STANDIN}/am.log
[ "$1" = start ] || {{ echo "stand-in am: unsupported: $*" >&2; exit 1; }}
echo "Starting: Intent {{ cmp={app.ACTIVITY} (has extras) }}"
# Like the app: asynchronous after am returns, outputs first, the report renamed into place last.
# Nothing prepared = an app that never writes its report.
[ -f {STANDIN}/prepared/{app.REPORT_FILE} ] || exit 0
d={app.BENCH_DIR}
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
            stale = ["/usr/local/bin/pm", "/usr/local/bin/am", STANDIN, ours]
            with contextlib.suppress(DeviceError):  # a device already gone has nothing left to clean
                dev.shell(["rm", "-rf", *stale], timeout=60)


def _prepare(dev: adb.Device, bench_dir: Path | None, tmp: Path, *, installed: bool = True,
             report_edit: Callable[[dict], object] | None = None,
             outputs_edit: Callable[[np.ndarray], np.ndarray] | None = None) -> None:
    """Reset the stand-ins: what `am start` will deliver (None: nothing, ever) and whether the app is installed."""
    dev.shell(["rm", "-rf", STANDIN, app.BENCH_DIR], timeout=60).check("reset stand-in state")
    dev.shell(["mkdir", "-p", f"{STANDIN}/prepared/outputs"], timeout=30).check("mkdir")
    if installed:
        dev.shell(["touch", f"{STANDIN}/installed"], timeout=30).check("touch")
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
    assert row["runtime"]["name"] == "litert-android" and row["runtime"]["delegate"] == "cpu (xnnpack)"
    assert row["delegate"] == "xnnpack" and row["fallback"] is None  # the app's "cpu (xnnpack)" in our vocabulary
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
    assert am_log.startswith(f"start -W -n {app.ACTIVITY} --es mode bench --es delegate cpu --ei warmup 2 --ei threads 1")
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


# --- faults: one line, exit != 0 ------------------------------------------------------------------

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
                          (lambda r: r.update(schema_version=2), "schema_version 2 is not 1"),
                          (lambda r: r["latency_ms"].pop("p90"), "missing field 'latency_ms.p90'")):
        bad = json.loads(json.dumps(good))
        edit(bad)
        with pytest.raises(app.AppReportError, match=re.escape(message)):
            app.check_report(bad)
