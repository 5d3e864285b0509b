"""lavseg-export: thin argparse wrapper over `export.pipeline.run_export`."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from ..console import Parser, guard
from ..errors import UserError
from ..data.heldout import AUDIO_INPUTS, DEFAULT_HELDOUT
from .pipeline import ExportRequest, check_parity, run_export
from .recipes import available_recipes

_FORMATS = {"onnx": ("onnx",), "tflite": ("tflite",), "all": ("onnx", "tflite")}


def build_parser() -> argparse.ArgumentParser:
    """The lavseg-export argument parser."""
    ap = Parser(prog="lavseg-export", description="Export LightAVSeg to ONNX/TFLite (fp32, int8) and gate every artifact on held-out parity.")
    ap.add_argument("checkpoint", nargs="?", type=Path, help="checkpoint .pt (default: the shipped checkpoint of --preset)")
    ap.add_argument("--preset", help="preset name (default lightavseg); with a checkpoint, the checkpoint must hold this preset")
    ap.add_argument("--format", default="all", help="onnx, tflite or all (default all)")
    ap.add_argument("--int8", action="store_true", help="also export int8 artifacts with the default recipe of each format")
    ap.add_argument("--recipe", action="append", default=[], metavar="NAME|PATH",
                    help=f"int8 recipe (repeatable; implies --int8); shipped: {', '.join(available_recipes())}")
    ap.add_argument("--audio-input", default="logmel", help="logmel (a [96,64] patch) or waveform (0.96 s of 16 kHz audio; log-mel in the graph)")
    ap.add_argument("--calibration", type=Path, default=DEFAULT_HELDOUT, help="AVSBench-layout folder whose 'val' split calibrates int8")
    ap.add_argument("--heldout", type=Path, default=DEFAULT_HELDOUT, help="AVSBench-layout folder whose 'test' split gates parity")
    ap.add_argument("--heldout-clips", type=int, default=None, metavar="N",
                    help="gate on the first N held-out clips only (default: all); for quick iterations, not for shipping")
    ap.add_argument("--split-modules", action="store_true", help="also export each top-level module as its own artifact")
    ap.add_argument("--out", type=Path, default=Path("exports"), help="output folder (default exports/)")
    ap.add_argument("--allow-parity-failure", action="store_true", help="publish artifacts that fail the gate, marked failed")
    ap.add_argument("--threads", type=int, default=0,
                    help="threads for torch and the runtimes (default 0 = physical cores; use 1 on a host busy with other work)")
    ap.add_argument("--jobs", type=int, default=0, metavar="N",
                    help="conversions run at once (default 0 = physical cores, at most 2): PT2E int8 converts in a "
                         "second process while the other artifacts are built; 1 = one at a time")
    ap.add_argument("--json", action="store_true", help="print a machine-readable summary on stdout")
    return ap


def _human(summary: dict) -> str:
    lines = [f"exported {summary['preset']} from {summary['checkpoint']} in {summary['total_s']:.0f} s -> {summary['out']}"]
    for a in summary["artifacts"]:
        p = a["parity"]
        if a["module"] == "model":
            t = p.get("tensor", {})
            q = (f"max abs {t.get('max_abs', float('nan')):.3g}, SQNR {t.get('sqnr_db', float('nan')):.1f} dB, "
                 f"mIoU {100 * p['artifact']['miou']:.2f} (drop {100 * p['miou_drop']:.2f}), F {100 * p['artifact']['f']:.2f} (drop {100 * p['f_drop']:.2f})")
        else:
            q = f"module SQNR {p.get('sqnr_db', float('nan')):.1f} dB"
        lines.append(f"  {a['status']:<13} {a['path']}  {a['size'] / 1e6:.1f} MB  {q}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Run lavseg-export; UserError (exit 2) and ParityError (exit 3) propagate to the console-script guard."""
    args = build_parser().parse_args(argv)
    if args.format not in _FORMATS:
        raise UserError(f"unknown format {args.format!r}; choose one of: {', '.join(_FORMATS)}")
    if args.audio_input not in AUDIO_INPUTS:
        raise UserError(f"unknown --audio-input {args.audio_input!r}; choose one of: {', '.join(AUDIO_INPUTS)}")
    if args.heldout_clips is not None and args.heldout_clips < 1:
        raise UserError(f"--heldout-clips must be at least 1, got {args.heldout_clips}")
    req = ExportRequest(checkpoint=args.checkpoint, preset=args.preset, formats=_FORMATS[args.format],
                        int8=args.int8 or bool(args.recipe), recipes=tuple(args.recipe), audio_input=args.audio_input,
                        calibration=args.calibration, heldout=args.heldout, split_modules=args.split_modules, out=args.out,
                        allow_parity_failure=args.allow_parity_failure, threads=args.threads,
                        max_heldout_clips=args.heldout_clips, jobs=args.jobs)
    summary = run_export(req)
    print(json.dumps(summary, indent=2, sort_keys=True, default=str) if args.json else _human(summary))
    check_parity(summary, args.allow_parity_failure)
    return 0


# Exit 2 on Ctrl-C, not 130: lavseg-export's contract is that every run that publishes nothing ends with 2
# (3 for parity), so a supervising script needs one check for "no new artifacts".
run = guard(main, command="lavseg-export", interrupt_exit=2)

if __name__ == "__main__":  # `python -m lightavseg_mobile.export.cli_export` (bench/suite.py runs it so)
    sys.exit(run(sys.argv[1:]))
