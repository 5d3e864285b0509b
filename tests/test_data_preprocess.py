"""frames_to_input: the one normalisation used on host and device."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from lightavseg_mobile.data.preprocess import IMAGENET_MEAN, IMAGENET_STD, frames_to_input


def _frames(t: int = 2, size: int = 24) -> np.ndarray:
    return np.random.default_rng(0).integers(0, 256, size=(t, size, size, 3), dtype=np.uint8)


def test_normalises_to_nchw_float32() -> None:
    frames = _frames()
    out = frames_to_input(frames, size=24)
    assert out.shape == (2, 3, 24, 24) and out.dtype == np.float32 and out.flags["C_CONTIGUOUS"]
    want = (frames.transpose(0, 3, 1, 2) / 255.0 - np.array(IMAGENET_MEAN)[:, None, None]) / np.array(
        IMAGENET_STD
    )[:, None, None]
    np.testing.assert_allclose(out, want, atol=1e-6, rtol=0)
    # channel order is kept: a pure red pixel is high only in channel 0
    red = np.zeros((24, 24, 3), dtype=np.uint8)
    red[..., 0] = 255
    r = frames_to_input(red, size=24)
    assert r.shape == (1, 3, 24, 24)
    assert r[0, 0].min() > 2.0 and r[0, 1].max() < -2.0 and r[0, 2].max() < -1.5


def test_resizes_only_when_needed_with_pil_bilinear() -> None:
    frames = _frames(size=40)
    out = frames_to_input(frames, size=16)
    assert out.shape == (2, 3, 16, 16)
    resized = np.asarray(Image.fromarray(frames[1]).resize((16, 16), Image.Resampling.BILINEAR))
    np.testing.assert_array_equal(out[1], frames_to_input(resized, size=16)[0])
    custom = frames_to_input(frames, mean=(0, 0, 0), std=(1, 1, 1), size=40)
    np.testing.assert_array_equal(custom * 255.0, frames.transpose(0, 3, 1, 2).astype(np.float32))


def test_deterministic_bits() -> None:
    frames = _frames(size=30)
    assert frames_to_input(frames, size=20).tobytes() == frames_to_input(frames.copy(), size=20).tobytes()


def test_rejects_wrong_input() -> None:
    with pytest.raises(ValueError, match="uint8"):
        frames_to_input(_frames().astype(np.float32))
    with pytest.raises(ValueError, match="uint8"):
        frames_to_input(np.zeros((2, 8, 8), dtype=np.uint8))
    with pytest.raises(ValueError, match="3 values"):
        frames_to_input(_frames(), mean=(0.5, 0.5), size=24)


def test_preprocess_imports_numpy_only() -> None:
    import subprocess
    import sys

    code = (
        "import sys, numpy as np\n"
        "from lightavseg_mobile.data.preprocess import frames_to_input\n"
        "frames_to_input(np.zeros((1, 8, 8, 3), np.uint8), size=8)\n"
        "bad = [m for m in ('PIL', 'torch', 'soundfile', 'librosa') if m in sys.modules]\n"
        "assert not bad, bad\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_package_exports_resolve_lazily() -> None:
    import lightavseg_mobile.data as data

    assert data.frames_to_input is frames_to_input
    assert callable(data.make_clip) and callable(data.write_synthetic)
    with pytest.raises(AttributeError):
        data.no_such_name  # noqa: B018
