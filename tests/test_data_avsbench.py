"""AVSBench S4/MS3 loaders on tiny trees fabricated in the published layouts."""

from __future__ import annotations

import csv
import os
import pickle
import wave
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from lightavseg_mobile.data.avsbench import (
    AVSBenchDataset,
    detect_subset,
    read_logmel_pkl,
)
from lightavseg_mobile.data.clip import Clip
from lightavseg_mobile.errors import DataError, UserError

SR = 16000
S4_ROWS = [  # name, start, category, split (the real csv's columns)
    ("vidA", 0, "helicopter", "train"),
    ("vidB", 5, "dog_barking", "train"),
    ("vidC", 2, "helicopter", "val"),
    ("vidD", 0, "dog_barking", "test"),
]


def _png(path: Path, array: np.ndarray, mode: str | None = None) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    im = Image.fromarray(array)
    if mode is not None:
        im = im.convert(mode)
    im.save(path)


def _wav(path: Path, seed: int) -> np.ndarray:
    path.parent.mkdir(parents=True, exist_ok=True)
    t = np.arange(5 * SR) / SR
    x = 0.3 * np.sin(2 * np.pi * (300 + 100 * seed) * t)
    pcm = np.round(x * 32767).astype("<i2")
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(SR)
        w.writeframes(pcm.tobytes())
    return pcm.astype(np.float32) / 32768.0


def _frame(seed: int, i: int, size: int = 32) -> np.ndarray:
    return np.random.default_rng([seed, i]).integers(0, 256, size=(size, size, 3), dtype=np.uint8)


def _grey_mask(seed: int, i: int, size: int = 32) -> np.ndarray:
    """Mask with levels 0, 100 (background under the >127 rule), 200 and 255 (foreground)."""
    rng = np.random.default_rng([seed, i, 7])
    return rng.choice(np.array([0, 100, 200, 255], dtype=np.uint8), size=(size, size))


def _pkl_bytes(seed: int) -> tuple[bytes, np.ndarray]:
    arr = np.random.default_rng(seed).standard_normal((5, 1, 96, 64)).astype(np.float32)
    return pickle.dumps(torch.from_numpy(arr)), arr[:, 0]  # torch's own pickling, as the release does


@pytest.fixture()
def s4_root(tmp_path: Path) -> Path:
    root = tmp_path / "Single-source"
    root.mkdir()
    with open(root / "s4_meta_data.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["name", "start", "category", "split"])
        w.writerows(S4_ROWS)
    for k, (name, _start, cat, split) in enumerate(S4_ROWS):
        for i in range(1, 6):
            _png(root / "visual_frames" / split / cat / name / f"{name}_{i}.png", _frame(k, i))
        for i in range(1, (2 if split == "train" else 6)):  # the release has one train mask per video
            _png(root / "gt_masks" / split / cat / name / f"{name}_{i}.png", _grey_mask(k, i))
        _wav(root / "audio_wav" / split / cat / f"{name}.wav", k)
        data, _ = _pkl_bytes(k)
        (root / "audio_log_mel" / split / cat).mkdir(parents=True, exist_ok=True)
        (root / "audio_log_mel" / split / cat / f"{name}.pkl").write_bytes(data)
    return root


def test_detect_subset(s4_root: Path, tmp_path: Path) -> None:
    assert detect_subset(s4_root) == "s4"
    (tmp_path / "ms").mkdir()
    (tmp_path / "ms" / "ms3_meta_data.csv").write_text("video_id,split\n")
    assert detect_subset(tmp_path / "ms") == "ms3"
    with pytest.raises(DataError, match="neither"):
        detect_subset(tmp_path)
    (tmp_path / "ms" / "s4_meta_data.csv").write_text("name,start,category,split\n")
    with pytest.raises(DataError, match="both"):
        detect_subset(tmp_path / "ms")


def test_s4_splits_and_names(s4_root: Path) -> None:
    assert AVSBenchDataset(s4_root, "s4", "train").names == ["vidA", "vidB"]
    assert AVSBenchDataset(s4_root, "s4", "val").names == ["vidC"]
    assert len(AVSBenchDataset(s4_root, "s4", "test")) == 1


def test_s4_train_has_only_the_first_mask(s4_root: Path) -> None:
    ds = AVSBenchDataset(s4_root, "s4", "train", image_size=32, audio="pkl")
    clip = ds[1]
    assert isinstance(clip, Clip)
    assert clip.name == "vidB" and clip.category == "dog_barking"
    assert clip.mask_valid.tolist() == [True, False, False, False, False]
    assert clip.masks[1:].sum() == 0
    np.testing.assert_array_equal(clip.masks[0], (_grey_mask(1, 1) > 127).astype(np.uint8))
    for i in range(5):
        np.testing.assert_array_equal(clip.frames[i], _frame(1, i + 1))


def test_s4_val_has_all_masks(s4_root: Path) -> None:
    clip = AVSBenchDataset(s4_root, "s4", "val", image_size=32)[0]
    assert clip.mask_valid.all()
    for i in range(5):
        np.testing.assert_array_equal(clip.masks[i], (_grey_mask(2, i + 1) > 127).astype(np.uint8))


def test_resize_frames_bilinear_masks_nearest(s4_root: Path) -> None:
    clip = AVSBenchDataset(s4_root, "s4", "val", image_size=16)[0]
    assert clip.frames.shape == (5, 16, 16, 3) and clip.masks.shape == (5, 16, 16)
    want = np.asarray(Image.fromarray(_frame(2, 1)).resize((16, 16), Image.Resampling.BILINEAR))
    np.testing.assert_array_equal(clip.frames[0], want)
    binary = (_grey_mask(2, 1) > 127).astype(np.uint8)
    want_mask = np.asarray(Image.fromarray(binary).resize((16, 16), Image.Resampling.NEAREST))
    np.testing.assert_array_equal(clip.masks[0], want_mask)
    assert set(np.unique(clip.masks)) <= {0, 1}


def test_audio_from_pkl_and_from_wav(s4_root: Path) -> None:
    from lightavseg_mobile.audio import log_mel

    _, want_pkl = _pkl_bytes(2)
    clip = AVSBenchDataset(s4_root, "s4", "val", image_size=32, audio="pkl")[0]
    np.testing.assert_array_equal(clip.logmel, want_pkl)
    wave_in = _wav(s4_root / "scratch.wav", 2)
    clip = AVSBenchDataset(s4_root, "s4", "val", image_size=32, audio="wav")[0]
    assert clip.logmel.shape == (5, 96, 64) and clip.logmel.dtype == np.float32
    np.testing.assert_allclose(clip.logmel, log_mel(wave_in, SR, num_patches=5), atol=1e-5, rtol=0)
    assert not np.allclose(clip.logmel, want_pkl)
    # auto: the pickle when present, the wav otherwise
    auto = AVSBenchDataset(s4_root, "s4", "val", image_size=32, audio="auto")
    np.testing.assert_array_equal(auto[0].logmel, want_pkl)
    os.remove(s4_root / "audio_log_mel" / "val" / "helicopter" / "vidC.pkl")
    np.testing.assert_allclose(auto[0].logmel, clip.logmel, atol=0, rtol=0)


def test_missing_pieces_raise_data_error(s4_root: Path, tmp_path: Path) -> None:
    with pytest.raises(DataError, match="s4_meta_data.csv"):
        AVSBenchDataset(tmp_path / "nope", "s4", "train")
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(DataError, match=r"missing .*s4_meta_data\.csv.*S4 layout"):
        AVSBenchDataset(empty, "s4", "train")
    frame = s4_root / "visual_frames" / "train" / "helicopter" / "vidA" / "vidA_3.png"
    frame.unlink()
    ds = AVSBenchDataset(s4_root, "s4", "train", image_size=32)
    with pytest.raises(DataError, match="vidA_3.png"):
        ds[0]
    ds[1]  # other videos still load
    (s4_root / "gt_masks" / "val" / "helicopter" / "vidC" / "vidC_4.png").unlink()
    with pytest.raises(DataError, match="vidC_4.png"):
        AVSBenchDataset(s4_root, "s4", "val", image_size=32)[0]
    os.rename(s4_root / "audio_log_mel", s4_root / "moved")
    with pytest.raises(DataError, match="audio_log_mel"):
        AVSBenchDataset(s4_root, "s4", "train", audio="pkl")
    AVSBenchDataset(s4_root, "s4", "train", audio="auto")  # falls back to the wav folder


def test_bad_csv_and_arguments(s4_root: Path) -> None:
    (s4_root / "s4_meta_data.csv").write_text("video,split\nx,train\n")
    with pytest.raises(DataError, match="lacks column"):
        AVSBenchDataset(s4_root, "s4", "train")
    with pytest.raises(UserError, match="unknown subset"):
        AVSBenchDataset(s4_root, "avss", "train")
    with pytest.raises(UserError, match="unknown split"):
        AVSBenchDataset(s4_root, "s4", "dev")
    with pytest.raises(UserError, match="unknown audio source"):
        AVSBenchDataset(s4_root, "s4", "train", audio="mp3")


def test_pkl_reader_refuses_foreign_globals(tmp_path: Path) -> None:
    class Evil:
        def __reduce__(self):
            return (os.system, ("echo should-not-run > " + str(tmp_path / "ran"),))

    path = tmp_path / "evil.pkl"
    path.write_bytes(pickle.dumps(Evil()))
    with pytest.raises(DataError, match="not a readable log-mel pickle"):
        read_logmel_pkl(path)
    assert not (tmp_path / "ran").exists()
    path.write_bytes(pickle.dumps(torch.zeros(5, 1, 32, 64)))
    with pytest.raises(DataError, match="expected"):
        read_logmel_pkl(path)


def _ms3_tree(root: Path, nested: bool) -> Path:
    data = root / "ms3_data" if nested else root
    root.mkdir(parents=True, exist_ok=True)
    (root / "ms3_meta_data.csv").write_text("video_id,split\nm1,train\nm2,test\n")
    for k, (name, split) in enumerate([("m1", "train"), ("m2", "test")]):
        for i in range(1, 6):
            _png(data / "visual_frames" / name / f"{name}.mp4_{i}.png", _frame(10 + k, i))
            mask = np.zeros((32, 32), dtype=np.uint8)
            mask[4:10, 4:10] = 1  # a low non-zero level: foreground in MS3 (mode "P", index != 0)
            mask[20:24, 20:24] = 255
            _png(data / "gt_masks" / split / name / f"{name}_{i}.png", mask, mode="P" if k == 0 else None)
        _wav(data / "audio_wav" / split / f"{name}.wav", k)
    return root


@pytest.mark.parametrize("nested", [False, True])
def test_ms3_layout_all_masks_nonzero_rule(tmp_path: Path, nested: bool) -> None:
    root = _ms3_tree(tmp_path / "Multi-sources", nested)
    assert detect_subset(root) == "ms3"
    for split, name in (("train", "m1"), ("test", "m2")):
        ds = AVSBenchDataset(root, "ms3", split, image_size=32, audio="auto")
        assert ds.names == [name]
        clip = ds[0]
        assert clip.category is None
        assert clip.mask_valid.all()  # MS3 annotates all five frames, train included
        assert clip.masks[:, 4:10, 4:10].all() and clip.masks[:, 20:24, 20:24].all()
        assert clip.masks.sum() == 5 * (36 + 16)
