"""Device-free tests of the adb wrapper: serial selection, quoting, facts parsing, wire framing."""

from __future__ import annotations

import io
import os
import shlex
import socket
import struct
import subprocess
import threading
import time
from pathlib import Path

import pytest

from lightavseg_mobile.device import facts, wire
from lightavseg_mobile.device.adb import (
    Device, DeviceInfo, ShellResult, choose_serial, quote_command,
)
from lightavseg_mobile.device.errors import DeviceError, DeviceTimeoutError, EmulatorError
from lightavseg_mobile.errors import UserError
from tools.arm64_device import emulator, recipe

EVIL = ["; rm -rf {c}", "$(rm -rf {c})", "`rm -rf {c}`", "a' ; rm -rf {c}; '", "x\n rm -rf {c}",
        "&& rm -rf {c}", "| rm -rf {c}", "*", "~", "$HOME", "-rf"]


# --- serial selection ---------------------------------------------------------------------------

def test_explicit_serial_wins_over_env_and_others() -> None:
    devices = [DeviceInfo("A", "device"), DeviceInfo("B", "device")]
    assert choose_serial(devices, "B", "A").serial == "B"


def test_env_serial_used_when_no_explicit_serial() -> None:
    devices = [DeviceInfo("A", "device"), DeviceInfo("B", "device")]
    assert choose_serial(devices, None, "A").serial == "A"


def test_single_device_is_chosen_without_serial() -> None:
    assert choose_serial([DeviceInfo("only", "device")], None, None).serial == "only"


def test_several_devices_without_serial_lists_them() -> None:
    devices = [DeviceInfo("A", "device"), DeviceInfo("B", "offline")]
    with pytest.raises(DeviceError) as err:
        choose_serial(devices, None, None)
    message = str(err.value)
    assert "A (device)" in message and "B (offline)" in message and "ANDROID_SERIAL" in message


def test_no_device_says_how_to_get_one() -> None:
    with pytest.raises(DeviceError, match="no adb device connected.*emulator start"):
        choose_serial([], None, None)


def test_unknown_serial_names_it_and_lists_connected() -> None:
    with pytest.raises(DeviceError, match=r"'Z' \(serial\) is not connected; connected: A \(device\)"):
        choose_serial([DeviceInfo("A", "device")], "Z", None)
    with pytest.raises(DeviceError, match=r"ANDROID_SERIAL"):
        choose_serial([DeviceInfo("A", "device")], None, "Z")


@pytest.mark.parametrize(("state", "hint"), [("unauthorized", "Allow USB debugging"),
                                             ("offline", "reconnect"),
                                             ("recovery", "adb devices -l")])
def test_unusable_states_give_clear_errors(state: str, hint: str) -> None:
    with pytest.raises(DeviceError, match=f"is {state}: .*{hint}"):
        choose_serial([DeviceInfo("S", state)], None, None)
    with pytest.raises(DeviceError, match=f"is {state}"):
        choose_serial([DeviceInfo("S", state), DeviceInfo("T", "device")], "S", None)


def test_device_error_is_a_user_error() -> None:
    assert issubclass(DeviceError, UserError) and issubclass(DeviceTimeoutError, DeviceError)
    assert issubclass(EmulatorError, DeviceError)


# --- quoting ------------------------------------------------------------------------------------

@pytest.mark.parametrize("template", EVIL)
def test_quote_command_keeps_every_argument_one_word(template: str) -> None:
    args = ["echo", template.format(c="/tmp/x"), "plain"]
    assert shlex.split(quote_command(args)) == args


def test_quoted_command_cannot_run_injected_code(tmp_path) -> None:
    canary = tmp_path / "canary"
    canary.mkdir()
    (canary / "keep").write_text("alive")
    args = ["printf", "%s\\n", *(t.format(c=canary) for t in EVIL)]
    # The same /bin/sh -c that adbd runs the command line with.
    out = subprocess.run(["sh", "-c", quote_command(args)], capture_output=True, text=True,
                         cwd=tmp_path, check=True).stdout
    assert (canary / "keep").read_text() == "alive"
    assert out == "".join(t.format(c=canary) + "\n" for t in EVIL)


def test_quote_command_rejects_strings_and_bad_values() -> None:
    with pytest.raises(TypeError, match="list of arguments"):
        quote_command("echo hi")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        quote_command(["echo", 3])  # type: ignore[list-item]
    with pytest.raises(ValueError, match="NUL"):
        quote_command(["echo", "a\x00b"])
    with pytest.raises(ValueError, match="empty"):
        quote_command([])
    with pytest.raises(ValueError, match="environment variable name"):
        quote_command(["true"], env={"A;rm": "1"})


def test_quote_command_env_prefix() -> None:
    line = quote_command(["python3", "-V"], env={"OMP_NUM_THREADS": "1", "X": "a b"})
    assert shlex.split(line) == ["env", "OMP_NUM_THREADS=1", "X=a b", "python3", "-V"]


def test_shell_result_check() -> None:
    assert ShellResult(0, "x", "").check("ok-cmd").stdout == "x"
    with pytest.raises(DeviceError, match=r"thing failed on the device \(exit 2\): bad"):
        ShellResult(2, "", "warn\nbad\n").check("thing")


def test_remove_tree_refuses_paths_outside_device_tmp() -> None:
    import adbutils

    # A client pointing at a closed port: validation must fail before any connection is tried.
    device = Device("fake", adbutils.AdbClient(host="127.0.0.1", port=1))
    for bad in ["/", "/data/local/tmp", "/data/local/tmp/", "/data/local/tmp/../../etc",
                "data/local/tmp/x", "/data/local/tmp/a/../../b", "/sdcard/x"]:
        with pytest.raises(DeviceError, match="refusing to delete"):
            device.remove_tree(bad)
    with pytest.raises(DeviceError, match="prefix"):
        device.make_tempdir("a b; rm")


# --- facts parsing ------------------------------------------------------------------------------

PHONE_OUTPUT = """\
@@props
[ro.product.model]: [SM-S938B]
[ro.soc.model]: [SM8750]
[ro.board.platform]: [sun]
[ro.product.cpu.abi]: [arm64-v8a]
[ro.build.version.release]: [15]
[ro.build.version.sdk]: [35]
[ro.hardware]: [qcom]
@@uname_r
6.6.30-android15-8
@@uname_m
aarch64
@@cores
8
@@freq
/sys/devices/system/cpu/cpu0/cpufreq/cpuinfo_max_freq 3532800
/sys/devices/system/cpu/cpu6/cpufreq/cpuinfo_max_freq 4320000
@@thermal
41200 cpu-0-0
-1 sdm-therm
@@hardware
@@end
"""


def test_parse_facts_of_a_real_phone() -> None:
    got = facts.parse_facts(PHONE_OUTPUT)
    assert got["model"] == "SM-S938B" and got["soc_model"] == "SM8750"
    assert got["board_platform"] == "sun" and got["cpu_abi"] == "arm64-v8a"
    assert got["android_release"] == "15" and got["android_sdk"] == "35"
    assert got["kernel"] == "6.6.30-android15-8" and got["machine"] == "aarch64"
    assert got["cores"] == 8
    assert got["cpu_max_freq_khz"] == [3532800, 4320000]
    assert got["thermal_zones"] == [{"type": "cpu-0-0", "temp_millicelsius": 41200},
                                    {"type": "sdm-therm", "temp_millicelsius": -1}]
    assert got["emulated"] is False and got["emulation_evidence"] == []


def test_parse_facts_of_the_emulated_device() -> None:
    props = "".join(f"[{k}]: [{v}]\n" for k, v in recipe.BUILD_PROPS)
    text = (f"@@props\n{props}@@uname_r\n6.1.0\n@@uname_m\naarch64\n@@cores\n2\n@@freq\n"
            "@@thermal\n@@hardware\nHardware\t: QEMU emulated neoverse-n1\n@@end\n")
    got = facts.parse_facts(text)
    assert got["emulated"] is True
    assert "ro.kernel.qemu=1" in got["emulation_evidence"]
    assert got["model"] == recipe.DEVICE_MODEL and got["cpu_abi"] == "arm64-v8a"
    assert got["cpu_max_freq_khz"] is None and got["thermal_zones"] is None


def test_parse_facts_rejects_truncated_output() -> None:
    with pytest.raises(ValueError, match="truncated"):
        facts.parse_facts("@@props\n[ro.product.model]: [x]\n")


def test_android_emulator_is_detected_from_props_alone() -> None:
    assert facts.emulation_evidence({"ro.hardware": "ranchu"}) == ["ro.hardware=ranchu"]
    assert facts.emulation_evidence({"ro.product.model": "Pixel 9"}) == []


def test_getprop_script_matches_android_format(tmp_path) -> None:
    prop_file = tmp_path / "build.prop"
    prop_file.write_text(recipe.build_prop_text())
    script = tmp_path / "getprop"
    script.write_text(recipe.GETPROP_SCRIPT.replace("/system/build.prop", str(prop_file)))

    def getprop(*args: str) -> str:
        return subprocess.run(["sh", str(script), *args], capture_output=True, text=True,
                              check=True).stdout

    assert getprop("ro.product.cpu.abi") == "arm64-v8a\n"
    assert getprop("ro.missing") == "\n"
    assert getprop("ro.missing", "fallback") == "fallback\n"
    assert facts.parse_getprop(getprop()) == dict(recipe.BUILD_PROPS)


# --- recipe and emulator pure logic -------------------------------------------------------------

def test_recipe_hash_is_stable_and_tracks_content() -> None:
    base = recipe.Recipe()
    assert base.hash() == recipe.Recipe().hash()
    changed = recipe.Recipe(wheels=base.wheels[:-1] + ("typing_extensions==4.12.2",))
    assert changed.hash() != base.hash()
    assert recipe.Recipe(packages=base.packages + ("mawk",)).hash() != base.hash()


def test_cpu_files() -> None:
    assert recipe.cpu_list(1) == "0\n" and recipe.cpu_list(8) == "0-7\n"
    text = recipe.cpuinfo_text(3)
    assert text.count("processor\t:") == 3 and "CPU part\t: 0xd0c" in text


@pytest.mark.parametrize("port", [5555, 5570, 5585, 80])
def test_bridge_port_rejects_adb_scanned_and_privileged_ports(port: int) -> None:
    with pytest.raises(EmulatorError, match="5555-5585|out of range"):
        emulator.check_port(port)


def test_bridge_port_busy_is_reported() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        with pytest.raises(EmulatorError, match=f"127.0.0.1:{port} is already in use"):
            emulator.check_port(port)
        assert emulator.listening(os.getpid(), port)


def test_process_identity_survives_only_for_live_processes() -> None:
    start = emulator.proc_start_time(os.getpid())
    assert start and emulator.same_process(os.getpid(), start)
    assert not emulator.same_process(os.getpid(), str(int(start) + 1))
    child = subprocess.Popen(["sleep", "0.2"])
    child_start = emulator.proc_start_time(child.pid)
    assert child_start and emulator.same_process(child.pid, child_start)
    stat = Path(f"/proc/{child.pid}/stat")
    deadline = time.monotonic() + 10
    while stat.read_text().rsplit(")", 1)[1].split()[0] != "Z" and time.monotonic() < deadline:
        time.sleep(0.02)
    # Exited but not yet reaped: a zombie must not count as running.
    assert not emulator.same_process(child.pid, child_start)
    child.wait()
    assert emulator.proc_start_time(child.pid) is None


# --- wire framing against a fake adb server -----------------------------------------------------

class FakeConn:
    """The one attribute wire uses of adbutils.AdbConnection: the socket."""

    def __init__(self, sock: socket.socket) -> None:
        self.conn = sock


def _serve(script) -> tuple[FakeConn, threading.Thread, list[bytes]]:
    """Run `script(server_socket, received)` in a thread; return the client side."""
    client_sock, server_sock = socket.socketpair()
    received: list[bytes] = []

    def target() -> None:
        with server_sock:
            script(server_sock, received)

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    return FakeConn(client_sock), thread, received


def _read_request(sock: socket.socket) -> bytes:
    size = int(_recv_exact(sock, 4), 16)
    return _recv_exact(sock, size)


def _recv_exact(sock: socket.socket, n: int) -> bytes:
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        assert chunk, "client closed early"
        data += chunk
    return data


def _packet(kind: int, data: bytes) -> bytes:
    return bytes([kind]) + struct.pack("<I", len(data)) + data


def test_shell_v2_splits_streams_and_strips_pid_report() -> None:
    def script(sock: socket.socket, received: list[bytes]) -> None:
        received.append(_read_request(sock))
        sock.sendall(b"OKAY" + _packet(2, b"__LAVSEG_PID__:4242\nwar") + _packet(1, b"out")
                     + _packet(2, b"n\n") + _packet(3, b"\x07"))

    conn, thread, received = _serve(script)
    code, out, err = wire.shell_v2(conn, "echo 'a b'", wire.Deadline(5, "t"))
    thread.join()
    assert (code, out, err) == (7, b"out", b"warn\n")
    assert received[0] == b"shell,v2,raw:echo __LAVSEG_PID__:$$ >&2; exec echo 'a b'"


def test_shell_v2_timeout_reports_remote_pid() -> None:
    release = threading.Event()

    def script(sock: socket.socket, received: list[bytes]) -> None:
        _read_request(sock)
        sock.sendall(b"OKAY" + _packet(2, b"__LAVSEG_PID__:77\n") + _packet(1, b"tick"))
        release.wait(5)

    conn, thread, _ = _serve(script)
    t0 = time.monotonic()
    with pytest.raises(DeviceTimeoutError, match="timed out after 0.3 s") as err:
        wire.shell_v2(conn, "sleep 9", wire.Deadline(0.3, "sleep"))
    assert time.monotonic() - t0 < 2.0
    assert err.value.remote_pid == 77
    release.set()
    thread.join()


def test_refused_service_is_a_device_error() -> None:
    def script(sock: socket.socket, received: list[bytes]) -> None:
        _read_request(sock)
        sock.sendall(b"FAIL" + b"%04x" % 6 + b"closed")

    conn, thread, _ = _serve(script)
    with pytest.raises(DeviceError, match="refused 'shell,v2,raw': closed"):
        wire.shell_v2(conn, "true", wire.Deadline(5, "x"))
    thread.join()


def test_sync_push_and_pull_framing() -> None:
    payload = bytes(range(256)) * 600  # more than one 64 KiB chunk

    def push_script(sock: socket.socket, received: list[bytes]) -> None:
        assert _read_request(sock) == b"sync:"
        sock.sendall(b"OKAY")
        stream = b""
        while True:  # SEND/DATA/DONE frames: 4-byte verb + length (+ payload, except DONE)
            header = _recv_exact(sock, 8)
            stream += header
            if header[:4] == b"DONE":
                break
            stream += _recv_exact(sock, struct.unpack("<I", header[4:])[0])
        sock.sendall(b"OKAY\x00\x00\x00\x00")
        stream += _recv_exact(sock, 8)  # QUIT
        received.append(stream)

    conn, thread, received = _serve(push_script)
    sent = wire.sync_push(conn, io.BytesIO(payload), "/data/local/tmp/a,b", 0o644,
                          wire.Deadline(5, "push"))
    conn.conn.close()
    thread.join()
    stream = received[0]
    spec = b"/data/local/tmp/a,b,%d" % (0o100644)
    assert sent == len(payload)
    assert stream.startswith(b"SEND" + struct.pack("<I", len(spec)) + spec)
    body, pos = b"", 8 + len(spec)
    while stream[pos:pos + 4] == b"DATA":
        size = struct.unpack("<I", stream[pos + 4:pos + 8])[0]
        assert size <= 64 * 1024
        body += stream[pos + 8:pos + 8 + size]
        pos += 8 + size
    assert body == payload and stream[pos:pos + 4] == b"DONE"
    assert stream.endswith(b"QUIT\x00\x00\x00\x00")

    def pull_script(sock: socket.socket, received: list[bytes]) -> None:
        assert _read_request(sock) == b"sync:"
        sock.sendall(b"OKAY")
        header = _recv_exact(sock, 8)
        received.append(_recv_exact(sock, struct.unpack("<I", header[4:])[0]))
        for i in range(0, len(payload), 50000):
            part = payload[i:i + 50000]
            sock.sendall(b"DATA" + struct.pack("<I", len(part)) + part)
        sock.sendall(b"DONE\x00\x00\x00\x00")
        sock.recv(8)

    conn, thread, received = _serve(pull_script)
    sink = io.BytesIO()
    assert wire.sync_pull(conn, "/x; rm -rf /", sink, wire.Deadline(5, "pull")) == len(payload)
    thread.join()
    assert sink.getvalue() == payload and received[0] == b"/x; rm -rf /"


def test_sync_pull_failure_message() -> None:
    def script(sock: socket.socket, received: list[bytes]) -> None:
        _read_request(sock)
        sock.sendall(b"OKAY")
        sock.recv(64)
        sock.sendall(b"FAIL" + struct.pack("<I", 14) + b"No such file!!")

    conn, thread, _ = _serve(script)
    with pytest.raises(DeviceError, match="No such file!!"):
        wire.sync_pull(conn, "/nope", io.BytesIO(), wire.Deadline(5, "pull /nope"))
    thread.join()


def test_deadline_rejects_nonpositive() -> None:
    with pytest.raises(ValueError):
        wire.Deadline(0, "x")


@pytest.mark.parametrize("command", ["deps", "build", "start", "stop"])
def test_cli_without_root_is_one_line_error(command: str, monkeypatch, capsys) -> None:
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    assert emulator.main([command]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith(f"error: emulator {command} needs root")
    assert "Traceback" not in err


def test_failing_host_command_is_one_line_error() -> None:
    from tools.arm64_device.host import run

    with pytest.raises(EmulatorError) as err:
        run(["sh", "-c", "echo noise; echo boom >&2; exit 3"], what="step x", fix="do y")
    assert str(err.value) == "step x failed (exit 3): boom; do y"
    with pytest.raises(EmulatorError, match="not-a-real-tool-xyz not found; do y"):
        run(["not-a-real-tool-xyz"], what="step z", fix="do y")


def test_cache_paths_follow_xdg_cache_home(monkeypatch, tmp_path) -> None:
    from tools.arm64_device.host import Paths

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    paths = Paths.default()
    assert paths.root == tmp_path / "lightavseg" / "arm64-root"
    assert paths.stamp == paths.root / "etc" / "lavseg" / "stamp.json"
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert Paths.default().cache == Path.home() / ".cache" / "lightavseg"


def test_error_line_prefers_apt_errors() -> None:
    from tools.arm64_device.host import last_line

    assert last_line("I: start\nE: Failed to fetch X\nE: mmdebstrap failed\n") == "E: Failed to fetch X"
    assert last_line(b"one\n two \n\n") == "two"
    assert last_line("") == "(no output)"
