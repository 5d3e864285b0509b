"""Datasets: AVSBench S4/MS3 loaders, the synthetic MS3-layout set, and frame preprocessing.

Names are imported lazily so that a device importing `lightavseg_mobile.data.preprocess` (numpy only)
never pulls in PIL, torch or soundfile.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "Clip": "lightavseg_mobile.data.clip",
    "AVSBenchDataset": "lightavseg_mobile.data.avsbench",
    "AVSBenchLayout": "lightavseg_mobile.data.avsbench",
    "detect_subset": "lightavseg_mobile.data.avsbench",
    "read_logmel_pkl": "lightavseg_mobile.data.avsbench",
    "write_synthetic": "lightavseg_mobile.data.synth",
    "make_clip": "lightavseg_mobile.data.synth",
    "read_synth_meta": "lightavseg_mobile.data.synth",
    "frames_to_input": "lightavseg_mobile.data.preprocess",
    "IMAGENET_MEAN": "lightavseg_mobile.data.preprocess",
    "IMAGENET_STD": "lightavseg_mobile.data.preprocess",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    """Import the module that defines `name` on first use."""
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
