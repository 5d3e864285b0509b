"""Per-module time of a whole ONNX model from ONNX Runtime's per-node profile, in a worker of its own."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from . import modules as mod
from .plan import Target
from .runners.base import RunSettings
from .runners.host import worker_spec
from .runners.host_worker import Worker


def ort_profile(t: Target, settings: RunSettings, profile_runs: int) -> dict[str, Any]:
    """Per-module time of an ONNX artifact from ORT's per-node profile, nodes mapped back to torch modules."""
    from ..runtime.onnxruntime_rt import OPTIMIZED_GRAPH

    names, names_file = mod.load_names_map(t.path, t.manifest)
    warmup = min(settings.warmup, 3)
    with tempfile.TemporaryDirectory(prefix="lavseg-ortprof-") as d:
        w = Worker(f"{t.label} (profiled)", worker_spec(t, settings.delegate, settings.threads, profile_dir=d))
        try:
            w.run(warmup)
            w.run(profile_runs)
            trace = w.end_profile()
        finally:
            w.close()
        producers = mod.output_producers(t.path)
        graph_modules = mod.optimized_graph_modules(Path(d) / OPTIMIZED_GRAPH, names, producers)
        # The ready run and the warm-up runs are in the trace too: skip them.
        res = mod.parse_ort_profile(trace, names, skip_runs=1 + warmup, producers=producers, graph_modules=graph_modules)
    res["names_map"] = str(names_file)
    return res
