"""Synthetic MS3-layout set: determinism, prefix property, masks = visible sounding objects, audio by class."""

from __future__ import annotations

import json
import pickle
import wave
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from lightavseg_mobile.data import synth
from lightavseg_mobile.data.avsbench import AVSBenchDataset, detect_subset
from lightavseg_mobile.errors import UserError

SEED = 5  # its first 6 videos include a silent one, two-source seconds and a changing source
VIDEOS = 6
SIZE = 64
SPLITS = {"train": 0.5, "val": 0.25, "test": 0.25}


@pytest.fixture(scope="module")
def synth_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return synth.write_synthetic(tmp_path_factory.mktemp("synth") / "set", VIDEOS, SEED, SIZE, SPLITS)


@pytest.fixture(scope="module")
def meta(synth_root: Path) -> dict:
    return json.loads((synth_root / synth.META_JSON).read_text())


def _files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def _read_wav(path: Path) -> np.ndarray:
    with wave.open(str(path), "rb") as w:
        assert (w.getnchannels(), w.getsampwidth(), w.getframerate()) == (1, 2, synth.SAMPLE_RATE)
        return np.frombuffer(w.readframes(w.getnframes()), dtype="<i2").astype(np.float32) / 32768.0


def _spectral_bands(x: np.ndarray) -> np.ndarray:
    """Log energy in 40 log-spaced bands from 100 Hz to 7.9 kHz (independent of the package's log-mel)."""
    n = 1024
    frames = np.lib.stride_tricks.sliding_window_view(x, n)[::512] * np.hanning(n)
    power = (np.abs(np.fft.rfft(frames, axis=1)) ** 2).mean(0)
    freqs = np.fft.rfftfreq(n, 1.0 / synth.SAMPLE_RATE)
    edges = np.geomspace(100.0, 7900.0, 41)
    bands = np.log(np.array([power[(freqs >= a) & (freqs < b)].sum() for a, b in zip(edges[:-1], edges[1:])]) + 1e-12)
    # Relative to the loudest band with a 30 dB floor: loudness and the background noise drop out.
    return np.maximum(bands - bands.max(), -6.9)


def _class_centroids(instances: int = 4) -> np.ndarray:
    feats = []
    for c in range(len(synth.CLASSES)):
        rows = []
        for k in range(instances):
            rng = np.random.default_rng([123, c, k])
            rows.append(_spectral_bands(synth.class_sound(c, synth.PATCH_SAMPLES, rng, rng.uniform(0.97, 1.03))))
        feats.append(np.mean(rows, axis=0))
    return np.array(feats)


def test_layout_is_avsbench_ms3(synth_root: Path, meta: dict) -> None:
    assert detect_subset(synth_root) == "ms3"
    lines = (synth_root / "ms3_meta_data.csv").read_text().splitlines()
    assert lines[0] == "video_id,split"
    assert len(lines) == VIDEOS + 1
    for clip in meta["clips"]:
        n, s = clip["name"], clip["split"]
        assert f"{n},{s}" in lines
        for i in range(1, 6):
            assert (synth_root / "visual_frames" / n / f"{n}.mp4_{i}.png").is_file()
            assert (synth_root / "gt_masks" / s / n / f"{n}_{i}.png").is_file()
        assert (synth_root / "audio_wav" / s / f"{n}.wav").is_file()
        assert (synth_root / "audio_log_mel" / s / f"{n}.pkl").is_file()
    assert [c["name"] for c in meta["clips"]] == [f"synth_{i:06d}" for i in range(VIDEOS)]


def test_same_seed_gives_identical_bytes(synth_root: Path, tmp_path: Path) -> None:
    again = synth.write_synthetic(tmp_path / "again", VIDEOS, SEED, SIZE, SPLITS)
    assert _files(again) == _files(synth_root)
    other = synth.write_synthetic(tmp_path / "other", 2, SEED + 1, SIZE, SPLITS)
    a = (synth_root / "visual_frames/synth_000000/synth_000000.mp4_1.png").read_bytes()
    assert (other / "visual_frames/synth_000000/synth_000000.mp4_1.png").read_bytes() != a


def test_fewer_videos_is_a_prefix(synth_root: Path, tmp_path: Path) -> None:
    small = synth.write_synthetic(tmp_path / "small", 4, SEED, SIZE, SPLITS)
    big = _files(synth_root)
    for rel, data in _files(small).items():
        if rel in ("ms3_meta_data.csv", synth.META_JSON):
            continue
        assert big[rel] == data, rel
    small_csv = (small / "ms3_meta_data.csv").read_text().splitlines()
    assert (synth_root / "ms3_meta_data.csv").read_text().splitlines()[: len(small_csv)] == small_csv
    small_meta = json.loads((small / synth.META_JSON).read_text())
    big_meta = json.loads((synth_root / synth.META_JSON).read_text())
    assert small_meta["clips"] == big_meta["clips"][:4]


def test_masks_are_exactly_the_visible_sounding_objects(synth_root: Path, meta: dict) -> None:
    colours = np.array([c.colour for c in synth.CLASSES], dtype=np.int16)
    names = [c.name for c in synth.CLASSES]
    for clip in meta["clips"]:
        n, s = clip["name"], clip["split"]
        for t in range(5):
            frame = np.asarray(Image.open(synth_root / "visual_frames" / n / f"{n}.mp4_{t + 1}.png"), dtype=np.int16)
            mask = np.asarray(Image.open(synth_root / "gt_masks" / s / n / f"{n}_{t + 1}.png"))
            assert set(np.unique(mask)) <= {0, 255}
            # Which class (if any) each pixel shows, read from its colour alone.
            dist = np.abs(frame[:, :, None, :] - colours[None, None]).max(-1)
            cls = np.where(dist.min(-1) <= synth.COLOUR_JITTER, dist.argmin(-1), -1)
            shown = {names[k] for k in np.unique(cls) if k >= 0}
            assert shown == set(clip["visible"][t])
            sounding = [names.index(c) for c in clip["sounding"][t]]
            expected = np.isin(cls, sounding) if sounding else np.zeros_like(cls, dtype=bool)
            np.testing.assert_array_equal(mask > 0, expected, err_msg=f"{n} frame {t + 1}")


def test_sounding_sets_follow_the_design(meta: dict) -> None:
    silent = [c for c in meta["clips"] if c["silent"]]
    assert silent, "fixture seed should include a silent video"
    for clip in meta["clips"]:
        classes = {o["class"] for o in clip["objects"]}
        assert 2 <= len(classes) == len(clip["objects"]) <= 4
        for t in range(5):
            if clip["silent"]:
                assert clip["sounding"][t] == []
            else:
                assert 1 <= len(clip["sounding"][t]) <= 2
                assert set(clip["sounding"][t]) <= set(clip["visible"][t])
    assert any(len(s) == 2 for c in meta["clips"] for s in c["sounding"])
    assert any(len({tuple(s) for s in c["sounding"]}) > 1 for c in meta["clips"])


def test_meta_describes_classes(meta: dict) -> None:
    assert meta["seed"] == SEED and meta["image_size"] == SIZE
    classes = meta["classes"]
    assert len(classes) == 8
    for key in ("name", "shape", "colour_name"):
        assert len({c[key] for c in classes}) == 8
    assert len({tuple(c["colour"]) for c in classes}) == 8
    assert len({c["sound"]["timbre"] for c in classes}) == 8
    f0 = [c["sound"]["f0_hz"] for c in classes]
    assert min(f0) >= 150 and max(f0) <= 3000 and len(set(f0)) == 8


def test_class_sounds_are_separable() -> None:
    centroids = _class_centroids()
    for c, cls in enumerate(synth.CLASSES):
        for k in range(3):
            rng = np.random.default_rng([456, c, k])
            x = synth.class_sound(c, synth.PATCH_SAMPLES, rng, rng.uniform(0.97, 1.03))
            f = _spectral_bands(x)
            assert np.argmin(((centroids - f) ** 2).sum(1)) == c, cls.name
            spec = np.abs(np.fft.rfft(x))
            peak = np.fft.rfftfreq(len(x), 1.0 / synth.SAMPLE_RATE)[np.argmax(spec)]
            assert 0.7 * cls.f0_hz <= peak <= 1.9 * cls.f0_hz, (cls.name, peak)


def test_written_audio_says_which_object_sounds(synth_root: Path, meta: dict) -> None:
    centroids = _class_centroids()
    names = [c.name for c in synth.CLASSES]
    checked = 0
    for clip in meta["clips"]:
        x = _read_wav(synth_root / "audio_wav" / clip["split"] / f"{clip['name']}.wav")
        assert x.shape == (synth.NUM_SAMPLES,)
        for t in range(5):
            seg = x[t * synth.PATCH_SAMPLES:(t + 1) * synth.PATCH_SAMPLES]
            rms = float(np.sqrt(np.mean(seg**2)))
            if clip["silent"]:
                assert rms < 0.005
                continue
            assert rms > 0.03
            if len(clip["sounding"][t]) == 1:
                guess = np.argmin(((centroids - _spectral_bands(seg)) ** 2).sum(1))
                assert names[guess] == clip["sounding"][t][0], (clip["name"], t)
                checked += 1
    assert checked >= 10


def test_pkl_is_a_torch_tensor_matching_the_wav(synth_root: Path, meta: dict) -> None:
    import torch

    from lightavseg_mobile.audio import log_mel

    clip = meta["clips"][0]
    with open(synth_root / "audio_log_mel" / clip["split"] / f"{clip['name']}.pkl", "rb") as f:
        tensor = pickle.load(f)  # exactly how AVSBench's loaders read it
    assert isinstance(tensor, torch.Tensor)
    assert tuple(tensor.shape) == (5, 1, 96, 64) and tensor.dtype == torch.float32
    wav = _read_wav(synth_root / "audio_wav" / clip["split"] / f"{clip['name']}.wav")
    np.testing.assert_array_equal(tensor.detach().numpy()[:, 0], log_mel(wav, synth.SAMPLE_RATE, num_patches=5))


@pytest.mark.parametrize("audio", ["pkl", "wav"])
def test_avsbench_loader_reads_the_set_like_make_clip(synth_root: Path, meta: dict, audio: str) -> None:
    by_split = {}
    for clip in meta["clips"]:
        by_split.setdefault(clip["split"], []).append(clip["name"])
    assert set(by_split) == {"train", "val", "test"}
    for split, names in by_split.items():
        ds = AVSBenchDataset(synth_root, "ms3", split, image_size=SIZE, audio=audio)
        assert ds.names == names
        for i, name in enumerate(names):
            got = ds[i]
            want = synth.make_clip(SEED, int(name.split("_")[1]), SIZE)
            assert got.name == want.name == name
            np.testing.assert_array_equal(got.frames, want.frames)
            np.testing.assert_array_equal(got.masks, want.masks)
            np.testing.assert_allclose(got.logmel, want.logmel, rtol=0, atol=1e-5)
            assert got.mask_valid.all() and want.mask_valid.all()


def test_make_clip_silent_has_empty_masks(meta: dict) -> None:
    silent = next(c for c in meta["clips"] if c["silent"])
    clip = synth.make_clip(SEED, silent["index"], SIZE)
    assert clip.masks.sum() == 0
    sounding = next(c for c in meta["clips"] if not c["silent"])
    assert synth.make_clip(SEED, sounding["index"], SIZE).masks.sum(axis=(1, 2)).min() > 0


def test_splits_and_silence_are_balanced_for_every_prefix() -> None:
    for n in (100, 1000):
        splits = [synth.split_of(i) for i in range(n)]
        assert abs(splits.count("train") / n - 0.8) < 0.02
        assert abs(splits.count("val") / n - 0.1) < 0.02
        silent = sum(synth._is_silent(3, i) for i in range(n))
        assert abs(silent / n - synth.SILENT_FRACTION) < 0.02


def test_write_refuses_bad_arguments(tmp_path: Path) -> None:
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x").write_text("x")
    with pytest.raises(UserError, match="not an empty folder"):
        synth.write_synthetic(tmp_path / "full", 1, 0, SIZE)
    with pytest.raises(UserError, match="sum to 1"):
        synth.write_synthetic(tmp_path / "a", 1, 0, SIZE, {"train": 0.5})
    with pytest.raises(UserError, match="unknown split"):
        synth.write_synthetic(tmp_path / "b", 1, 0, SIZE, {"dev": 1.0})
    with pytest.raises(UserError, match="too small"):
        synth.write_synthetic(tmp_path / "c", 1, 0, 8)
