"""Evaluation on AVSBench-layout data: J and F, plus the checks that audio matters."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from .data.clip import Clip
from .data.preprocess import frames_to_input
from .metrics import TaskMetrics

# (frame float32 [B,3,H,W], logmel float32 [B,1,96,64]) -> mask logits float32 [B,1,H,W]
Predictor = Callable[[np.ndarray, np.ndarray], np.ndarray]


@dataclass(frozen=True)
class ImageContract:
    """How frames are turned into model input (from the preset or an artifact manifest)."""

    size: int
    mean: tuple[float, float, float]
    std: tuple[float, float, float]


def torch_predictor(model, batch_size: int = 8) -> Predictor:
    """Wrap a torch module with the (frame, logmel) -> logits signature into a numpy predictor."""
    import torch

    model = model.eval()

    def run(frames: np.ndarray, logmel: np.ndarray) -> np.ndarray:
        outs = []
        with torch.inference_mode():
            for s in range(0, len(frames), batch_size):
                out = model(torch.from_numpy(frames[s : s + batch_size]), torch.from_numpy(logmel[s : s + batch_size]))
                out = out[0] if isinstance(out, tuple) else out
                outs.append(out.float().numpy())
        return np.concatenate(outs)

    return run


def predict_clip(predict: Predictor, clip: Clip, contract: ImageContract, logmel: np.ndarray | None = None) -> np.ndarray:
    """Mask logits [T,H,W] for one clip (optionally with another clip's audio), at the clip's frame size."""
    x = frames_to_input(clip.frames, contract.mean, contract.std, contract.size)
    lm = (clip.logmel if logmel is None else logmel)[:, None].astype(np.float32)
    logits = predict(x, lm)[:, 0]
    h, w = clip.image_size
    if logits.shape[-2:] != (h, w):
        logits = _resize_logits(logits, h, w)
    return logits


def _resize_logits(logits: np.ndarray, h: int, w: int) -> np.ndarray:
    """Bilinear resize of [T,h,w] logits to [T,H,W] (numpy/PIL only, device-safe)."""
    from PIL import Image

    return np.stack([np.asarray(Image.fromarray(l.astype(np.float32), mode="F").resize((w, h), Image.BILINEAR)) for l in logits])


def evaluate(predict: Predictor, clips: Sequence[Clip], contract: ImageContract, progress: bool = False) -> dict:
    """mIoU (J) and F over every frame with ground truth."""
    metrics = TaskMetrics()
    iterator = clips
    if progress:
        from tqdm import tqdm

        iterator = tqdm(clips, desc="eval", unit="clip", leave=False)
    for clip in iterator:
        logits = predict_clip(predict, clip, contract)
        metrics.update(logits, clip.masks, valid=clip.mask_valid)
    return metrics.result()


def audio_checks(predict: Predictor, clips: Sequence[Clip], contract: ImageContract) -> dict:
    """Does audio matter? mIoU with each clip's audio swapped for another's, and silent-clip foreground area.

    - swapped: clip i gets the audio of clip (i + n//2) mod n.
    - silent: clips whose masks are empty everywhere. `silent_area_ratio` is their mean predicted
      foreground area over the mean predicted area on the sounding clips (area predicted with sound);
      `silent_fg_area_with_donor_audio` also shows the silent frames fed a sounding clip's audio.
    """
    n = len(clips)
    shift = max(1, n // 2)
    normal, swapped = TaskMetrics(), TaskMetrics()
    silent_area, sound_area, donor_area = [], [], []
    sounding = [c for c in clips if c.masks[c.mask_valid].any()]
    for i, clip in enumerate(clips):
        own = predict_clip(predict, clip, contract)
        normal.update(own, clip.masks, valid=clip.mask_valid)
        other = clips[(i + shift) % n]
        sw = predict_clip(predict, clip, contract, logmel=other.logmel)
        swapped.update(sw, clip.masks, valid=clip.mask_valid)
        if clip.masks[clip.mask_valid].any():
            sound_area.append(float((own > 0).mean()))
        else:
            silent_area.append(float((own > 0).mean()))
            if sounding:
                donor = sounding[i % len(sounding)]
                donor_area.append(float((predict_clip(predict, clip, contract, logmel=donor.logmel) > 0).mean()))
    r_normal, r_swapped = normal.result(), swapped.result()
    out = {
        "miou": r_normal["miou"],
        "f": r_normal["f"],
        "miou_audio_swapped": r_swapped["miou"],
        "miou_drop_audio_swapped": r_normal["miou"] - r_swapped["miou"],
        "silent_clips": len(silent_area),
    }
    if silent_area and sound_area:
        a_silent, a_sound = float(np.mean(silent_area)), float(np.mean(sound_area))
        out.update(
            silent_fg_area=a_silent,
            sounding_fg_area=a_sound,
            silent_area_ratio=(a_silent / a_sound) if a_sound > 0 else float("inf"),
            silent_fg_area_with_donor_audio=float(np.mean(donor_area)) if donor_area else float("nan"),
        )
    return out
