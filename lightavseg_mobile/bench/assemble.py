"""The one report assembler: target records -> artifact rows, per-module costs, module-sum checks, targets, report.

Host and device runs both end here, so a row means the same whichever runner measured it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from ..artifact.manifest import Manifest
from . import modules as mod
from .cost import costs_for
from .plan import Target
from .runners.base import RunLog, RunSettings, TargetRecord
from .schema import REPORT_SCHEMA, REPORT_SCHEMA_VERSION, validate_report
from .targets import targets_check


@dataclass
class ReportContext:
    """Everything about a run that is not a per-target record."""

    created: str
    git: dict[str, Any]
    machine: dict[str, Any]
    runner: Any  # the TargetRunner that ran (name, isolation, interleaved)
    settings: RunSettings
    modules: bool = False
    matmul_peak: dict[str, Any] | None = None
    parity: dict[str, Any] = field(default_factory=dict)
    profiles: dict[str, dict[str, Any]] = field(default_factory=dict)  # label -> ORT per-node profile
    protocol_extra: dict[str, Any] = field(default_factory=dict)  # e.g. the host's runtime and inputs
    latency_conclusions: bool = True  # False on an emulated device: no targets are judged


def finite_json(obj: Any) -> Any:
    """Copy of `obj` with numpy scalars made plain and non-finite floats spelled "inf"/"-inf"/"nan" (strict JSON)."""
    if isinstance(obj, dict):
        return {str(k): finite_json(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [finite_json(v) for v in obj]
    if hasattr(obj, "item") and not isinstance(obj, (str, bytes)):
        obj = obj.item()
    if isinstance(obj, float) and not math.isfinite(obj):
        return "nan" if math.isnan(obj) else ("inf" if obj > 0 else "-inf")
    return obj


def export_parity(man: Manifest | None) -> dict[str, Any] | None:
    """The held-out parity the exporter measured (mIoU, F, SQNR) for the size/latency/mIoU plot."""
    if man is None or man.module != "model" or not man.parity:
        return None
    p = man.parity
    return {"miou": p.get("artifact", {}).get("miou"), "f": p.get("artifact", {}).get("f"),
            "float_miou": p.get("float", {}).get("miou"), "sqnr_db": p.get("tensor", {}).get("sqnr_db"),
            "passed": p.get("passed")}


def non_delegated(runtime: dict[str, Any]) -> tuple[int | None, dict[str, int] | None]:
    """(ops the delegate did not take, their count by op type) from what ran; None where the runtime cannot tell."""
    v = runtime.get("ops_not_delegated")
    count = int(v) if isinstance(v, int) and not isinstance(v, bool) else None
    return count, runtime.get("not_delegated_by_op")


def _kind(t: Target) -> str:
    return "peer" if t.peer else ("baseline" if t.meta.get("baseline") else "ours")


def _size_mb(t: Target) -> float | None:
    if t.path.is_file():
        return t.path.stat().st_size / 2**20
    return t.manifest.artifact_size / 2**20 if t.manifest is not None else None


def artifact_row(t: Target, rec: TargetRecord, lat: dict[str, Any], cost: dict[str, Any], baseline: str | None,
                 baseline_p50: float | None, peak: dict[str, Any] | None) -> dict[str, Any]:
    """The `artifacts[]` row of one target: identity, what ran, latency, memory, ratios, FLOPs, delegation."""
    gf = ((cost.get("total") if t.module == "model" else cost.get(t.module)) or {}).get("gflops") or None
    gps = gf / (lat["p50"] / 1e3) if gf else None
    count, by_op = non_delegated(rec.runtime)
    return {
        "label": t.label, "file": str(t.path), "sha256": t.manifest.artifact_sha256 if t.manifest else None,
        "format": t.format, "precision": t.precision, "preset": t.preset, "module": t.module, "kind": _kind(t),
        "recipe": (t.manifest.recipe or {}).get("name") if t.manifest else None, "size_mb": _size_mb(t),
        "runtime": rec.runtime, "delegate": rec.delegate, "fallback": rec.fallback,
        "latency_ms": lat, "samples_ms": [round(x, 4) for x in rec.samples_ms] if rec.samples_ms else None,
        "cold_start_ms": rec.cold_start_ms, "cold_start_breakdown_ms": rec.cold_start_breakdown_ms,
        "peak_rss_mb": rec.peak_rss_mb, "baseline": baseline,
        "ratio_to_baseline": lat["p50"] / baseline_p50 if (baseline_p50 and t.module == "model") else None,
        "gflops": gf, "gflops_per_s": gps,
        "fraction_of_peak": (gps / peak["gflops_per_s"]) if (gps and peak) else None,
        "non_delegated_ops": count, "non_delegated_by_op": by_op, "export_parity": export_parity(t.manifest),
        **rec.details,
    }


def artifact_rows(targets: Sequence[Target], records: dict[str, TargetRecord], latencies: dict[str, dict[str, Any]],
                  costs: dict[str, dict[str, Any]], peak: dict[str, Any] | None) -> list[dict[str, Any]]:
    """One row per timed target, ratios against the torch fp32 baseline of its preset when it was timed."""
    baseline_of = {t.preset: t.label for t in targets if t.meta.get("baseline") and t.label in latencies}
    rows = []
    for t in targets:
        if t.label not in latencies:
            continue
        base = baseline_of.get(t.preset)
        rows.append(artifact_row(t, records[t.label], latencies[t.label], costs.get(t.preset or "", {}), base,
                                 latencies[base]["p50"] if base else None, peak))
    return rows


def _split_tables(t: Target, subs: list[Target], records: dict[str, TargetRecord], latencies: dict[str, dict[str, Any]],
                  cost: dict[str, Any] | None, block: int) -> tuple[list[dict], list[dict], list[str]]:
    """Module rows and the sum check of one whole model from its timed split sub-models."""
    ms = {s.module: latencies[s.label]["p50"] for s in subs}
    rows = mod.module_rows(t.label, "split", ms, cost)
    if len(ms) < len(mod.MODULES):
        return rows, [], [f"{t.label}: split sub-models found for {sorted(ms)} only"]
    if t.label not in latencies:
        return rows, [], []
    whole = records[t.label]
    parts = [records[s.label].samples_ms for s in subs]
    # Paired by round only when every part and the whole were timed in one interleaved run.
    paired = parts if all(parts) and whole.samples_ms else None
    check = mod.split_sum_check(t.label, ms, latencies[t.label]["p50"], whole.boundary_ms or 0.0, paired,
                                whole.samples_ms, block)
    return rows, [check], []


def module_tables(targets: Sequence[Target], records: dict[str, TargetRecord], latencies: dict[str, dict[str, Any]],
                  costs: dict[str, dict[str, Any]], block: int, profiles: dict[str, dict[str, Any]]
                  ) -> tuple[list[dict], list[dict], list[str], dict[str, Any]]:
    """(modules[], module_sums[], reasons, extra) from split sub-models and ORT per-node profiles of whole models."""
    rows: list[dict] = []
    sums: list[dict] = []
    reasons: list[str] = []
    extra: dict[str, Any] = {}
    for t in targets:
        if t.module != "model":
            continue
        cost = costs.get(t.preset or "")
        subs = [s for s in targets if s.whole == t.label and s.label in latencies]
        if subs:
            r, s, why = _split_tables(t, subs, records, latencies, cost, block)
            rows, sums, reasons = rows + r, sums + s, reasons + why
        elif t.kind == "runtime":
            reasons.append(f"{t.label}: no split sub-models beside it (export with --split-modules)")
        prof = profiles.get(t.label)
        if prof is not None:
            rows += mod.module_rows(t.label, "ort_profile", dict(prof["module_ms"]), cost)
            sums.append(mod.sum_check(t.label, "ort_profile", prof["module_ms"], prof["model_run_ms"]))
            extra.setdefault("ort_profiles", {})[t.label] = {k: v for k, v in prof.items() if k != "module_ms"}
    return rows, sums, reasons, extra


def _protocol(ctx: ReportContext, settings: RunSettings, baselines: list[str]) -> dict[str, Any]:
    return {"warmup": settings.warmup, "runs": settings.runs, "block": settings.block, "threads": settings.threads,
            "baseline": ", ".join(baselines) or None, "interleaved": bool(ctx.runner.interleaved),
            "isolation": ctx.runner.isolation, "runner": ctx.runner.name, "delegate": ctx.settings.delegate,
            "allow_fallback": ctx.settings.allow_fallback, **ctx.protocol_extra}


def assemble_report(targets: Sequence[Target], log: RunLog, ctx: ReportContext) -> dict[str, Any]:
    """The validated bench-schema report from the records a run gathered (incomplete, with reasons, when short)."""
    chosen = [t for t in targets if log.selected is None or t.label in log.selected]
    records = log.records
    latencies = {t.label: records[t.label].latency() for t in chosen if t.label in records}
    reasons = list(log.incomplete)
    untimed = [t.label for t in chosen if t.label not in latencies]
    if untimed:
        reasons.append(f"not timed: {', '.join(untimed)}")
    costs, why = costs_for(t.preset for t in chosen)
    reasons += why
    settings = log.settings_used or ctx.settings
    rows = artifact_rows(chosen, records, latencies, costs, ctx.matmul_peak)
    module_rows, module_sums, extra = [], [], dict(log.extra)
    if ctx.modules:
        module_rows, module_sums, why, more = module_tables(chosen, records, latencies, costs, settings.block, ctx.profiles)
        reasons += why
        extra.update(more)
    report = {
        "schema": REPORT_SCHEMA, "schema_version": REPORT_SCHEMA_VERSION, "created": ctx.created, "git": ctx.git,
        "machine": ctx.machine, "protocol": _protocol(ctx, settings, [r["label"] for r in rows if r["kind"] == "baseline"]),
        "matmul_peak": ctx.matmul_peak, "artifacts": rows, "modules": module_rows, "module_sums": module_sums,
        "parity": ctx.parity, "paper_reference": dict(mod.PAPER_REFERENCE),
        "targets": targets_check(rows, ctx.matmul_peak) if ctx.latency_conclusions else [], "extra": extra,
        "incomplete": bool(reasons), "incomplete_reason": "; ".join(reasons) or None,
    }
    report = finite_json(report)
    validate_report(report)
    return report


def mark_incomplete(report: dict[str, Any], reason: str) -> None:
    """Add a reason to a report's incomplete_reason (and mark it incomplete)."""
    report["incomplete"] = True
    report["incomplete_reason"] = "; ".join(r for r in (report.get("incomplete_reason"), reason) if r)
