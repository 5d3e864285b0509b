"""lavseg-bench: thin argparse wrapper over `bench.run.run_bench` (host) and the device back ends."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path

from ..console import Parser
from ..errors import UserError

DEVICES = ("host",)


def build_parser() -> argparse.ArgumentParser:
    """The lavseg-bench argument parser."""
    ap = Parser(prog="lavseg-bench",
                 description="Benchmark exported LightAVSeg artifacts against the torch fp32 baseline: interleaved timing, "
                             "cold start, peak RSS, GFLOP/s vs the matmul peak, per-module cost, parity.")
    ap.add_argument("artifacts", nargs="*", type=Path, metavar="ARTIFACT_OR_DIR",
                    help="*.onnx, *.tflite, *.manifest.json, a *.pt checkpoint or a folder of exports (default: exports/)")
    ap.add_argument("--runtime", default="auto", help="auto (by file format), torch, onnxruntime or litert")
    ap.add_argument("--delegate", default="auto",
                    help="LiteRT: xnnpack (auto) or none; onnxruntime: cpu (auto) or an installed provider; never a silent fallback")
    ap.add_argument("--threads", type=int, default=None, help="threads per runtime (default: physical cores)")
    ap.add_argument("--warmup", type=int, default=None, help="warm-up runs per target, discarded (default 10 on the host, 1 on arm64)")
    ap.add_argument("--runs", type=int, default=None, help="timed runs per target (default 50 on the host, 5 on arm64)")
    ap.add_argument("--block", type=int, default=None, help="runs per target per round-robin turn (default 5 on the host, 1 on arm64)")
    ap.add_argument("--modules", action="store_true",
                    help="per-module time from --split-modules sub-models and (ONNX) onnxruntime per-node profiles")
    ap.add_argument("--profile-runs", type=int, default=20, help="runs recorded in the onnxruntime per-node profile (default 20)")
    ap.add_argument("--parity", action="store_true", help="run the export parity gate on the held-out split through the benchmarked runtime")
    ap.add_argument("--parity-clips", type=int, default=None, help="limit parity to the first N held-out clips")
    ap.add_argument("--checkpoint", type=Path, default=None, help="torch fp32 baseline checkpoint (default: the one the artifacts came from)")
    ap.add_argument("--no-baseline", action="store_true", help="do not time the torch fp32 baseline (no ratios)")
    ap.add_argument("--peers", default="", help="comma list of peers to time too: torch-compile, executorch-fp32, executorch-int8")
    ap.add_argument("--peer-dir", type=Path, default=Path("exports"), help="where ExecuTorch peer programs are built and cached")
    ap.add_argument("--inputs", type=Path, default=None, help=".npz of float32 model inputs (default: seeded noise of the manifest's shapes)")
    ap.add_argument("--no-peak", action="store_true", help="skip the matmul peak measurement (no GFLOP/s fraction)")
    ap.add_argument("--report", type=Path, default=None, help="write bench.json, bench.md and PNG plots into this folder")
    ap.add_argument("--json", action="store_true", help="print the JSON report on stdout")
    from ..device.bench_device import add_device_arguments

    add_device_arguments(ap)  # --device host|arm64, --serial, --benchmark-binary, --allow-fallback, ...
    return ap


# Protocol defaults per device: an emulated or real phone is far slower than the host.
DEVICE_DEFAULTS = {"host": {"warmup": 10, "runs": 50, "block": 5}, "arm64": {"warmup": 1, "runs": 5, "block": 1}}


def _human(report: dict) -> str:
    from .modules import sum_summary
    lines = [f"{report['machine']['label']} ({report['machine']['execution']}); "
             f"{report['protocol']['runs']} runs x {len(report['artifacts'])} targets, {report['protocol']['threads']} threads"]
    for a in report["artifacts"]:
        lat = a["latency_ms"]
        ratio = f" x{a['ratio_to_baseline']:.2f} torch" if a["ratio_to_baseline"] is not None else ""
        frac = f" {100 * a['fraction_of_peak']:.0f}% peak" if a["fraction_of_peak"] is not None else ""
        lines.append(f"  {a['label']:<48} p50 {lat['p50']:8.2f} ms  p90 {lat['p90']:8.2f}  min {lat['min']:8.2f}{ratio}{frac}")
    for t in report["targets"]:
        lines.append(f"  target {'met ' if t['met'] else 'MISSED'}: {t['name']} [{t['preset']}]: {t['detail']}")
    for s in report["module_sums"]:
        lines.append(f"  modules {s['source']} of {s['artifact']}: {sum_summary(s)}")
    if report["incomplete"]:
        lines.append(f"  incomplete: {report['incomplete_reason']}")
    return "\n".join(lines)


def _host(args: argparse.Namespace) -> dict:
    from .run import BenchRequest, run_bench

    peers = tuple(p.strip() for p in args.peers.split(",") if p.strip())
    req = BenchRequest(paths=list(args.artifacts), runtime=args.runtime, delegate=args.delegate, threads=args.threads,
                       warmup=args.warmup, runs=args.runs, block=args.block, modules=args.modules, parity=args.parity,
                       parity_clips=args.parity_clips, checkpoint=args.checkpoint, baseline=not args.no_baseline, peers=peers,
                       peer_dir=args.peer_dir, inputs_npz=args.inputs, peak=not args.no_peak,
                       profile_runs=args.profile_runs)
    return run_bench(req, progress=lambda msg: print(f"[bench] {msg}", file=sys.stderr, flush=True))


# Device back ends: name -> function(args) -> report dict. Others register here (e.g. an adb device).
BACKENDS: dict[str, Callable[[argparse.Namespace], dict]] = {"host": _host}


def main(argv: list[str] | None = None) -> int:
    """Run lavseg-bench; UserError subclasses propagate to the console-script guard (one line, exit 2)."""
    args = build_parser().parse_args(argv)
    for key, value in DEVICE_DEFAULTS.get(args.device, DEVICE_DEFAULTS["host"]).items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    if args.runs < 1:
        raise UserError(f"--runs must be >= 1, got {args.runs}")
    if args.warmup < 0:
        raise UserError(f"--warmup must be >= 0, got {args.warmup}")
    if args.device == "arm64":
        from ..device import bench_device

        return bench_device.run(args)  # prints its own report and one-line errors
    backend = BACKENDS.get(args.device)
    if backend is None:
        raise UserError(f"unknown device {args.device!r}; choose one of: {', '.join(BACKENDS)}")
    report = backend(args)
    if args.report is not None:
        from .report import write_report

        written = write_report(report, args.report)
        print(f"[bench] report: {written['markdown']}", file=sys.stderr)
    print(json.dumps(report, indent=2, sort_keys=True, default=str) if args.json else _human(report))
    return 0

