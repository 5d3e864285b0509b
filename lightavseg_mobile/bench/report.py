"""Render a benchmark report: JSON, Markdown tables and PNG plots, written atomically into one folder."""

from __future__ import annotations

import json
from pathlib import Path

from ..io_atomic import atomic_path, write_text_atomic
from .modules import MODULES, PAPER_REFERENCE, paper_shares
from .schema import validate_report


def _f(x, fmt: str = ".2f", none: str = "n/a") -> str:
    return none if x is None else format(x, fmt)


def _latency(report: dict) -> list[str]:
    """One row per target: what ran, latency percentiles, ratios, memory, delegation."""
    lines = ["## Latency", "",
              "| target | kind | runtime / delegate (ours) | threads | prec | p50 ms | p90 | p99 | mean | std | min | fps | x torch fp32 "
              "| GFLOP/s | % peak | cold start ms | peak RSS MB | size MB | non-deleg. ops |",
              "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for a in report["artifacts"]:
        lat, rt = a["latency_ms"], a["runtime"]
        ours = f"{a.get('delegate') or 'n/a'}{', fallback' if a.get('fallback') else ''}"
        lines.append(f"| {a['label']} | {a.get('kind', '')} | {rt.get('runtime', rt['name'])} {rt.get('version', '')} / "
                     f"{rt.get('delegate', rt.get('provider', ''))} ({ours}) | {rt.get('threads', '')} | {a['precision']} | "
                     f"{lat['p50']:.2f} | "
                     f"{lat['p90']:.2f} | {lat['p99']:.2f} | {lat['mean']:.2f} | {lat['std']:.2f} | {lat['min']:.2f} | "
                     f"{lat['fps']:.1f} | {_f(a['ratio_to_baseline'])} | {_f(a['gflops_per_s'], '.1f')} | "
                     f"{_f(a['fraction_of_peak'] and 100 * a['fraction_of_peak'], '.1f')} | {_f(a['cold_start_ms'], '.0f')} | "
                     f"{_f(a['peak_rss_mb'], '.0f')} | {_f(a['size_mb'], '.1f')} | {_f(a['non_delegated_ops'], 'd')} |")
    lines.append("")
    return lines


def _targets(report: dict) -> list[str]:
    """The issue's targets, measured."""
    if not report["targets"]:
        return []
    lines = ["## Targets (measured ratios in this run)", "", "| target | preset | measured | bar | met | detail |",
              "|---|---|---|---|---|---|"]
    for t in report["targets"]:
        lines.append(f"| {t['name']} | {t['preset']} | {_f(t['measured'], '.3f')} | {t['target']} | "
                     f"{'yes' if t['met'] else '**no**'} | {t['detail']} |")
    lines.append("")
    return lines


def _modules(report: dict) -> list[str]:
    """Per-module cost beside the paper's, and the module-sum checks."""
    if not report["modules"]:
        return []
    shares = paper_shares()
    lines = ["## Per-module cost", "",
              f"Paper column: {PAPER_REFERENCE['source']}; {PAPER_REFERENCE['device']}, {PAPER_REFERENCE['runtime']}. "
              "The paper's numbers are shown as shares for comparison only.", "",
              "| artifact | source | module | ms | share | params | GFLOPs | paper ms | paper share |", "|---|---|---|---|---|---|---|---|---|"]
    for r in report["modules"]:
        lines.append(f"| {r['artifact']} | {r['source']} | {r['module']} | {r['time_ms']:.2f} | {100 * r['share']:.1f}% | "
                     f"{_f(r['params'], ',d')} | {_f(r['gflops'], '.3f')} | {_f(r.get('paper_ms'), '.1f')} | "
                     f"{_f(shares.get(r['module']) and 100 * shares[r['module']], '.1f')}{'%' if r['module'] in shares else ''} |")
    lines += ["", "| artifact | source | sum of modules ms | + input/output conversion ms | whole model ms | "
              "difference of p50s | difference paired by round | within 15% |", "|---|---|---|---|---|---|---|---|"]
    for s in report["module_sums"]:
        paired = s.get("paired_rel_diff")
        lines.append(f"| {s['artifact']} | {s['source']} | {s['sum_ms']:.2f} | {s.get('boundary_ms', 0.0):.2f} | {s['whole_ms']:.2f} | "
                     f"{100 * s['rel_diff']:+.1f}% | {'n/a' if paired is None else f'{100 * paired:+.1f}%'} | "
                     f"{'yes' if s['within_tolerance'] else '**no**'} |")
    lines += ["", "Split sub-models are timed at the runtime call; a whole model end to end also quantizes and lays out its "
              "inputs and dequantizes its outputs in numpy. That conversion is timed on its own in the same worker and "
              "added to the sum (0 for profiles, which cover the session run only). Where split sub-models were timed "
              "in the same interleaved run as their whole model, the check judges the paired difference: per round-robin "
              "round, the sum of the modules' fastest runs in their block against the whole model's fastest run, then "
              "the median over rounds. A round is short, so a slow stretch of the shared machine hits parts and whole "
              "alike; and interference only adds time, per call, so five sub-model calls would collect more of it than "
              "one whole-model call. The difference of the overall p50s is shown beside it.", ""]
    return lines


def _parity(report: dict) -> list[str]:
    """The parity gate per whole model."""
    if not report["parity"]:
        return []
    lines: list[str] = []
    where = next(iter(report["parity"].values())).get("where") or "through the benchmarked runtime"
    lines += [f"## Parity on the held-out split ({where})", "",
              "| artifact | max abs | SQNR dB | mask agreement IoU | mIoU (float -> artifact) | F (float -> artifact) | gate | passed |",
              "|---|---|---|---|---|---|---|---|"]
    for label, r in report["parity"].items():
        t = r["tensor"]
        lines.append(f"| {label} | {t['max_abs']:.3g} | {t['sqnr_db']:.1f} | {r['mask_agreement_iou']:.4f} | "
                     f"{100 * r['float']['miou']:.2f} -> {100 * r['artifact']['miou']:.2f} | {100 * r['float']['f']:.2f} -> "
                     f"{100 * r['artifact']['f']:.2f} | {r['gate']} | {'yes' if r['passed'] else '**no**: ' + r['reason']} |")
    lines.append("")
    return lines


def _scaling(report: dict) -> list[str]:
    """The interaction-scaling study, when the report carries one."""
    scaling = report.get("extra", {}).get("interaction_scaling")
    if not scaling:
        return []
    lines = ["## Interaction scaling (reciprocal encoder + fusion decoder vs dense cross-attention)", "",
              "| size | ours ms | ours GFLOPs | dense ms | dense GFLOPs |", "|---|---|---|---|---|"]
    for r in scaling["rows"]:
        lines.append(f"| {r['size']} | {_f(r['ours_ms'])} | {_f(r['ours_gflops'], '.3f')} | {_f(r['dense_ms'])} | "
                     f"{_f(r['dense_gflops'], '.3f')} |")
    sl = scaling["slopes"]
    lines += ["", "Fitted log-log slopes against the number of pixels H*W (1 = linear, 2 = quadratic): "
              + ", ".join(f"{k} {v:.2f}" for k, v in sl.items()), ""]
    return lines


def _header(report: dict) -> list[str]:
    """Machine, commit, libraries, protocol and matmul peak."""
    m = report["machine"]
    p = report["protocol"]
    peak = report.get("matmul_peak")
    return [f"# lavseg-bench: {m['label']}", "",
            f"- measured on: **{m['kind']} ({m['execution']})**, {m['cpu_model']}, {m['physical_cores']} physical cores / "
            f"{m['logical_cpus']} logical, flags {' '.join(m['cpu_flags']) or 'n/a'}, governor {m['governor'] or 'not readable'}",
            f"- created {report['created']}, commit {(report['git'].get('commit') or 'n/a')[:12]}"
            + (" (dirty tree)" if report["git"].get("dirty") else ""),
            f"- libraries: {', '.join(f'{k} {v}' for k, v in m['libraries'].items())}",
            f"- protocol: runner {p.get('runner', 'host worker')}, delegate asked {p.get('delegate', 'auto')}"
            + (" (fallback allowed)" if p.get("allow_fallback") else "")
            + f"; {p['warmup']} warm-up runs discarded, {p['runs']} timed runs per target "
            # Device runners other than Python on the device (benchmark_model, the app) time one target at a time.
            + (f"interleaved round-robin in blocks of {p['block']}" if p.get("interleaved", True) else "not interleaved")
            + f", {p['threads']} threads, {p.get('isolation', '')}; inputs: {p.get('inputs', 'held-out clips or seeded noise')}",
            f"- fp32 matmul peak measured in this run: {_f(peak and peak['gflops_per_s'], '.1f')} GFLOP/s"
            + (f" (before/after: {', '.join(f'{x:.1f}' for x in peak.get('before_after', []))})" if peak else ""),
            ""]


def markdown(report: dict, plots: dict[str, str] | None = None) -> str:
    """The human report: machine, protocol, latency table, modules beside the paper, parity, targets."""
    lines = _header(report)
    if report.get("incomplete"):
        lines += [f"**Incomplete:** {report['incomplete_reason']}", ""]
    lines += _latency(report)
    lines += _targets(report)
    lines += _modules(report)
    lines += _parity(report)
    lines += _scaling(report)
    if plots:
        lines += ["## Plots", ""] + [f"![{name}]({path})" for name, path in plots.items()] + [""]
    lines += ["JSON schema: `lightavseg-bench-report` version "
              f"{report['schema_version']} (lightavseg_mobile/bench/SCHEMA.md)."]
    return "\n".join(lines) + "\n"


def _save(fig, dest: Path) -> None:
    with atomic_path(dest) as tmp:
        fig.savefig(tmp, format="png", dpi=110, bbox_inches="tight")


def _latency_stats(a: dict) -> dict:
    """Box statistics of one row: from its samples, else from its runner's own summary (benchmark_model, the app)."""
    from matplotlib import cbook

    if a.get("samples_ms"):
        return {**cbook.boxplot_stats(a["samples_ms"])[0], "label": a["label"]}
    lat = a["latency_ms"]
    return {"label": a["label"], "med": lat["p50"], "q1": lat["min"], "q3": lat["p90"], "whislo": lat["min"],
            "whishi": lat["max"], "fliers": []}


def _latency_plot(plt, report: dict, title: str):
    """Latency per target as boxes (summary-only rows: min, p50, p90, max)."""
    arts = report["artifacts"]
    if not arts:
        return None
    fig, ax = plt.subplots(figsize=(9, 0.45 * len(arts) + 1.5))
    ax.bxp([_latency_stats(a) for a in arts], orientation="horizontal", showfliers=True)
    ax.set_xscale("log")
    ax.set_xlabel("latency per inference, ms (log)")
    p = report["protocol"]
    how = "interleaved runs" if p.get("interleaved", True) else "runs"
    ax.set_title(f"Latency distribution ({p['runs']} {how}, runner {p.get('runner', 'host worker')})\n{title}", fontsize=9)
    return fig


def _modules_plot(plt, report: dict, title: str):
    """Module shares per (artifact, source) beside the paper's published breakdown."""
    if not report["modules"]:
        return None
    groups = list(dict.fromkeys((r["artifact"], r["source"]) for r in report["modules"]))
    shares = paper_shares()
    labels = [f"{a}\n({s})" for a, s in groups] + ["paper: Snapdragon 8 Elite CPU\n(published, not ours)"]
    fig, ax = plt.subplots(figsize=(10, 0.5 * len(labels) + 1.5))
    left = [0.0] * len(labels)
    for m in MODULES + ("other",):
        vals = []
        for a, s in groups:
            rows = [r for r in report["modules"] if r["artifact"] == a and r["source"] == s]
            total = sum(r["time_ms"] for r in rows)
            row = next((r for r in rows if r["module"] == m), None)
            vals.append(100 * row["time_ms"] / total if row and total else 0.0)
        vals.append(100 * shares.get(m, 0.0))
        ax.barh(labels, vals, left=left, label=m)
        left = [x + v for x, v in zip(left, vals)]
    ax.set_xlabel("share of module time, %")
    ax.legend(fontsize=7, ncol=6, loc="upper center", bbox_to_anchor=(0.5, -0.25))
    ax.set_title(f"Per-module shares, ours vs the paper's published breakdown\n{title}", fontsize=9)
    return fig


def _size_plot(plt, report: dict, title: str):
    """Whole models: file size vs p50 latency, coloured by held-out mIoU (this run's parity, else the export's)."""
    pts = [a for a in report["artifacts"] if a["module"] == "model" and a.get("size_mb")]
    if not pts:
        return None
    fig, ax = plt.subplots(figsize=(7, 5))
    for a in pts:
        miou = (report["parity"].get(a["label"], {}).get("artifact", {}) or {}).get("miou")
        if miou is None and a.get("export_parity"):
            miou = a["export_parity"].get("miou")
        sc = ax.scatter(a["size_mb"], a["latency_ms"]["p50"], s=60, c=[miou if miou is not None else 0.0],
                        vmin=0, vmax=1, cmap="viridis", marker="o" if miou is not None else "x")
        ax.annotate(a["label"] + (f"\nmIoU {100 * miou:.1f}" if miou is not None else "\nmIoU n/a"),
                    (a["size_mb"], a["latency_ms"]["p50"]), fontsize=6)
    fig.colorbar(sc, ax=ax, label="held-out mIoU")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("file size, MB (log)")
    ax.set_ylabel("p50 latency, ms (log)")
    ax.set_title(f"Size vs latency vs mIoU\n{title}", fontsize=9)
    return fig


def _scaling_plot(plt, report: dict, title: str):
    """Interaction time against H*W, ours vs dense cross-attention."""
    scaling = report.get("extra", {}).get("interaction_scaling")
    if not scaling:
        return None
    fig, ax = plt.subplots(figsize=(7, 5))
    px = [r["size"] ** 2 for r in scaling["rows"]]
    for key, label in (("ours_ms", "ours: reciprocal encoder + fusion decoder"), ("dense_ms", "dense cross-attention (TPAVI-style)")):
        ys = [r[key] for r in scaling["rows"]]
        if all(y is not None for y in ys):
            ax.plot(px, ys, "o-", label=f"{label} (slope {scaling['slopes'][key.replace('_ms', '_time')]:.2f})")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("pixels H*W of the input frame (log)")
    ax.set_ylabel("time per inference, ms (log)")
    ax.legend(fontsize=7)
    ax.set_title(f"Audio-visual interaction scaling\n{title}", fontsize=9)
    return fig


# (name in the Markdown, file suffix, figure maker): host and device reports get the same plots.
_PLOTS = (("latency distribution", "latency", _latency_plot), ("per-module shares", "modules", _modules_plot),
          ("size vs latency vs mIoU", "size_latency_miou", _size_plot),
          ("interaction scaling", "interaction_scaling", _scaling_plot))


def plots(report: dict, out: Path, prefix: str = "bench") -> dict[str, str]:
    """Write the PNGs (latency distribution, module shares vs paper, size/latency/mIoU); name -> file name."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    written: dict[str, str] = {}
    title = report["machine"]["label"]
    for name, suffix, make in _PLOTS:
        fig = make(plt, report, title)
        if fig is None:
            continue
        file = f"{prefix}_{suffix}.png"
        _save(fig, out / file)
        plt.close(fig)
        written[name] = file
    return written


def write_report(report: dict, out: str | Path, prefix: str = "bench") -> dict[str, Path]:
    """Validate, then write PREFIX.json, PREFIX.md and the PNGs into `out`; returns what was written."""
    validate_report(report)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    pngs = plots(report, out, prefix)
    write_text_atomic(out / f"{prefix}.json", json.dumps(report, indent=2, sort_keys=True, default=str, allow_nan=False))
    write_text_atomic(out / f"{prefix}.md", markdown(report, pngs))
    return {"json": out / f"{prefix}.json", "markdown": out / f"{prefix}.md", **{k: out / v for k, v in pngs.items()}}
