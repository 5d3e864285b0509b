"""Turn training runs (history.json) into the committed record: JSON, Markdown and loss/mIoU curves."""

from __future__ import annotations

import json
import platform
from pathlib import Path

from ..hostinfo import cpu_model
from ..io_atomic import write_text_atomic


def plot_curves(histories: dict[str, dict], png: Path) -> None:
    """Training loss and validation mIoU per epoch, one line per run stage."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax_loss, ax_iou) = plt.subplots(1, 2, figsize=(10, 3.6))
    offset: dict[str, int] = {}
    for label, hist in histories.items():
        model = label.split(":")[0]
        start = offset.get(model, 0)
        epochs = [start + e["epoch"] for e in hist["epochs"]]
        offset[model] = epochs[-1] if epochs else start
        ax_loss.plot(epochs, [e["loss"] for e in hist["epochs"]], marker="o", label=label)
        if hist["epochs"] and "val_miou" in hist["epochs"][0]:
            ax_iou.plot(epochs, [e["val_miou"] for e in hist["epochs"]], marker="o", label=label)
    ax_loss.set(xlabel="epoch", ylabel="loss (seg: Dice + BCE + 0.5 L_msa; audio: BCE)", title="training loss")
    ax_iou.set(xlabel="epoch", ylabel="mIoU (val, 224x224)", title="validation mIoU", ylim=(0, 1))
    for ax in (ax_loss, ax_iou):
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    fig.tight_layout()
    png.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(png, dpi=110)
    plt.close(fig)


def write_training_record(out_dir: Path, runs: list[dict], evaluations: dict[str, dict]) -> Path:
    """runs: [{"label", "command", "history": path}], evaluations: {preset: audio_checks result}. Returns the .md path."""
    out_dir.mkdir(parents=True, exist_ok=True)
    histories = {r["label"]: json.loads(Path(r["history"]).read_text()) for r in runs}
    plot_curves(histories, out_dir / "training_curves.png")
    host = {"machine": platform.machine(), "processor": cpu_model(), "python": platform.python_version()}
    record = {
        "host": host,
        "runs": [
            {"label": r["label"], "command": r["command"], "minutes": round(histories[r["label"]].get("elapsed_s", 0) / 60, 1),
             "epochs": histories[r["label"]]["epochs"]}
            for r in runs
        ],
        "evaluation": evaluations,
    }
    write_text_atomic(out_dir / "training.json", json.dumps(record, indent=1))
    lines = ["# Training record", "", f"Host: {host['processor']} ({host['machine']}), 2 cores, CPU only; measured here.", ""]
    lines += ["| run | command | wall time (min) | epochs | last train loss | last val mIoU |", "|---|---|---|---|---|---|"]
    for r in record["runs"]:
        last = r["epochs"][-1] if r["epochs"] else {}
        lines.append(f"| {r['label']} | `{r['command']}` | {r['minutes']} | {len(r['epochs'])} | {last.get('loss', float('nan')):.3f} | "
                     f"{last.get('val_miou', float('nan')):.3f} |")
    lines += ["", "![training curves](training_curves.png)", "", "## Shipped checkpoints on the shipped held-out test split", ""]
    lines += ["| preset | mIoU (J) | F | mIoU, audio swapped | drop | silent-clip area / area with sound |", "|---|---|---|---|---|---|"]
    for preset, ev in evaluations.items():
        lines.append(f"| {preset} | {ev['miou']:.3f} | {ev['f']:.3f} | {ev['miou_audio_swapped']:.3f} | {ev['miou_drop_audio_swapped']:.3f} | "
                     f"{ev.get('silent_area_ratio', float('nan')):.3f} |")
    md = out_dir / "training.md"
    write_text_atomic(md, "\n".join(lines) + "\n")
    return md
