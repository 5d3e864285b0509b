"""Parity of benchmarked targets: held-out clips, the torch fp32 reference, the export gate (one path for every runner).

Host targets are run through the benchmarked runtime here; device and app targets bring the mask logits the
device computed (`TargetRecord.outputs`), which are compared on the host the same way.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..artifact.manifest import Manifest
from ..data.heldout import DEFAULT_HELDOUT, HELDOUT_SPLIT, ClipBatch, load_heldout
from ..errors import UserError
from ..parity import compare
from ..parity.reference import reference_for
from ..runtime.predictor import audio_input
from .baseline import baseline_checkpoint
from .plan import Target

Predict = Callable[[np.ndarray, np.ndarray], np.ndarray]
# What a target brings to the parity check: (predictor, the clips it covers, runtime info), or None to skip it.
ParitySource = Callable[[Target], "tuple[Predict, list[ClipBatch], dict[str, Any] | None] | None"]


class NoReferenceError(UserError):
    """No torch fp32 checkpoint of the target's preset was found to compare with."""


def heldout_clips(manifest: Manifest, audio: str, root: Path | None = None, limit: int | None = None) -> list[ClipBatch]:
    """Held-out clips preprocessed as the manifest says (its image size, mean and std)."""
    image = manifest.preprocessing.get("image", {})
    size = int(image.get("size") or manifest.inputs[0].shape[-1])
    return load_heldout(root, size, tuple(image.get("mean", (0.485, 0.456, 0.406))),
                        tuple(image.get("std", (0.229, 0.224, 0.225))), audio, limit)


def outputs_predictor(label: str, outputs: np.ndarray, clips: Sequence[ClipBatch]) -> Predict:
    """A predictor that answers each clip, in order, with the mask logits a device computed for it."""
    from ..device.errors import DeviceError

    total = sum(len(c.frames) for c in clips)
    if total != len(outputs):
        raise DeviceError(f"{label}: the device returned {len(outputs)} output frames, the held-out clips have {total}")
    bounds = np.cumsum([0] + [len(c.frames) for c in clips])
    it = iter(outputs[a:b] for a, b in zip(bounds[:-1], bounds[1:]))

    def predict(frames: np.ndarray, audio: np.ndarray) -> np.ndarray:
        got = next(it)
        if got.shape[0] != frames.shape[0]:
            raise DeviceError(f"{label}: device output has {got.shape[0]} frames for a clip of {frames.shape[0]}")
        return got

    return predict


def check_parity(label: str, manifest: Manifest, predict: Predict, clips: Sequence[ClipBatch], checkpoint: Path,
                 heldout: Path | None = None) -> dict[str, Any]:
    """The export parity gate (parity.compare) of one target's predictions against the torch fp32 reference."""
    reference = reference_for(checkpoint, audio_input(manifest), manifest.preset, manifest.checkpoint_sha256)
    res = compare(reference, predict, list(clips), "fp32" if manifest.precision == "fp32" else "int8")
    res["reference_checkpoint"] = str(checkpoint)
    res["split"] = f"{heldout or DEFAULT_HELDOUT}:{HELDOUT_SPLIT}"
    return res


def parity_of(targets: Sequence[Target], source: ParitySource, checkpoint: Path | None, heldout: Path | None = None,
              say: Callable[[str], None] | None = None) -> tuple[dict[str, dict[str, Any]], list[UserError]]:
    """Parity of every whole-model target `source` gives predictions for; ({label: result}, errors met on the way)."""
    say = say or (lambda msg: None)
    results: dict[str, dict[str, Any]] = {}
    errors: list[UserError] = []
    for t in targets:
        if t.manifest is None or t.module != "model":
            continue
        try:
            got = source(t)
            if got is None:
                continue
            predict, clips, runtime = got
            ck = baseline_checkpoint(t.preset or "", [t.manifest], explicit=checkpoint)
            if ck is None:
                raise NoReferenceError(f"no torch fp32 checkpoint of preset {t.preset} for the parity check of {t.label}: "
                                       "pass --checkpoint")
            say(f"parity {t.label}: {len(clips)} held-out clips vs the torch fp32 model")
            res = check_parity(t.label, t.manifest, predict, clips, ck, heldout)
        except UserError as exc:  # e.g. no checkpoint: keep the timings, say why parity is missing
            errors.append(exc)
            continue
        res["runtime"] = runtime
        results[t.label] = res
    return results, errors
