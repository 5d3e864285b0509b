"""End to end: bring the emulated arm64 device up and drive it through lightavseg_mobile.device.adb.

The device is tooling outside the package (tools/arm64_device).

The fixture runs the real CLI (deps, build, start). In CI a device that cannot be brought up is a
failure, never a skip; elsewhere the only accepted skip is not being root.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import EMULATED_SERIAL as SERIAL
from conftest import emulated_device_up, run_emulator
from conftest import emulator_must as must

from lightavseg_mobile.device import adb
from lightavseg_mobile.device.errors import DeviceError, DeviceTimeoutError
from tools.arm64_device.emulator import DEFAULT_PORT, NETNS
from tools.arm64_device.host import Paths

pytestmark = pytest.mark.slow  # brings the emulated arm64 device up (about a minute on first build)

TIMINGS: dict[str, float] = {}


def device_processes(paths: Paths) -> list[str]:
    """Live (non-zombie) host processes that belong to an emulated device."""
    found = []
    root = str(paths.root)
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if (entry / "stat").read_text().rsplit(")", 1)[1].split()[0] in ("Z", "X"):
                continue
            cmdline = (entry / "cmdline").read_bytes().replace(b"\x00", b" ").decode(errors="replace")
            exe = os.readlink(entry / "exe") if (entry / "exe").exists() else ""
            proc_root = os.readlink(entry / "root")
        except OSError:
            continue
        if (proc_root == root or "qemu-aarch64" in os.path.basename(exe)
                or f"/run/netns/{NETNS}" in cmdline or f"TCP-LISTEN:{DEFAULT_PORT}" in cmdline
                or "aarch64-binfmt" in cmdline):
            found.append(f"{entry.name}: {cmdline.strip()[:100]}")
    return found


@pytest.fixture(scope="module")
def device() -> Iterator[adb.Device]:
    """deps + build + start through the CLI (timed); stopped again at the end unless it was already running."""
    with emulated_device_up(TIMINGS):
        os.environ.pop("ANDROID_SERIAL", None)
        yield adb.select_device(SERIAL)
    print("\nemulated device timings: " + ", ".join(f"{k} {v:.2f}" for k, v in TIMINGS.items()))


def test_shell_exit_codes_and_streams(device: adb.Device) -> None:
    result = device.shell(["sh", "-c", "echo out; echo err >&2; exit 7"], timeout=30)
    assert (result.exit_code, result.stdout, result.stderr) == (7, "out\n", "err\n")
    assert device.shell(["true"], timeout=30).exit_code == 0
    assert device.shell(["false"], timeout=30).exit_code == 1
    missing = device.shell(["no-such-command-xyz"], timeout=30)
    assert missing.exit_code == 127 and "no-such-command-xyz" in missing.stderr
    assert device.shell(["printf", "%s|", "a b", "", "c"], timeout=30).stdout == "a b||c|"
    assert device.shell(["cat"], timeout=20).exit_code == 0  # stdin is closed, no hang
    with_env = device.shell(["sh", "-c", 'echo "$LAVSEG_T"'], timeout=30, env={"LAVSEG_T": "x y"})
    assert with_env.stdout == "x y\n"


def test_push_pull_round_trip_is_byte_exact(device: adb.Device, tmp_path: Path) -> None:
    data = random.Random(7).randbytes(1_500_000) + bytes(range(256))
    src, back = tmp_path / "blob.bin", tmp_path / "back.bin"
    src.write_bytes(data)
    remote_dir = device.make_tempdir()
    try:
        assert remote_dir.startswith("/data/local/tmp/lavseg.")
        assert device.push(src, remote_dir + "/") == len(data)
        remote = remote_dir + "/blob.bin"
        remote_sum = device.shell(["sha256sum", remote], timeout=60).check("sha256sum").stdout
        assert remote_sum.split()[0] == hashlib.sha256(data).hexdigest()
        assert device.pull(remote, back) == len(data)
        assert hashlib.sha256(back.read_bytes()).hexdigest() == hashlib.sha256(data).hexdigest()
        with pytest.raises(DeviceError):
            device.pull(remote_dir + "/missing.bin", tmp_path / "missing.bin")
        assert not (tmp_path / "missing.bin").exists()
        assert device.free_bytes(remote_dir) > len(data)
    finally:
        device.remove_tree(remote_dir)
    assert device.shell(["test", "-e", remote_dir], timeout=30).exit_code == 1


def test_facts_report_an_emulated_arm64_device(device: adb.Device) -> None:
    facts = device.facts()
    assert facts["emulated"] is True and facts["emulation_evidence"]
    assert facts["machine"] == "aarch64" and facts["cpu_abi"] == "arm64-v8a"
    assert facts["model"] == "lavseg-emulated-arm64" and facts["soc_model"]
    assert facts["board_platform"] and facts["android_release"] and facts["kernel"]
    assert isinstance(facts["cores"], int) and facts["cores"] >= 1
    assert device.shell(["uname", "-m"], timeout=30).stdout.strip() == "aarch64"
    cpuinfo = device.shell(["cat", "/proc/cpuinfo"], timeout=30).stdout
    assert "CPU implementer" in cpuinfo and "GenuineIntel" not in cpuinfo
    json.dumps(facts)  # provenance records store it as JSON


def test_device_runtimes_import(device: adb.Device) -> None:
    code = ("import numpy, onnxruntime; from ai_edge_litert import interpreter; "
            "print(numpy.__version__, onnxruntime.__version__)")
    result = device.shell(["python3", "-c", code], timeout=120)
    assert result.exit_code == 0, result.stderr
    assert result.stdout.split() == ["2.4.6", "1.32.0"]


def test_hostile_serial_and_paths_are_inert(device: adb.Device, tmp_path: Path) -> None:
    host_canary = tmp_path / "x"
    host_canary.mkdir()
    (host_canary / "canary").write_text("alive")
    with pytest.raises(DeviceError, match="not connected"):
        adb.select_device(f"{SERIAL}; rm -rf {host_canary}")
    with pytest.raises(DeviceError):
        adb.select_device(f"$(rm -rf {host_canary})")
    assert (host_canary / "canary").read_text() == "alive"

    base = device.make_tempdir("canary")
    canary = f"{base}/x"
    try:
        device.shell(["mkdir", "-p", canary], timeout=30).check("mkdir")
        device.shell(["touch", f"{canary}/canary"], timeout=30).check("touch")
        evil = f"{base}/d; rm -rf {canary}; $(rm -rf {canary}) `rm -rf {canary}`"
        device.shell(["mkdir", "-p", evil], timeout=30).check("mkdir evil")
        src = tmp_path / "payload.bin"
        src.write_bytes(b"payload")
        device.push(src, f"{evil}/f; rm -rf {canary}")
        device.pull(f"{evil}/f; rm -rf {canary}", tmp_path / "pulled.bin")
        assert (tmp_path / "pulled.bin").read_bytes() == b"payload"
        assert device.shell(["test", "-f", f"{evil}/f; rm -rf {canary}"], timeout=30).ok
        device.remove_tree(evil)
        assert device.shell(["test", "-f", f"{canary}/canary"], timeout=30).exit_code == 0
        with pytest.raises(DeviceError, match="refusing"):
            device.remove_tree(f"{base}/../../../../tmp")
    finally:
        device.remove_tree(base)


def test_timeout_is_typed_and_kills_the_command(device: adb.Device) -> None:
    t0 = time.monotonic()
    with pytest.raises(DeviceTimeoutError, match="timed out after 2 s"):
        device.shell(["sh", "-c", "sleep 40; echo late"], timeout=2)
    assert time.monotonic() - t0 < 10
    survivors = device.shell(["sh", "-c", "ps -eo args | grep '[s]leep 40' || true"], timeout=30)
    assert survivors.stdout.strip() == ""


def test_stop_cleans_up_and_cached_start_is_fast(device: adb.Device) -> None:
    paths = Paths.default()
    must(run_emulator("stop", timeout=60), "stop")
    status = json.loads(must(run_emulator("status", "--json", timeout=30), "status"))
    assert status["running"] is False and status["serial"] is None
    assert status["root_up_to_date"] is True
    assert device_processes(paths) == []
    assert not Path("/run/netns", NETNS).exists()
    if adb.server_running():  # stop ends the adb server too when its start launched it
        assert SERIAL not in [d.serial for d in adb.list_devices()]
    again = must(run_emulator("stop", timeout=60), "second stop")
    assert "not running" in again
    assert "up to date" in must(run_emulator("build", timeout=120), "cached build")

    t0 = time.monotonic()
    out = must(run_emulator("start", timeout=120), "restart")
    TIMINGS["cached_start_s"] = time.monotonic() - t0
    assert "started" in out
    assert TIMINGS["cached_start_s"] < 15.0  # target 5 s; generous for a loaded 2-core CI box
    assert "already running" in must(run_emulator("start", timeout=60), "idempotent start")
    status = json.loads(must(run_emulator("status", "--json", timeout=30), "status"))
    assert status["running"] is True and status["serial"] == SERIAL
    assert adb.select_device(SERIAL).shell(["echo", "ok"], timeout=30).stdout == "ok\n"
