"""Frame preprocessing shared by host and device: uint8 RGB frames to normalised float32 NCHW.

numpy only; PIL is imported only when a frame actually needs resizing.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ..audio.params import VGGISH

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def _resize_bilinear(frame: np.ndarray, size: int) -> np.ndarray:
    from PIL import Image

    return np.asarray(Image.fromarray(frame).resize((size, size), Image.Resampling.BILINEAR), dtype=np.uint8)


def frames_to_input(
    frames: np.ndarray,
    mean: Sequence[float] = IMAGENET_MEAN,
    std: Sequence[float] = IMAGENET_STD,
    size: int = 224,
) -> np.ndarray:
    """uint8 RGB [T,H,W,3] or [H,W,3] -> float32 [T,3,size,size] as (x/255 - mean)/std.

    Frames are resized (bilinear, PIL) only when they are not size x size already. Every step is
    done in float32 in a fixed order, so host and device produce the same bits.
    """
    x = np.asarray(frames)
    if x.ndim == 3:
        x = x[None]
    if x.dtype != np.uint8 or x.ndim != 4 or x.shape[-1] != 3:
        raise ValueError(f"frames must be uint8 RGB [T,H,W,3] or [H,W,3], got {x.dtype} {x.shape}")
    if size < 1:
        raise ValueError(f"size must be positive, got {size}")
    if x.shape[1:3] != (size, size):
        x = np.stack([_resize_bilinear(f, size) for f in x])
    m = np.asarray(mean, dtype=np.float32).ravel()
    s = np.asarray(std, dtype=np.float32).ravel()
    if m.size != 3 or s.size != 3 or np.any(s == 0):
        raise ValueError(f"mean and std need 3 values each and std must be non-zero, got {mean}, {std}")
    m, s = m.reshape(1, 3, 1, 1), s.reshape(1, 3, 1, 1)
    chw = np.ascontiguousarray(x.transpose(0, 3, 1, 2)).astype(np.float32)
    out = (chw / np.float32(255.0) - m) / s
    return np.ascontiguousarray(out, dtype=np.float32)


def preprocessing_block(size: int, mean: list[float] | tuple[float, ...], std: list[float] | tuple[float, ...],
                        audio_input: str) -> dict[str, Any]:
    """The manifest's `preprocessing`: image contract, which audio tensor the model takes, VGGish constants, output.

    The one writer of this block: the exporter and the Android app's golden manifest both call it.
    """
    return {
        "image": {"size": size, "resize": "bilinear (PIL) to size x size", "scale": "x / 255",
                  "mean": list(mean), "std": list(std), "layout": "NCHW", "color": "RGB"},
        "audio_input": audio_input,
        "audio": VGGISH.to_dict(),
        "output": {"name": "mask_logits", "mask": "sigmoid(logit) > 0.5", "size": [size, size]},
    }
