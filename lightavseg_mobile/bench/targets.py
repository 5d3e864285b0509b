"""The issue's targets as measured ratios: fp32 vs the matmul peak, int8 vs fp32, ours vs peers."""

from __future__ import annotations

import math


def targets_check(rows: list[dict], peak: dict | None) -> list[dict]:
    """The issue's targets as measured ratios, per preset; a missed target says by how much."""
    out = []
    whole = [r for r in rows if r["module"] == "model"]
    for preset in sorted({r["preset"] for r in whole if r["preset"]}):
        ours = [r for r in whole if r["preset"] == preset and r["kind"] == "ours"]
        fp32 = [r for r in ours if r["precision"] == "fp32" and r["fraction_of_peak"] is not None]
        if fp32 and peak:
            best = max(fp32, key=lambda r: r["fraction_of_peak"])
            f = best["fraction_of_peak"]
            out.append({"name": "best fp32 artifact >= 50% of matmul peak", "preset": preset, "measured": f, "target": 0.5,
                        "met": f >= 0.5, "detail": f"{best['label']}: {best['gflops_per_s']:.1f} GFLOP/s of "
                                                   f"{peak['gflops_per_s']:.1f} ({100 * f:.1f}%"
                                                   + ("" if f >= 0.5 else f", {100 * (0.5 - f):.1f} points short") + ")"})
        for r in ours:
            if r["precision"] == "fp32":
                continue
            ref = [q for q in ours if q["precision"] == "fp32" and q["format"] == r["format"]]
            if not ref:
                continue
            ratio = r["latency_ms"]["p50"] / ref[0]["latency_ms"]["p50"]
            nd = r["non_delegated_ops"]
            out.append({"name": "int8 no slower than fp32 on the same runtime", "preset": preset, "measured": ratio,
                        "target": 1.0, "met": ratio <= 1.0,
                        "detail": f"{r['label']} p50 {r['latency_ms']['p50']:.2f} ms vs {ref[0]['label']} "
                                  f"{ref[0]['latency_ms']['p50']:.2f} ms (x{ratio:.2f}"
                                  + ("" if ratio <= 1 else f", {100 * (ratio - 1):.0f}% slower") + f"); non-delegated ops: "
                                  + ("n/a" if nd is None else str(nd))})
        peers = [r for r in whole if r["preset"] == preset and r["kind"] == "peer"]
        if ours and peers:
            bo = min(ours, key=lambda r: r["latency_ms"]["p50"])
            bp = min(peers, key=lambda r: r["latency_ms"]["p50"])
            ratio = bo["latency_ms"]["p50"] / bp["latency_ms"]["p50"]
            out.append({"name": "best ours at least as fast as best peer", "preset": preset, "measured": ratio, "target": 1.0,
                        "met": ratio <= 1.0, "detail": f"{bo['label']} {bo['latency_ms']['p50']:.2f} ms vs {bp['label']} "
                                                       f"{bp['latency_ms']['p50']:.2f} ms (x{ratio:.2f}"
                                                       + ("" if ratio <= 1 else f", {100 * (ratio - 1):.0f}% slower") + ")"})
    for r in out:
        if isinstance(r["measured"], float) and not math.isfinite(r["measured"]):
            r["measured"] = None
    return out
