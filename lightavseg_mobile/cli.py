"""Console entry points: thin argparse wrappers over library functions.

User mistakes end as one line `error: ...` on stderr with a non-zero exit code,
never a traceback; Ctrl-C ends with exit 130 (lavseg-export: 2, its "nothing published" code) after whatever
was finished is kept. Every command is quiet unless --verbose: library warnings and converter output go to
~/.cache/lightavseg/logs/COMMAND.log (see `console`).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path

from .data.heldout import DEFAULT_HELDOUT
from .console import Parser, guard as _guard
from .errors import UserError


def _exit(fn: Callable[[list[str] | None], int]) -> Callable[[], None]:
    def main() -> None:
        sys.exit(fn(None))

    return main


def _emit(obj: dict, as_json: bool, human: Callable[[dict], str]) -> None:
    print(json.dumps(obj, indent=2, sort_keys=True) if as_json else human(obj))


# ---------------------------------------------------------------- lavseg-info
@_guard(command="lavseg-info")
def info(argv: list[str] | None) -> int:
    """lavseg-info: parameters and FLOPs per top-level module."""
    from .presets import PRESETS

    ap = Parser(prog="lavseg-info", description="Parameters and FLOPs of a LightAVSeg preset, per top-level module.")
    ap.add_argument("--preset", default="lightavseg", help=f"preset name ({', '.join(PRESETS)}); default lightavseg")
    ap.add_argument("--checkpoint", help="also validate and describe this checkpoint (its preset must match --preset)")
    ap.add_argument("--image-size", type=int, default=None, help="frame size for FLOPs (multiple of 32); default: the preset's")
    ap.add_argument("--json", action="store_true", help="print machine-readable JSON")
    args = ap.parse_args(argv)

    from .model.cost import module_flops, module_params
    from .presets import create_model, get_preset

    preset = get_preset(args.preset)
    size = args.image_size or preset.image_size
    if size <= 0 or size % 32:
        raise UserError(f"--image-size {size} is not a positive multiple of 32")
    model = create_model(preset.name)
    out: dict = {"preset": preset.name, "image_size": size, "description": preset.description}
    if args.checkpoint:
        from .checkpoint import load_checkpoint

        ckpt = load_checkpoint(args.checkpoint, expect_preset=preset.name)
        model = ckpt.build_model()
        out["checkpoint"] = {"path": str(ckpt.path), "sha256": ckpt.sha256, "stage": ckpt.meta.get("stage"), "epoch": ckpt.meta.get("epoch")}
    params = module_params(model)
    flops = module_flops(model, size)
    out["params"] = params
    out["inference_params"] = params["total"] - params.get("alignment", 0)
    out["flops"] = flops

    def human(o: dict) -> str:
        rows = [f"{o['preset']} at {o['image_size']}x{o['image_size']}", f"{'module':<20}{'params (M)':>12}{'GFLOPs':>10}"]
        for name in list(o["flops"]):
            if name == "total":
                continue
            rows.append(f"{name:<20}{o['params'].get(name, 0) / 1e6:>12.3f}{o['flops'][name] / 1e9:>10.3f}")
        if "alignment" in o["params"]:
            rows.append(f"{'alignment (train)':<20}{o['params']['alignment'] / 1e6:>12.3f}{'-':>10}")
        rows.append(f"{'total':<20}{o['params']['total'] / 1e6:>12.3f}{o['flops']['total'] / 1e9:>10.3f}")
        rows.append(f"inference params: {o['inference_params'] / 1e6:.3f} M")
        return "\n".join(rows)

    _emit(out, args.json, human)
    return 0


# ---------------------------------------------------------------- lavseg-train
@_guard(command="lavseg-train")
def train(argv: list[str] | None) -> int:
    """lavseg-train: train the audio encoder (stage audio) or the segmentation model (stage seg)."""
    from .presets import PRESETS
    from .train.config import TrainConfig

    d = TrainConfig()
    ap = Parser(prog="lavseg-train", description="Train LightAVSeg on AVSBench-layout data (S4, MS3 or the synthetic set).")
    ap.add_argument("--preset", default=d.preset, help=f"preset ({', '.join(PRESETS)})")
    ap.add_argument("--data", required=True, help="dataset root in AVSBench layout (s4_meta_data.csv or ms3_meta_data.csv inside)")
    ap.add_argument("--format", choices=["ms3", "s4"], default=None, help="dataset layout; detected from the meta csv when omitted")
    ap.add_argument("--out", required=True, help="run folder: last.pt (resume point), model.pt (final, fp16), history.json")
    ap.add_argument("--stage", choices=["audio", "seg"], default="seg",
                    help="audio: pre-train the audio encoder as a sound classifier; seg: the main stage (audio encoder frozen)")
    ap.add_argument("--audio-init", help="seg stage: audio encoder weights (a --stage audio checkpoint or PANNs MobileNetV2 .pth)")
    ap.add_argument("--init", help="seg stage: start from this checkpoint's weights (fine-tuning, e.g. at another --image-size)")
    ap.add_argument("--train-audio", action="store_true", help="seg stage: also train the audio encoder (default: frozen)")
    ap.add_argument("--epochs", type=int, default=d.epochs, help=f"epochs (default {d.epochs})")
    ap.add_argument("--batch-size", type=int, default=d.batch_size, help=f"frames per batch (default {d.batch_size})")
    ap.add_argument("--lr", type=float, default=d.lr, help=f"AdamW learning rate (default {d.lr})")
    ap.add_argument("--weight-decay", type=float, default=d.weight_decay, help=f"AdamW weight decay (default {d.weight_decay})")
    ap.add_argument("--msa-weight", type=float, default=d.msa_weight, help=f"weight of the alignment loss L_msa (default {d.msa_weight})")
    ap.add_argument("--image-size", type=int, default=d.image_size, help="training frame size, multiple of 32 (default 224)")
    ap.add_argument("--warmup-steps", type=int, default=0, help="linear learning-rate warm-up steps (default 0)")
    ap.add_argument("--cosine", action="store_true", help="cosine learning-rate decay to 5%% over the run")
    ap.add_argument("--max-minutes", type=float, default=0.0, help="stop after the epoch that passes this wall-clock budget (0 = none)")
    ap.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    ap.add_argument("--threads", type=int, default=0, help="torch threads (default: torch's choice)")
    ap.add_argument("--quiet", action="store_true", help="no progress bars")
    ap.add_argument("--force-config", action="store_true",
                    help="resume OUT's last checkpoint even though other hyper-parameters were given (default: refuse)")
    args = ap.parse_args(argv)

    from .presets import get_preset
    from .train.loop import train_audio, train_segmentation

    get_preset(args.preset)
    if args.image_size <= 0 or args.image_size % 32:
        raise UserError(f"--image-size {args.image_size} is not a positive multiple of 32")
    if args.epochs <= 0 or args.batch_size <= 0 or args.lr <= 0:
        raise UserError("--epochs, --batch-size and --lr must be positive")
    data = Path(args.data)
    if not data.is_dir():
        raise UserError(f"--data {data} is not a folder")
    cfg = TrainConfig(preset=args.preset, stage=args.stage, epochs=args.epochs, batch_size=args.batch_size, lr=args.lr,
                      weight_decay=args.weight_decay, msa_weight=args.msa_weight, image_size=args.image_size, seed=args.seed,
                      freeze_audio=not args.train_audio, warmup_steps=args.warmup_steps, cosine=args.cosine,
                      max_minutes=args.max_minutes, threads=args.threads)
    if args.stage == "audio":
        from .train.labels import audio_labels

        labels, classes = audio_labels(data, args.format)
        path = train_audio(cfg, data, args.out, labels, classes, progress=not args.quiet, force_config=args.force_config)
    else:
        path = train_segmentation(cfg, data, args.out, subset=args.format, audio_init=args.audio_init, init=args.init,
                                  progress=not args.quiet, force_config=args.force_config)
    print(f"wrote {path}")
    return 0


# ---------------------------------------------------------------- lavseg-eval
@_guard(command="lavseg-eval")
def evaluate_cmd(argv: list[str] | None) -> int:
    """lavseg-eval: J (mIoU) and F of a checkpoint on a dataset split."""
    ap = Parser(prog="lavseg-eval", description="Evaluate a checkpoint: mIoU (J) and F-score on an AVSBench-layout split.")
    ap.add_argument("checkpoint", nargs="?", default=None, help="checkpoint file (default: the shipped checkpoint of --preset)")
    ap.add_argument("--preset", default="lightavseg", help="preset of the shipped checkpoint to use when no CHECKPOINT is given")
    ap.add_argument("--data", default=str(DEFAULT_HELDOUT), help="dataset root (default: the shipped held-out synthetic set)")
    ap.add_argument("--split", default="test", help="split to evaluate (default test)")
    ap.add_argument("--format", choices=["ms3", "s4"], default=None, help="dataset layout; detected when omitted")
    ap.add_argument("--audio-checks", action="store_true", help="also measure mIoU with swapped audio and the silent-clip foreground area")
    ap.add_argument("--report", help="write a Markdown report with PNG overlays into this folder")
    ap.add_argument("--json", action="store_true", help="print machine-readable JSON")
    args = ap.parse_args(argv)

    from .evaluate import DEMO_PREVIEW_CLIPS, run_eval

    run = run_eval(args.checkpoint, args.preset, args.data, args.split, args.format, args.audio_checks,
                   preview_clips=DEMO_PREVIEW_CLIPS if args.report else 0)
    result = _with_report(run, args.report)
    _emit(result, args.json, lambda r: "\n".join(f"{k}: {v}" for k, v in r.items() if not isinstance(v, dict)))
    return 0


def _with_report(run, folder: str | None) -> dict:  # noqa: ANN001 - evaluate.EvalRun, imported lazily
    """The run's result, plus the path of its report when `folder` is given."""
    if not folder:
        return run.result
    from .report import write_eval_report

    return {**run.result, "report": str(write_eval_report(Path(folder), run.title, run.metrics(), run.preview))}


# ---------------------------------------------------------------- lavseg-data
@_guard(command="lavseg-data")
def data(argv: list[str] | None) -> int:
    """lavseg-data: write the synthetic set, inspect a dataset."""
    from .data.cli_data import main as data_cli

    return data_cli(argv)


# ---------------------------------------------------------------- lavseg-export / lavseg-bench
def export(argv: list[str] | None) -> int:
    """lavseg-export: ONNX / TFLite artifacts, fp32 and int8, with the parity gate (guarded in export.cli_export: Ctrl-C exits 2)."""
    from .export.cli_export import run

    return run(argv)


@_guard(command="lavseg-bench")
def bench(argv: list[str] | None) -> int:
    """lavseg-bench: latency, parity and per-module cost on the host or an adb device."""
    from .bench.cli_bench import main as bench_cli

    return bench_cli(argv)


# ---------------------------------------------------------------- lavseg-demo
@_guard(command="lavseg-demo")
def demo(argv: list[str] | None) -> int:
    """lavseg-demo: evaluate the shipped model on the shipped held-out clips and write the report."""
    ap = Parser(prog="lavseg-demo", description="Run the main job on the shipped model and data and print where the report is.")
    ap.add_argument("--preset", default="lightavseg", help="shipped checkpoint to use (default lightavseg)")
    ap.add_argument("--out", default="reports/demo", help="report folder (default reports/demo)")
    ap.add_argument("--json", action="store_true", help="print machine-readable JSON")
    args = ap.parse_args(argv)

    from .evaluate import run_demo

    result = _with_report(run_demo(args.preset), args.out)
    _emit(result, args.json, lambda r: (f"mIoU (J) {r['miou']:.3f}  F {r['f']:.3f}  mIoU with swapped audio {r['miou_audio_swapped']:.3f}\n"
                                        f"report: {r['report']}"))
    return 0


info_main = _exit(info)
train_main = _exit(train)
eval_main = _exit(evaluate_cmd)
data_main = _exit(data)
demo_main = _exit(demo)
export_main = _exit(export)
bench_main = _exit(bench)
