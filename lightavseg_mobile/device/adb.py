"""A small typed adb wrapper: pick a device, run commands with real exit codes, move files, read facts."""

from __future__ import annotations

import os
import posixpath
import re
import shlex
import shutil
import socket
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import adbutils
from adbutils.errors import AdbError

from lightavseg_mobile.device import facts as facts_mod
from lightavseg_mobile.device import wire
from lightavseg_mobile.device.errors import DeviceError, DeviceTimeoutError
from lightavseg_mobile.io_atomic import atomic_path

DEVICE_TMP = "/data/local/tmp"
DEFAULT_TIMEOUT = 60.0
_PREFIX_OK = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
_ENV_NAME_OK = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_STATE_HINTS = {
    "unauthorized": "accept the 'Allow USB debugging' prompt on the phone (or revoke and replug), "
                    "then retry",
    "offline": "reconnect it (replug the cable or `adb reconnect`) and retry",
    "no permissions": "fix the udev rules for the phone's USB id (see `adb devices -l`) and retry",
    "authorizing": "wait a moment and retry",
    "connecting": "wait a moment and retry",
}


@dataclass(frozen=True)
class DeviceInfo:
    """One line of `adb devices`: serial and state ('device', 'offline', 'unauthorized', ...)."""

    serial: str
    state: str


@dataclass(frozen=True)
class ShellResult:
    """Outcome of a device command: its real exit code and separate stdout/stderr."""

    exit_code: int
    stdout: str
    stderr: str

    @property
    def ok(self) -> bool:
        """True when the command exited 0."""
        return self.exit_code == 0

    def check(self, what: str) -> ShellResult:
        """Return self, or raise DeviceError naming `what` when the command failed."""
        if not self.ok:
            detail = (self.stderr.strip() or self.stdout.strip() or "no output").splitlines()[-1]
            raise DeviceError(f"{what} failed on the device (exit {self.exit_code}): {detail}")
        return self


def quote_command(args: Sequence[str], env: Mapping[str, str] | None = None) -> str:
    """Join arguments into one device shell line where every argument stays a literal word."""
    if isinstance(args, (str, bytes)) or not isinstance(args, Sequence):
        raise TypeError("pass the command as a list of arguments, not one shell string")
    if not args:
        raise ValueError("empty command")
    words = []
    for arg in args:
        if not isinstance(arg, str):
            raise TypeError(f"command arguments must be str, got {type(arg).__name__}: {arg!r}")
        if "\x00" in arg:
            raise ValueError(f"command argument contains a NUL byte: {arg!r}")
        words.append(arg)
    prefix = []
    if env:
        prefix.append("env")
        for name, value in env.items():
            if not _ENV_NAME_OK.match(name):
                raise ValueError(f"invalid environment variable name {name!r}")
            prefix.append(f"{name}={value}")
    return " ".join(shlex.quote(word) for word in [*prefix, *words])


def choose_serial(devices: Sequence[DeviceInfo], requested: str | None,
                  env_serial: str | None) -> DeviceInfo:
    """Apply the selection rules: explicit serial, then ANDROID_SERIAL, then the only device."""
    listing = ", ".join(f"{d.serial} ({d.state})" for d in devices) or "none"
    wanted = requested or env_serial or None
    if wanted is not None:
        match = next((d for d in devices if d.serial == wanted), None)
        if match is None:
            origin = "ANDROID_SERIAL" if not requested else "serial"
            raise DeviceError(f"device {wanted!r} ({origin}) is not connected; connected: {listing}")
        chosen = match
    elif not devices:
        raise DeviceError(
            "no adb device connected: plug in a phone with USB debugging on, or start the emulated "
            "one with `make arm64-device` (python -m tools.arm64_device.emulator start)")
    elif len(devices) > 1:
        raise DeviceError(f"several adb devices connected ({listing}): pass a serial or set "
                          "ANDROID_SERIAL")
    else:
        chosen = devices[0]
    if chosen.state != "device":
        hint = _STATE_HINTS.get(chosen.state, "check `adb devices -l` and retry")
        raise DeviceError(f"device {chosen.serial!r} is {chosen.state}: {hint}")
    return chosen


def server_address() -> tuple[str, int]:
    """Return the adb server address (ANDROID_ADB_SERVER_HOST/PORT, default 127.0.0.1:5037)."""
    host = os.environ.get("ANDROID_ADB_SERVER_HOST", "127.0.0.1")
    port = int(os.environ.get("ANDROID_ADB_SERVER_PORT", "5037"))
    return host, port


def server_running() -> bool:
    """True when something accepts connections on the adb server port."""
    try:
        with socket.create_connection(server_address(), timeout=0.5):
            return True
    except OSError:
        return False


def ensure_server(timeout: float = 20.0) -> bool:
    """Start the adb server if needed; return True when this call started it."""
    if server_running():
        return False
    exe = shutil.which("adb")
    if exe is None:
        try:
            exe = adbutils.adb_path()
        except AdbError:
            raise DeviceError("no adb server and no adb binary: apt-get install adb") from None
    # The server daemonises; no pipes to it, or a caller reading our output would wait for it.
    try:
        proc = subprocess.run([exe, "start-server"], stdin=subprocess.DEVNULL,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                              timeout=timeout, start_new_session=True)
    except subprocess.TimeoutExpired:
        raise DeviceError(f"`adb start-server` did not finish within {timeout:g} s") from None
    if proc.returncode != 0 or not server_running():
        raise DeviceError(f"`{exe} start-server` failed (exit {proc.returncode}): check "
                          "`adb start-server` by hand")
    return True


def client() -> adbutils.AdbClient:
    """Return an adbutils client for the adb server (started if needed)."""
    ensure_server()
    host, port = server_address()
    return adbutils.AdbClient(host=host, port=port)


def list_devices() -> list[DeviceInfo]:
    """Return every device the adb server knows, in any state."""
    try:
        return [DeviceInfo(info.serial, info.state) for info in client().list()]
    except AdbError as exc:
        raise DeviceError(f"listing adb devices failed: {exc}") from None


def select_device(serial: str | None = None) -> Device:
    """Return the device to use: `serial`, else ANDROID_SERIAL, else the only connected one."""
    chosen = choose_serial(list_devices(), serial, os.environ.get("ANDROID_SERIAL"))
    return Device(chosen.serial)


def _is_under_tmp(path: str) -> bool:
    """True for a normalised absolute path strictly below /data/local/tmp."""
    return (path.startswith("/") and posixpath.normpath(path) == path
            and path.startswith(DEVICE_TMP + "/") and path != DEVICE_TMP + "/")


def kill_command(pid: object, pgid: object) -> list[str] | None:
    """argv that SIGKILLs process group `pgid` (else the process `pid`) on a device; None when neither is safe.

    Only a group the process leads (pgid == pid) is signalled as a group: a pgid of 0 (read inside a pid namespace),
    1, or someone else's group (adbd's) would take unrelated processes with it. The group form is `kill -9 -N`,
    without `--`, which dash (the emulated device's sh) rejects and toybox does not need."""
    def valid(value: object) -> int | None:
        text = str(value).strip()
        return int(text) if text.isdigit() and 1 < int(text) < 1 << 22 else None

    p, g = valid(pid), valid(pgid)
    if p is None:
        return None
    if g == p:
        # The group first (cold-start children too); the pid alone if the group is gone or not signalable.
        return ["sh", "-c", 'kill -9 "-$1" 2>/dev/null || kill -9 "$1" 2>/dev/null; true', "sh", str(p)]
    return ["sh", "-c", 'kill -9 "$1" 2>/dev/null; true', "sh", str(p)]


class Device:
    """One adb device, addressed by serial; every call has a total time limit."""

    def __init__(self, serial: str, adb_client: adbutils.AdbClient | None = None) -> None:
        self.serial = serial
        self._client = adb_client or client()
        self._adb = adbutils.AdbDevice(self._client, serial=serial)
        self._has_v2: bool | None = None

    def __repr__(self) -> str:
        return f"Device({self.serial!r})"

    def _transport(self, deadline: wire.Deadline) -> adbutils.AdbConnection:
        """Open a connection to this device through the adb server."""
        timeout = max(0.1, deadline.end - time.monotonic())
        return wire.guarded(deadline, lambda: self._adb.open_transport(timeout=timeout))

    def _supports_v2(self) -> bool:
        """True when adbd speaks shell protocol v2 (Android 7+; the emulated device does)."""
        if self._has_v2 is None:
            deadline = wire.Deadline(15.0, f"reading adb features of {self.serial}")
            features = wire.guarded(deadline, self._adb.get_features)
            self._has_v2 = "shell_v2" in str(features).split(",")
        return self._has_v2

    def shell(self, args: Sequence[str], timeout: float = DEFAULT_TIMEOUT,
              env: Mapping[str, str] | None = None) -> ShellResult:
        """Run one command (a list of literal arguments) and return its exit code and output."""
        command = quote_command(args, env)
        deadline = wire.Deadline(timeout, f"`{command[:120]}` on {self.serial}")
        run = wire.shell_v2 if self._supports_v2() else wire.shell_v1
        with self._transport(deadline) as conn:
            try:
                code, out, err = run(conn, command, deadline)
            except DeviceTimeoutError as exc:
                # Closing the socket does not stop the command on the device: kill its group
                # while the connection is still open so adbd also reaps it.
                if exc.remote_pid:
                    self._kill_group(exc.remote_pid)
                raise
        return ShellResult(code, out.decode("utf-8", "replace"), err.decode("utf-8", "replace"))

    def _kill_group(self, pid: int) -> None:
        """Best effort: SIGKILL a device process group (a timed-out command and its children)."""
        command = kill_command(pid, pid)
        if command is None:
            return  # pid 0/1 or garbage: `kill -9 -0` would take adbd's group, -1 every process
        deadline = wire.Deadline(10.0, f"killing process group {pid} on {self.serial}")
        try:
            with self._transport(deadline) as conn:
                wire.shell_v2(conn, quote_command(command), deadline)
        except DeviceError:
            pass

    def push(self, local: str | os.PathLike[str], remote: str, timeout: float | None = None) -> int:
        """Copy a local file to `remote` (a file path; a trailing '/' means into that dir)."""
        source = Path(local)
        if not source.is_file():
            raise DeviceError(f"cannot push {source}: not a file")
        if remote.endswith("/"):
            remote += source.name
        size = source.stat().st_size
        # Generous by default: slow USB 2 links and the emulated device run about 10 MB/s.
        limit = timeout if timeout is not None else 60.0 + size / 1e6
        deadline = wire.Deadline(limit, f"push {source} -> {self.serial}:{remote}")
        with source.open("rb") as handle, self._transport(deadline) as conn:
            mode = source.stat().st_mode & 0o777
            return wire.sync_push(conn, handle, remote, mode, deadline)

    def pull(self, remote: str, local: str | os.PathLike[str], timeout: float = 300.0) -> int:
        """Copy a device file to `local`, published atomically; return its size."""
        deadline = wire.Deadline(timeout, f"pull {self.serial}:{remote} -> {local}")
        with atomic_path(local) as tmp, tmp.open("wb") as sink, self._transport(deadline) as conn:
            size = wire.sync_pull(conn, remote, sink, deadline)
        return size

    def make_tempdir(self, prefix: str = "lavseg") -> str:
        """Create a fresh private directory under /data/local/tmp and return its path."""
        if not _PREFIX_OK.match(prefix):
            raise DeviceError(f"temp dir prefix {prefix!r} must match [A-Za-z0-9_.-]{{1,64}}")
        result = self.shell(["mktemp", "-d", f"{DEVICE_TMP}/{prefix}.XXXXXX"], timeout=30.0)
        path = result.check("mktemp -d").stdout.strip()
        if not _is_under_tmp(path):
            raise DeviceError(f"mktemp on {self.serial} returned an unexpected path {path!r}")
        return path

    def remove_tree(self, path: str) -> None:
        """Delete a directory tree; only paths strictly below /data/local/tmp are accepted."""
        if not _is_under_tmp(path):
            raise DeviceError(f"refusing to delete {path!r}: only normalised paths below "
                              f"{DEVICE_TMP}/ may be removed")
        self.shell(["rm", "-rf", "--", path], timeout=120.0).check(f"rm -rf {path}")

    def free_bytes(self, path: str = DEVICE_TMP) -> int:
        """Return the bytes available to this user on the filesystem holding `path`."""
        result = self.shell(["stat", "-f", "-c", "%a %S", path], timeout=30.0)
        fields = result.stdout.split()
        if result.ok and len(fields) == 2 and all(f.isdigit() for f in fields):
            return int(fields[0]) * int(fields[1])
        # Old toolboxes have no `stat -f`; df -k's 4th column is the available KiB.
        result = self.shell(["df", "-k", path], timeout=30.0).check(f"df -k {path}")
        rows = [line.split() for line in result.stdout.strip().splitlines()[1:]]
        if rows and len(rows[-1]) >= 4 and rows[-1][3].isdigit():
            return int(rows[-1][3]) * 1024
        raise DeviceError(f"cannot read free space of {path} on {self.serial}: {result.stdout!r}")

    def facts(self) -> dict[str, Any]:
        """Return model, SoC, ABI, release, kernel, cores, max freqs, thermal zones, emulated."""
        result = self.shell(["sh", "-c", facts_mod.PROBE_SCRIPT], timeout=60.0)
        try:
            found = facts_mod.parse_facts(result.stdout)
        except ValueError as exc:
            raise DeviceError(f"reading facts of {self.serial} failed: {exc}") from None
        return {"serial": self.serial, **found}
