"""The thresholded parity gate between an exported artifact and the torch fp32 model."""

from .gate import ClipBatch, Thresholds, compare, module_sqnr, verdict

__all__ = ["ClipBatch", "Thresholds", "compare", "module_sqnr", "verdict"]
