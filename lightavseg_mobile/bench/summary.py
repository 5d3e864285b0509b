"""The plain-text summary lavseg-bench prints: one line per target, then modules, targets, parity and what is missing."""

from __future__ import annotations

from typing import Any

from .machine import EMULATED, NO_CONCLUSIONS
from .modules import sum_summary


def _f(x: float | None, fmt: str, unit: str = "") -> str:
    return "-" if x is None else f"{x:{fmt}}{unit}"


def artifact_line(a: dict[str, Any]) -> str:
    """One target: what ran (runtime/delegate, fallback), latency, cold start, memory, ratios."""
    lat = a["latency_ms"]
    fb = f" (fallback from {a['fallback']['from']})" if a.get("fallback") else ""
    ratio = f"  x{a['ratio_to_baseline']:.2f} torch" if a.get("ratio_to_baseline") is not None else ""
    frac = f"  {100 * a['fraction_of_peak']:.0f}% peak" if a.get("fraction_of_peak") is not None else ""
    return (f"  {a['label']:<48} {a['runtime'].get('name')}/{a.get('delegate')}{fb}  p50 {lat['p50']:8.2f} ms  "
            f"p90 {lat['p90']:8.2f}  min {lat['min']:8.2f}  cold {_f(a.get('cold_start_ms'), '.0f', ' ms')}  "
            f"rss {_f(a.get('peak_rss_mb'), '.0f', ' MiB')}{ratio}{frac}")


def human_summary(report: dict[str, Any]) -> str:
    """Plain-text table of a host or device report; an emulated device gets timings but no conclusions."""
    m, p = report["machine"], report["protocol"]
    lines = [f"{m['label']} ({m['execution']}); {p['runs']} runs x {len(report['artifacts'])} targets, "
             f"{p['threads']} threads, runner {p.get('runner', 'host worker')}"]
    if m["execution"] == EMULATED:
        lines.append(f"NOTE: {NO_CONCLUSIONS}")
    lines += [artifact_line(a) for a in report["artifacts"]]
    for r in report["modules"]:
        lines.append(f"    module {r['module']:<20} {r['time_ms']:.2f} ms  ({100 * r['share']:.0f} %)  "
                     f"[{r['artifact']}, {r['source']}]")
    for s in report["module_sums"]:
        lines.append(f"  modules {s['source']} of {s['artifact']}: {sum_summary(s)}")
    for t in report["targets"]:
        lines.append(f"  target {'met ' if t['met'] else 'MISSED'}: {t['name']} [{t['preset']}]: {t['detail']}")
    for label, r in report["parity"].items():
        t = r.get("tensor", {})
        lines.append(f"  parity {label}: {'passed' if r.get('passed') else 'FAILED'}  max abs "
                     f"{t.get('max_abs', float('nan')):.3g}, mIoU drop {100 * r.get('miou_drop', float('nan')):.2f} pt  "
                     f"{r.get('reason') or ''}".rstrip())
    if report["incomplete"]:
        lines.append(f"INCOMPLETE: {report['incomplete_reason']}")
    return "\n".join(lines)
