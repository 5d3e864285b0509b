"""`lavseg-data`: write the synthetic set and inspect AVSBench-layout folders (thin wrapper)."""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from lightavseg_mobile.data.avsbench import (
    NUM_FRAMES,
    SPLITS,
    AVSBenchLayout,
    detect_subset,
    load_mask,
)
from lightavseg_mobile.data.synth import (
    DEFAULT_SPLITS,
    META_JSON,
    MIN_IMAGE_SIZE,
    check_splits,
    read_synth_meta,
    write_synthetic,
)
from lightavseg_mobile.console import Parser
from lightavseg_mobile.errors import DataError, UserError

_DEFAULT_FRACTIONS = ",".join(f"{k}={v:g}" for k, v in DEFAULT_SPLITS.items())


def parse_fractions(text: str) -> dict[str, float]:
    """Parse "train=0.8,val=0.1,test=0.1" into checked split fractions."""
    out: dict[str, float] = {}
    for part in text.split(","):
        key, sep, value = part.partition("=")
        key = key.strip()
        try:
            if not sep:
                raise ValueError
            out[key] = float(value)
        except ValueError:
            raise UserError(
                f"bad --split-fractions item {part.strip()!r}: write e.g. {_DEFAULT_FRACTIONS}"
            ) from None
    return check_splits(out)


def build_parser() -> argparse.ArgumentParser:
    """Argument parser of `lavseg-data` with its `synth` and `inspect` subcommands."""
    p = Parser(
        prog="lavseg-data",
        description="Write the synthetic audio-visual set or inspect a dataset folder in the AVSBench layout.",
    )
    sub = p.add_subparsers(dest="command", required=True, metavar="{synth,inspect}", parser_class=argparse.ArgumentParser)

    s = sub.add_parser(
        "synth",
        help="write the synthetic set (AVSBench MS3 layout)",
        description=(
            "Write a synthetic audio-visual set in the AVSBench MS3 layout: 8 shape/colour classes, each "
            "with its own sound; masks show the objects that sound in each second. The set is written "
            "into a temporary folder next to OUT and renamed at the end, so an interrupted run leaves "
            "nothing at OUT."
        ),
    )
    s.add_argument("--out", required=True, type=Path, metavar="DIR",
                   help="output folder; must not exist or be empty (see --force)")
    s.add_argument("--videos", required=True, type=int, metavar="N",
                   help="number of 5-second videos to write (the first N of the seed's sequence)")
    s.add_argument("--seed", required=True, type=int, metavar="S",
                   help="random seed; the same seed gives byte-identical files")
    s.add_argument("--image-size", type=int, default=224, metavar="PX",
                   help=f"frame and mask side in pixels (default 224, minimum {MIN_IMAGE_SIZE})")
    s.add_argument("--split-fractions", default=_DEFAULT_FRACTIONS, metavar="SPEC",
                   help=f"fractions of videos per split, summing to 1 (default {_DEFAULT_FRACTIONS})")
    s.add_argument("--force", action="store_true",
                   help="replace OUT if it already exists and is not empty")
    s.add_argument("--json", action="store_true",
                   help="print a JSON summary on stdout instead of text")

    i = sub.add_parser(
        "inspect",
        help="count videos, frames, masks and silent clips of a dataset folder",
        description=(
            "Detect whether DIR is an AVSBench S4 or MS3 folder (from its meta csv) and count, per split, "
            "videos, frames and masks present or missing, audio files, and silent clips (all masks empty)."
        ),
    )
    i.add_argument("dir", type=Path, metavar="DIR", help="folder holding s4_meta_data.csv or ms3_meta_data.csv")
    i.add_argument("--json", action="store_true", help="print a JSON report on stdout instead of text")
    return p


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _run_synth(args: argparse.Namespace) -> int:
    fractions = parse_fractions(args.split_fractions)
    if args.videos < 1:
        raise UserError(f"--videos must be at least 1, got {args.videos}")
    if args.image_size < MIN_IMAGE_SIZE:
        raise UserError(f"--image-size must be at least {MIN_IMAGE_SIZE}, got {args.image_size}")
    out: Path = args.out
    if out.exists():
        if not out.is_dir():
            raise UserError(f"{out} exists and is not a folder: choose another --out")
        if any(out.iterdir()) and not args.force:
            raise UserError(f"{out} is not empty: pass --force to replace it or choose another --out")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".part", dir=out.parent))
    os.chmod(tmp, 0o777 & ~_umask())  # mkdtemp makes 0700; give the final folder normal permissions
    from tqdm import tqdm

    start = time.perf_counter()
    try:
        with tqdm(total=args.videos, unit="video", desc="synth", file=sys.stderr) as bar:
            write_synthetic(tmp, args.videos, args.seed, args.image_size, fractions, progress=bar.update)
        if out.exists():
            # Move the old folder aside first so OUT is never missing for longer than a rename.
            trash = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".old", dir=out.parent))
            os.replace(out, trash / "old")
            os.replace(tmp, out)
            shutil.rmtree(trash, ignore_errors=True)
        else:
            os.replace(tmp, out)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    seconds = time.perf_counter() - start
    meta = read_synth_meta(out)
    counts = {k: sum(1 for c in meta["clips"] if c["split"] == k) for k in SPLITS}
    silent = sum(1 for c in meta["clips"] if c["silent"])
    summary = {
        "out": str(out),
        "subset": "ms3",
        "videos": args.videos,
        "seed": args.seed,
        "image_size": args.image_size,
        "split_fractions": fractions,
        "splits": counts,
        "silent": silent,
        "seconds": round(seconds, 3),
        "videos_per_second": round(args.videos / seconds, 2) if seconds > 0 else None,
    }
    if args.json:
        print(json.dumps(summary))
    else:
        split_text = ", ".join(f"{k} {v}" for k, v in counts.items())
        print(f"wrote {args.videos} synthetic videos to {out} ({split_text}; {silent} silent) "
              f"in {seconds:.1f} s ({summary['videos_per_second']} videos/s)")
    return 0


def inspect_dataset(root: str | Path) -> dict:
    """Count videos, frames, masks, audio files and silent clips per split of an AVSBench-layout folder."""
    root = Path(root)
    if not root.is_dir():
        raise DataError(f"{root} is not a folder: pass the folder that holds the AVSBench meta csv")
    subset = detect_subset(root)
    layout = AVSBenchLayout(root, subset)
    report: dict = {
        "root": str(root),
        "subset": subset,
        "data_root": str(layout.data_root),
        "synthetic": (root / META_JSON).is_file(),
        "splits": {},
    }
    keys = ("videos", "frames", "frames_missing", "masks", "masks_missing", "pkl", "wav", "silent")
    for split in SPLITS:
        report["splits"][split] = dict.fromkeys(keys, 0)
    other = 0
    for rec in layout.records():
        if rec.split not in SPLITS:
            other += 1
            continue
        c = report["splits"][rec.split]
        c["videos"] += 1
        for i in range(1, NUM_FRAMES + 1):
            c["frames" if layout.frame_path(rec, i).is_file() else "frames_missing"] += 1
        any_mask, any_foreground = False, False
        for i in range(1, layout.mask_count(rec.split) + 1):
            path = layout.mask_path(rec, i)
            if not path.is_file():
                c["masks_missing"] += 1
                continue
            c["masks"] += 1
            any_mask = True
            any_foreground = any_foreground or bool(np.any(load_mask(path, subset, None)))
        c["silent"] += int(any_mask and not any_foreground)
        c["pkl"] += int(layout.pkl_path(rec).is_file())
        c["wav"] += int(layout.wav_path(rec).is_file())
    report["total"] = {k: sum(report["splits"][s][k] for s in SPLITS) for k in keys}
    report["rows_with_other_split"] = other
    return report


def _run_inspect(args: argparse.Namespace) -> int:
    report = inspect_dataset(args.dir)
    if args.json:
        print(json.dumps(report))
        return 0
    kind = "synthetic " if report["synthetic"] else ""
    print(f"{report['root']}: {kind}AVSBench {report['subset'].upper()} layout (data under {report['data_root']})")
    header = ("split", "videos", "frames", "missing", "masks", "missing", "pkl", "wav", "silent")
    print("  " + " ".join(f"{h:>8}" for h in header))
    for name, c in [*report["splits"].items(), ("total", report["total"])]:
        row = (name, c["videos"], c["frames"], c["frames_missing"], c["masks"], c["masks_missing"],
               c["pkl"], c["wav"], c["silent"])
        print("  " + " ".join(f"{v:>8}" for v in row))
    if report["rows_with_other_split"]:
        print(f"  ({report['rows_with_other_split']} csv rows have a split other than train/val/test)")
    return 0


def main(argv: list[str] | None = None) -> int:
    """Entry point of `lavseg-data`; user mistakes raise UserError subclasses with one-line messages."""
    args = build_parser().parse_args(argv)
    if args.command == "synth":
        return _run_synth(args)
    return _run_inspect(args)
