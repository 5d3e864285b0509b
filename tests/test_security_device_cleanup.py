"""Findings 5 and 6: a hung device runner is really killed (dash is the device's sh) and pgid 0/1 is never signalled;
upload folders left by interrupted pushes are swept. Unit tests with a recording fake device, then the emulated one."""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Iterator

import pytest
from conftest import EMULATED_SERIAL as SERIAL
from conftest import emulated_device_up

from lightavseg_mobile.device import adb
from lightavseg_mobile.device import runner_bundle as rb
from lightavseg_mobile.device.adb import ShellResult, kill_command


class FakeDevice:
    """Records shell argv; answers `cat runner.pid` with a given record and listings with given text."""

    serial = "fake"

    def __init__(self, pid_record: str = "", listing: str = "") -> None:
        self.pid_record = pid_record
        self.listing = listing
        self.calls: list[list[str]] = []
        self.removed: list[str] = []

    def shell(self, args, timeout=0.0, env=None):  # noqa: ANN001 - the Device.shell signature
        self.calls.append(list(args))
        if args[0] == "cat":
            return ShellResult(0, self.pid_record, "")
        if args[0] == "sh" and rb.INCOMING_PREFIX in args[2]:
            return ShellResult(0, self.listing, "")
        return ShellResult(0, "", "")

    def remove_tree(self, path: str) -> None:
        self.removed.append(path)


@pytest.mark.parametrize("record", ["4242 0\n", "4242 1\n", "0 0\n", "1 1\n", "4242 -1\n", "x y\n", "", "4242\n",
                                    "4242 4242; reboot\n", "99999999999 99999999999\n"])
def test_kill_runner_never_signals_pgid_0_or_1_or_garbage(record: str) -> None:
    dev = FakeDevice(record)
    rb.kill_runner(dev, f"{rb.DEVICE_TMP}/lavseg-run.abc")
    kills = [c for c in dev.calls if c[0] != "cat"]
    for call in kills:
        text = " ".join(call)
        assert "--" not in call and " -0" not in text and " -1" not in text and "reboot" not in text, call
        # a group kill only for a group the runner leads; the pid argument is a plain number > 1
        assert int(call[-1]) > 1


def test_kill_runner_kills_the_group_it_leads_without_double_dash() -> None:
    dev = FakeDevice("4242 4242\n")
    assert rb.kill_runner(dev, f"{rb.DEVICE_TMP}/lavseg-run.abc")
    script = dev.calls[-1]
    assert script[:2] == ["sh", "-c"] and 'kill -9 "-$1"' in script[2] and "--" not in script[2]
    assert script[-1] == "4242"
    # another process's group (the runner is not its leader): the pid alone
    assert kill_command("4242", "77") == ["sh", "-c", 'kill -9 "$1" 2>/dev/null; true', "sh", "4242"]
    assert kill_command(0, 0) is None and kill_command(1, 1) is None


def test_timed_out_command_with_pid_0_is_not_killed_as_a_group(monkeypatch) -> None:
    device = adb.Device.__new__(adb.Device)
    device.serial = "fake"
    monkeypatch.setattr(adb.Device, "_transport", lambda self, d: pytest.fail("pid 0 must not reach the device"))
    device._kill_group(0)
    device._kill_group(1)


def test_sweep_removes_dead_and_idle_uploads_keeps_live_ones() -> None:
    host = socket.gethostname()
    base = f"{rb.CACHE_DIR}/{rb.INCOMING_PREFIX}"
    listing = "\n".join([
        f"{base}aaa-1\t\t",                                    # idle 30+ min, no owner (an old tool, another host)
        f"{base}bbb-2\trecent\t{host} 999999999 x",           # this host, dead pid: interrupted push
        f"{base}ccc-3\trecent\t{host} {os.getpid()} x",       # our own push in another thread
        f"{base}ddd-4\trecent\tother-host 12 x",              # another host, still being written
        f"{rb.CACHE_DIR}/../../evil\t\t",                    # not an upload folder: never touched
    ]) + "\n"
    dev = FakeDevice(listing=listing)
    assert rb.sweep_incoming(dev) == [f"{base}aaa-1", f"{base}bbb-2"]
    assert dev.removed == [f"{base}aaa-1", f"{base}bbb-2"]


# --- the emulated device: dash as sh, a real adbd --------------------------------------------------

@pytest.fixture(scope="module")
def device() -> Iterator[adb.Device]:
    with emulated_device_up():
        yield adb.select_device(SERIAL)


_FAKE_RUNNER = """\
import os, subprocess, sys, time
os.setpgid(0, 0)
child = subprocess.Popen(["sleep", "300"])
with open(sys.argv[1] + "/runner.pid", "w") as f:
    f.write("%d %d\\n" % (os.getpid(), os.getpgid(0)))
time.sleep(300)
"""


def _alive(device: adb.Device, pgid: str) -> list[str]:
    # Killed processes the namespace's init has not reaped yet show as zombies (state Z): they are dead.
    out = device.shell(["ps", "-eo", "pgid=,pid=,stat=,args="], timeout=30).stdout
    return [line for line in out.splitlines() if line.split() and line.split()[0] == pgid
            and not line.split()[2].startswith("Z")]


@pytest.mark.slow
def test_hung_runner_and_its_children_are_killed_under_dash(device: adb.Device) -> None:
    assert "dash" in device.shell(["readlink", "-f", "/bin/sh"], timeout=30).stdout
    run = device.make_tempdir(rb.RUN_PREFIX)
    try:
        device.shell(["sh", "-c", 'nohup python3 -c "$1" "$2" </dev/null >/dev/null 2>&1 &', "sh", _FAKE_RUNNER, run],
                     timeout=30).check("start the fake runner")
        deadline = time.monotonic() + 60
        while not device.shell(["test", "-s", f"{run}/runner.pid"], timeout=30).ok:
            assert time.monotonic() < deadline, "the fake runner did not start"
            time.sleep(0.5)
        pid, pgid = device.shell(["cat", f"{run}/runner.pid"], timeout=30).stdout.split()
        assert pid == pgid and len(_alive(device, pgid)) >= 2  # the runner and its sleep child
        assert rb.kill_runner(device, run)
        deadline = time.monotonic() + 20
        while _alive(device, pgid) and time.monotonic() < deadline:
            time.sleep(0.5)
        assert _alive(device, pgid) == []
        assert device.shell(["true"], timeout=30).ok  # adbd survived
    finally:
        device.remove_tree(run)


@pytest.mark.slow
def test_interrupted_uploads_are_swept_on_the_device(device: adb.Device) -> None:
    base = f"{rb.CACHE_DIR}/{rb.INCOMING_PREFIX}"
    old, dead, live = f"{base}test-old-1", f"{base}test-dead-2", f"{base}test-live-3"
    host = socket.gethostname()
    device.shell(["sh", "-c", 'mkdir -p "$1/wheels" "$2" "$3" && head -c 1000000 /dev/zero > "$1/wheels/big.whl" && '
                  'touch -d "2 hours ago" "$1/wheels/big.whl" "$1/wheels" "$1" && '
                  'printf "%s" "$4" > "$2/.owner" && printf "%s" "$5" > "$3/.owner"',
                  "sh", old, dead, live, f"{host} 999999999 x\n", f"{host} {os.getpid()} x\n"], timeout=30).check("setup")
    try:
        removed = rb.sweep_incoming(device)
        assert old in removed and dead in removed and live not in removed
        assert not device.shell(["test", "-e", old], timeout=30).ok
        assert not device.shell(["test", "-e", dead], timeout=30).ok
        assert device.shell(["test", "-d", live], timeout=30).ok
    finally:
        for path in (old, dead, live):
            device.remove_tree(path)
