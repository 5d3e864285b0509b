"""Measure the lavseg-export quality bars and write benchmarks/results/export.{json,md}.

Runs `lavseg-export --format all --int8` (the command users run) in a child process, timing its wall
clock and CPU seconds and reading its --json summary, then checks the issue's bars:
<= 5 minutes, int8 TFLite <= 30 % of fp32 TFLite, fp32 parity on both backends, int8 gate passed.

    python benchmarks/export_bars.py [--preset lightavseg] [--out benchmarks/results] [--keep DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from lightavseg_mobile.hostinfo import cpu_model  # noqa: E402
from lightavseg_mobile.io_atomic import write_text_atomic  # noqa: E402

WALL_BAR_S = 300.0
SIZE_BAR = 0.30


def run_export(preset: str, out: Path) -> tuple[dict, dict]:
    """Run the export CLI once; returns (its --json summary, timing of the child process)."""
    cmd = [sys.executable, "-m", "lightavseg_mobile.export.cli_export", "--preset", preset, "--format", "all", "--int8",
           "--out", str(out), "--json"]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    load = os.getloadavg()[0]
    t0 = time.perf_counter()
    res = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if res.returncode != 0:
        raise SystemExit(f"lavseg-export exited {res.returncode}: {res.stderr.strip().splitlines()[-1:]}")
    timing = {"wall_s": round(wall, 1), "cpu_s": round((after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime), 1),
              "peak_rss_mb": round(after.ru_maxrss / 1024), "load_average_1min_at_start": round(load, 2),
              "load_average_1min_at_end": round(os.getloadavg()[0], 2), "command": " ".join(cmd[1:])}
    return json.loads(res.stdout), timing


def bars(summary: dict, timing: dict) -> dict:
    """The quality bars, each with its measured value and verdict."""
    arts = {a["file"]: a for a in summary["artifacts"] if a["module"] == "model"}
    by = lambda fmt, prec: [a for a in arts.values() if a["format"] == fmt and (a["precision"] == "fp32") == (prec == "fp32")]  # noqa: E731
    fp32_tfl, int8_tfl = by("tflite", "fp32")[0], by("tflite", "int8")[0]
    ratio = int8_tfl["size"] / fp32_tfl["size"]
    fp32_ok = {a["format"]: a["passed"] for a in arts.values() if a["precision"] == "fp32"}
    int8_ok = {a["recipe"]["name"] if isinstance(a["recipe"], dict) else a["recipe"]: a["passed"]
               for a in arts.values() if a["precision"] != "fp32"}
    return {
        "format_all_int8_under_5_min": {"met": timing["wall_s"] <= WALL_BAR_S, **timing},
        "int8_tflite_size_ratio": {"met": ratio <= SIZE_BAR, "ratio": round(ratio, 4), "int8": int8_tfl["file"],
                                   "fp32": fp32_tfl["file"]},
        "fp32_parity_both_backends": {"met": set(fp32_ok) == {"onnx", "tflite"} and all(fp32_ok.values()), **fp32_ok},
        "int8_default_recipe_gate": {"met": bool(int8_ok) and all(int8_ok.values()), **int8_ok},
        "alignment_stripped": {"met": all(a["alignment_check"] for a in arts.values())},
    }


def markdown(result: dict) -> str:
    """The Markdown page of one measurement."""
    t = result["quality_bars"]["format_all_int8_under_5_min"]
    lines = ["# lavseg-export quality bars (measured)", "",
             f"Host: {result['host']['machine']}, {result['host']['cpu']}, {result['host']['cores']} cores; "
             f"1-min load average {t['load_average_1min_at_start']} at start, {t['load_average_1min_at_end']} at end. "
             f"Written by `benchmarks/export_bars.py` on {result['created']}.", "",
             f"Command: `{t['command']}`", "", "## Quality bars", "", "| bar | met | measured |", "|---|---|---|"]
    for name, bar in result["quality_bars"].items():
        detail = ", ".join(f"{k} {v}" for k, v in bar.items() if k not in ("met", "command"))
        lines.append(f"| {name} | {'yes' if bar['met'] else '**no**'} | {detail} |")
    lines += ["", "## Artifacts", "", "| artifact | size MB | status | max abs | SQNR dB | mask agreement IoU | "
              "mIoU float/artifact (drop pt) | F float/artifact (drop pt) | runtime | duration s |",
              "|---|---|---|---|---|---|---|---|---|---|"]
    for a in result["summary"]["artifacts"]:
        p = a["parity"]
        tns = p.get("tensor", {})
        lines.append(f"| {a['file']} | {a['size'] / 1e6:.2f} | {a['status']} | {tns.get('max_abs', float('nan')):.3g} | "
                     f"{tns.get('sqnr_db', float('nan')):.1f} | {p['mask_agreement_iou']:.4f} | "
                     f"{100 * p['float']['miou']:.2f}/{100 * p['artifact']['miou']:.2f} ({100 * p['miou_drop']:.2f}) | "
                     f"{100 * p['float']['f']:.2f}/{100 * p['artifact']['f']:.2f} ({100 * p['f_drop']:.2f}) | "
                     f"{p['runtime']['runtime']} | {a['duration_s']:.0f} |")
    return "\n".join(lines) + "\n"


def main() -> int:
    """Measure and write the results."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--preset", default="lightavseg")
    ap.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results")
    ap.add_argument("--keep", type=Path, default=None, help="export into this folder and keep it (default: a temp folder)")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="lavseg-export-bars-") as tmp:
        summary, timing = run_export(args.preset, args.keep or Path(tmp) / "exports")
    for a in summary["artifacts"]:  # machine-specific paths say nothing in a committed result
        a["path"] = Path(a["path"]).name
        a["parity"]["runtime"] = {k: a["parity"]["runtime"].get(k) for k in ("runtime", "version", "delegate", "threads")}
    summary["out"] = "<temp>"
    result = {"created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
              "host": {"machine": os.uname().machine, "cpu": cpu_model(), "cores": os.cpu_count(),
                       "execution": "host (native)"},
              "quality_bars": bars(summary, timing), "summary": summary}
    args.out.mkdir(parents=True, exist_ok=True)
    write_text_atomic(args.out / "export.json", json.dumps(result, indent=2, sort_keys=True) + "\n")
    write_text_atomic(args.out / "export.md", markdown(result))
    print(markdown(result))
    return 0 if all(b["met"] for b in result["quality_bars"].values()) else 1


if __name__ == "__main__":
    sys.exit(main())
