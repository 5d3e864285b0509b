"""LiteRT's `benchmark_model` binary: its command line, and parsers for its log and op-profile CSV.

The binary is not in any pip package. Users download the prebuilt `android_aarch64_benchmark_model`
(or `linux_aarch64_benchmark_model`) from the LiteRT / TensorFlow Lite "performance measurement"
page, or build `//tflite/tools/benchmark:benchmark_model` with Bazel, and pass it with
`--benchmark-binary PATH`.

Formats parsed here (from the tool's source: benchmark_model.cc, benchmark_tflite_model.cc,
profile_summary_formatter.cc and tensorflow/core/util/stats_calculator.cc):

* log lines (stderr, `INFO: ` prefix on recent builds):
  `count=50 first=.. curr=.. min=.. max=.. avg=.. std=.. [p5=.. median=.. p95=..]` (us; once for
  warm-up, once for the timed runs), `Inference timings in us: Init: .., First inference: ..,
  Warmup (avg): .., Inference (avg): ..`, `Memory footprint delta from the start of the tool (MB):
  init=.. overall=..`, `Overall peak memory footprint (MB) via periodic monitoring: ..`,
  `Replacing N out of M node(s) with delegate (KERNEL) node, yielding P partitions ...`,
  `Explicitly applied X delegate, and the model graph will be completely|partially executed ...`,
  `Though X delegate is explicitly applied, the model graph will not be executed by the delegate.`
* `--op_profiling_output_mode=csv --op_profiling_output_file=F`: sections headed
  `Profiling Info for Benchmark Initialization:` and `Operator-wise Profiling Info for Regular
  Benchmark Runs:`, each holding `==== Run Order ====` / `==== Top by Computation Time ====` tables
  with the header `node type, first, avg_ms, %, cdf%, mem KB, times called, name` (commas inside a
  name are written as tabs), a `Summary by node type` table and `Timings (microseconds): count=..`.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from lightavseg_mobile.runtime.registry import RUNTIMES, check_tool_delegate, resolve_delegate, tool_delegates

# Our delegate (runtime.registry.DELEGATES) -> the tool's flag; "cpu" is every flag false.
DELEGATE_FLAGS = tool_delegates("benchmark_model", {"xnnpack": "use_xnnpack", "nnapi": "use_nnapi", "gpu": "use_gpu"})
# How the tool names each delegate in "Explicitly applied X delegate" / "Though X delegate ...".
PROVIDER_NAMES = tool_delegates("benchmark_model", {"xnnpack": "XNNPACK", "nnapi": "NNAPI", "gpu": "GPU"})
TOOL_DELEGATES = ("cpu", *DELEGATE_FLAGS)
_KERNEL_DELEGATE = {"tflitexnnpackdelegate": "xnnpack", "tflitennapidelegate": "nnapi",
                    "tflitegpudelegatev2": "gpu", "tflitegpudelegate": "gpu"}

_NUM = r"[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?"
_STAT_LINE = re.compile(r"\bcount=(?P<count>\d+)(?P<rest>(?:\s+\w+=" + _NUM + r")*)")
_STAT_FIELD = re.compile(r"(\w+)=(" + _NUM + r")")
_TIMINGS = re.compile(r"Inference timings in us: Init: (?P<init>" + _NUM + r"), First inference: (?P<first>"
                      + _NUM + r"), Warmup \(avg\): (?P<warmup>" + _NUM + r"), Inference \(avg\): (?P<inference>"
                      + _NUM + r")")
_MEM_DELTA = re.compile(r"Memory footprint delta from the start of the tool \(MB\): init=(?P<init>" + _NUM
                        + r") overall=(?P<overall>" + _NUM + r")")
_PEAK_MEM = re.compile(r"Overall peak memory footprint \(MB\) via periodic monitoring: (?P<peak>" + _NUM + r")")
_REPLACING = re.compile(r"Replacing (?P<n>\d+) out of (?P<m>\d+) node\(s\) with delegate \((?P<kernel>[^)]+)\) node, "
                        r"yielding (?P<parts>\d+) partitions")
_APPLIED = re.compile(r"Explicitly applied (?P<name>\S+) delegate, and the model graph will be (?P<how>completely|partially)"
                      r" executed by the delegate(?: w/ (?P<kernels>\d+) delegate kernels)?")
_NOT_APPLIED = re.compile(r"Though (?P<name>\S+) delegate is explicitly applied, the model graph will not be executed")
_INIT_SESSION = re.compile(r"Initialized session in (?P<ms>" + _NUM + r")ms")
_CSV_HEADER = "node type, first, avg_ms, %, cdf%, mem KB, times called, name"
_SECTION_INIT = "Profiling Info for Benchmark Initialization:"
_SECTION_RUN = "Operator-wise Profiling Info for Regular Benchmark Runs:"


class BenchmarkOutputError(ValueError):
    """benchmark_model's output lacks the lines a result needs (it failed or is an unknown version)."""


def requested_delegate(delegate: str) -> str:
    """The delegate benchmark_model is run with for our `delegate` (auto: LiteRT's default, XNNPACK; none: cpu)."""
    concrete = resolve_delegate(RUNTIMES["litert"], delegate)
    check_tool_delegate("--runner benchmark-model", {d: d for d in TOOL_DELEGATES}, concrete)
    return concrete


def build_command(binary: str, graph: str, *, threads: int, warmup: int, runs: int, delegate: str,
                  profile_csv: str | None = None) -> list[str]:
    """Return benchmark_model's argv for one .tflite (a list: never joined into a shell string here)."""
    if delegate not in TOOL_DELEGATES:
        raise ValueError(f"unknown delegate {delegate!r}; choose one of: {', '.join(TOOL_DELEGATES)}")
    args = [binary, f"--graph={graph}", f"--num_threads={threads}", f"--warmup_runs={warmup}",
            f"--num_runs={runs}",
            # min_secs=0 makes num_runs exact; the defaults keep running for at least 1 s.
            "--min_secs=0", "--warmup_min_secs=0"]
    # cpu means the builtin kernels: recent builds apply XNNPACK by default unless told not to.
    for name, flag in DELEGATE_FLAGS.items():
        args.append(f"--{flag}={'true' if delegate == name else 'false'}")
    if profile_csv is not None:
        args += ["--enable_op_profiling=true", "--op_profiling_output_mode=csv",
                 f"--op_profiling_output_file={profile_csv}"]
    args.append("--report_peak_memory_footprint=true")
    return args


def _stat(line_match: re.Match[str]) -> dict[str, float]:
    fields = {k: float(v) for k, v in _STAT_FIELD.findall(line_match["rest"])}
    fields["count"] = float(line_match["count"])
    return fields


def parse_log(text: str) -> dict[str, Any]:
    """Parse benchmark_model's log (stdout + stderr) into timings (us), memory (MB) and delegation facts."""
    stats = []
    for line in text.splitlines():
        # "Timings (microseconds): count=" lines belong to op profiles and "Memory (bytes)" to memory.
        if "Timings (microseconds)" in line or "Memory (bytes)" in line:
            continue
        m = _STAT_LINE.search(line)
        if m and "avg=" in line:
            stats.append(_stat(m))
    timings = _TIMINGS.search(text)
    if timings is None or not stats:
        tail = [ln for ln in text.strip().splitlines() if ln.strip()][-1:] or ["no output"]
        raise BenchmarkOutputError(f"benchmark_model printed no timing summary (last line: {tail[0].strip()[:200]})")
    out: dict[str, Any] = {
        "init_us": float(timings["init"]),
        "first_inference_us": float(timings["first"]),
        "warmup_avg_us": float(timings["warmup"]),
        "inference_avg_us": float(timings["inference"]),
        # The last count= line is the timed runs; the one before (if any) is the warm-up.
        "runs": stats[-1],
        "warmup": stats[-2] if len(stats) > 1 else None,
    }
    mem = _MEM_DELTA.search(text)
    out["memory_delta_mb"] = {"init": float(mem["init"]), "overall": float(mem["overall"])} if mem else None
    peak = _PEAK_MEM.search(text)
    out["peak_memory_mb"] = float(peak["peak"]) if peak else None
    session = _INIT_SESSION.search(text)
    out["init_session_ms"] = float(session["ms"]) if session else None
    out["delegation"] = parse_delegation(text)
    return out


def parse_delegation(text: str) -> dict[str, Any]:
    """Which delegates took which share of the graph, from the tool's own statements."""
    replaced = []
    for m in _REPLACING.finditer(text):
        kernel = m["kernel"]
        replaced.append({"kernel": kernel, "delegate": _KERNEL_DELEGATE.get(kernel.lower(), kernel),
                         "nodes_delegated": int(m["n"]), "nodes_total": int(m["m"]), "partitions": int(m["parts"])})
    applied = {}
    for m in _APPLIED.finditer(text):
        applied[m["name"].upper()] = "complete" if m["how"] == "completely" else "partial"
    for m in _NOT_APPLIED.finditer(text):
        applied[m["name"].upper()] = "none"
    return {"replaced": replaced, "applied": applied}


def delegate_outcome(requested: str, delegation: dict[str, Any]) -> dict[str, Any]:
    """What actually ran for a requested delegate: {used, coverage, fallback_reason or None}."""
    if requested == "cpu":
        # XNNPACK may still appear when the build forces it; then cpu was not honoured.
        xnn = [r for r in delegation["replaced"] if r["delegate"] == "xnnpack" and r["nodes_delegated"] > 0]
        if xnn:
            return {"used": "xnnpack", "coverage": _coverage(xnn),
                    "fallback_reason": "the binary applied XNNPACK although --use_xnnpack=false was passed"}
        return {"used": "cpu", "coverage": None, "fallback_reason": None}
    name = PROVIDER_NAMES[requested]
    state = delegation["applied"].get(name)
    taken = [r for r in delegation["replaced"] if r["delegate"] == requested and r["nodes_delegated"] > 0]
    if state in ("complete", "partial") or (state is None and taken):
        return {"used": requested, "coverage": _coverage(taken) if taken else state, "fallback_reason": None}
    reason = (f"{name} delegate was created but took no node of the graph" if state == "none"
              else f"the binary reported no {name} delegate (unsupported on this device or build)")
    xnn = [r for r in delegation["replaced"] if r["delegate"] == "xnnpack" and r["nodes_delegated"] > 0]
    return {"used": "xnnpack" if xnn else "cpu", "coverage": _coverage(xnn) if xnn else None, "fallback_reason": reason}


def _coverage(rows: Sequence[dict[str, Any]]) -> str:
    n = sum(r["nodes_delegated"] for r in rows)
    m = max(r["nodes_total"] for r in rows)
    return f"{n}/{m} nodes"


def _split_row(line: str, width: int) -> list[str]:
    # The name is last and may itself contain ", " (e.g. "[a, b]:3" written by older builds).
    parts = [p.strip() for p in line.split(",", width - 1)]
    return parts


def _pct(text: str) -> float:
    return float(text.rstrip("%").strip())


def parse_op_profile_csv(text: str) -> dict[str, Any]:
    """Parse an op-profile CSV into {"init": [...], "run": [...], "by_type": {...}} (times in ms).

    "run" holds the "Run Order" table of the regular runs: one row per op (or delegate partition)
    with node_type, first_ms, avg_ms, percent, cdf_percent, mem_kb, times_called, name.
    """
    section = None
    table = None
    out: dict[str, Any] = {"init": [], "run": [], "by_type": {}, "run_timings_us": None}
    for raw in text.splitlines():
        line = raw.rstrip("\n")
        stripped = line.strip()
        if stripped == _SECTION_INIT:
            section, table = "init", None
            continue
        if stripped == _SECTION_RUN:
            section, table = "run", None
            continue
        if stripped.startswith("=====") and stripped.endswith("====="):
            table = stripped.strip("= ").strip()
            continue
        if not stripped or section is None or stripped.startswith("node type,"):
            continue
        if stripped.startswith("Timings (microseconds):"):
            m = _STAT_LINE.search(stripped)
            if m and section == "run":
                out["run_timings_us"] = _stat(m)
            continue
        if stripped.startswith(("Memory (bytes)", "Number of nodes executed")) or stripped.endswith("nodes observed"):
            continue
        if table == "Run Order":
            cols = _split_row(stripped, 8)
            if len(cols) != 8:
                raise BenchmarkOutputError(f"op-profile CSV row has {len(cols)} fields, expected 8: {stripped[:120]!r}")
            try:
                row = {"node_type": cols[0], "first_ms": float(cols[1]), "avg_ms": float(cols[2]),
                       "percent": _pct(cols[3]), "cdf_percent": _pct(cols[4]), "mem_kb": float(cols[5]),
                       "times_called": int(float(cols[6])), "name": cols[7].replace("\t", ",")}
            except ValueError:
                raise BenchmarkOutputError(f"op-profile CSV row is not numeric where expected: {stripped[:120]!r}") from None
            out[section].append(row)
        elif table == "Summary by node type" and section == "run":
            cols = [c.strip() for c in stripped.split(",")]
            if len(cols) == 7:
                try:
                    out["by_type"][cols[0]] = {"count": int(cols[1]), "avg_ms": float(cols[2]),
                                               "percent": _pct(cols[3]), "times_called": int(float(cols[6]))}
                except ValueError:
                    raise BenchmarkOutputError(f"op-profile summary row is not numeric where expected: "
                                               f"{stripped[:120]!r}") from None
    if not out["run"]:
        raise BenchmarkOutputError("op-profile CSV has no 'Run Order' rows for the regular runs "
                                   f"(expected the header {_CSV_HEADER!r}); was --op_profiling_output_mode=csv honoured?")
    return out


def latency_ms(parsed: dict[str, Any]) -> dict[str, Any]:
    """The report's latency_ms block from parse_log's timed-runs stats.

    benchmark_model prints no p90/p99 and no samples: p50 is its median (its mean on builds that
    print no median), p90 its p95 and p99 its max, so both are upper bounds (said in `note`).
    """
    s = parsed["runs"]
    us = 1e-3
    p50 = s.get("median", s["avg"]) * us
    return {
        "p50": p50, "p90": s.get("p95", s["max"]) * us, "p99": s["max"] * us, "mean": s["avg"] * us,
        "std": s.get("std", 0.0) * us, "min": s["min"] * us, "max": s["max"] * us, "runs": int(s["count"]),
        "fps": 1000.0 / max(p50, 1e-9),
        "note": ("from benchmark_model's summary line: p50 = its median" + ("" if "median" in s else " (mean: no median printed)")
                 + ", p90 = its p95, p99 = its max (upper bounds: the tool prints no other percentiles)"),
    }
