"""The self-contained bundle the device runner needs, content-addressed and cached on the device.

A bundle is: device_runner.py, the numpy-only package modules it imports, every artifact with
its manifest (stored under safe names, so no user file name ever reaches a device path) and the
held-out inputs as .npy. Its digest covers every file's path and sha256, so the device keeps one
directory per digest under /data/local/tmp/lavseg-cache/ and a second run with the same
artifacts and inputs pushes nothing. A bundle is pushed into a private incoming directory,
checked with sha256sum on the device and only then renamed to its digest: an interrupted or
failed push never leaves a directory that looks complete.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import socket
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from lightavseg_mobile.device.adb import DEVICE_TMP, Device, kill_command
from lightavseg_mobile.device.errors import DeviceError
from lightavseg_mobile.runtime.registry import RUNTIMES
from lightavseg_mobile.artifact.manifest import Manifest, artifact_sha256, manifest_path

PACKAGE_ROOT = Path(__file__).resolve().parents[1]
CACHE_DIR = f"{DEVICE_TMP}/lavseg-cache"
RUN_PREFIX = "lavseg-run"
INDEX_FILE = "BUNDLE.json"
SUMS_FILE = "BUNDLE.sha256"
RUNNER = "device_runner.py"
KEEP_BUNDLES = 3
# Package modules the runner imports on the device (numpy + runtimes only, never torch); every
# package-internal module they import at load time is added by `device_modules`.
# The runner's entry modules; every runtime the registry marks on_device joins them (a new runtime is one registry entry).
ROOT_MODULES = ("runtime/__init__.py", "runtime/timing.py", "artifact/manifest.py") + tuple(
    spec.loader.partition(":")[0].removeprefix("lightavseg_mobile.").replace(".", "/") + ".py"
    for spec in RUNTIMES.values() if spec.on_device)
_HEAVY = ("torch", "torchao", "litert_torch", "onnx", "librosa", "PIL", "matplotlib")
INCOMING_PREFIX = ".incoming-"
OWNER_FILE = ".owner"
# An upload folder nothing was written to for this long belongs to a push that died (a live push writes every
# few seconds, even over slow USB 2): swept by the next run, whoever left it.
STALE_INCOMING_MINUTES = 30
# Free space kept on top of the bundle: the runner writes outputs and results too.
_SPACE_MARGIN = 32 * 1024 * 1024

Progress = Callable[[str, str], None]


@dataclass(frozen=True)
class BundleFile:
    """One file of the bundle: where it is on the host and its path inside the bundle."""

    rel: str
    source: Path
    sha256: str
    size: int


@dataclass
class BundleEntry:
    """One artifact as the runner sees it: a report label and its (safe) manifest path in the bundle."""

    label: str
    manifest_rel: str
    manifest: Manifest
    host_path: Path
    whole: bool

    def plan(self) -> dict[str, Any]:
        """The runner plan's entry for this artifact."""
        return {"label": self.label, "manifest": self.manifest_rel, "whole": self.whole}


@dataclass
class Bundle:
    """A bundle staged on the host, ready to push."""

    files: list[BundleFile]
    entries: list[BundleEntry]
    digest: str
    clips: list[dict[str, Any]] = field(default_factory=list)

    @property
    def size(self) -> int:
        """Total bytes of every file."""
        return sum(f.size for f in self.files)

    @property
    def device_dir(self) -> str:
        """Where the bundle lives on the device."""
        return f"{CACHE_DIR}/{self.digest}"


def _module_imports(rel: str) -> set[str]:
    """Package-relative paths of the lightavseg_mobile modules `rel` imports at module level."""
    import ast

    path = PACKAGE_ROOT / rel
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    here = rel.split("/")[:-1]  # package path of the module
    found: set[str] = set()
    for node in tree.body:  # module level only: imports inside functions are optional extras
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = here[: len(here) - (node.level - 1)] if node.level > 1 else here
                mod = base + (node.module.split(".") if node.module else [])
                names = [".".join(["lightavseg_mobile", *mod])]
                names += [f"{names[0]}.{a.name}" for a in node.names]
            else:
                names = [node.module or ""] + [f"{node.module}.{a.name}" for a in node.names]
        else:
            continue
        for name in names:
            top = name.split(".")[0]
            if top in _HEAVY:
                raise DeviceError(f"{rel} imports {name} at module level: it cannot run on a device (numpy only)")
            if top != "lightavseg_mobile":
                continue
            parts = name.split(".")[1:]
            for cand in ("/".join(parts) + ".py", "/".join(parts + ["__init__.py"])):
                if parts and (PACKAGE_ROOT / cand).is_file():
                    found.add(cand)
    return found


def device_modules() -> list[str]:
    """Every package module the device runner needs: the roots, what they import, and their packages' __init__."""
    todo = list(ROOT_MODULES) + ["__init__.py"]
    seen: set[str] = set()
    while todo:
        rel = todo.pop()
        if rel in seen:
            continue
        seen.add(rel)
        parts = rel.split("/")[:-1]
        for i in range(len(parts)):
            init = "/".join(parts[: i + 1] + ["__init__.py"])
            if init not in seen:
                todo.append(init)
        todo += sorted(_module_imports(rel) - seen)
    return sorted(seen)


def _sha256_file(path: Path) -> str:
    return artifact_sha256(path)


def _add(files: list[BundleFile], rel: str, source: Path) -> None:
    files.append(BundleFile(rel, source, _sha256_file(source), source.stat().st_size))


def build_bundle(artifacts: Sequence[tuple[str, Path, Manifest, bool]], inputs: Mapping[str, np.ndarray],
                 staging: Path, clips: Sequence[dict[str, Any]] = ()) -> Bundle:
    """Stage a bundle in `staging`: artifacts as (label, path, manifest, whole), inputs as name -> array."""
    staging.mkdir(parents=True, exist_ok=True)
    files: list[BundleFile] = []
    _add(files, RUNNER, Path(__file__).with_name(RUNNER))
    for mod in device_modules():
        source = PACKAGE_ROOT / mod
        if not source.is_file():
            raise DeviceError(f"package module {source} is missing: the device bundle cannot be built")
        _add(files, f"lightavseg_mobile/{mod}", source)
    entries = []
    (staging / "artifacts").mkdir(exist_ok=True)
    for i, (label, path, manifest, whole) in enumerate(artifacts):
        spec = next((r for r in RUNTIMES.values() if r.on_device and r.format == manifest.format), None)
        if spec is None:
            formats = ", ".join(r.format for r in RUNTIMES.values() if r.on_device)
            raise DeviceError(f"{path}: format {manifest.format!r} cannot run on a device ({formats} only)")
        ext = spec.suffixes[0]
        # Safe names on the device whatever the user called the file; the manifest is rewritten to match.
        name = f"a{i:02d}{ext}"
        raw = json.loads(manifest_path(path).read_text(encoding="utf-8")) \
            if not path.name.endswith(".manifest.json") else json.loads(path.read_text(encoding="utf-8"))
        raw["artifact_file"] = name
        mrel = f"artifacts/a{i:02d}.manifest.json"
        (staging / mrel).write_text(json.dumps(raw, indent=1, sort_keys=True))
        artifact = path if not path.name.endswith(".manifest.json") else path.parent / manifest.artifact_file
        _add(files, f"artifacts/{name}", artifact)
        _add(files, mrel, staging / mrel)
        entries.append(BundleEntry(label, mrel, manifest, artifact, whole))
    (staging / "inputs").mkdir(exist_ok=True)
    for name, array in sorted(inputs.items()):
        target = staging / "inputs" / f"{name}.npy"
        np.save(target, np.ascontiguousarray(array, dtype=np.float32))
        _add(files, f"inputs/{name}.npy", target)
    (staging / "inputs" / "clips.json").write_text(json.dumps(list(clips), sort_keys=True))
    _add(files, "inputs/clips.json", staging / "inputs" / "clips.json")
    digest = bundle_digest(files)
    bundle = Bundle(files, entries, digest, list(clips))
    index = staging / INDEX_FILE
    index.write_text(json.dumps({"digest": digest, "files": {f.rel: f.sha256 for f in files}}, indent=1, sort_keys=True))
    (staging / SUMS_FILE).write_text("".join(f"{f.sha256}  {f.rel}\n" for f in files))
    return bundle


def bundle_digest(files: Sequence[BundleFile]) -> str:
    """Content hash of a bundle: every file's bundle path, size and sha256 (order-independent)."""
    h = hashlib.sha256()
    for f in sorted(files, key=lambda f: f.rel):
        h.update(f"{f.rel}\0{f.size}\0{f.sha256}\n".encode())
    return h.hexdigest()[:24]


def is_cached(device: Device, bundle: Bundle) -> bool:
    """True when the device already holds this bundle (its index is only written by a verified push)."""
    return device.shell(["test", "-f", f"{bundle.device_dir}/{INDEX_FILE}"], timeout=30.0).ok


def check_space(device: Device, needed: int) -> None:
    """Raise a one-line DeviceError when the device cannot hold `needed` more bytes in its bundle cache."""
    device.shell(["mkdir", "-p", CACHE_DIR], timeout=30.0).check(f"mkdir {CACHE_DIR}")
    free = device.free_bytes(CACHE_DIR)
    if free < needed + _SPACE_MARGIN:
        raise DeviceError(f"device {device.serial} storage is full: {free / 1e6:.1f} MB free under {CACHE_DIR}, "
                          f"the benchmark needs {(needed + _SPACE_MARGIN) / 1e6:.1f} MB; free space on the device "
                          f"(e.g. `adb -s {device.serial} shell rm -rf {CACHE_DIR}`) and retry")


def ensure_on_device(device: Device, bundle: Bundle, staging: Path, progress: Progress | None = None) -> dict[str, Any]:
    """Push the bundle unless the device has it; return {path, cached, pushed_files, pushed_bytes}."""
    say = progress or (lambda stage, msg: None)
    if is_cached(device, bundle):
        say("push", f"bundle {bundle.digest} already on {device.serial}: nothing to push")
        return {"path": bundle.device_dir, "cached": True, "pushed_files": 0, "pushed_bytes": 0}
    sweep_incoming(device, say)
    check_space(device, bundle.size)
    incoming = make_incoming(device, bundle.digest)
    say("push", f"bundle {bundle.digest}: {len(bundle.files)} files, {bundle.size / 1e6:.1f} MB -> {device.serial}")
    try:
        pushed = push_checked(device, bundle.files, staging / SUMS_FILE, incoming, "the bundle")
        device.push(staging / INDEX_FILE, f"{incoming}/{INDEX_FILE}")
        if device.shell(["test", "-e", bundle.device_dir], timeout=30.0).ok:
            device.remove_tree(bundle.device_dir)  # a leftover without a verified index
        device.shell(["mv", "--", incoming, bundle.device_dir], timeout=60.0).check("publishing the bundle")
    except BaseException:
        try:
            device.remove_tree(incoming)
        except (DeviceError, OSError):
            pass
        raise
    evict_old_bundles(device, keep=KEEP_BUNDLES, current=bundle.digest)
    return {"path": bundle.device_dir, "cached": False, "pushed_files": len(bundle.files) + 2, "pushed_bytes": pushed}


def make_incoming(device: Device, name: str, subdir: str = "") -> str:
    """Create a private upload folder in the cache with an owner record (host, pid), so a sweep can tell it is live."""
    incoming = f"{CACHE_DIR}/{INCOMING_PREFIX}{name}-{secrets.token_hex(4)}"
    device.shell(["sh", "-c", 'mkdir -p "$1/$3" && printf "%s" "$2" > "$1/$4"', "sh", incoming,
                  owner_line(incoming.rsplit("-", 1)[1]), subdir, OWNER_FILE], timeout=30.0).check(f"mkdir {incoming}")
    return incoming


def sweep_incoming(device: Device, progress: Progress | None = None) -> list[str]:
    """Delete upload folders of pushes that died: owned by a dead process of this host, or idle for 30+ minutes."""
    listing = device.shell(["sh", "-c", 'for d in "$1"/' + INCOMING_PREFIX + '*; do [ -d "$d" ] || continue; '
                            'recent=$(find "$d" -mmin -"$2" 2>/dev/null | head -n 1); '
                            'printf "%s\t%s\t%s\n" "$d" "${recent:+recent}" '
                            '"$(head -c 200 "$d/$3" 2>/dev/null | head -n 1)"; done; true',
                            "sh", CACHE_DIR, str(STALE_INCOMING_MINUTES), OWNER_FILE], timeout=60.0)
    if not listing.ok:
        return []
    host = socket.gethostname()
    removed = []
    for line in listing.stdout.splitlines():
        path, recent, owner = (line.split("\t") + ["", ""])[:3]
        if not path.startswith(f"{CACHE_DIR}/{INCOMING_PREFIX}") or "/" in path[len(CACHE_DIR) + 1:]:
            continue
        fields = owner.split()
        ours = len(fields) == 3 and fields[0] == host and fields[1].isdigit()
        if ours and int(fields[1]) == os.getpid():
            continue  # this process's own push (another thread, `--serial all` on one device)
        dead_owner = ours and not _pid_alive(int(fields[1]))
        if dead_owner or not recent:
            try:
                device.remove_tree(path)
            except DeviceError:
                continue
            removed.append(path)
    if removed and progress is not None:
        progress("push", f"removed {len(removed)} upload folder(s) left by interrupted pushes on {device.serial}")
    return removed


def push_checked(device: Device, files: Sequence[BundleFile], sums: Path, incoming: str, what: str) -> int:
    """Push `files` and their sha256 list into `incoming`, then verify them there; returns the bytes pushed."""
    pushed = 0
    for f in files:
        pushed += device.push(f.source, f"{incoming}/{f.rel}")
    device.push(sums, f"{incoming}/{sums.name}")
    # Verify on the device: a push cut short (storage full, cable pulled) must not be cached.
    check = device.shell(["sh", "-c", 'cd "$1" && sha256sum -c --quiet "$2"', "sh", incoming, sums.name],
                         timeout=120.0 + sum(f.size for f in files) / 5e6)
    if not check.ok:
        raise DeviceError(f"{what} pushed to {device.serial} failed its checksum check "
                          f"({(check.stdout + check.stderr).strip().splitlines()[-1:] or ['no output']}); "
                          "is the device storage full?")
    return pushed


def evict_old_bundles(device: Device, keep: int, current: str, prefix: str = "") -> list[str]:
    """Delete all but the `keep` most recent cache dirs named PREFIX+digest (never `current`); return what was deleted."""
    listing = device.shell(["ls", "-1t", "--", CACHE_DIR], timeout=30.0)
    if not listing.ok:
        return []
    # Only PREFIX+hex names count: bundles, runtime site dirs (site-) and binaries (bin-) are kept apart.
    names = [n for n in listing.stdout.split() if n.startswith(prefix) and len(n) > len(prefix)
             and all(c in "0123456789abcdef" for c in n[len(prefix):])]
    doomed = [n for n in names if n != prefix + current][max(0, keep - 1):]
    for name in doomed:
        device.remove_tree(f"{CACHE_DIR}/{name}")
    return doomed


# ---------------------------------------------------------------- per-run directories

_ABANDONED: set[str] = set()  # run dirs this process could not delete (device gone mid-run)


def owner_line(run_id: str) -> str:
    """The owner record written into a run dir: host, pid, run id."""
    return f"{socket.gethostname()} {os.getpid()} {run_id}\n"


def make_run_dir(device: Device, staging: Path) -> tuple[str, str]:
    """Create a private run directory on the device with an owner record; return (path, run id)."""
    run_id = secrets.token_hex(6)
    path = device.make_tempdir(RUN_PREFIX)
    owner = staging / "owner"
    owner.write_text(owner_line(run_id))
    try:
        device.push(owner, f"{path}/owner")
    except BaseException:
        device.remove_tree(path)
        raise
    return path, run_id


def kill_runner(device: Device, run_dir: str) -> bool:
    """Best effort: SIGKILL the runner's process group recorded in RUN/runner.pid; True when a kill was sent."""
    try:
        record = device.shell(["cat", "--", f"{run_dir}/runner.pid"], timeout=15.0)
        if not record.ok:
            return False  # the runner never started
        fields = record.stdout.split()
        # Parsed and checked here, not in a device shell: a pgid of 0 or 1 must never reach `kill`.
        command = kill_command(*fields[:2]) if len(fields) >= 2 else None
        if command is None:
            return False
        device.shell(command, timeout=15.0)
        return True
    except DeviceError:
        return False


def clean_run_dir(device: Device, run_dir: str) -> bool:
    """Kill the run's runner and delete its directory; on failure remember it for the next run."""
    try:
        kill_runner(device, run_dir)
        device.remove_tree(run_dir)
        _ABANDONED.discard(run_dir)
        return True
    except DeviceError:
        _ABANDONED.add(run_dir)
        return False


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def clean_stale_runs(device: Device) -> list[str]:
    """Delete run dirs left by interrupted runs of this host (dead process, or abandoned by this one)."""
    listing = device.shell(["sh", "-c", 'for d in "$1"/lavseg-run.*; do [ -d "$d" ] && '
                            'printf "%s\\t%s\\n" "$d" "$(head -c 200 "$d/owner" 2>/dev/null | head -n 1)"; done; true',
                            "sh", DEVICE_TMP], timeout=30.0)
    host = socket.gethostname()
    removed = []
    for line in listing.stdout.splitlines():
        path, _, owner = line.partition("\t")
        fields = owner.split()
        stale = path in _ABANDONED
        if len(fields) == 3 and fields[0] == host and fields[1].isdigit() and not _pid_alive(int(fields[1])):
            stale = True
        if stale and clean_run_dir(device, path):
            removed.append(path)
    return removed
