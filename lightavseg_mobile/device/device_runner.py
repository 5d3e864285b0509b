"""The benchmark runner that runs ON the device (Python + numpy + ONNX Runtime / LiteRT, never torch).

It is pushed as the top-level script of a bundle (see runner_bundle.py) next to the package modules
it imports, the artifacts with their manifests and the held-out inputs as .npy:

    env PYTHONPATH=SITE python3 -S BUNDLE/device_runner.py --bundle BUNDLE --out RUNDIR --plan '{json}'

SITE holds the pushed numpy/runtime wheels (wheels.py); with `--device-wheels device` it is plain
`python3` on the device's own packages. result.json says where each runtime was imported from.

It loads every artifact (delegate checked against what was asked), times them with the host's
protocol (warm-up, interleaved rounds, same summary), measures cold start and peak RSS of each
artifact (whole models and split sub-models) in a fresh child process, runs the held-out frames through every whole model and
writes RUNDIR/result.json after every phase (so a killed run still leaves what it finished) and
RUNDIR/outputs/LABEL.npy. Exit 0 when complete, 3 for a delegate that is unavailable without
--allow-fallback, 1 for any other failure; the last stderr line is then a one-line reason.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
import traceback
from pathlib import Path
from typing import Any

RESULT_FILE = "result.json"
PID_FILE = "runner.pid"
EXIT_DELEGATE = 3
RUNNER_VERSION = 1
_T0 = time.perf_counter()


class DelegateUnavailable(Exception):
    """The requested delegate cannot run this artifact here and no fallback was allowed."""


def _fsync_dir(path: Path) -> None:
    """fsync a directory so a rename in it survives a power loss (best effort: not every filesystem allows it)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _publish(path: Path, write: Any) -> None:
    """Atomic and durable: `write(handle)` into a temp file, fsync it, rename it onto `path`, fsync the directory.

    A phone losing power (or the host pulling the cable) then leaves the previous result.json, never an empty one."""
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as handle:
        write(handle)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)
    _fsync_dir(path.parent)


def _write_json(path: Path, data: dict[str, Any]) -> None:
    """Write JSON atomically and durably, so a pull never sees half a file."""
    text = json.dumps(data, indent=1, sort_keys=True).encode("utf-8")
    _publish(path, lambda handle: handle.write(text))


def _versions() -> dict[str, str]:
    from importlib import metadata

    out = {"python": platform.python_version()}
    for dist in ("numpy", *(d for _, d in _device_distributions(every=True))):
        try:
            out[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            pass
    return out


def _device_distributions(every: bool) -> list[tuple[str, str]]:
    """(import name, distribution) of the on-device runtimes in the registry: the preferred one each, or all."""
    from lightavseg_mobile.runtime.registry import RUNTIMES

    return [d for s in RUNTIMES.values() if s.on_device for d in (s.distributions if every else s.distributions[:1])]


def runtime_imports() -> dict[str, dict[str, Any]]:
    """Where numpy, onnxruntime and ai_edge_litert come from in this interpreter, and their versions."""
    import importlib.util
    from importlib import metadata

    out: dict[str, dict[str, Any]] = {}
    # Reported with their paths: the pushed site dir (--device-wheels bundle) or the device's own packages.
    for module, dist in (("numpy", "numpy"), *_device_distributions(every=False)):
        loaded = sys.modules.get(module)
        # find_spec of a top-level package imports nothing: a runtime this run does not use stays unloaded.
        spec = None if loaded is not None else importlib.util.find_spec(module)
        path = getattr(loaded, "__file__", None) if loaded is not None else (spec.origin if spec else None)
        try:
            version = metadata.version(dist)
        except metadata.PackageNotFoundError:
            version = None
        out[module] = {"path": path, "version": getattr(loaded, "__version__", None) or version,
                       "imported": loaded is not None}
    return out


def runtime_of(manifest_format: str) -> str:
    """The runtime that runs artifacts of `manifest_format` (runtime.registry): onnxruntime, litert."""
    from lightavseg_mobile.runtime.registry import spec_for_format

    return spec_for_format(manifest_format).name


def load_with_delegate(path: Path, fmt: str, delegate: str, allow_fallback: bool, threads: int) -> tuple[Any, dict[str, Any]]:
    """Load an artifact with the asked delegate (our vocabulary, runtime.registry); return (runtime, {requested, used,
    fallback}) with `used` in our vocabulary too."""
    from lightavseg_mobile.errors import UserError
    from lightavseg_mobile.runtime import load_runtime
    from lightavseg_mobile.runtime.registry import check_delegate, our_delegate, spec_for_format

    spec = spec_for_format(fmt)
    runtime = spec.name
    check_delegate(delegate)
    # None: the delegate exists but not from Python, or not for this runtime at all: unavailable here either way.
    wanted = spec.delegates.get(delegate)
    reason = None
    rt = None
    if wanted is None:
        reason = f"{delegate} is not available to {runtime} from Python on this device"
    else:
        try:
            rt = load_runtime(path, runtime=runtime, threads=threads, delegate=delegate)
        except UserError as exc:
            if "not available" not in str(exc) and "did not start" not in str(exc):
                raise
            reason = str(exc)
        if rt is not None:
            used = rt.info().get("delegate")
            # LiteRT says "none" when XNNPACK was asked for but took nothing.
            if delegate == "xnnpack" and used not in ("xnnpack",):
                reason = f"{runtime} did not apply XNNPACK to {path.name} (delegate {used!r})"
    outcome: dict[str, Any] = {"requested": delegate, "used": delegate, "fallback": None}
    if reason is None:
        assert rt is not None
        outcome["used"] = our_delegate(spec, rt.info().get("delegate")) or delegate
        return rt, outcome
    if not allow_fallback:
        raise DelegateUnavailable(f"delegate {delegate!r} is unavailable for {path.name} ({reason}); "
                                  "pass --allow-fallback to run on the CPU path instead")
    if rt is None:
        rt = load_runtime(path, runtime=runtime, threads=threads, delegate=spec.cpu_fallback)
    outcome["used"] = our_delegate(spec, rt.info().get("delegate")) or spec.cpu_fallback
    outcome["fallback"] = {"from": delegate, "to": outcome["used"], "reason": reason}
    return rt, outcome


def synthetic_inputs(manifest: Any, seed: int = 0) -> dict[str, Any]:
    """Deterministic float32 inputs of the artifact's logical shapes (for sub-model timing)."""
    import numpy as np

    from lightavseg_mobile.artifact.tensors import logical_shape

    rng = np.random.default_rng(seed)
    return {s.name: rng.standard_normal([max(1, d) for d in logical_shape(s)]).astype(np.float32)
            for s in manifest.inputs}


def heldout_inputs(bundle: Path, manifest: Any) -> list[dict[str, Any]]:
    """One feed per held-out frame for a whole-model artifact (frame + the audio form it takes)."""
    import numpy as np

    names = [s.name for s in manifest.inputs]
    arrays = {n: np.load(bundle / "inputs" / f"{n}.npy") for n in names}
    count = len(next(iter(arrays.values())))
    return [{n: arrays[n][i:i + 1] for n in names} for i in range(count)]


def _first_feed(bundle: Path, manifest: Any) -> dict[str, Any]:
    return heldout_inputs(bundle, manifest)[0] if manifest.module == "model" else synthetic_inputs(manifest)


def cold_child(bundle: Path, entry: dict[str, Any], plan: dict[str, Any]) -> int:
    """Child mode: load one artifact, run it once, print one JSON line (peak RSS), exit."""
    from lightavseg_mobile.runtime.timing import process_peak_rss_mb
    from lightavseg_mobile.artifact.manifest import load_manifest

    manifest, _ = load_manifest(bundle / entry["manifest"], verify=False)
    rt, _ = load_with_delegate(bundle / entry["manifest"], manifest.format, plan["delegate"], plan["allow_fallback"],
                               plan["threads"])
    rt.run(_first_feed(bundle, manifest))
    print(json.dumps({"first_result": True, "peak_rss_mb": process_peak_rss_mb()}), flush=True)
    return 0


def _cold_start(bundle: Path, entry: dict[str, Any], plan: dict[str, Any], timeout: float) -> dict[str, Any]:
    """Spawn a fresh interpreter for one artifact: wall time to its first result, and its peak RSS."""
    # Same interpreter flags as this one: with -S (pushed runtimes) the child must not see the device's packages.
    cmd = [sys.executable, *(["-S"] if sys.flags.no_site else []), str(Path(__file__).resolve()), "--bundle",
           str(bundle), "--plan", json.dumps(plan), "--cold", entry["label"], "--out", "."]
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline() if proc.stdout else ""
        elapsed = (time.perf_counter() - t0) * 1000.0
        _, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        return {"cold_start_ms": None, "peak_rss_mb": None, "error": f"cold-start child timed out after {timeout:g} s"}
    try:
        info = json.loads(line)
    except ValueError:
        last = (err or "").strip().splitlines()[-1:] or ["no output"]
        return {"cold_start_ms": None, "peak_rss_mb": None, "error": f"cold-start child failed: {last[0][:200]}"}
    return {"cold_start_ms": elapsed, "peak_rss_mb": info.get("peak_rss_mb"), "error": None}


def _load_all(bundle: Path, plan: dict[str, Any], result: dict[str, Any], save: Any) -> tuple[dict, dict]:
    """Phase load: every artifact with its delegate, run once; (label -> runtime, label -> the feed it is timed on)."""
    from lightavseg_mobile.artifact.manifest import load_manifest

    runtimes: dict[str, Any] = {}
    feeds: dict[str, dict[str, Any]] = {}
    for entry in plan["artifacts"]:
        label = entry["label"]
        mpath = bundle / entry["manifest"]
        manifest, _ = load_manifest(mpath, verify=True)  # the bundle's copy must be the exported bytes
        t0 = time.perf_counter()
        rt, delegate = load_with_delegate(mpath, manifest.format, plan["delegate"], plan["allow_fallback"], plan["threads"])
        load_ms = (time.perf_counter() - t0) * 1000.0
        feed = _first_feed(bundle, manifest)
        t0 = time.perf_counter()
        rt.run(feed)
        first_ms = (time.perf_counter() - t0) * 1000.0
        runtimes[label], feeds[label] = rt, feed
        result["artifacts"][label] = {"module": manifest.module, "runtime": rt.info(), "delegate": delegate,
                                      "load_ms": load_ms, "first_run_ms": first_ms, "samples_ms": None,
                                      "cold_start_ms": None, "peak_rss_mb": None, "outputs": None}
        save()
    return runtimes, feeds


def _time_all(plan: dict[str, Any], runtimes: dict, feeds: dict, result: dict[str, Any]) -> None:
    """Phase time: the host's protocol (interleaved, warm-up discarded), then whole models' numpy conversion alone."""
    import numpy as np

    from lightavseg_mobile.runtime import boundary_call, timed_call
    from lightavseg_mobile.runtime.timing import interleaved_timing, process_peak_rss_mb

    runners = {label: timed_call(rt, feeds[label])[0] for label, rt in runtimes.items()}
    samples = interleaved_timing(runners, warmup=plan["warmup"], runs=plan["runs"], block=plan["block"])
    for label, values in samples.items():
        result["artifacts"][label]["samples_ms"] = values
    for entry in plan["artifacts"]:  # the numpy part of a whole model's time, for the module-sum check
        convert = boundary_call(runtimes[entry["label"]], feeds[entry["label"]]) if entry.get("whole") else None
        if convert is not None:
            times = interleaved_timing({"convert": convert}, warmup=1, runs=plan["runs"])["convert"]
            result["artifacts"][entry["label"]]["boundary_ms"] = float(np.median(times))
    result["process_peak_rss_mb"] = process_peak_rss_mb()


def _outputs(bundle: Path, out: Path, plan: dict[str, Any], runtimes: dict, result: dict[str, Any], save: Any) -> None:
    """Phase outputs: every whole model's mask logits over the held-out frames, as RUNDIR/outputs/LABEL.npy."""
    import numpy as np

    for entry in plan["artifacts"]:
        if not entry.get("whole"):
            continue
        label = entry["label"]
        rt = runtimes[label]
        outs = [rt.run(feed)["mask_logits"] for feed in heldout_inputs(bundle, rt.manifest)]
        name = f"outputs/{label}.npy"
        array = np.concatenate(outs).astype(np.float32)
        _publish(out / name, lambda handle, a=array: np.save(handle, a))
        result["artifacts"][label]["outputs"] = name
        save()


def _cold_starts(bundle: Path, plan: dict[str, Any], result: dict[str, Any], save: Any) -> None:
    """Phase cold_start: each artifact (split sub-models too, as on the host) in a fresh process: first result, RSS."""
    for entry in plan["artifacts"]:
        cold = _cold_start(bundle, entry, plan, timeout=plan.get("cold_timeout_s", 600.0))
        row = result["artifacts"][entry["label"]]
        row["cold_start_ms"], row["peak_rss_mb"] = cold["cold_start_ms"], cold["peak_rss_mb"]
        if cold["error"]:
            result["errors"].append(f"{entry['label']}: {cold['error']}")
        save()


def run(bundle: Path, out: Path, plan: dict[str, Any]) -> int:
    """Main mode: load, time, held-out outputs, cold starts; result.json rewritten after each phase (and step)."""
    out.mkdir(parents=True, exist_ok=True)
    (out / "outputs").mkdir(exist_ok=True)
    result: dict[str, Any] = {
        "runner_version": RUNNER_VERSION, "complete": False, "phase": "load", "libraries": _versions(),
        "machine": platform.machine(), "import_ms": (time.perf_counter() - _T0) * 1000.0,
        "imports": runtime_imports(), "plan": plan, "artifacts": {}, "errors": [],
    }

    def save(phase: str | None = None) -> None:
        if phase is not None:
            result["phase"] = phase
        _write_json(out / RESULT_FILE, result)

    save()
    runtimes, feeds = _load_all(bundle, plan, result, save)
    save("time")
    _time_all(plan, runtimes, feeds, result)
    save()
    if plan.get("outputs", True):
        save("outputs")
        _outputs(bundle, out, plan, runtimes, result, save)
    if plan.get("cold_start", True):
        save("cold_start")
        runtimes.clear()  # free the models before measuring fresh processes
        _cold_starts(bundle, plan, result, save)
    result["imports"] = runtime_imports()  # now with the runtimes this run loaded
    result["complete"] = True
    result["wall_s"] = time.perf_counter() - _T0
    save("done")
    return 0


def main(argv: list[str] | None = None) -> int:
    """Entry point on the device; one-line errors on stderr, exit codes as in the module docstring."""
    ap = argparse.ArgumentParser(prog="device_runner.py")
    ap.add_argument("--bundle", required=True, type=Path)
    ap.add_argument("--out", required=True, type=Path)
    ap.add_argument("--plan", required=True, help="the run plan as JSON")
    ap.add_argument("--cold", default=None, help="child mode: label of the one artifact to cold-start")
    args = ap.parse_args(argv)
    bundle = args.bundle.resolve()
    # The bundle holds the package modules the runner needs (numpy-only parts of lightavseg_mobile).
    sys.path.insert(0, str(bundle))
    plan = json.loads(args.plan)
    if args.cold is None:
        args.out.mkdir(parents=True, exist_ok=True)
        # Lets the host kill this process group if it is interrupted or times out.
        # Our own process group, so the host's kill takes the runner and its cold-start children and nothing else
        # (adbd's group included); fails harmlessly when we already lead a session (adbd ran setsid for us).
        try:
            os.setpgid(0, 0)
        except OSError:
            pass
        # In a pid namespace the group can read as 0 (its leader lives outside): the host then kills the pid only.
        (args.out / PID_FILE).write_text(f"{os.getpid()} {os.getpgid(0)}\n")
    try:
        if args.cold is not None:
            entry = next(e for e in plan["artifacts"] if e["label"] == args.cold)
            return cold_child(bundle, entry, plan)
        return run(bundle, args.out, plan)
    except DelegateUnavailable as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_DELEGATE
    except Exception as exc:  # noqa: BLE001 - the host shows this one line; the traceback goes before it
        traceback.print_exc()
        first = str(exc).splitlines()[0] if str(exc) else ""
        print(f"error: {type(exc).__name__}: {first}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
