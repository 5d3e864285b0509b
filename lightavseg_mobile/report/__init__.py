"""Evaluation reports: mask overlays, clip strips and the report folder (markdown + JSON + PNG)."""

from lightavseg_mobile.report.eval_report import write_eval_report
from lightavseg_mobile.report.overlay import clip_strip, overlay_mask

__all__ = ["clip_strip", "overlay_mask", "write_eval_report"]
