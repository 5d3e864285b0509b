"""numpy and the runtimes for the device runner: aarch64 wheels from the host, cached on the device by content hash.

A board or phone with adbd and python3 usually has no numpy, ONNX Runtime or LiteRT. The host
downloads the pinned wheels (wheel_set.DEVICE_WHEELS) for the device's CPython version and aarch64
into ~/.cache/lightavseg/device-wheels/cpXY-aarch64/ (no network needed once filled) and the
device keeps them unpacked in /data/local/tmp/lavseg-cache/site-<digest>/. As for bundles
(runner_bundle.py), the wheels go into a private incoming dir, are checked with sha256sum,
unpacked with the stdlib zipfile and renamed into place only when complete; a second run with the
same wheels pushes nothing. The runner then starts as `env PYTHONPATH=SITE python3 -S`: -S keeps
the device's own site-packages out, so only the pushed copies can be imported.
"""

from __future__ import annotations

import json
import re
import shlex
import subprocess
import sys
import zipfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lightavseg_mobile.device import runner_bundle as rb
from lightavseg_mobile.device import wheel_set as ws
from lightavseg_mobile.device.adb import Device
from lightavseg_mobile.device.cache import cache_root
from lightavseg_mobile.device.errors import DeviceError
from lightavseg_mobile.errors import UserError
from lightavseg_mobile.artifact.manifest import artifact_sha256

SOURCES = ("bundle", "device")
SITE_PREFIX = "site-"
SITE_INDEX = "SITE.json"
SITE_SUMS = "SITE.sha256"
KEEP_SITES = 2  # about 160 MB each once unpacked
# The device's python3: version, machine and glibc (os.confstr fails or is empty on bionic and musl).
_PROBE = """\
import json, os, platform, sys
try:
    libc = os.confstr("CS_GNU_LIBC_VERSION") or ""
except (ValueError, OSError, AttributeError):
    libc = ""
print(json.dumps({"python": "%d.%d" % sys.version_info[:2], "machine": platform.machine(), "libc": libc}))
"""
# One interpreter unpacks every wheel (a python start under emulation costs about a second each).
_UNPACK = "import sys, zipfile\nfor w in sys.argv[2:]:\n    zipfile.ZipFile(w).extractall(sys.argv[1])\n"

Progress = Callable[[str, str], None]


@dataclass(frozen=True)
class DevicePython:
    """The device's python3: version "X.Y", platform.machine() and glibc version (None when not glibc)."""

    version: str
    machine: str
    glibc: tuple[int, int] | None


@dataclass(frozen=True)
class Wheelhouse:
    """The pinned wheels for one device Python, staged on the host; `files` are named wheels/<wheel>."""

    python: str
    files: tuple[rb.BundleFile, ...]
    digest: str
    unpacked_size: int

    @property
    def size(self) -> int:
        """Total bytes of the wheel files."""
        return sum(f.size for f in self.files)

    @property
    def device_dir(self) -> str:
        """The unpacked site dir on the device (what PYTHONPATH points at)."""
        return f"{rb.CACHE_DIR}/{SITE_PREFIX}{self.digest}"


def probe_python(device: Device) -> DevicePython:
    """Ask the device for its python3; raise a one-line DeviceError unless it is aarch64 with glibc."""
    res = device.shell(["python3", "-S", "-c", _PROBE], timeout=120.0)
    try:
        info = json.loads(res.stdout.strip().splitlines()[-1])
    except (IndexError, ValueError):
        last = (res.stderr.strip() or res.stdout.strip() or "no output").splitlines()[-1]
        raise DeviceError(f"device {device.serial} has no working python3 ({last}): install Python 3 on it, "
                          "or run LiteRT's benchmark_model with --benchmark-binary") from None
    machine, libc = str(info.get("machine")), str(info.get("libc") or "")
    if machine != "aarch64":
        raise DeviceError(f"device {device.serial}: python3 runs on {machine!r}, the bundled runtime wheels are "
                          "aarch64 only; install numpy, onnxruntime and ai-edge-litert there and pass "
                          "--device-wheels device")
    match = re.fullmatch(r"glibc (\d+)\.(\d+)\S*", libc)
    if match is None:
        raise DeviceError(f"device {device.serial}: python3 is not linked against glibc ({libc or 'bionic or musl'}), "
                          "so manylinux wheels cannot load there (Termux, Alpine); install numpy and the runtimes on "
                          "the device and pass --device-wheels device")
    return DevicePython(str(info["python"]), machine, (int(match[1]), int(match[2])))


def host_cache(python: str, cache: Path | None = None) -> Path:
    """The host's wheel cache for CPython `python` on aarch64: ~/.cache/lightavseg/device-wheels/cpXY-aarch64."""
    return (cache or cache_root()) / "device-wheels" / f"cp{python.replace('.', '')}-aarch64"


def download_command(python: str, dest: Path, pins: Sequence[str] = ws.DEVICE_WHEELS) -> list[str]:
    """The `pip download` of the pinned wheels (no hashes: for producing the lock) for CPython `python` on aarch64."""
    # --no-deps: the pin list is complete (the emulated root installs exactly it), so the set is reproducible.
    return [sys.executable, "-m", "pip", "--disable-pip-version-check", "download", "-q", "--no-deps",
            *ws.pip_target_args(python), "-d", str(dest), *pins]


def locked_download_command(python: str, dest: Path, requirements: Path) -> list[str]:
    """`pip download --require-hashes -r REQUIREMENTS` for CPython `python` on aarch64 into `dest`."""
    return [sys.executable, "-m", "pip", "--disable-pip-version-check", "download", "-q", "--no-deps",
            "--require-hashes", *ws.pip_target_args(python), "-d", str(dest), "-r", str(requirements)]


def lock_requirements(lock: Mapping[str, str], pins: Sequence[str] = ws.DEVICE_WHEELS) -> str:
    """A hashed requirements file: `name==version --hash=sha256:...` per pin, every locked wheel of that pin."""
    lines = []
    for pin in pins:
        name, _, version = pin.partition("==")
        hashes = [h for wheel, h in sorted(lock.items()) if _matches(wheel, name, version)]
        lines.append(" ".join([pin, *(f"--hash=sha256:{h}" for h in hashes)]))
    return "\n".join(lines) + "\n"


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "_", name).lower()


def _matches(wheel: str, name: str, version: str) -> bool:
    parts = wheel.split("-")
    return len(parts) > 1 and [_norm(parts[0]), parts[1]] == [_norm(name), version]


def pinned_files(folder: Path, pins: Sequence[str] = ws.DEVICE_WHEELS,
                 lock: Mapping[str, str] | None = None) -> dict[str, Path | None]:
    """The wheel in `folder` for each `name==version` pin (None when missing).

    With a `lock` (file name -> sha256) a wheel counts only when its content hashes to the locked value: a cached
    file is never trusted by its name. A locked name with other content (tampered, truncated) is deleted, so the
    next download replaces it."""
    wheels = sorted(folder.glob("*.whl")) if folder.is_dir() else []
    found: dict[str, Path | None] = {}
    for pin in pins:
        name, _, version = pin.partition("==")
        found[pin] = None
        for wheel in (w for w in wheels if _matches(w.name, name, version)):
            if lock is None:
                found[pin] = wheel
                break
            if wheel.name not in lock:
                continue  # another platform tag of the same pin: not part of the locked set
            if artifact_sha256(wheel) == lock[wheel.name]:
                found[pin] = wheel
                break
            wheel.unlink(missing_ok=True)
    return found


def glibc_needed(wheel_name: str) -> tuple[int, int] | None:
    """The oldest glibc that loads a wheel, from its platform tags (None for pure-Python wheels)."""
    needs = []
    for tag in wheel_name.removesuffix(".whl").split("-")[-1].split("."):
        if tag == "manylinux2014_aarch64":
            needs.append((2, 17))
        elif match := re.fullmatch(r"manylinux_(\d+)_(\d+)_aarch64", tag):
            needs.append((int(match[1]), int(match[2])))
    return min(needs) if needs else None


def wheelhouse(python: str, wheels: Sequence[Path]) -> Wheelhouse:
    """Hash and size the wheels; the digest covers every wheel's name, size and sha256."""
    files, unpacked = [], 0
    for path in wheels:
        with zipfile.ZipFile(path) as zf:
            infos = zf.infolist()
        # Plain unzipping installs a wheel only when everything sits at its root (no .data/purelib|platlib).
        if any(re.match(r"[^/]+\.data/(purelib|platlib)/", i.filename) for i in infos):
            raise DeviceError(f"{path.name} keeps modules under .data/: it cannot be unpacked on the device as is")
        unpacked += sum(i.file_size for i in infos)
        files.append(rb.BundleFile(f"wheels/{path.name}", path, artifact_sha256(path), path.stat().st_size))
    return Wheelhouse(python, tuple(files), rb.bundle_digest(files), unpacked)


def fetch(python: str, cache: Path | None = None, pins: Sequence[str] = ws.DEVICE_WHEELS,
          timeout: float = 900.0, lock: Mapping[str, str] | None = None) -> Wheelhouse:
    """The pinned wheels for CPython `python` on aarch64, each checked against its locked sha256; downloads the
    missing ones with `pip download --require-hashes`. `lock` defaults to wheel_set.DEVICE_WHEEL_SHA256[python]."""
    lock = lock if lock is not None else ws.locked_wheels(python)
    if lock is None:
        known = ", ".join(sorted(ws.DEVICE_WHEEL_SHA256))
        raise DeviceError(f"no hash lock for the device wheels on CPython {python} (locked: {known}): add its sha256s "
                          "to lightavseg_mobile/device/wheel_set.py, or install the runtimes on the device and pass "
                          "--device-wheels device")
    dest = host_cache(python, cache)
    found = pinned_files(dest, pins, lock)
    if any(f is None for f in found.values()):
        dest.mkdir(parents=True, exist_ok=True)
        requirements = dest / f".lock-{python}.txt"
        requirements.write_text(lock_requirements(lock, pins))
        cmd = locked_download_command(python, dest, requirements)
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)
            detail = (proc.stderr.strip() or proc.stdout.strip() or f"exit {proc.returncode}").splitlines()[-1]
        except subprocess.TimeoutExpired:
            detail = f"timed out after {timeout:g} s"
        found = pinned_files(dest, pins, lock)
        missing = [pin for pin, f in found.items() if f is None]
        if missing:
            names = ", ".join(missing[:3]) + (f" and {len(missing) - 3} more" if len(missing) > 3 else "")
            raise DeviceError(f"no CPython {python} aarch64 wheels of {names} with their locked sha256 in {dest} and "
                              f"pip could not fetch them ({detail}): run `{shlex.join(cmd)}` with network access "
                              "(or copy the wheels there), then retry")
    return wheelhouse(python, [f for f in found.values() if f is not None])


def ensure_site(device: Device, house: Wheelhouse, staging: Path, progress: Progress | None = None) -> dict[str, Any]:
    """Push and unpack the wheels unless the device has them; return the report's device_wheels record."""
    say = progress or (lambda stage, msg: None)
    record: dict[str, Any] = {"source": "bundle", "digest": house.digest, "path": house.device_dir,
                              "python": house.python, "wheels": [f.rel.split("/", 1)[1] for f in house.files],
                              "pushed": False, "pushed_files": 0, "bytes_pushed": 0}
    index = f"{house.device_dir}/{SITE_INDEX}"
    if device.shell(["test", "-f", index], timeout=30.0).ok:  # the index is only written by a complete push
        say("push", f"runtime wheels {house.digest} already on {device.serial}: nothing to push")
        return record
    rb.sweep_incoming(device, say)  # a wheel upload cut short leaves ~160 MB behind otherwise
    rb.check_space(device, house.size + house.unpacked_size)  # wheels and their unpacked copy, briefly both
    staging.mkdir(parents=True, exist_ok=True)
    (staging / SITE_SUMS).write_text("".join(f"{f.sha256}  {f.rel}\n" for f in house.files))
    (staging / SITE_INDEX).write_text(json.dumps({"digest": house.digest, "python": house.python,
                                                  "wheels": {f.rel: f.sha256 for f in house.files}}, indent=1))
    incoming = rb.make_incoming(device, f"{SITE_PREFIX}{house.digest}", "wheels")
    say("push", f"runtime wheels {house.digest} (CPython {house.python} aarch64): {len(house.files)} wheels, "
                f"{house.size / 1e6:.1f} MB -> {device.serial}, {house.unpacked_size / 1e6:.0f} MB unpacked")
    try:
        pushed = rb.push_checked(device, house.files, staging / SITE_SUMS, incoming, "the runtime wheels")
        # Sized like the pushes, not by --step-timeout: that one bounds the runner (a 2 s limit is a hang test).
        device.shell(["python3", "-S", "-c", _UNPACK, incoming, *(f"{incoming}/{f.rel}" for f in house.files)],
                     timeout=120.0 + house.unpacked_size / 1e6).check("unpacking the runtime wheels")
        device.remove_tree(f"{incoming}/wheels")
        device.push(staging / SITE_INDEX, f"{incoming}/{SITE_INDEX}")
        if device.shell(["test", "-f", index], timeout=30.0).ok:
            device.remove_tree(incoming)  # a concurrent run published the same wheels first
        else:
            if device.shell(["test", "-e", house.device_dir], timeout=30.0).ok:
                device.remove_tree(house.device_dir)  # a leftover without an index
            device.shell(["mv", "--", incoming, house.device_dir], timeout=60.0).check("publishing the runtime wheels")
    except BaseException:
        try:
            device.remove_tree(incoming)
        except (DeviceError, OSError):
            pass
        raise
    rb.evict_old_bundles(device, keep=KEEP_SITES, current=house.digest, prefix=SITE_PREFIX)
    record.update(pushed=True, pushed_files=len(house.files) + 2, bytes_pushed=pushed)
    return record


def prepare(device: Device, source: str, staging: Path, progress: Progress | None = None,
            cache: Path | None = None) -> dict[str, Any]:
    """Make numpy and the runtimes importable by the device runner; return the report's device_wheels record."""
    if source not in SOURCES:
        raise UserError(f"unknown --device-wheels {source!r}; choose one of: {', '.join(SOURCES)}")
    if source == "device":
        return {"source": "device", "digest": None, "path": None, "pushed": False, "pushed_files": 0, "bytes_pushed": 0}
    python = probe_python(device)
    house = fetch(python.version, cache)
    for f in house.files:
        need = glibc_needed(f.source.name)
        if need and python.glibc and python.glibc < need:
            raise DeviceError(f"device {device.serial} has glibc {'.'.join(map(str, python.glibc))}, {f.source.name} "
                              f"needs {'.'.join(map(str, need))} or newer: install the runtimes on the device and "
                              "pass --device-wheels device")
    return ensure_site(device, house, staging, progress)


def python_command(record: Mapping[str, Any] | None) -> list[str]:
    """How the runner's python starts on the device: on the pushed site dir alone, or on the device's own packages."""
    if record and record.get("source") == "bundle":
        # -S keeps the device's site-packages out: what the runner imports is provably the pushed copy.
        return ["env", f"PYTHONPATH={record['path']}", "python3", "-S"]
    return ["python3"]
