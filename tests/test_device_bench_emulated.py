"""`--device arm64` against the emulated arm64 device: caching, delegates, Runner 2, and every fault.

A tiny hand-built ONNX "model" (frame + logmel -> mask_logits, a few ops) keeps each device run to
seconds under qemu; the real exported model is exercised by test_device_bench_e2e.py. In CI a
device that cannot be brought up fails these tests; elsewhere the only accepted skip is not being root.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import EMULATED_SERIAL as SERIAL, emulated_device_up

from lightavseg_mobile.bench import device_bench as bd
from lightavseg_mobile.bench.cli_device import serial_dirname
from lightavseg_mobile.bench.summary import human_summary
from lightavseg_mobile.device import adb
from lightavseg_mobile.device import runner_bundle as rb
from lightavseg_mobile.device.errors import DeviceError, DeviceTimeoutError
from lightavseg_mobile.errors import UserError
from tools.arm64_device.emulator import DEFAULT_PORT, DeviceState
from tools.arm64_device.host import Paths

pytestmark = pytest.mark.slow  # every test runs on the emulated arm64 device (qemu-user)

REPO = Path(__file__).resolve().parents[1]
FIX = Path(__file__).parent / "fixtures" / "benchmark_model"


@pytest.fixture(scope="module")
def device() -> Iterator[adb.Device]:
    """The emulated device, started through its CLI (left running if it already was)."""
    with emulated_device_up():
        os.environ.pop("ANDROID_SERIAL", None)
        yield adb.select_device(SERIAL)


def _save_onnx(graph, path: Path, module: str, inputs: list, outputs: list, preprocessing: dict) -> Path:
    """Write an opset-18 ONNX graph and its manifest beside it."""
    import onnx
    from onnx import helper

    from lightavseg_mobile.artifact.manifest import Manifest, artifact_sha256, manifest_path

    path.parent.mkdir(parents=True, exist_ok=True)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    model.ir_version = 9
    onnx.save(model, path)
    man = Manifest(artifact_file=path.name, artifact_sha256=artifact_sha256(path), artifact_size=path.stat().st_size,
                   format="onnx", precision="fp32", preset="lightavseg-tiny", module=module, inputs=inputs,
                   outputs=outputs, preprocessing=preprocessing)
    manifest_path(path).write_text(man.to_json())
    return path


def _make_model(folder: Path, name: str = "toy.onnx", scale: float = 0.5) -> Path:
    """A whole-model-shaped ONNX: mask_logits = conv1x1(frame) + mean(logmel), with its manifest."""
    from onnx import TensorProto, helper

    from lightavseg_mobile.artifact.manifest import TensorSpec

    w = helper.make_tensor("w", TensorProto.FLOAT, [1, 3, 1, 1], [scale, -scale, 0.25])
    nodes = [helper.make_node("Conv", ["frame", "w"], ["c"]),
             helper.make_node("ReduceMean", ["logmel"], ["m"], keepdims=1),
             helper.make_node("Reshape", ["m", "shape"], ["m1"]),
             helper.make_node("Add", ["c", "m1"], ["mask_logits"])]
    shape = helper.make_tensor("shape", TensorProto.INT64, [4], [1, 1, 1, 1])
    graph = helper.make_graph(nodes, "toy", [helper.make_tensor_value_info("frame", TensorProto.FLOAT, [1, 3, 224, 224]),
                                            helper.make_tensor_value_info("logmel", TensorProto.FLOAT, [1, 1, 96, 64])],
                              [helper.make_tensor_value_info("mask_logits", TensorProto.FLOAT, [1, 1, 224, 224])],
                              initializer=[w, shape])
    return _save_onnx(graph, folder / name, "model",
                      [TensorSpec("frame", [1, 3, 224, 224], "float32"), TensorSpec("logmel", [1, 1, 96, 64], "float32", "-")],
                      [TensorSpec("mask_logits", [1, 1, 224, 224], "float32")],
                      {"image": {"size": 224, "mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225]}})


def _make_head(folder: Path) -> Path:
    """A split-sub-model-shaped ONNX (module seg_head): mask_logits = conv1x1(decoder_map), with its manifest."""
    from onnx import TensorProto, helper

    from lightavseg_mobile.artifact.manifest import TensorSpec

    w = helper.make_tensor("w", TensorProto.FLOAT, [1, 4, 1, 1], [0.5, -0.5, 0.25, 0.1])
    graph = helper.make_graph([helper.make_node("Conv", ["decoder_map", "w"], ["mask_logits"])], "head",
                              [helper.make_tensor_value_info("decoder_map", TensorProto.FLOAT, [1, 4, 56, 56])],
                              [helper.make_tensor_value_info("mask_logits", TensorProto.FLOAT, [1, 1, 56, 56])],
                              initializer=[w])
    return _save_onnx(graph, folder / "toy.seg_head.onnx", "seg_head", [TensorSpec("decoder_map", [1, 4, 56, 56], "float32")],
                      [TensorSpec("mask_logits", [1, 1, 56, 56], "float32")], {})


@pytest.fixture(scope="module")
def toy(tmp_path_factory) -> Path:
    return _make_model(tmp_path_factory.mktemp("toy"))


def _opts(tmp: Path, **kw) -> bd.DeviceBenchOptions:
    kw.setdefault("max_clips", 1)
    kw.setdefault("cold_start", False)
    kw.setdefault("step_timeout", 300.0)
    return bd.DeviceBenchOptions(serial=SERIAL, report_dir=tmp / "report", progress=lambda s, m: None, **kw)


def _device_leftovers(device: adb.Device) -> tuple[list[str], str]:
    """Run dirs still on the device, and device_runner / benchmark processes still alive."""
    dirs = device.shell(["sh", "-c", 'ls -d /data/local/tmp/lavseg-run.* 2>/dev/null; true'], timeout=30).stdout.split()
    procs = device.shell(["sh", "-c", "ps -eo args | grep -e '[d]evice_runner' -e '[b]enchmark_model' || true"],
                         timeout=30).stdout.strip()
    return dirs, procs


def _report(tmp: Path) -> dict:
    from lightavseg_mobile.bench.schema import validate_report

    report = json.loads((tmp / "report" / "bench.json").read_text())
    validate_report(report)
    return report


# --- normal runs --------------------------------------------------------------------------------

def test_run_reports_facts_and_second_run_pushes_nothing(device: adb.Device, toy: Path, tmp_path: Path) -> None:
    device.shell(["rm", "-rf", rb.CACHE_DIR], timeout=60)
    head = _make_head(tmp_path / "head")
    first = bd.run_device_bench([toy, head], runs=2, warmup=1, opts=_opts(tmp_path), device=device)
    push = first["extra"]["device"]["push"]
    assert push["cached"] is False and push["pushed_files"] > 10 and push["pushed_bytes"] > 0
    m = first["machine"]
    assert m["kind"] == "device" and m["execution"] == "emulated (qemu)" and m["arch"] == "aarch64"
    assert m["device"]["model"] == "lavseg-emulated-arm64" and m["device"]["emulated"] is True
    assert m["libraries"]["onnxruntime"] == "1.32.0" and m["libraries"]["python"].startswith("3.13")
    assert first["extra"]["device"]["latency_conclusions"] is False and first["targets"] == []
    rows = {r["label"]: r for r in first["artifacts"]}
    assert set(rows) == {"toy.onnx", "toy.seg_head.onnx"} and rows["toy.seg_head.onnx"]["module"] == "seg_head"
    row = rows["toy.onnx"]
    assert row["runtime"]["name"] == "onnxruntime" and row["delegate"] == "cpu" and row["fallback"] is None
    assert row["latency_ms"]["runs"] == 2 and len(row["samples_ms"]) == 2 and row["latency_ms"]["p50"] > 0
    assert first["incomplete"] is False and {a["label"] for a in _report(tmp_path)["artifacts"]} == set(rows)
    assert "no latency conclusions" in human_summary(first)

    second = bd.run_device_bench([toy, head], runs=1, warmup=0, opts=_opts(tmp_path, cold_start=True), device=device)
    assert second["extra"]["device"]["push"] == {"path": push["path"], "cached": True, "pushed_files": 0, "pushed_bytes": 0}
    # Whole models and split sub-models alike: each cold-started in a fresh process on the device.
    for row in second["artifacts"]:
        assert row["cold_start_ms"] > 0 and row["peak_rss_mb"] > 10, row["label"]  # fresh python + numpy + ORT
    assert second["extra"]["device"]["run_dir_cleaned"] is True
    assert _device_leftovers(device) == ([], "")


def test_unavailable_delegate_fails_unless_fallback_allowed(device: adb.Device, toy: Path, tmp_path: Path) -> None:
    with pytest.raises(UserError, match=r"delegate 'nnapi' is unavailable for .*--allow-fallback"):
        bd.run_device_bench([toy], runs=1, warmup=0, opts=_opts(tmp_path, delegate="nnapi"), device=device)
    failed = _report(tmp_path)
    assert failed["incomplete"] and "unavailable" in failed["incomplete_reason"] and failed["artifacts"] == []
    ok = bd.run_device_bench([toy], runs=1, warmup=0, opts=_opts(tmp_path, delegate="nnapi", allow_fallback=True),
                             device=device)
    row = ok["artifacts"][0]
    assert row["delegate"] == "cpu" and row["fallback"]["from"] == "nnapi" and row["fallback"]["to"] == "cpu"
    assert "not available" in row["fallback"]["reason"]
    assert ok["protocol"]["delegate"] == "nnapi" and ok["protocol"]["allow_fallback"] is True


def _fake_benchmark_model(tmp: Path) -> Path:
    """A stand-in for LiteRT's benchmark_model: prints the fixture log, writes the fixture CSV."""
    log = (FIX / "xnnpack_full.log").read_text()
    csv = (FIX / "op_profile.csv").read_text()
    script = tmp / "benchmark_model"
    script.write_text(
        "#!/usr/bin/python3\n"
        "import os, sys\n"
        "args = dict(a[2:].split('=', 1) for a in sys.argv[1:] if a.startswith('--') and '=' in a)\n"
        "if not os.path.isfile(args.get('graph', '')):\n"
        "    print('ERROR: Could not open ' + args.get('graph', ''), file=sys.stderr); sys.exit(1)\n"
        f"LOG = {log!r}\nCSV = {csv!r}\n"
        "assert args['use_xnnpack'] == 'true' and args['op_profiling_output_mode'] == 'csv', args\n"
        "open(args['op_profiling_output_file'], 'w').write(CSV)\n"
        "sys.stderr.write(LOG)\n")
    script.chmod(0o755)
    return script


def test_benchmark_binary_runner_parses_into_the_report(device: adb.Device, tmp_path: Path) -> None:
    from lightavseg_mobile.artifact.manifest import Manifest, TensorSpec, artifact_sha256, manifest_path

    art = tmp_path / "arts" / "toy.int8.tflite"
    art.parent.mkdir()
    art.write_bytes(b"TFL3" + bytes(200))
    man = Manifest(artifact_file=art.name, artifact_sha256=artifact_sha256(art), artifact_size=204, format="tflite",
                   precision="int8", preset="lightavseg-tiny", module="model",
                   inputs=[TensorSpec("frame", [1, 3, 224, 224], "float32")],
                   outputs=[TensorSpec("mask_logits", [1, 1, 224, 224], "float32")], preprocessing={})
    manifest_path(art).write_text(man.to_json())
    report = bd.run_device_bench([art], runs=5, warmup=1, parity=True, device=device,
                                 opts=_opts(tmp_path, benchmark_binary=_fake_benchmark_model(tmp_path), delegate="xnnpack"))
    (row,) = report["artifacts"]
    assert row["runtime"]["tool"] == "benchmark_model" and row["delegate"] == "xnnpack" and row["fallback"] is None
    assert row["latency_ms"]["p50"] == pytest.approx(23.877) and row["latency_ms"]["runs"] == 5
    assert row["cold_start_ms"] == pytest.approx(41.207 + 31.544) and row["peak_rss_mb"] == pytest.approx(19.5703)
    assert [r["node_type"] for r in row["op_profile"]["run"]][:2] == ["QUANTIZE", "CONV_2D"]
    assert report["protocol"]["runner"] == "benchmark_model" and "benchmark_model" in report["machine"]["libraries"]
    # benchmark_model feeds random inputs: parity cannot be checked, and the report says so.
    assert report["incomplete"] and "parity not checked" in report["incomplete_reason"]
    with pytest.raises(UserError, match="runs .tflite only"):
        bd.run_device_bench([_make_model(tmp_path / "o")], device=device,
                            opts=_opts(tmp_path, benchmark_binary=_fake_benchmark_model(tmp_path)))


# --- faults -------------------------------------------------------------------------------------

def test_hang_hits_the_step_timeout_and_cleans_up(device: adb.Device, toy: Path, tmp_path: Path) -> None:
    # Under qemu the runner needs several seconds just to import numpy: a 2 s step limit is a hang.
    t0 = time.monotonic()
    with pytest.raises(DeviceTimeoutError, match="timed out after 2 s"):
        bd.run_device_bench([toy], runs=1, warmup=0, opts=_opts(tmp_path, step_timeout=2.0), device=device)
    assert time.monotonic() - t0 < 120
    report = _report(tmp_path)
    assert report["incomplete"] and "timed out" in report["incomplete_reason"]
    assert report["machine"]["device"]["serial"] == SERIAL  # facts are kept in the partial report
    assert [s["step"] for s in report["extra"]["device"]["steps"]][:2] == ["facts", "push"]
    assert report["extra"]["device"]["run_dir_cleaned"] is True
    assert _device_leftovers(device) == ([], "")


def test_unplugged_mid_run_keeps_partial_results_and_next_run_cleans(device: adb.Device, toy: Path,
                                                                     tmp_path: Path) -> None:
    def unplug(dev: adb.Device, run_dir: str) -> None:
        time.sleep(1.0)
        adb.client().disconnect(SERIAL)

    with pytest.raises(DeviceError) as err:
        bd.run_device_bench([toy], runs=1, warmup=0, device=device, opts=_opts(tmp_path, on_run_started=unplug))
    assert "\n" not in str(err.value)
    report = _report(tmp_path)
    assert report["incomplete"] and report["extra"]["device"]["run_dir_cleaned"] is False
    assert "could not be deleted" in report["incomplete_reason"]
    stale = report["extra"]["device"]["run_dir"]
    # Plug it back in: the next run removes what the interrupted one left.
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            adb.client().connect(SERIAL, timeout=5)
            if adb.Device(SERIAL).shell(["true"], timeout=10).ok:
                break
        except Exception:  # noqa: BLE001 - the transport is still coming back
            time.sleep(0.3)
    again = bd.run_device_bench([toy], runs=1, warmup=0, device=adb.Device(SERIAL), opts=_opts(tmp_path))
    assert stale in again["extra"]["device"]["stale_runs_removed"] and again["incomplete"] is False
    assert _device_leftovers(adb.Device(SERIAL)) == ([], "")


def _device_mount_ns_pid() -> int:
    state = DeviceState.load(Paths.default().state)
    assert state is not None
    return state.unshare_pid


def test_storage_full_is_one_line_and_pushes_nothing(device: adb.Device, toy: Path, tmp_path: Path) -> None:
    # A 4 MB file system over the device's /data/local/tmp, inside the device's own mount namespace.
    target = str(Paths.default().root / "data/local/tmp")
    pid = str(_device_mount_ns_pid())
    subprocess.run(["nsenter", "--mount", "--target", pid, "mount", "-t", "tmpfs", "-o", "size=4m,mode=1777", "tmpfs",
                    target], check=True, timeout=30)
    try:
        with pytest.raises(DeviceError, match=r"storage is full: .* MB free under /data/local/tmp/lavseg-cache") as err:
            bd.run_device_bench([toy], runs=1, warmup=0, device=device, opts=_opts(tmp_path))
        assert "\n" not in str(err.value)
        report = _report(tmp_path)
        assert report["incomplete"] and "storage is full" in report["incomplete_reason"]
        listing = device.shell(["sh", "-c", "ls -A /data/local/tmp/lavseg-cache"], timeout=30).stdout.split()
        assert listing == []
    finally:
        subprocess.run(["nsenter", "--mount", "--target", pid, "umount", "-l", target], timeout=30)


class _FakeAdbd:
    """A TCP peer that answers adb's CNXN with AUTH tokens forever: the server marks it unauthorized."""

    A_CNXN, A_AUTH = 0x4E584E43, 0x48545541

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(4)
        self.port = self.sock.getsockname()[1]
        self.stop = False
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        self.sock.settimeout(0.2)
        while not self.stop:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            threading.Thread(target=self._talk, args=(conn,), daemon=True).start()

    def _talk(self, conn: socket.socket) -> None:
        conn.settimeout(0.5)
        while not self.stop:
            try:
                head = conn.recv(24, socket.MSG_WAITALL)
                if len(head) < 24:
                    return
                cmd, arg0, _, length, _, _ = struct.unpack("<6I", head)
                if length:
                    conn.recv(length, socket.MSG_WAITALL)
                if cmd == self.A_CNXN or (cmd == self.A_AUTH and arg0 == 2):
                    token = os.urandom(20)
                    conn.sendall(struct.pack("<6I", self.A_AUTH, 1, 0, len(token), sum(token), self.A_AUTH ^ 0xFFFFFFFF)
                                 + token)
            except socket.timeout:
                continue
            except OSError:
                return

    def close(self) -> None:
        self.stop = True
        self.sock.close()


def _cli(*argv: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, PYTHONPATH=str(REPO), OMP_NUM_THREADS="1")
    env.pop("ANDROID_SERIAL", None)
    return subprocess.run([sys.executable, "-m", "lightavseg_mobile.bench.cli_bench", "--device", "arm64", *argv], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)


@pytest.mark.parametrize("kind", ["offline", "unauthorized"])
def test_offline_or_unauthorized_device_is_one_line(device: adb.Device, toy: Path, kind: str) -> None:
    fake = _FakeAdbd()
    if kind == "offline":
        fake.stop = True  # accepts the TCP connection, never speaks adb
    serial = f"127.0.0.1:{fake.port}"
    try:
        try:
            adb.client().connect(serial, timeout=3)
        except Exception:  # noqa: BLE001 - adb reports the failed handshake; the device is listed anyway
            pass
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            state = next((d.state for d in adb.list_devices() if d.serial == serial), None)
            if state == kind:
                break
            time.sleep(0.2)
        assert state == kind
        res = _cli(str(toy), "--serial", serial, timeout=120)
        assert res.returncode == 2
        lines = res.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: ") and f"is {kind}" in lines[0], res.stderr
        # Several devices and no serial: an error that lists them.
        res = _cli(str(toy), timeout=120)
        assert res.returncode == 2 and "several adb devices" in res.stderr and serial in res.stderr
    finally:
        adb.client().disconnect(serial)
        fake.close()


def test_hostile_serial_and_report_path_are_inert(device: adb.Device, toy: Path, tmp_path: Path) -> None:
    canary = tmp_path / "canary"
    canary.mkdir()
    (canary / "alive").write_text("yes")
    res = _cli(str(toy), "--serial", f"{SERIAL}; rm -rf {canary}", timeout=120)
    assert res.returncode == 2 and "not connected" in res.stderr and len(res.stderr.strip().splitlines()) == 1
    evil_report = tmp_path / f"r; rm -rf {canary}"
    res = _cli(str(toy), "--serial", "all", "--runs", "1", "--warmup", "0", "--no-cold-start", "--report",
               str(evil_report), "--device-clips", "1", timeout=300)
    assert res.returncode == 0, res.stderr
    assert (canary / "alive").read_text() == "yes"
    assert json.loads((evil_report / "bench.json").read_text())["machine"]["device"]["serial"] == SERIAL


def test_serial_all_runs_every_device_in_parallel_one_report_each(device: adb.Device, toy: Path, tmp_path: Path) -> None:
    # A second adb connection to the same emulated device under another serial: adb lists two devices,
    # so --serial all runs two benches at once (sharing the device's content-addressed cache).
    second = f"localhost:{DEFAULT_PORT}"
    adb.client().connect(second, timeout=10)
    try:
        serials = {d.serial for d in adb.list_devices() if d.state == "device"}
        assert {SERIAL, second} <= serials, serials
        res = _cli(str(toy), "--serial", "all", "--runs", "1", "--warmup", "0", "--no-cold-start", "--device-clips", "1",
                   "--report", str(tmp_path / "r"), "--json", timeout=600)
        assert res.returncode == 0, res.stderr[-2000:]
        for serial in (SERIAL, second):
            folder = tmp_path / "r" / serial_dirname(serial)
            report = json.loads((folder / "bench.json").read_text())
            assert report["machine"]["device"]["serial"] == serial and report["incomplete"] is False
        # Without a serial, several devices are an error that lists them.
        res = _cli(str(toy), "--runs", "1", timeout=120)
        assert res.returncode == 2 and SERIAL in res.stderr and second in res.stderr
        assert len(res.stderr.strip().splitlines()) == 1
    finally:
        adb.client().disconnect(second)


def test_ctrl_c_is_one_line_exit_130_and_cleans_the_device(device: adb.Device, toy: Path, tmp_path: Path) -> None:
    env = dict(os.environ, PYTHONPATH=str(REPO), OMP_NUM_THREADS="1")
    proc = subprocess.Popen([sys.executable, "-m", "lightavseg_mobile.bench.cli_bench", "--device", "arm64", str(toy), "--serial", SERIAL,
                             "--runs", "50", "--report", str(tmp_path / "report"), "--device-clips", "1"],
                            cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stderr is not None
    seen = []
    for line in proc.stderr:
        seen.append(line)
        if line.startswith("[run]"):
            break
    time.sleep(3.0)  # the runner is now importing or timing on the device
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, "".join(seen) + err
    tail = err.strip().splitlines()
    assert len(tail) == 1 and tail[0].startswith("error: interrupted") and "Traceback" not in err
    report = _report(tmp_path)
    assert report["incomplete"] and "interrupted" in report["incomplete_reason"]
    assert report["extra"]["device"]["run_dir_cleaned"] is True
    assert _device_leftovers(device) == ([], "")
