"""The torch fp32 reference that every artifact is compared with (export, bench, device, app parity)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

from ..errors import UserError


def torch_reference_predictor(module) -> Callable[[np.ndarray, np.ndarray], np.ndarray]:  # noqa: ANN001 - torch module
    """The torch fp32 reference, memoised per input array: every artifact is compared with the same run."""
    import torch

    module = module.eval()
    cache: dict[tuple[int, int], np.ndarray] = {}

    def run(frames: np.ndarray, audio: np.ndarray) -> np.ndarray:
        key = (id(frames), id(audio))
        if key not in cache:
            # One batch per clip: several times faster than frame by frame on CPU, same numbers to ~1e-6.
            with torch.inference_mode():
                cache[key] = module(torch.from_numpy(frames), torch.from_numpy(audio)).numpy()
        return cache[key]

    return run


def reference_for(checkpoint: str | Path, audio_input: str, expect_preset: str | None = None,
                  expect_sha256: str | None = None) -> Callable[[np.ndarray, np.ndarray], np.ndarray]:
    """The reference predictor of a checkpoint for artifacts taking `audio_input` (log-mel front end in the graph
    for "waveform"); refuses a checkpoint other than the one an artifact was exported from."""
    from ..checkpoint import load_checkpoint
    from ..model.graphs import WaveformModel

    ckpt = load_checkpoint(checkpoint, expect_preset=expect_preset)
    if expect_sha256 and ckpt.sha256 != expect_sha256:
        raise UserError(f"checkpoint {checkpoint} is not the one the artifact was exported from "
                        f"(sha256 {ckpt.sha256[:12]} != {expect_sha256[:12]}): pass the right --checkpoint")
    net = ckpt.build_model().for_inference()
    return torch_reference_predictor(WaveformModel(net) if audio_input == "waveform" else net)
