"""lavseg-bench: thin argparse wrapper over `bench.run.run_bench` (host) and `bench.device_bench` (an adb device)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from ..console import Parser, guard
from ..errors import UserError
from ..runtime.registry import DELEGATES
from .cli_device import add_device_arguments
from .summary import human_summary

# Protocol defaults per device: an emulated or real phone is far slower than the host.
DEVICE_DEFAULTS = {"host": {"warmup": 10, "runs": 50, "block": 5}, "arm64": {"warmup": 1, "runs": 5, "block": 1}}


def build_parser() -> argparse.ArgumentParser:
    """The lavseg-bench argument parser."""
    ap = Parser(prog="lavseg-bench",
                description="Benchmark exported LightAVSeg artifacts against the torch fp32 baseline: interleaved timing, "
                            "cold start, peak RSS, GFLOP/s vs the matmul peak, per-module cost, parity.")
    ap.add_argument("artifacts", nargs="*", type=Path, metavar="ARTIFACT_OR_DIR",
                    help="*.onnx, *.tflite, *.manifest.json, a *.pt checkpoint or a folder of exports (default: exports/)")
    ap.add_argument("--runtime", default="auto", help="auto (by file format), torch, onnxruntime or litert")
    ap.add_argument("--delegate", default="auto", metavar="NAME",
                    help=f"one of {', '.join(DELEGATES)} (the same names for every runtime and runner; auto: LiteRT "
                         "XNNPACK, ONNX Runtime CPU); never a silent fallback (see --allow-fallback on a device)")
    ap.add_argument("--threads", type=int, default=None, help="threads per runtime (default: physical cores)")
    ap.add_argument("--warmup", type=int, default=None, help="warm-up runs per target, discarded (default 10 on the host, 1 on arm64)")
    ap.add_argument("--runs", type=int, default=None, help="timed runs per target (default 50 on the host, 5 on arm64)")
    ap.add_argument("--block", type=int, default=None, help="runs per target per round-robin turn (default 5 on the host, 1 on arm64)")
    ap.add_argument("--modules", action="store_true",
                    help="per-module time from --split-modules sub-models and (ONNX) onnxruntime per-node profiles")
    ap.add_argument("--profile-runs", type=int, default=20, help="runs recorded in the onnxruntime per-node profile (default 20)")
    ap.add_argument("--parity", action="store_true", help="run the export parity gate on the held-out split through the benchmarked runtime")
    ap.add_argument("--parity-clips", type=int, default=None, help="limit parity to the first N held-out clips")
    ap.add_argument("--heldout", type=Path, default=None, metavar="DIR",
                    help="held-out clips for parity (AVSBench layout, split 'test'; default: the shipped set)")
    ap.add_argument("--checkpoint", type=Path, default=None, help="torch fp32 baseline checkpoint (default: the one the artifacts came from)")
    ap.add_argument("--no-baseline", action="store_true", help="do not time the torch fp32 baseline (no ratios)")
    ap.add_argument("--peers", default="", help="comma list of peers to time too: torch-compile, executorch-fp32, executorch-int8")
    ap.add_argument("--peer-dir", type=Path, default=Path("exports"), help="where ExecuTorch peer programs are built and cached")
    ap.add_argument("--inputs", type=Path, default=None, help=".npz of float32 model inputs (default: seeded noise of the manifest's shapes)")
    ap.add_argument("--no-peak", action="store_true", help="skip the matmul peak measurement (no GFLOP/s fraction)")
    ap.add_argument("--report", type=Path, default=None, help="write bench.json, bench.md and PNG plots into this folder")
    ap.add_argument("--json", action="store_true", help="print the JSON report on stdout")
    add_device_arguments(ap)  # --device host|arm64, --serial, --benchmark-binary, --allow-fallback, ...
    return ap


def _host(args: argparse.Namespace) -> dict:
    """Run the host bench from parsed arguments."""
    from .run import BenchRequest, run_bench

    peers = tuple(p.strip() for p in args.peers.split(",") if p.strip())
    req = BenchRequest(paths=list(args.artifacts), runtime=args.runtime, delegate=args.delegate, threads=args.threads,
                       warmup=args.warmup, runs=args.runs, block=args.block, modules=args.modules, parity=args.parity,
                       parity_clips=args.parity_clips, heldout=args.heldout, checkpoint=args.checkpoint,
                       baseline=not args.no_baseline, peers=peers, peer_dir=args.peer_dir, inputs_npz=args.inputs,
                       peak=not args.no_peak, profile_runs=args.profile_runs)
    return run_bench(req, progress=lambda msg: print(f"[bench] {msg}", file=sys.stderr, flush=True))


def main(argv: list[str] | None = None) -> int:
    """Run lavseg-bench; UserError subclasses propagate to the console-script guard (one line, exit 2)."""
    args = build_parser().parse_args(argv)
    for key, value in DEVICE_DEFAULTS[args.device].items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    if args.runs < 1:
        raise UserError(f"--runs must be >= 1, got {args.runs}")
    if args.warmup < 0:
        raise UserError(f"--warmup must be >= 0, got {args.warmup}")
    if args.device == "arm64":
        from .cli_device import run

        return run(args)  # prints its own report and one-line errors
    report = _host(args)
    if args.report is not None:
        from .report import write_report

        written = write_report(report, args.report)
        print(f"[bench] report: {written['markdown']}", file=sys.stderr)
    print(json.dumps(report, indent=2, sort_keys=True, default=str) if args.json else human_summary(report))
    return 0


if __name__ == "__main__":  # `python -m lightavseg_mobile.bench.cli_bench`, as the lavseg-bench console script
    sys.exit(guard(main)(sys.argv[1:]))
