"""Per-module cost: from split sub-models, from ONNX Runtime per-node profiles, and the paper's published table."""

from __future__ import annotations

import json
from pathlib import Path

from ..errors import UserError
from .protocol import paired_sum_ratio

MODULES = ("visual", "audio", "reciprocal_encoder", "fusion_decoder", "seg_head")
SUM_TOLERANCE = 0.15

# Published in the paper (arXiv 2605.08805), Snapdragon 8 Elite CPU, TNN runtime: NOT measured here.
PAPER_REFERENCE = {
    "source": "LightAVSeg paper (arXiv 2605.08805, ICML 2026), published numbers, not measured here",
    "device": "Snapdragon 8 Elite CPU",
    "runtime": "TNN",
    "total_ms": 163.4,
    "modules_ms": {"visual": 139.4, "seg_head": 7.6, "audio": 6.3, "reciprocal_encoder": 6.1, "fusion_decoder": 4.1},
    "peers_ms": {"AVSegFormer-R50": 1271.4, "TPAVI": 753.5},
    "note": "shares are of the sum of the five module times (163.5 ms; the paper's total is 163.4 ms)",
}


def paper_shares() -> dict[str, float]:
    """The paper's per-module share of the module sum."""
    ms = PAPER_REFERENCE["modules_ms"]
    total = sum(ms.values())
    return {m: ms[m] / total for m in MODULES}


def sum_check(artifact: str, source: str, module_ms: dict[str, float], whole_ms: float,
              tolerance: float = SUM_TOLERANCE, boundary_ms: float = 0.0,
              paired_rel_diff: float | None = None) -> dict:
    """The `module_sums[]` row: do the five module times add up to the whole model's time within tolerance?

    `boundary_ms` is the numpy conversion inside the whole model's end-to-end time that no sub-model timing
    contains (`runtime.boundary_call`); it is added to the sum and shown, never hidden. `paired_rel_diff`
    (`protocol.paired_sum_ratio` - 1) is the same comparison made round by round; when given it is what the
    tolerance judges, because drift of a shared machine moves overall p50s apart but not a round's ratio.
    """
    total = float(sum(module_ms.get(m, 0.0) for m in MODULES))
    rel = (total + boundary_ms - whole_ms) / whole_ms if whole_ms > 0 else float("inf")
    judged = rel if paired_rel_diff is None else float(paired_rel_diff)
    row = {"artifact": artifact, "source": source, "sum_ms": total, "boundary_ms": float(boundary_ms),
           "whole_ms": float(whole_ms), "rel_diff": rel, "tolerance": tolerance,
           "within_tolerance": bool(abs(judged) <= tolerance)}
    if paired_rel_diff is not None:
        row["paired_rel_diff"] = float(paired_rel_diff)
    return row


def split_sum_check(artifact: str, module_ms: dict[str, float], whole_ms: float, boundary_ms: float,
                    part_samples: list[list[float]] | None, whole_samples: list[float] | None, block: int) -> dict:
    """`sum_check` of split sub-models, judged paired by round when their samples came from one interleaved run
    with the whole model's (`part_samples` None when they did not)."""
    ratio = (paired_sum_ratio(part_samples, whole_samples, block, boundary_ms)
             if part_samples is not None and whole_samples is not None else None)
    return sum_check(artifact, "split", module_ms, whole_ms, boundary_ms=boundary_ms,
                     paired_rel_diff=None if ratio is None else ratio - 1.0)


def sum_summary(s: dict) -> str:
    """One line for a `module_sums[]` row, for the human output of host and device benches."""
    paired = f", paired by round {100 * s['paired_rel_diff']:+.1f}%" if s.get("paired_rel_diff") is not None else ""
    return (f"sum {s['sum_ms']:.2f} ms + I/O conversion {s.get('boundary_ms', 0.0):.2f} ms vs whole {s['whole_ms']:.2f} ms "
            f"(p50s {100 * s['rel_diff']:+.1f}%{paired}: {'within' if s['within_tolerance'] else 'OUTSIDE'} "
            f"{100 * s['tolerance']:.0f}%)")


def module_rows(artifact: str, source: str, module_ms: dict[str, float], cost: dict | None) -> list[dict]:
    """`modules[]` rows of one artifact: time, share of the module sum, params, GFLOPs and the paper's share beside it."""
    # Shares of everything timed, unattributed time included, so they add up to 100 %.
    total = sum(module_ms.values()) or 1.0
    shares = paper_shares()
    rows = []
    for m in MODULES + (("other",) if "other" in module_ms else ()):
        if m not in module_ms:
            continue
        c = (cost or {}).get(m, {})
        rows.append({"artifact": artifact, "module": m, "source": source, "time_ms": float(module_ms[m]),
                     "share": float(module_ms[m]) / total, "params": c.get("params"), "gflops": c.get("gflops"),
                     "paper_ms": PAPER_REFERENCE["modules_ms"].get(m), "paper_share": shares.get(m)})
    return rows


# ------------------------------------------------------------------ ORT profiles

def names_map_path(onnx_path: str | Path) -> Path:
    """Where the exporter saves ONNX node name -> torch module path: `X.names.json` beside `X.onnx`."""
    p = Path(onnx_path)
    return p.with_suffix(".names.json")


def load_names_map(onnx_path: str | Path, manifest=None) -> tuple[dict[str, str], Path]:
    """The node -> module map of an ONNX artifact; an int8 artifact may use its fp32 sibling's map (same node names)."""
    p = Path(onnx_path)
    candidates = [names_map_path(p)]
    if manifest is not None and manifest.precision != "fp32":
        # lightavseg-tiny.onnx-ort-w8a8.onnx -> lightavseg-tiny.fp32.names.json: QDQ keeps the float node names.
        prefix = p.name.split(".")[0]
        suffix = "" if manifest.module == "model" else f".{manifest.module}"
        candidates.append(p.with_name(f"{prefix}.fp32{suffix}.names.json"))
    for c in candidates:
        if c.is_file():
            try:
                return json.loads(c.read_text()), c
            except (OSError, json.JSONDecodeError) as exc:
                raise UserError(f"cannot read node->module map {c}: {exc}") from None
    raise UserError(f"no node->module map for {p} (looked for {', '.join(str(c) for c in candidates)}); "
                    "re-export with lavseg-export, which writes it beside the ONNX file")


def top_module(path: str) -> str:
    """Torch module path -> one of MODULES (or 'other'); the waveform graph nests the network under `net.`."""
    parts = [s for s in path.split(".") if s]
    if parts and parts[0] == "net":
        parts = parts[1:]
    if parts and parts[0] in MODULES:
        return parts[0]
    return "other"


def output_producers(onnx_path: str | Path) -> dict[str, str]:
    """Tensor name -> name of the node producing it, read from the artifact (ORT names some rewritten nodes by tensor)."""
    try:
        import onnx

        model = onnx.load(str(onnx_path), load_external_data=False)
    except Exception:  # an unreadable graph only costs the tensor-name fallback
        return {}
    return {o: n.name for n in model.graph.node for o in n.output}


def map_node(name: str, names: dict[str, str], producers: dict[str, str] | None = None) -> str | None:
    """Module of a profiled node: its own name, else the exported node it was made from (ORT fusion and QDQ rename nodes)."""
    producers = producers or {}

    def lookup(key: str) -> str | None:
        if key in names:
            return names[key]
        if key in producers and producers[key] in names:
            return names[producers[key]]
        return None

    found = lookup(name)
    if found is not None:
        return found
    # ORT suffixes fused/quantized/re-laid-out nodes (`_fused`, `_quant`, `_nchwc`, `_token_N`), some named after
    # their output tensor: strip suffixes until a known node or tensor name appears.
    base = name
    for sep in ("_token_", "_fused", "_quant", "_nchwc", "_output", "/"):
        if sep in base:
            base = base.split(sep)[0]
            found = lookup(base)
            if found is not None:
                return found
    return None


def optimized_graph_modules(optimized_path: str | Path, names: dict[str, str],
                            producers: dict[str, str] | None = None, max_hops: int = 8) -> dict[str, str]:
    """Node of ORT's optimized graph -> torch module path, for nodes ORT created (layout reorders, fusions).

    A node with no name of its own in the export is given the module of the nearest exported node it
    feeds (consumers first, then producers), walking at most `max_hops` edges: a layout reorder belongs
    to the convolution it prepares an input for.
    """
    try:
        import onnx

        graph = onnx.load(str(optimized_path), load_external_data=False).graph
    except Exception:  # no optimized graph (ORT could not save it): those nodes stay 'other'
        return {}
    nodes = {n.name: n for n in graph.node}
    made_by = {o: n.name for n in graph.node for o in n.output}
    used_by: dict[str, list[str]] = {}
    for n in graph.node:
        for i in n.input:
            used_by.setdefault(i, []).append(n.name)
    own = {name: map_node(name, names, producers) for name in nodes}
    out: dict[str, str] = {k: v for k, v in own.items() if v is not None}
    for name in nodes:
        if name in out:
            continue
        for direction in ("down", "up"):
            frontier, seen, found = [name], {name}, None
            for _ in range(max_hops):
                nxt = []
                for cur in frontier:
                    n = nodes[cur]
                    edges = ([c for o in n.output for c in used_by.get(o, [])] if direction == "down"
                             else [made_by[i] for i in n.input if i in made_by])
                    for e in edges:
                        if e not in seen:
                            seen.add(e)
                            nxt.append(e)
                hits = sorted(own[e] for e in nxt if own.get(e))
                if hits:
                    found = hits[0]
                    break
                frontier = nxt
            if found is not None:
                out[name] = found
                break
    return out


def parse_ort_profile(trace_path: str | Path, names: dict[str, str], skip_runs: int = 0,
                      producers: dict[str, str] | None = None, graph_modules: dict[str, str] | None = None) -> dict:
    """Per-module time (ms per run) from an ORT profile JSON trace, and the mean model_run time.

    ORT's sequential executor runs one node at a time, so a run's wall time splits into node spans:
    from the end of the previous node's kernel (or the run's start) to the end of this one. A module's
    time is the sum of its nodes' spans: its kernels plus the dispatch between them (`module_kernel_ms`
    keeps kernels alone). `skip_runs` leading model_run events (warm-up) and their nodes are ignored.
    """
    try:
        events = json.loads(Path(trace_path).read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise UserError(f"cannot read onnxruntime profile {trace_path}: {exc}") from None
    runs = sorted((e for e in events if e.get("cat") == "Session" and e.get("name") == "model_run"), key=lambda e: e["ts"])
    runs = runs[skip_runs:]
    if not runs:
        raise UserError(f"onnxruntime profile {trace_path} holds no timed model_run")
    kernels = sorted((e for e in events if e.get("cat") == "Node" and str(e.get("name", "")).endswith("_kernel_time")),
                     key=lambda e: e["ts"])
    span_ms: dict[str, float] = {}
    kernel_ms: dict[str, float] = {}
    mapped_nodes = unmapped_nodes = 0
    unmapped_ops: dict[str, float] = {}
    for run in runs:
        prev_end = run["ts"]
        for e in kernels:
            if not run["ts"] <= e["ts"] <= run["ts"] + run["dur"]:
                continue
            node = e["name"][: -len("_kernel_time")]
            path = map_node(node, names, producers) or (graph_modules or {}).get(node)
            end = e["ts"] + e["dur"]
            span = max(end - prev_end, e["dur"]) / 1e3
            prev_end = end
            if path is None:
                unmapped_nodes += 1
                op = e.get("args", {}).get("op_name", "?")
                unmapped_ops[op] = unmapped_ops.get(op, 0.0) + span
                key = "other"
            else:
                mapped_nodes += 1
                key = top_module(path)
            span_ms[key] = span_ms.get(key, 0.0) + span
            kernel_ms[key] = kernel_ms.get(key, 0.0) + e["dur"] / 1e3
    n = len(runs)
    per_run = {k: v / n for k, v in span_ms.items()}
    total = sum(per_run.values())
    return {"module_ms": per_run, "module_kernel_ms": {k: v / n for k, v in kernel_ms.items()},
            "model_run_ms": sum(r["dur"] for r in runs) / n / 1e3, "runs": n,
            "kernel_ms": sum(kernel_ms.values()) / n, "span_ms": total,
            "mapped_fraction": (total - per_run.get("other", 0.0)) / total if total else 0.0,
            "nodes_mapped": mapped_nodes // n, "nodes_unmapped": unmapped_nodes // n,
            "unmapped_by_op_ms": {k: v / n for k, v in sorted(unmapped_ops.items(), key=lambda kv: -kv[1])}}
