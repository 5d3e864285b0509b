"""Run an emulated arm64 "phone": an isolated adbd in a qemu-user chroot, reachable over adb.

    python -m tools.arm64_device.emulator {deps,build,start,stop,status [--json]}   (from the repository root)
    python tools/arm64_device/emulator.py ...                                        (from anywhere)
    make arm64-device / make arm64-device-stop

The device is a Debian trixie arm64 root (see rootfs.py) whose adbd runs in its own network, pid
and mount namespaces; socat bridges 127.0.0.1:15555 on the host into the namespace's port 5555.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

if not __package__:  # run as a script (python tools/arm64_device/emulator.py): import from the repository root
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from lightavseg_mobile.device.errors import DeviceError, EmulatorError  # noqa: E402
from lightavseg_mobile.errors import UserError  # noqa: E402
from lightavseg_mobile.io_atomic import write_text_atomic  # noqa: E402
from tools.arm64_device import recipe as rc  # noqa: E402
from tools.arm64_device import rootfs  # noqa: E402
from tools.arm64_device.host import (  # noqa: E402
    Paths, ensure_binfmt, ensure_deps, last_line, locked, require_commands, require_root, run,
)

NETNS = "lavseg-phone"
DEFAULT_PORT = 15555
# The adb server probes 5555-5585 for emulators; a bridge there makes the device appear twice.
ADB_PROBED_PORTS = range(5555, 5586)
START_TIMEOUT = 30.0

# Runs as pid 1 of the new pid namespace, inside a private mount namespace, before adbd.
_LAUNCHER = r"""
set -e
r="$1"; shift
mount -t devpts -o newinstance,ptmxmode=0666,mode=0620 devpts "$r/dev/pts"
mount -t tmpfs -o mode=1777,size=512m tmpfs "$r/dev/shm"
mount --bind "$r/etc/lavseg/cpuinfo" "$r/proc/cpuinfo"
cat "$r/etc/hostname" > /proc/sys/kernel/hostname
exec "$@"
"""


@dataclass(frozen=True)
class DeviceState:
    """What a running device consists of, saved so stop/status work from any process."""

    serial: str
    port: int
    root: str
    recipe_hash: str
    netns: str
    unshare_pid: int
    unshare_start: str
    socat_pid: int
    socat_start: str
    adb_server_started: bool
    started_at: float

    @classmethod
    def load(cls, path: Path) -> DeviceState | None:
        """Read the state file; None when absent or unreadable."""
        try:
            return cls(**json.loads(path.read_text()))
        except (OSError, ValueError, TypeError):
            return None

    def save(self, path: Path) -> None:
        """Write the state file atomically."""
        write_text_atomic(path, json.dumps(asdict(self), indent=2) + "\n")


def proc_start_time(pid: int) -> str | None:
    """Return a live (non-zombie) process's start time from /proc, or None if it is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat.rsplit(")", 1)[1].split()
    if fields[0] in ("Z", "X"):
        return None
    return fields[19]  # field 22 of stat: start time in clock ticks since boot


def same_process(pid: int, start: str) -> bool:
    """True when `pid` is still the process recorded with start time `start` (no pid reuse)."""
    return pid > 0 and proc_start_time(pid) == start


def _reap(pid: int) -> None:
    """Collect our own exited child so it does not linger as a zombie."""
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass


def listening(pid: int, port: int) -> bool:
    """True when the network namespace of `pid` has a TCP socket listening on `port`."""
    for name in ("tcp", "tcp6"):
        try:
            lines = Path(f"/proc/{pid}/net/{name}").read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if int(fields[1].rsplit(":", 1)[1], 16) == port and fields[3] == "0A":
                return True
    return False


def check_port(port: int) -> None:
    """Raise unless `port` is a legal, free bridge port on 127.0.0.1."""
    if port in ADB_PROBED_PORTS:
        raise EmulatorError(f"port {port} is in 5555-5585, which the adb server scans for "
                            f"emulators (the device would show up twice): use e.g. {DEFAULT_PORT}")
    if not 1024 <= port <= 65535:
        raise EmulatorError(f"port {port} is out of range: use a port in 1024-65535")
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            raise EmulatorError(f"127.0.0.1:{port} is already in use: find the owner with "
                                f"`ss -ltnp 'sport = :{port}'`, stop it, or pass --port") from None


def is_running(state: DeviceState | None) -> bool:
    """True when both processes of the recorded device are alive."""
    return (state is not None and same_process(state.unshare_pid, state.unshare_start)
            and same_process(state.socat_pid, state.socat_start))


def _netns_exists() -> bool:
    """True when the device's named network namespace exists."""
    return Path("/run/netns", NETNS).exists()


def _spawn(cmd: list[str], log: Path) -> subprocess.Popen[bytes]:
    """Start a long-lived process in its own session, output to `log`, detached from our stdio."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("wb") as out:
        return subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)


def _adbd_command(root: Path) -> list[str]:
    """Return nsenter(netns) -> unshare(mount, pid) -> launcher -> env -i -> chroot adbd."""
    env = [f"{key}={value}" for key, value in rootfs.device_env().items()]
    return [
        "nsenter", f"--net=/run/netns/{NETNS}",
        # --kill-child: SIGKILL of unshare takes adbd and every device process with it.
        "unshare", "--mount", "--pid", "--uts", "--fork", "--kill-child", "--propagation", "private",
        f"--mount-proc={root}/proc",
        "/bin/sh", "-c", _LAUNCHER, "lavseg-launcher", str(root),
        "env", "-i", *env, f"ADBD_PORT={rc.ADBD_PORT}", "chroot", str(root), "/usr/sbin/adbd",
    ]


def _socat_command(port: int) -> list[str]:
    """Return the bridge from host 127.0.0.1:port to adbd inside the namespace."""
    # socat splits address parameters on ':' and options on ',': escape them in the inner command.
    inner = f"nsenter --net=/run/netns/{NETNS} socat STDIO TCP\\:127.0.0.1\\:{rc.ADBD_PORT}"
    return ["socat", f"TCP-LISTEN:{port},bind=127.0.0.1,reuseaddr,fork", f"EXEC:{inner}"]


def _wait(what: str, ready: Any, timeout: float, log: Path | None, alive: Any = None) -> None:
    """Poll `ready()` until true; raise naming `what` (and the log's last line) on timeout/death."""
    deadline = time.monotonic() + timeout
    while not ready():
        if alive is not None and not alive():
            tail = f": {last_line(log.read_bytes()[-4000:])}" if log and log.exists() else ""
            raise EmulatorError(f"{what} exited during start{tail} (log: {log})")
        if time.monotonic() > deadline:
            tail = f"; last log line: {last_line(log.read_bytes()[-4000:])}" if log else ""
            raise EmulatorError(f"{what} was not ready after {timeout:.0f} s{tail} (log: {log})")
        time.sleep(0.05)


def _connect_adb(serial: str, timeout: float) -> None:
    """`adb connect` the bridge and wait until `shell echo ok` works on it."""
    # Imported here: adbutils costs ~0.1 s, which status/build/deps do not need.
    from lightavseg_mobile.device import adb

    client = adb.client()
    deadline = time.monotonic() + timeout
    last = "no answer"
    while time.monotonic() < deadline:
        try:
            reply = client.connect(serial, timeout=5)
            if "connected" not in reply or "unable" in reply or "failed" in reply:
                last = reply
                time.sleep(0.2)
                continue
            state = next((d.state for d in adb.list_devices() if d.serial == serial), "absent")
            if state == "device":
                result = adb.Device(serial, client).shell(["echo", "ok"], timeout=10.0)
                if result.ok and result.stdout.strip() == "ok":
                    return
                last = f"echo ok gave exit {result.exit_code}: {result.stderr.strip()}"
            else:
                last = f"device state {state}"
                # A transport that failed its handshake stays offline: drop it and dial again.
                client.disconnect(serial)
        except (DeviceError, OSError) as exc:
            last = str(exc)
        except Exception as exc:  # adbutils raises its own errors while the transport comes up
            last = f"{type(exc).__name__}: {exc}"
        time.sleep(0.1)
    raise EmulatorError(f"adb could not reach {serial} within {timeout:.0f} s ({last}): see "
                        "`adb devices -l` and the adbd log")


def _stop_locked(paths: Paths) -> bool:
    """Kill the recorded processes, disconnect adb, delete the netns; return whether it ran."""
    state = DeviceState.load(paths.state)
    was_running = is_running(state)
    if state is not None:
        if same_process(state.unshare_pid, state.unshare_start):
            # unshare --fork ignores TERM/INT; SIGKILL makes --kill-child end the whole namespace.
            os.kill(state.unshare_pid, signal.SIGKILL)
        if same_process(state.socat_pid, state.socat_start):
            try:
                os.killpg(state.socat_pid, signal.SIGKILL)  # listener and per-connection children
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + 5.0
        for pid, start in ((state.unshare_pid, state.unshare_start),
                           (state.socat_pid, state.socat_start)):
            while same_process(pid, start) and time.monotonic() < deadline:
                _reap(pid)
                time.sleep(0.02)
            _reap(pid)
        _disconnect(state)
    if _netns_exists():
        run(["ip", "netns", "del", NETNS], what=f"ip netns del {NETNS}",
            fix=f"delete it by hand: ip netns del {NETNS}")
    # Device mounts live in the device's private mount namespace; a leftover here means an older
    # or interrupted start mounted on the host: lazily unmount it, deepest first.
    for point in sorted(rootfs.mounts_under(paths.root), key=len, reverse=True):
        run(["umount", "-l", point], what=f"umount {point}", fix=f"umount -l {point} by hand")
    if paths.state.exists():
        paths.state.unlink()
    return was_running


def _disconnect(state: DeviceState) -> None:
    """Drop the adb transport; stop the adb server too if the device's start launched it."""
    from lightavseg_mobile.device import adb

    if not adb.server_running():
        return
    try:
        client = adb.client()
        client.disconnect(state.serial)
        if not state.adb_server_started:
            return
        serials = [state.serial]
        deadline = time.monotonic() + 2.0
        while time.monotonic() < deadline:  # the server drops the transport asynchronously
            serials = [info.serial for info in client.list()]
            if state.serial not in serials:
                break
            time.sleep(0.05)
        if not serials or serials == [state.serial]:
            client.server_kill()
    except Exception:  # best effort: a dead server or transport is already disconnected
        pass


def start(paths: Paths, port: int = DEFAULT_PORT, timeout: float = START_TIMEOUT) -> dict[str, Any]:
    """Start the device (idempotent); return serial, timing and whether it was already running."""
    require_root("start")
    require_commands(["ip", "unshare", "nsenter", "socat", "chroot", "mount"], "start")
    t0 = time.monotonic()
    with locked(paths):
        ensure_binfmt(paths.logs / "deps.log")
        state = DeviceState.load(paths.state)
        if is_running(state):
            assert state is not None
            _connect_adb(state.serial, timeout)  # reconnects if the adb server was restarted
            return {"already_running": True, "serial": state.serial,
                    "seconds": round(time.monotonic() - t0, 2)}
        _stop_locked(paths)  # clears a stale record, netns or half-started device
        recipe = rc.Recipe()
        stamp = rootfs.read_stamp(paths)
        if stamp is None:
            raise EmulatorError(f"no arm64 root at {paths.root}: run "
                                "`python -m tools.arm64_device.emulator build` first")
        if stamp.get("recipe_hash") != recipe.hash():
            raise EmulatorError(f"the arm64 root at {paths.root} was built from another recipe "
                                f"({stamp.get('recipe_hash')} != {recipe.hash()}): run "
                                "`python -m tools.arm64_device.emulator build`")
        check_port(port)
        serial = f"127.0.0.1:{port}"
        rootfs.write_cpu_files(paths.root, rootfs.host_cores())
        spawned: list[subprocess.Popen[bytes]] = []
        try:
            run(["ip", "netns", "add", NETNS], what=f"ip netns add {NETNS}",
                fix="check that this host allows network namespaces (root, CAP_SYS_ADMIN)")
            run(["ip", "-n", NETNS, "link", "set", "lo", "up"], what="bringing up lo in the netns",
                fix=f"check `ip -n {NETNS} link`")
            adbd_log, socat_log = paths.logs / "adbd.log", paths.logs / "socat.log"
            adbd = _spawn(_adbd_command(paths.root), adbd_log)
            spawned.append(adbd)
            socat = _spawn(_socat_command(port), socat_log)
            spawned.append(socat)
            state = DeviceState(
                serial=serial, port=port, root=str(paths.root), recipe_hash=recipe.hash(),
                netns=NETNS, unshare_pid=adbd.pid, unshare_start=proc_start_time(adbd.pid) or "",
                socat_pid=socat.pid, socat_start=proc_start_time(socat.pid) or "",
                adb_server_started=False, started_at=time.time())
            state.save(paths.state)  # saved before waiting so a failed start is still cleaned up
            _wait("adbd", lambda: listening(adbd.pid, rc.ADBD_PORT), timeout, adbd_log,
                  alive=lambda: adbd.poll() is None)
            _wait("socat bridge", lambda: listening(socat.pid, port), 5.0, socat_log,
                  alive=lambda: socat.poll() is None)
            from lightavseg_mobile.device import adb

            if adb.ensure_server():
                state = DeviceState(**{**asdict(state), "adb_server_started": True})
                state.save(paths.state)
            _connect_adb(serial, timeout)
        except BaseException:
            for proc in spawned:  # in case they died or were spawned before the state was saved
                if proc.poll() is None:
                    os.killpg(proc.pid, signal.SIGKILL)
                    proc.wait()
            _stop_locked(paths)
            raise
        return {"already_running": False, "serial": serial,
                "seconds": round(time.monotonic() - t0, 2)}


def stop(paths: Paths) -> bool:
    """Stop the device and clean up (idempotent); return whether it was running."""
    require_root("stop")
    with locked(paths):
        return _stop_locked(paths)


def status(paths: Paths) -> dict[str, Any]:
    """Return running or not, serial, root path and recipe hashes (expected and built)."""
    state = DeviceState.load(paths.state)
    running = is_running(state)
    stamp = rootfs.read_stamp(paths)
    expected = rc.Recipe().hash()
    return {
        "running": running,
        "serial": state.serial if running and state else None,
        "root": str(paths.root),
        "root_built": stamp is not None,
        "recipe_hash": expected,
        "root_recipe_hash": stamp.get("recipe_hash") if stamp else None,
        "root_up_to_date": bool(stamp and stamp.get("recipe_hash") == expected),
        "pids": {"unshare": state.unshare_pid, "socat": state.socat_pid}
        if running and state else None,
        "qemu_cpu": rc.QEMU_CPU,
    }


def build(paths: Paths, force: bool = False) -> rootfs.BuildResult:
    """Build the root (or reuse it); refuses while a device runs from an outdated root."""
    require_root("build")
    with locked(paths):
        ensure_binfmt(paths.logs / "deps.log")
        if is_running(DeviceState.load(paths.state)) and (
                force or not rootfs.is_current(paths, rc.Recipe())):
            raise EmulatorError("the device is running from the current root: stop it first "
                                "(`python -m tools.arm64_device.emulator stop`)")
        return rootfs.build_root(paths, force=force)


def _parser() -> argparse.ArgumentParser:
    """Return the command-line parser."""
    parser = argparse.ArgumentParser(
        prog="python -m tools.arm64_device.emulator",
        description="Emulated arm64 device reachable over adb (qemu-user + adbd, needs root).")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("deps", help="install host packages (apt) and enable qemu-aarch64 binfmt")
    p_build = sub.add_parser("build", help="build or reuse the cached arm64 root")
    p_build.add_argument("--force", action="store_true", help="rebuild even if up to date")
    p_start = sub.add_parser("start", help="start adbd and connect adb (idempotent)")
    p_start.add_argument("--port", type=int, default=DEFAULT_PORT,
                         help=f"host port of the bridge on 127.0.0.1 (default {DEFAULT_PORT})")
    sub.add_parser("stop", help="stop the device and clean up (idempotent)")
    p_status = sub.add_parser("status", help="show whether the device runs")
    p_status.add_argument("--json", action="store_true", help="print JSON")
    return parser


def _run(args: argparse.Namespace, paths: Paths) -> int:
    """Dispatch one subcommand; return the exit code."""
    if args.command == "deps":
        t0 = time.monotonic()
        installed = ensure_deps(paths)
        what = f"installed {' '.join(installed)}" if installed else "host packages already present"
        print(f"deps: {what}; qemu-aarch64 binfmt enabled ({time.monotonic() - t0:.1f} s)")
    elif args.command == "build":
        result = build(paths, force=args.force)
        if result.rebuilt:
            steps = ", ".join(f"{k} {v:.1f} s" for k, v in result.seconds.items() if k != "total")
            print(f"build: arm64 root built at {result.root} in {result.seconds['total']:.1f} s "
                  f"({steps}); recipe {result.recipe_hash}")
        else:
            print(f"build: arm64 root at {result.root} is up to date (recipe {result.recipe_hash})")
    elif args.command == "start":
        info = start(paths, port=args.port)
        verb = "already running" if info["already_running"] else "started"
        print(f"start: device {verb} at {info['serial']} ({info['seconds']:.2f} s); "
              f"use it with ANDROID_SERIAL={info['serial']}")
    elif args.command == "stop":
        was = stop(paths)
        print("stop: device stopped" if was else "stop: device was not running; cleaned up")
    elif args.command == "status":
        info = status(paths)
        if args.json:
            print(json.dumps(info, indent=2))
        elif info["running"]:
            print(f"status: running at {info['serial']} (root {info['root']}, "
                  f"recipe {info['root_recipe_hash']})")
        else:
            built = "built" if info["root_built"] else "not built"
            print(f"status: stopped (root {info['root']} {built}, recipe {info['recipe_hash']})")
    return 0


def main(argv: list[str] | None = None) -> int:
    """Entry point: one-line errors with non-zero exit codes, no tracebacks."""
    args = _parser().parse_args(argv)
    paths = Paths.default()
    try:
        return _run(args, paths)
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    except BrokenPipeError:  # output piped into e.g. `head`: nothing left to report
        return 1
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # a bug or an unexpected host state: still one line unless asked
        if os.environ.get("LAVSEG_DEBUG"):
            raise
        print(f"error: emulator {args.command} failed unexpectedly: {type(exc).__name__}: {exc} "
              "(rerun with LAVSEG_DEBUG=1 for the traceback)", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
