"""Build the emulated device's arm64 Debian root: extract, Android fixes, wheels, byte-compile."""

from __future__ import annotations

import json
import os
import shutil
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from lightavseg_mobile.device.errors import EmulatorError
from lightavseg_mobile.io_atomic import write_text_atomic
from tools.arm64_device import recipe as rc
from tools.arm64_device.host import Paths, require_commands, run

_BUILD_PREFIX = ".arm64-root.build-"
_OLD_PREFIX = ".arm64-root.old-"


@dataclass(frozen=True)
class BuildResult:
    """What `build_root` did and how long each step took."""

    rebuilt: bool
    recipe_hash: str
    root: Path
    seconds: dict[str, float] = field(default_factory=dict)


def read_stamp(paths: Paths) -> dict | None:
    """Return the built root's stamp (recipe hash, timings) or None when there is no usable root."""
    try:
        return json.loads(paths.stamp.read_text())
    except (OSError, ValueError):
        return None


def is_current(paths: Paths, recipe: rc.Recipe) -> bool:
    """True when the published root was built from `recipe`."""
    stamp = read_stamp(paths)
    return stamp is not None and stamp.get("recipe_hash") == recipe.hash()


def mounts_under(path: Path) -> list[str]:
    """Return host mount points at or below `path` (a root must never be deleted through one)."""
    prefix = str(path.resolve())
    found = []
    with open("/proc/self/mountinfo") as handle:
        for line in handle:
            point = line.split()[4].replace("\\040", " ")
            if point == prefix or point.startswith(prefix + "/"):
                found.append(point)
    return found


def remove_root_dir(path: Path) -> None:
    """Delete a root directory, refusing if anything is still mounted inside it."""
    if not path.exists():
        return
    mounted = mounts_under(path)
    if mounted:
        raise EmulatorError(f"refusing to delete {path}: {mounted[0]} is mounted inside it; "
                            "run `python -m tools.arm64_device.emulator stop` first")
    shutil.rmtree(path)


def device_env() -> dict[str, str]:
    """Return the whole environment of processes on the device (nothing inherited from the host)."""
    # The host exports PYTHONDONTWRITEBYTECODE=1; inherited by the device it makes every import
    # recompile under emulation (numpy: ~16 s), hence a clean environment.
    return {"PATH": rc.DEVICE_PATH, "HOME": "/root", "TMPDIR": "/data/local/tmp", "LANG": "C.UTF-8",
            "QEMU_CPU": rc.QEMU_CPU}


def chroot_cmd(root: Path, *args: str) -> list[str]:
    """Return a command that runs `args` inside `root` under qemu with the device environment."""
    env = [f"{key}={value}" for key, value in device_env().items()]
    return ["env", "-i", *env, "chroot", str(root), *args]


def write_cpu_files(root: Path, n_cores: int) -> None:
    """Write the fake cpu lists and the arm64 cpuinfo that start bind-mounts over /proc/cpuinfo."""
    cpu_dir = root / "sys" / "devices" / "system" / "cpu"
    cpu_dir.mkdir(parents=True, exist_ok=True)
    for name in ("possible", "present", "online"):
        (cpu_dir / name).write_text(rc.cpu_list(n_cores))
    (root / "etc" / "lavseg").mkdir(parents=True, exist_ok=True)
    (root / "etc" / "lavseg" / "cpuinfo").write_text(rc.cpuinfo_text(n_cores))


def host_cores() -> int:
    """Return the cores this process may run on (what qemu-user threads can use)."""
    return len(os.sched_getaffinity(0))


def _extract(tmp: Path, recipe: rc.Recipe, mirror: str, log: Path) -> None:
    """Extract the arm64 packages: nothing runs under qemu, so this takes seconds."""
    run(["mmdebstrap", "--variant=extract", "--arch=arm64", "--include=" + ",".join(recipe.packages),
         recipe.suite, str(tmp), f"deb {mirror} {recipe.suite} main"],
        what="mmdebstrap (arm64 Debian root)",
        fix=f"check access to {mirror} or set LAVSEG_DEBIAN_MIRROR", log=log, timeout=900)


def _android_fixes(tmp: Path) -> None:
    """Add what an extract-only root lacks and what adbd and device code expect of a phone."""
    for rel, (text, mode) in rc.static_files().items():
        target = tmp / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)
        target.chmod(mode)
    (tmp / "system" / "bin").mkdir(parents=True, exist_ok=True)
    getprop_link = tmp / "system" / "bin" / "getprop"
    if not getprop_link.is_symlink():
        getprop_link.symlink_to("/usr/bin/getprop")
    for rel, mode in (("data/local/tmp", 0o1777), ("root", 0o700), ("dev/shm", 0o1777),
                      ("dev/pts", 0o755)):
        (tmp / rel).mkdir(parents=True, exist_ok=True)
        (tmp / rel).chmod(mode)
    write_cpu_files(tmp, host_cores())


def _install_wheels(tmp: Path, recipe: rc.Recipe, paths: Paths, log: Path) -> None:
    """Fetch the aarch64 wheels (kept in the cache) and unpack them into the root's site-packages."""
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check"]
    paths.wheels.mkdir(parents=True, exist_ok=True)
    run([*pip, "download", "-q", *rc.pip_target_args(recipe.python, recipe.platforms), "-d", str(paths.wheels),
         *recipe.wheels],
        what="pip download of the device wheels",
        fix="check access to PyPI (the wheels are cp313 manylinux aarch64)", log=log, timeout=900)
    site = tmp / rc.SITE_PACKAGES
    run([*pip, "install", "-q", "--no-index", "--find-links", str(paths.wheels), "--no-deps",
         "--no-compile", *rc.pip_target_args(recipe.python, recipe.platforms), "--target", str(site), *recipe.wheels],
        what="pip install --target of the device wheels",
        fix=f"delete {paths.wheels} and rebuild", log=log, timeout=900)
    # Console scripts pip wrote point at the host interpreter: useless on the device.
    shutil.rmtree(site / "bin", ignore_errors=True)
    for cache in list(tmp.rglob("__pycache__")):
        shutil.rmtree(cache)


def _compile_on_device(tmp: Path, recipe: rc.Recipe, log: Path) -> None:
    """Byte-compile stdlib and wheels once under qemu, then prove the runtimes import."""
    site = "/" + rc.SITE_PACKAGES
    run(chroot_cmd(tmp, "python3", "-m", "compileall", "-q", "-j", "0", "-x",
                   recipe.compile_exclude, f"/usr/lib/python{recipe.python}", site),
        what="byte-compiling under qemu-aarch64",
        fix="check `update-binfmts --display qemu-aarch64` (run the deps step)", log=log,
        timeout=900)
    run(chroot_cmd(tmp, "python3", "-c",
                   "import numpy, onnxruntime; from ai_edge_litert import interpreter"),
        what="importing numpy/onnxruntime/ai_edge_litert on the arm64 root",
        fix="the pinned device wheels do not load: check recipe.DEVICE_WHEELS", log=log,
        timeout=300)


def clean_stale(paths: Paths) -> None:
    """Remove half-built or superseded roots left by an interrupted build (caller holds the lock)."""
    if not paths.cache.exists():
        return
    for entry in paths.cache.iterdir():
        if entry.name.startswith((_BUILD_PREFIX, _OLD_PREFIX)) and entry.is_dir():
            remove_root_dir(entry)


def build_root(paths: Paths, recipe: rc.Recipe | None = None, *, force: bool = False,
               mirror: str | None = None) -> BuildResult:
    """Build the root into a temp dir and publish it by rename; reuse it when the recipe matches."""
    recipe = recipe or rc.Recipe()
    digest = recipe.hash()
    if not force and is_current(paths, recipe):
        return BuildResult(False, digest, paths.root)
    require_commands(["mmdebstrap", "chroot", "env"], "build")
    mirror = mirror or os.environ.get("LAVSEG_DEBIAN_MIRROR") or rc.DEFAULT_MIRROR
    log = paths.logs / "build.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    log.write_text("")
    t_all = time.monotonic()
    clean_stale(paths)
    tmp = paths.cache / f"{_BUILD_PREFIX}{os.getpid()}"
    seconds: dict[str, float] = {}
    try:
        for name, step in (
            ("extract", lambda: _extract(tmp, recipe, mirror, log)),
            ("android_fixes", lambda: _android_fixes(tmp)),
            ("wheels", lambda: _install_wheels(tmp, recipe, paths, log)),
            ("compile", lambda: _compile_on_device(tmp, recipe, log)),
        ):
            t0 = time.monotonic()
            step()
            seconds[name] = round(time.monotonic() - t0, 2)
        seconds["total"] = round(time.monotonic() - t_all, 2)
        stamp = {"recipe_hash": digest, "recipe_version": rc.RECIPE_VERSION, "suite": recipe.suite,
                 "packages": list(recipe.packages), "wheels": list(recipe.wheels),
                 "mirror": mirror, "built_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                 "seconds": seconds}
        write_text_atomic(tmp / "etc" / "lavseg" / "stamp.json", json.dumps(stamp, indent=2) + "\n")
        t0 = time.monotonic()
        _publish(tmp, paths)
        seconds["publish"] = round(time.monotonic() - t0, 2)
        seconds["total"] = round(time.monotonic() - t_all, 2)
    except BaseException:
        if tmp.exists() and not mounts_under(tmp):
            shutil.rmtree(tmp, ignore_errors=True)
        raise
    return BuildResult(True, digest, paths.root, seconds)


def _publish(tmp: Path, paths: Paths) -> None:
    """Swap the new root in with renames so a reader never sees a half-built root."""
    old = paths.cache / f"{_OLD_PREFIX}{os.getpid()}"
    if paths.root.exists():
        os.rename(paths.root, old)
    os.rename(tmp, paths.root)
    remove_root_dir(old)
