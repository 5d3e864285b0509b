"""Per-module sub-models: their boundary tensors from the float model, and their SQNR through the deploying runtime."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from ..data.heldout import ClipBatch
from ..model import graphs as graph
from ..parity import module_sqnr
from .calibration import logmel, spread_frames

REFERENCE_CLIPS = 12  # first frame of each of the first 12 held-out clips: enough for a per-module SQNR, cheap for five sub-models


class ModuleData:
    """Boundary tensors of every sub-model, computed once from the float network and cached."""

    def __init__(self, net: torch.nn.Module, heldout: Sequence[ClipBatch], calibration: Sequence[ClipBatch]) -> None:
        self.net = net
        self.heldout = heldout
        self.calibration = calibration
        self._refs: list[dict[str, torch.Tensor]] | None = None
        self._calib: dict[int | None, list[dict[str, torch.Tensor]]] = {}

    def _io(self, clip: ClipBatch, i: int) -> dict[str, torch.Tensor]:
        return graph.module_io(self.net, torch.from_numpy(clip.frames[i:i + 1]), torch.from_numpy(logmel(clip)[i:i + 1]))

    def references(self) -> list[dict[str, torch.Tensor]]:
        """Boundary tensors of the held-out reference frames."""
        if self._refs is None:
            self._refs = [self._io(c, 0) for c in self.heldout[:REFERENCE_CLIPS]]
        return self._refs

    def calibration_feeds(self, name: str, limit: int | None) -> list[dict[str, np.ndarray]]:
        """Calibration feeds of sub-model `name`: its inputs on the very frames the whole model calibrates on.

        A sub-model's boundary observer then sees the tensors the whole model's observer saw there, which is what
        gives the split the whole model's quantization parameters.
        """
        if limit not in self._calib:
            self._calib[limit] = [self._io(c, i) for c, i in spread_frames(self.calibration, limit)]
        return [{n: io[n].numpy() for n in graph.PART_INPUTS[name]} for io in self._calib[limit]]


def module_parity(path: Path, name: str, refs: list[dict[str, torch.Tensor]], threads: int) -> dict:
    """Per-output SQNR of sub-model `name` at `path` (its manifest written) against the float model's boundary tensors."""
    from ..runtime import load_runtime

    rt = load_runtime(path, runtime="auto", threads=threads)
    in_names, out_names = graph.PART_INPUTS[name], graph.PART_OUTPUTS[name]
    got: dict[str, list[np.ndarray]] = {n: [] for n in out_names}
    for io in refs:
        res = rt.run({n: io[n].numpy() for n in in_names})
        for n in out_names:
            got[n].append(res[n])
    ref = {n: np.concatenate([io[n].numpy() for io in refs]) for n in out_names}
    res = module_sqnr(ref, {n: np.concatenate(v) for n, v in got.items()})
    res.update(frames=len(refs), runtime=rt.info(), passed=True,
               note="sub-model fed the whole float model's boundary tensors; informational (the gate is on the whole model)")
    return res


def attach_diagnosis(parity: dict, subs: Sequence) -> None:
    """Record each sub-model's SQNR and the weakest module in a whole model's parity block (`subs`: publish.Built)."""
    worst = min(subs, key=lambda s: s.manifest.parity.get("sqnr_db", float("inf")), default=None)
    if worst is not None:
        parity["per_module_sqnr_db"] = {s.module: s.manifest.parity.get("sqnr_db") for s in subs}
        parity["worst_module"] = worst.module


BOUNDARY_NOTE = ("calibrated on the whole float model's boundary tensors of the same calibration frames as the whole "
                 "model, so min/max ranges (and the scale/zero-point of quantized inputs/outputs) match it at the boundaries")
