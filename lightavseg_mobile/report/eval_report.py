"""Evaluation report folder: report.md, metrics.json and one PNG strip per clip, published atomically."""

from __future__ import annotations

import io
import json
import math
import os
import re
import shutil
import tempfile
import uuid
from pathlib import Path

import numpy as np
from PIL import Image

from lightavseg_mobile.errors import UserError
from lightavseg_mobile.io_atomic import write_bytes_atomic, write_text_atomic
from lightavseg_mobile.metrics.task import TaskMetrics, logits_to_mask
from lightavseg_mobile.report.overlay import clip_strip

REPORT_NAME = "report.md"
METRICS_NAME = "metrics.json"
IMAGES_DIR = "images"
# What a previous report folder may contain; anything else means out_dir is not ours to replace.
_REPORT_ENTRIES = {REPORT_NAME, METRICS_NAME, IMAGES_DIR}

Clip = tuple[str, np.ndarray, np.ndarray, np.ndarray | None]


def _jsonable(value: object) -> object:
    """Plain JSON types: numpy scalars/arrays unwrapped, non-finite floats as "inf"/"-inf"/"nan" strings."""
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return _jsonable(value.tolist())
    if isinstance(value, np.generic):
        return _jsonable(value.item())
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if value is None or isinstance(value, (bool, int, str)):
        return value
    return str(value)


def _fmt(value: object) -> str:
    """Table cell text: floats to 4 decimals (1 at or above 1000), everything else as str, pipes escaped."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float):
        if not math.isfinite(value):
            text = str(value)
        elif abs(value) >= 1000:
            text = f"{value:.1f}"
        else:
            text = f"{value:.4f}"
    elif isinstance(value, (dict, list, tuple)):
        text = json.dumps(_jsonable(value))
    else:
        text = str(value)
    return text.replace("|", "\\|").replace("\n", " ")


def _flatten(metrics: dict, prefix: str = "") -> list[tuple[str, object]]:
    """(dotted key, value) pairs of a possibly nested metrics dict, in insertion order."""
    rows: list[tuple[str, object]] = []
    for key, value in metrics.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            rows.extend(_flatten(value, prefix=f"{name}."))
        else:
            rows.append((name, value))
    return rows


def _table(rows: list[dict]) -> list[str]:
    """Markdown table lines; columns are the union of the rows' keys in order of first appearance."""
    columns: list[str] = []
    for row in rows:
        for key in row:
            if key not in columns:
                columns.append(key)
    if not columns:
        return ["(empty)"]
    lines = ["| " + " | ".join(_fmt(c) for c in columns) + " |", "|" + "---|" * len(columns)]
    for row in rows:
        lines.append("| " + " | ".join(_fmt(row[c]) if c in row else "" for c in columns) + " |")
    return lines


def _safe_name(name: str) -> str:
    """A file-name-safe version of a clip name."""
    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("._")
    return safe[:80] or "clip"


def _png_bytes(image: np.ndarray) -> bytes:
    """PNG encoding of a uint8 RGB image."""
    buf = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(image)).save(buf, format="PNG")
    return buf.getvalue()


def _clip_rows(clips: list[Clip], images_dir: Path, max_images: int) -> list[dict]:
    """Score each clip, write the first `max_images` strips, and return one table row per clip."""
    rows = []
    for i, (name, frames, pred_logits, gt_masks) in enumerate(clips):
        row: dict = {"clip": name}
        if gt_masks is not None:
            acc = TaskMetrics()
            acc.update(pred_logits, gt_masks)
            res = acc.result()
            row["frames"] = res["frames"]
            row["miou"] = res["miou"]
            # A clip whose ground truths are all empty has no F (the protocol skips those frames).
            row["f"] = res["f"] if res["f_frames"] else None
        else:
            row["frames"] = int(np.asarray(pred_logits).shape[0])
            row["miou"] = None
            row["f"] = None
        row["image"] = None
        if i < max_images:
            strip = clip_strip(frames, logits_to_mask(pred_logits), gt_masks)
            rel = f"{IMAGES_DIR}/{i:03d}_{_safe_name(name)}.png"
            write_bytes_atomic(images_dir.parent / rel, _png_bytes(strip))
            row["image"] = rel
        rows.append(row)
    return rows


def _markdown(title: str, metrics: dict, clip_rows: list[dict], extra_tables: dict[str, list[dict]]) -> str:
    """The report text."""
    lines = [f"# {title}", "", "## Metrics", "", "| metric | value |", "|---|---|"]
    lines += [f"| {_fmt(k)} | {_fmt(v)} |" for k, v in _flatten(metrics)]
    for name, rows in extra_tables.items():
        lines += ["", f"## {name}", ""] + _table(rows)
    if clip_rows:
        lines += ["", "## Clips", ""]
        table_rows = [
            {
                "clip": r["clip"],
                "frames": r["frames"],
                "J (mIoU)": "-" if r["miou"] is None else r["miou"],
                "F": "-" if r["f"] is None else r["f"],
            }
            for r in clip_rows
        ]
        lines += _table(table_rows)
        shown = [r for r in clip_rows if r["image"]]
        if shown:
            lines += [
                "",
                "Top row: prediction (red) with the ground-truth contour (green); bottom row: ground truth.",
            ]
            for r in shown:
                lines += ["", f"### {r['clip']}", "", f"![{_safe_name(r['clip'])}]({r['image']})"]
    return "\n".join(lines) + "\n"


def _check_replaceable(out_dir: Path) -> None:
    """Refuse to replace anything but a previous report folder (or an empty one)."""
    if not out_dir.exists():
        return
    if not out_dir.is_dir():
        raise UserError(f"report folder {out_dir} exists and is not a directory; choose another --out path")
    stray = sorted(p.name for p in out_dir.iterdir() if p.name not in _REPORT_ENTRIES)
    if stray:
        raise UserError(
            f"{out_dir} already holds files that are not part of a report ({', '.join(stray[:3])}); "
            "choose a new or empty folder"
        )


def _publish(tmp_dir: Path, out_dir: Path) -> None:
    """Move the finished folder onto out_dir, replacing a previous report; never leaves a partial one behind."""
    old = None
    if out_dir.exists():
        old = out_dir.with_name(f".{out_dir.name}.old-{uuid.uuid4().hex[:8]}")
        os.rename(out_dir, old)
    try:
        os.rename(tmp_dir, out_dir)
    except BaseException:
        if old is not None:
            os.rename(old, out_dir)
        raise
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def write_eval_report(
    out_dir: Path,
    title: str,
    metrics: dict,
    clips: list[Clip],
    extra_tables: dict[str, list[dict]] | None = None,
    max_images: int = 8,
) -> Path:
    """Write report.md, metrics.json and images/*.png for (name, frames, pred_logits, gt_masks) clips; return report.md.

    The folder is built beside `out_dir` and renamed into place, so an interrupted run leaves either the previous
    report or none. metrics.json holds {"title", "metrics", "clips", "extra_tables"}; non-finite numbers are
    stored as the strings "inf", "-inf", "nan".
    """
    out_dir = Path(out_dir)
    if max_images < 0:
        raise UserError(f"max_images={max_images} must be >= 0")
    _check_replaceable(out_dir)
    extra_tables = extra_tables or {}
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp_dir = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.", suffix=".part", dir=out_dir.parent))
    try:
        images_dir = tmp_dir / IMAGES_DIR
        images_dir.mkdir()
        clip_rows = _clip_rows(clips, images_dir, max_images)
        payload = {"title": title, "metrics": metrics, "clips": clip_rows, "extra_tables": extra_tables}
        write_text_atomic(tmp_dir / METRICS_NAME, json.dumps(_jsonable(payload), indent=2) + "\n")
        write_text_atomic(tmp_dir / REPORT_NAME, _markdown(title, metrics, clip_rows, extra_tables))
        _publish(tmp_dir, out_dir)
    finally:
        if tmp_dir.exists():
            shutil.rmtree(tmp_dir, ignore_errors=True)
    return out_dir / REPORT_NAME
