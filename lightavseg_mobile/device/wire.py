"""adb service framing with a total deadline: shell v2 (exit code, split stderr) and sync push/pull.

adbutils opens the transport; the framing lives here because adbutils only has per-read socket
timeouts (a command that keeps printing would never time out) and no deadline on file transfers.
"""

from __future__ import annotations

import socket
import struct
import time
from collections.abc import Callable
from typing import BinaryIO, TypeVar

from adbutils import AdbConnection
from adbutils.errors import AdbError

from lightavseg_mobile.device.errors import DeviceError, DeviceTimeoutError

T = TypeVar("T")

_SHELL_STDOUT, _SHELL_STDERR, _SHELL_EXIT, _SHELL_CLOSE_STDIN = 1, 2, 3, 4
_SYNC_CHUNK = 64 * 1024  # the sync protocol's maximum DATA payload
_SYNC_MAX_PATH = 1024
_V1_EXIT_MARKER = "__LAVSEG_EXIT__:"
_PID_MARKER = "__LAVSEG_PID__:"


class Deadline:
    """A total time limit shared by every socket read and write of one operation."""

    def __init__(self, seconds: float, what: str) -> None:
        if seconds <= 0:
            raise ValueError(f"timeout must be > 0 s, got {seconds}")
        self.seconds = seconds
        self.what = what
        self.end = time.monotonic() + seconds

    def arm(self, sock: socket.socket) -> None:
        """Set the socket timeout to the time left; raise when none is left."""
        left = self.end - time.monotonic()
        if left <= 0:
            raise self.expired()
        sock.settimeout(left)

    def expired(self) -> DeviceTimeoutError:
        """Return the timeout error for this operation."""
        return DeviceTimeoutError(f"{self.what} timed out after {self.seconds:g} s")


def guarded(deadline: Deadline, action: Callable[[], T]) -> T:
    """Run `action`, mapping socket/adb failures to DeviceTimeoutError or DeviceError."""
    try:
        return action()
    except DeviceError:
        raise
    except (socket.timeout, TimeoutError):
        raise deadline.expired() from None
    except AdbError as exc:
        if "timeout" in type(exc).__name__.lower():
            raise deadline.expired() from None
        raise DeviceError(f"{deadline.what} failed: {exc}") from None
    except (EOFError, OSError) as exc:
        raise DeviceError(f"{deadline.what} failed: connection lost ({exc})") from None


def _read_exact(conn: AdbConnection, n: int, deadline: Deadline) -> bytes:
    """Read exactly n bytes before the deadline."""
    sock = conn.conn
    parts, got = [], 0
    while got < n:
        deadline.arm(sock)
        chunk = sock.recv(min(n - got, 1 << 20))
        if not chunk:
            raise EOFError(f"connection closed after {got} of {n} bytes")
        parts.append(chunk)
        got += len(chunk)
    return b"".join(parts)


def _send(conn: AdbConnection, data: bytes, deadline: Deadline) -> None:
    """Send all of `data` before the deadline."""
    deadline.arm(conn.conn)
    conn.conn.sendall(data)


def _open_service(conn: AdbConnection, service: str, deadline: Deadline) -> None:
    """Request a device service on an open transport and check the OKAY/FAIL answer."""
    payload = service.encode("utf-8")
    _send(conn, b"%04x" % len(payload) + payload, deadline)
    status = _read_exact(conn, 4, deadline)
    if status == b"FAIL":
        size = int(_read_exact(conn, 4, deadline), 16)
        message = _read_exact(conn, size, deadline).decode("utf-8", "replace")
        raise DeviceError(f"{deadline.what}: device refused '{service.split(':')[0]}': {message}")
    if status != b"OKAY":
        raise DeviceError(f"{deadline.what}: unexpected adb reply {status!r}")


def shell_v2(conn: AdbConnection, command: str, deadline: Deadline) -> tuple[int, bytes, bytes]:
    """Run `command` (already quoted) with shell protocol v2; return (exit code, stdout, stderr).

    The device shell first reports its pid on stderr (stripped here) and then execs the command,
    so on a timeout the error carries `remote_pid`: the command's process group on the device.
    """
    err = bytearray()

    def body() -> tuple[int, bytes, bytes]:
        _open_service(conn, f"shell,v2,raw:echo {_PID_MARKER}$$ >&2; exec {command}", deadline)
        # No input is ever sent: close stdin so a command that reads it sees EOF, not a hang.
        # Best effort: a command that already finished may have had its socket closed.
        try:
            _send(conn, bytes([_SHELL_CLOSE_STDIN]) + struct.pack("<I", 0), deadline)
        except OSError:
            pass
        out = bytearray()
        while True:
            header = _read_exact(conn, 5, deadline)
            kind, size = header[0], struct.unpack("<I", header[1:])[0]
            data = _read_exact(conn, size, deadline) if size else b""
            if kind == _SHELL_STDOUT:
                out += data
            elif kind == _SHELL_STDERR:
                err.extend(data)
            elif kind == _SHELL_EXIT:
                return (data[0] if data else 255), bytes(out), _split_pid(err)[1]

    try:
        return guarded(deadline, body)
    except DeviceTimeoutError as exc:
        exc.remote_pid = _split_pid(err)[0]
        raise


def _split_pid(err: bytes | bytearray) -> tuple[int | None, bytes]:
    """Split the leading pid report off a v2 stderr stream: (pid or None, the real stderr)."""
    marker = _PID_MARKER.encode()
    if not err.startswith(marker):
        return None, bytes(err)
    end = err.find(b"\n")
    if end < 0:
        return None, b""
    digits = bytes(err[len(marker):end])
    return (int(digits) if digits.isdigit() else None), bytes(err[end + 1:])


def shell_v1(conn: AdbConnection, command: str, deadline: Deadline) -> tuple[int, bytes, bytes]:
    """Fallback for devices without shell v2: exit code via a marker, stderr mixed into stdout."""

    def body() -> tuple[int, bytes, bytes]:
        _open_service(conn, f"shell:{command}; echo {_V1_EXIT_MARKER}$?", deadline)
        chunks = []
        while True:
            deadline.arm(conn.conn)
            chunk = conn.conn.recv(1 << 16)
            if not chunk:
                break
            chunks.append(chunk)
        output = b"".join(chunks).replace(b"\r\n", b"\n")
        at = output.rfind(_V1_EXIT_MARKER.encode())
        if at < 0:
            raise DeviceError(f"{deadline.what}: shell output lacks the exit-code marker")
        code = int(output[at + len(_V1_EXIT_MARKER):].strip() or b"255")
        return code, output[:at], b""

    return guarded(deadline, body)


def _sync_request(conn: AdbConnection, verb: bytes, arg: bytes, deadline: Deadline) -> None:
    """Send one sync request (verb, little-endian length, argument)."""
    _send(conn, verb + struct.pack("<I", len(arg)) + arg, deadline)


def _sync_path(remote: str) -> bytes:
    """Encode a remote path, rejecting ones the sync protocol cannot carry."""
    raw = remote.encode("utf-8")
    if len(raw) > _SYNC_MAX_PATH or "\x00" in remote:
        raise DeviceError(f"remote path is too long or contains NUL: {remote[:80]!r}")
    return raw


def sync_push(conn: AdbConnection, source: BinaryIO, remote: str, mode: int,
              deadline: Deadline) -> int:
    """Send a file to `remote` (parents are created by adbd); return the bytes sent."""

    def body() -> int:
        _open_service(conn, "sync:", deadline)
        spec = _sync_path(remote) + b",%d" % (0o100000 | (mode & 0o7777))
        _sync_request(conn, b"SEND", spec, deadline)
        total = 0
        while chunk := source.read(_SYNC_CHUNK):
            _send(conn, b"DATA" + struct.pack("<I", len(chunk)) + chunk, deadline)
            total += len(chunk)
        _send(conn, b"DONE" + struct.pack("<I", int(time.time())), deadline)
        reply = _read_exact(conn, 8, deadline)
        size = struct.unpack("<I", reply[4:])[0]
        if reply[:4] == b"FAIL":
            message = _read_exact(conn, size, deadline).decode("utf-8", "replace")
            raise DeviceError(f"{deadline.what}: {message}")
        if reply[:4] != b"OKAY":
            raise DeviceError(f"{deadline.what}: unexpected sync reply {reply[:4]!r}")
        _sync_request(conn, b"QUIT", b"", deadline)
        return total

    return guarded(deadline, body)


def sync_pull(conn: AdbConnection, remote: str, sink: BinaryIO, deadline: Deadline) -> int:
    """Receive `remote` into `sink`; return the bytes received."""

    def body() -> int:
        _open_service(conn, "sync:", deadline)
        _sync_request(conn, b"RECV", _sync_path(remote), deadline)
        total = 0
        while True:
            header = _read_exact(conn, 8, deadline)
            verb, size = header[:4], struct.unpack("<I", header[4:])[0]
            if verb == b"DATA":
                sink.write(_read_exact(conn, size, deadline))
                total += size
            elif verb == b"DONE":
                break
            elif verb == b"FAIL":
                message = _read_exact(conn, size, deadline).decode("utf-8", "replace")
                raise DeviceError(f"{deadline.what}: {message}")
            else:
                raise DeviceError(f"{deadline.what}: unexpected sync reply {verb!r}")
        _sync_request(conn, b"QUIT", b"", deadline)
        return total

    return guarded(deadline, body)
