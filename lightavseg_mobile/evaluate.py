"""Evaluation on AVSBench-layout data: J and F, plus the checks that audio matters."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .data.clip import Clip
from .data.heldout import DEFAULT_HELDOUT
from .data.preprocess import frames_to_input
from .errors import UserError
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


# (clip name, frames [T,H,W,3] uint8, mask logits [T,H,W], masks [T,H,W] or None): what an evaluation report shows.
Preview = tuple[str, np.ndarray, np.ndarray, np.ndarray | None]


@dataclass
class EvalRun:
    """One evaluation of a checkpoint: the result dict, plus the clips a report shows."""

    result: dict
    title: str
    preview: list[Preview] = field(default_factory=list)

    def metrics(self) -> dict:
        """The scalar metrics of the result (what a report tabulates)."""
        return {k: v for k, v in self.result.items() if isinstance(v, (int, float))}


def run_eval(checkpoint: str | Path | None, preset: str, data: str | Path, split: str, fmt: str | None,
             with_audio_checks: bool, preview_clips: int = 0) -> EvalRun:
    """Evaluate a checkpoint (or the shipped one of `preset`) on a split; keep the first `preview_clips` for a report."""
    import torch

    from .checkpoint import load_checkpoint, shipped_checkpoint
    from .data.heldout import load_split

    path = Path(checkpoint) if checkpoint else shipped_checkpoint(preset)
    ckpt = load_checkpoint(path)
    p = ckpt.preset
    torch.set_num_threads(max(1, torch.get_num_threads()))
    model = ckpt.build_model().for_inference()
    contract = ImageContract(p.image_size, p.mean, p.std)
    clips = load_split(data, split, p.image_size, fmt)
    if not clips:
        raise UserError(f"split {split!r} of {data} has no clips")
    predict = torch_predictor(model)
    result: dict = {"checkpoint": str(path), "checkpoint_sha256": ckpt.sha256, "preset": p.name, "data": str(data),
                    "split": split, "clips": len(clips)}
    result.update(audio_checks(predict, clips, contract) if with_audio_checks
                  else evaluate(predict, clips, contract, progress=True))
    preview = [(c.name, c.frames, predict_clip(predict, c, contract), c.masks) for c in clips[:preview_clips]]
    return EvalRun(result, f"LightAVSeg evaluation: {p.name} on {Path(data).name}/{split}", preview)


DEMO_PREVIEW_CLIPS = 8


def run_demo(preset: str = "lightavseg") -> EvalRun:
    """The demo: the shipped checkpoint of `preset` on the shipped held-out test split, with the audio checks."""
    return run_eval(None, preset, DEFAULT_HELDOUT, "test", None, True, preview_clips=DEMO_PREVIEW_CLIPS)
