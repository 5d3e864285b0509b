"""One benchmark target in its own process: load, run once (cold start), then time runs on request.

Started by `bench.runners.host_worker.Worker` as `python -m lightavseg_mobile.bench.worker SPEC_JSON`. It speaks
one JSON object per line on its original stdout; everything libraries print goes to stderr.
Each artifact lives in its own process so that its peak RSS and cold start are its own, and so
that runtimes' thread pools never compete: only one worker computes at a time.
"""

from __future__ import annotations

import json
import traceback
import os
import sys
import time

_T_START = time.perf_counter()


def _emit(stream, obj: dict) -> None:
    stream.write(json.dumps(obj, default=str) + "\n")
    stream.flush()


def _time(fn, n: int) -> list[float]:
    """`n` consecutive calls of fn, each timed in ms."""
    clock = time.perf_counter_ns
    times = []
    for _ in range(n):
        t0 = clock()
        fn()
        times.append((clock() - t0) / 1e6)
    return times


def make_inputs(specs, seed: int, given: dict | None = None) -> dict:
    """Float32 inputs matching the manifest's logical shapes: `given` arrays if any, else seeded normal noise."""
    import numpy as np

    from ..artifact import tensors

    if given is not None:
        return tensors.validate_inputs(specs, given)
    rng = np.random.default_rng(seed)
    return {s.name: rng.standard_normal(tensors.logical_shape(s)).astype(np.float32) for s in specs}


def build_target(spec: dict):
    """(callable running one inference, info dict, runtime or None, boundary factory or None) for a target spec.

    The factory makes `runtime.boundary_call` (the numpy part of a whole model's timed run) when asked: making it
    runs the model once, which must not happen before the cold start's first run is timed.
    """
    kind = spec["kind"]
    threads = int(spec["threads"])
    if kind in ("runtime", "torch", "torch-compile"):
        from ..runtime import boundary_call, load_runtime, timed_call

        options = {}
        if spec.get("profile_dir"):
            options["profile_dir"] = spec["profile_dir"]
        rt = load_runtime(spec["path"], runtime=spec.get("runtime", "auto"), threads=threads,
                          delegate=spec.get("delegate", "auto"), **options)
        given = None
        if spec.get("inputs_npz"):
            import numpy as np

            with np.load(spec["inputs_npz"]) as z:
                given = {k: z[k] for k in z.files}
        feed = make_inputs(rt.manifest.inputs, int(spec.get("seed", 0)), given)
        info = rt.info()
        if kind == "torch-compile":
            import torch

            rt.module = torch.compile(rt.module, mode=spec.get("compile_mode") or "default")
            info = {**info, "runtime": "torch.compile", "compile_mode": spec.get("compile_mode") or "default"}
        fn, how = timed_call(rt, feed)
        return fn, {**info, "timed": how}, rt, (lambda: boundary_call(rt, feed))
    if kind == "executorch":
        from .peers import executorch_runner

        fn, info = executorch_runner(spec["path"], threads, int(spec.get("seed", 0)))
        return fn, info, None, None
    from ..errors import UserError

    raise UserError(f"unknown benchmark target kind {kind!r}")


def main(argv: list[str]) -> int:
    """Serve one target: emit `ready` after the first result, then answer run/profile/exit commands."""
    out = os.fdopen(os.dup(1), "w", buffering=1)
    # Libraries print to stdout (converters, ORT warnings): keep the protocol channel clean.
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    from ..errors import UserError
    from ..runtime.timing import process_peak_rss_mb

    spec = json.loads(argv[0])
    try:
        t_imp = time.perf_counter()
        fn, info, rt, make_boundary = build_target(spec)
        t_load = time.perf_counter()
        fn()
        t_first = time.perf_counter()
    except UserError as exc:
        _emit(out, {"event": "error", "message": str(exc), "exit_code": exc.exit_code,
                    "traceback": traceback.format_exc()})
        return exc.exit_code
    except Exception as exc:  # a runtime crash must reach the parent as one line, not a hang
        # The traceback travels too: the parent shows it with --debug (a bug of ours must stay findable).
        _emit(out, {"event": "error", "message": f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}",
                    "exit_code": 1, "traceback": traceback.format_exc()})
        return 1
    _emit(out, {"event": "ready", "startup_ms": (t_imp - _T_START) * 1e3, "load_ms": (t_load - t_imp) * 1e3,
                "first_run_ms": (t_first - t_load) * 1e3, "info": info, "rss_mb": process_peak_rss_mb()})
    for line in sys.stdin:
        try:
            if not _serve(out, json.loads(line), fn, rt, make_boundary):
                return 0
        except Exception as exc:  # noqa: BLE001 - a crash mid-run reaches the parent as an error reply, with traceback
            _emit(out, {"event": "error", "message": f"{type(exc).__name__}: {(str(exc).splitlines() or [''])[0]}",
                        "exit_code": 1, "traceback": traceback.format_exc()})
            return 1
    return 0


def _serve(out, cmd: dict, fn, rt, make_boundary) -> bool:  # noqa: ANN001 - the worker's own objects
    """Answer one command; False after `exit`."""
    from ..runtime.timing import process_peak_rss_mb

    if cmd["cmd"] == "run":
        _emit(out, {"event": "times", "times": _time(fn, int(cmd["n"]))})
    elif cmd["cmd"] == "boundary":
        boundary = make_boundary() if make_boundary is not None else None
        _emit(out, {"event": "times", "times": _time(boundary, int(cmd["n"])) if boundary is not None else []})
    elif cmd["cmd"] == "profile":
        path = rt.end_profile() if rt is not None and hasattr(rt, "end_profile") else None
        _emit(out, {"event": "profile", "path": str(path) if path else None})
    elif cmd["cmd"] == "exit":
        _emit(out, {"event": "bye", "peak_rss_mb": process_peak_rss_mb()})
        return False
    return True


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
