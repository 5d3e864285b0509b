"""Host side of the emulated device: cache paths, root check, commands, apt packages, binfmt."""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from lightavseg_mobile.device.cache import cache_root
from lightavseg_mobile.device.errors import EmulatorError

HOST_PACKAGES = (
    "qemu-user-static", "binfmt-support", "adb", "mmdebstrap", "socat", "iproute2",
    "util-linux", "coreutils", "debian-archive-keyring",
)
# Commands each step needs, with the package that provides them.
HOST_COMMANDS = {
    "mmdebstrap": "mmdebstrap", "socat": "socat", "ip": "iproute2", "adb": "adb",
    "update-binfmts": "binfmt-support", "unshare": "util-linux", "nsenter": "util-linux",
    "mount": "util-linux", "chroot": "coreutils",
}
BINFMT_DIR = Path("/proc/sys/fs/binfmt_misc")
BINFMT_ENTRY = BINFMT_DIR / "qemu-aarch64"


@dataclass(frozen=True)
class Paths:
    """Where the emulated device keeps its root, wheels, state and logs."""

    cache: Path

    @classmethod
    def default(cls) -> Paths:
        """Return paths under $XDG_CACHE_HOME/lightavseg (or ~/.cache/lightavseg)."""
        return cls(cache_root())  # the same dir lavseg-bench keeps its device wheels in

    @property
    def root(self) -> Path:
        """The built arm64 root (published by one rename)."""
        return self.cache / "arm64-root"

    @property
    def wheels(self) -> Path:
        """Downloaded aarch64 wheels, kept so a rebuild does not fetch them again."""
        return self.cache / "arm64-wheels"

    @property
    def state(self) -> Path:
        """JSON record of the running device's processes."""
        return self.cache / "arm64-device.json"

    @property
    def lock(self) -> Path:
        """Lock file serialising build/start/stop."""
        return self.cache / "arm64-device.lock"

    @property
    def logs(self) -> Path:
        """Build and runtime logs."""
        return self.cache / "arm64-logs"

    @property
    def stamp(self) -> Path:
        """Recipe stamp inside the root (moves with the root's rename)."""
        return self.root / "etc" / "lavseg" / "stamp.json"


def require_root(action: str) -> None:
    """Raise unless running as root (namespaces, mounts, chroot and apt need it)."""
    if os.geteuid() != 0:
        raise EmulatorError(
            f"emulator {action} needs root (apt, binfmt, namespaces, chroot): rerun it as root, "
            f"e.g. sudo {_python()} -m tools.arm64_device.emulator {action} from the repository root "
            f"(or sudo make arm64-device)"
        )


def _python() -> str:
    """Return the interpreter path for messages."""
    return sys.executable or "python3"


def require_commands(names: Sequence[str], action: str) -> None:
    """Raise naming the missing package when a host command is not installed."""
    missing = [name for name in names if shutil.which(name) is None]
    if missing:
        packages = sorted({HOST_COMMANDS.get(name, name) for name in missing})
        raise EmulatorError(
            f"emulator {action}: missing host command(s) {', '.join(missing)}: run "
            f"`python -m tools.arm64_device.emulator deps` (installs {' '.join(packages)})"
        )


def last_line(text: str | bytes) -> str:
    """Return the most telling line of command output (apt's first 'E:' line, else the last)."""
    if isinstance(text, bytes):
        text = text.decode("utf-8", errors="replace")
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("E: ")]
    if errors:
        return errors[0]
    return lines[-1] if lines else "(no output)"


def run(cmd: Sequence[str], *, what: str, fix: str, env: dict[str, str] | None = None,
        log: Path | None = None, timeout: float | None = None) -> subprocess.CompletedProcess[bytes]:
    """Run a host command; on failure raise one EmulatorError line naming `what` and `fix`."""
    try:
        if log is not None:
            log.parent.mkdir(parents=True, exist_ok=True)
            with log.open("ab") as out:
                out.write(("$ " + " ".join(cmd) + "\n").encode())
                out.flush()
                begin = out.tell()
                proc = subprocess.run(cmd, stdin=subprocess.DEVNULL, stdout=out,
                                      stderr=subprocess.STDOUT, env=env, timeout=timeout)
            if proc.returncode != 0:
                with log.open("rb") as handle:  # only this command's output
                    handle.seek(max(begin, log.stat().st_size - 16000))
                    tail = last_line(handle.read())
                raise EmulatorError(f"{what} failed (exit {proc.returncode}): {tail}; {fix} "
                                    f"(full log: {log})")
            return proc
        proc = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True, env=env,
                              timeout=timeout)
    except FileNotFoundError as exc:
        raise EmulatorError(f"{what} failed: {exc.filename} not found; {fix}") from None
    except subprocess.TimeoutExpired:
        raise EmulatorError(f"{what} timed out after {timeout:.0f} s; {fix}") from None
    if proc.returncode != 0:
        tail = last_line(proc.stderr or proc.stdout)
        raise EmulatorError(f"{what} failed (exit {proc.returncode}): {tail}; {fix}")
    return proc


@contextmanager
def locked(paths: Paths) -> Iterator[None]:
    """Hold an exclusive lock so two build/start/stop commands never interleave."""
    paths.cache.mkdir(parents=True, exist_ok=True)
    with paths.lock.open("a") as handle:
        deadline = time.monotonic() + 600.0
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise EmulatorError(
                        f"another emulator command holds {paths.lock} for over 10 min: wait for "
                        "it or end it") from None
                time.sleep(0.2)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def missing_packages(packages: Sequence[str] = HOST_PACKAGES) -> list[str]:
    """Return the packages of `packages` that dpkg does not report as installed."""
    proc = subprocess.run(
        ["dpkg-query", "-W", "-f=${Package}\t${db:Status-Abbrev}\n", *packages],
        stdin=subprocess.DEVNULL, capture_output=True, text=True,
    )
    installed = set()
    for line in proc.stdout.splitlines():
        name, _, status = line.partition("\t")
        if status.startswith("ii"):
            installed.add(name.split(":")[0])
    return [name for name in packages if name not in installed]


def install_packages(packages: Sequence[str], log: Path) -> None:
    """apt-get update + install `packages` without recommends."""
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    fix = "check the network access to the Debian mirror and `apt-get update` by hand"
    run(["apt-get", "update", "-q"], what="apt-get update", fix=fix, env=env, log=log,
        timeout=600)
    run(["apt-get", "install", "-y", "-q", "--no-install-recommends", *packages],
        what=f"apt-get install {' '.join(packages)}", fix=fix, env=env, log=log, timeout=900)


def binfmt_state() -> str:
    """Return 'ok', 'unmounted', 'missing', 'disabled' or 'no-fix-binary' for qemu-aarch64."""
    if not (BINFMT_DIR / "status").exists():
        return "unmounted"
    if not BINFMT_ENTRY.exists():
        return "missing"
    text = BINFMT_ENTRY.read_text()
    if not text.startswith("enabled"):
        return "disabled"
    # Without the F flag the kernel looks the interpreter up inside the chroot, where it is absent.
    flags = next((line.split(":", 1)[1] for line in text.splitlines() if line.startswith("flags:")), "")
    if "F" not in flags:
        return "no-fix-binary"
    return "ok"


def ensure_binfmt(log: Path) -> None:
    """Mount binfmt_misc and enable qemu-aarch64 when needed; raise a one-line error if impossible."""
    state = binfmt_state()
    if state == "ok":
        return
    if state == "unmounted":
        run(["mount", "-t", "binfmt_misc", "binfmt_misc", str(BINFMT_DIR)],
            what="mounting binfmt_misc",
            fix="the kernel or container does not allow binfmt_misc: use a host or VM where "
                "`mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc` works", log=log)
        state = binfmt_state()
    if state in ("missing", "disabled"):
        require_commands(["update-binfmts"], "deps")
        run(["update-binfmts", "--enable", "qemu-aarch64"], what="enabling qemu-aarch64 binfmt",
            fix="reinstall qemu-user-static (apt-get install --reinstall qemu-user-static)", log=log)
        state = binfmt_state()
    if state == "no-fix-binary":
        raise EmulatorError(
            "binfmt qemu-aarch64 is registered without the F (fix-binary) flag, so it cannot run "
            "inside a chroot: remove it (echo -1 > /proc/sys/fs/binfmt_misc/qemu-aarch64) and run "
            "`python -m tools.arm64_device.emulator deps`")
    if state != "ok":
        raise EmulatorError(
            f"binfmt qemu-aarch64 is still {state} after enabling it: check "
            "`update-binfmts --display qemu-aarch64` and reinstall qemu-user-static")


def ensure_deps(paths: Paths) -> list[str]:
    """Install missing host packages and enable binfmt; return the packages it installed."""
    require_root("deps")
    log = paths.logs / "deps.log"
    if shutil.which("dpkg-query") is None or shutil.which("apt-get") is None:
        raise EmulatorError("emulator deps needs a Debian/Ubuntu host with dpkg and apt-get")
    missing = missing_packages()
    if missing:
        install_packages(missing, log)
        still = missing_packages()
        if still:
            raise EmulatorError(f"apt-get reported success but {' '.join(still)} is not installed;"
                                f" see {log}")
    ensure_binfmt(log)
    return missing
