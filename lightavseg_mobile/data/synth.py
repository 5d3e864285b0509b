"""Synthetic audio-visual set in the AVSBench MS3 layout, where only the audio says which objects to segment.

Eight classes, each a coloured shape with its own sound. Every video shows 2-4 objects of distinct
classes; each second one (sometimes two) of them sounds, and the ground-truth mask of that second's
frame is exactly the visible pixels of the sounding objects. About 12 % of the videos are silent
(empty masks). Everything derives from (seed, video index), so a set is byte-identical across runs
and a set of N videos is a prefix of a set of M > N videos with the same seed.
"""

from __future__ import annotations

import csv
import io
import json
import math
import pickle
import wave
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from lightavseg_mobile.data.avsbench import META_CSV, SPLITS, AVSBenchLayout, VideoRecord
from lightavseg_mobile.data.clip import Clip
from lightavseg_mobile.errors import DataError, UserError

SAMPLE_RATE = 16000
NUM_FRAMES = 5
# One VGGish patch starts every 96 x 160 samples; sound segments follow the patches, not wall-clock
# seconds, so patch t hears only what is meant for frame t.
PATCH_SAMPLES = 96 * 160
NUM_SAMPLES = NUM_FRAMES * SAMPLE_RATE
SILENT_FRACTION = 0.12
CHANGING_FRACTION = 0.35
TWO_SOURCE_FRACTION = 0.25
MIN_VISIBLE_FRACTION = 0.5
DEFAULT_SPLITS = {"train": 0.8, "val": 0.1, "test": 0.1}
META_JSON = "synth_meta.json"
FORMAT_NAME = "lightavseg-synth-ms3"
FORMAT_VERSION = 1
MIN_IMAGE_SIZE = 32
_GOLDEN = 0.6180339887498949  # Weyl sequence step: balanced splits for every prefix of the set
_SQRT2_FRAC = 0.41421356237309515  # a second, independent step for choosing silent videos
_PNG_LEVEL = 3  # zlib level: PNG stays lossless and deterministic, level 3 is ~2x faster than 6


@dataclass(frozen=True)
class SynthClass:
    """One synthetic class: what it looks like and what it sounds like."""

    index: int
    name: str
    shape: str
    colour_name: str
    colour: tuple[int, int, int]
    timbre: str
    f0_hz: float
    recipe: str

    def as_json(self) -> dict:
        """JSON-ready description, as stored in synth_meta.json."""
        return {
            "index": self.index,
            "name": self.name,
            "shape": self.shape,
            "colour_name": self.colour_name,
            "colour": list(self.colour),
            "sound": {"timbre": self.timbre, "f0_hz": self.f0_hz, "recipe": self.recipe},
        }


# Fundamentals are log-spaced over 150-3000 Hz; timbres differ too, so either cue alone separates classes.
CLASSES: tuple[SynthClass, ...] = (
    SynthClass(0, "disc", "disc", "red", (220, 30, 30), "sine", 150.0, "pure sine"),
    SynthClass(1, "square", "square", "blue", (30, 70, 235), "odd_harmonics", 230.0,
               "square-like: odd harmonics with 1/k amplitudes up to 7 kHz"),
    SynthClass(2, "triangle", "triangle", "green", (30, 190, 50), "saw", 355.0,
               "saw-like: all harmonics with 1/k amplitudes up to 7 kHz"),
    SynthClass(3, "ring", "ring", "yellow", (240, 220, 20), "tremolo", 550.0,
               "harmonics 1-3 with 8 Hz amplitude tremolo, depth 0.9"),
    SynthClass(4, "cross", "cross", "magenta", (220, 40, 200), "vibrato", 840.0,
               "sine plus 0.3 second harmonic with 6 Hz frequency vibrato of +-5 %"),
    SynthClass(5, "diamond", "diamond", "cyan", (20, 210, 220), "chirp", 1300.0,
               "up-chirps f0 -> 1.8 f0, four per second"),
    SynthClass(6, "bar", "horizontal bar", "orange", (250, 130, 10), "noise_bursts", 2000.0,
               "noise band 0.75-1.3 f0 gated into five 100 ms bursts per second"),
    SynthClass(7, "star", "star", "white", (245, 245, 245), "clicks", 3000.0,
               "click train at 12 Hz, each click a 4 ms-decay sine at f0"),
)
COLOUR_JITTER = 12  # per channel, per object: classes stay recognisable, colours are not constants


@dataclass
class SynthVideo:
    """One rendered synthetic video with its ground truth and description."""

    name: str
    split: str
    frames: np.ndarray  # uint8 [5,S,S,3]
    masks: np.ndarray  # uint8 {0,1} [5,S,S]
    audio: np.ndarray  # int16 [80000] at 16 kHz
    meta: dict

    def waveform(self) -> np.ndarray:
        """The audio as float32 in [-1,1) (int16 / 32768), exactly what a wav reader returns."""
        return self.audio.astype(np.float32) / np.float32(32768.0)


def video_name(index: int) -> str:
    """Name of the synthetic video with this index."""
    return f"synth_{index:06d}"


def check_splits(splits: Mapping[str, float] | None) -> dict[str, float]:
    """Validate split fractions (keys among train/val/test, non-negative, summing to 1)."""
    if splits is None:
        return dict(DEFAULT_SPLITS)
    bad = [k for k in splits if k not in SPLITS]
    if bad:
        raise UserError(f"unknown split {bad[0]!r} in split fractions: use train, val and test")
    out = {k: float(splits.get(k, 0.0)) for k in SPLITS}
    if any(not math.isfinite(v) or v < 0 for v in out.values()):
        raise UserError(f"split fractions must be non-negative numbers, got {out}")
    total = sum(out.values())
    if abs(total - 1.0) > 1e-6:
        raise UserError(f"split fractions must sum to 1, they sum to {total:g}: e.g. train=0.8,val=0.1,test=0.1")
    return out


def split_of(index: int, splits: Mapping[str, float] | None = None) -> str:
    """Split of video `index`: a Weyl sequence keeps every prefix close to the requested fractions."""
    fr = check_splits(splits)
    u = ((index + 1) * _GOLDEN) % 1.0
    acc = 0.0
    last = next(k for k in reversed(SPLITS) if fr[k] > 0)
    for k in SPLITS:
        acc += fr[k]
        if fr[k] > 0 and u < acc:
            return k
    return last


def _is_silent(seed: int, index: int) -> bool:
    """Whether video `index` is silent: a second Weyl sequence, offset by the seed, keeps every prefix near 12 %."""
    offset = float(np.random.SeedSequence(int(seed) & 0xFFFFFFFF).generate_state(1)[0]) / 2.0**32
    return ((index + 1) * _SQRT2_FRAC + offset) % 1.0 < SILENT_FRACTION


def _rng(seed: int, index: int) -> np.random.Generator:
    # SeedSequence mixes (seed, index) so neighbouring videos get unrelated streams.
    return np.random.default_rng(np.random.SeedSequence([int(seed) & 0xFFFFFFFF, int(index)]))


# ----------------------------------------------------------------------------------------------
# Visuals
# ----------------------------------------------------------------------------------------------

# Radius of the circle that holds each shape, in units of the object's nominal radius.
_BOUND = 1.25
# Allowed rotation (degrees) per shape: small for squares and diamonds so neither turns into the other.
_MAX_ANGLE = {"disc": 0, "square": 15, "triangle": 15, "ring": 0, "cross": 15,
              "diamond": 15, "horizontal bar": 10, "star": 180}


def _rotate(points: np.ndarray, angle_deg: float) -> np.ndarray:
    a = math.radians(angle_deg)
    rot = np.array([[math.cos(a), -math.sin(a)], [math.sin(a), math.cos(a)]])
    return points @ rot.T


def _outline(shape: str, r: float) -> np.ndarray | None:
    """Polygon vertices (unrotated, centred at 0) of a shape of nominal radius r; None for round shapes."""
    if shape == "square":
        h = 0.85 * r
        return np.array([[-h, -h], [h, -h], [h, h], [-h, h]])
    if shape == "triangle":
        R = 1.15 * r
        ang = np.radians([-90.0, 30.0, 150.0])
        return np.stack([R * np.cos(ang), R * np.sin(ang)], axis=1)
    if shape == "cross":
        a, w = 1.05 * r, 0.35 * r
        return np.array([[-w, -a], [w, -a], [w, -w], [a, -w], [a, w], [w, w], [w, a], [-w, a],
                         [-w, w], [-a, w], [-a, -w], [-w, -w]])
    if shape == "diamond":
        return np.array([[0, -1.2 * r], [0.8 * r, 0], [0, 1.2 * r], [-0.8 * r, 0]])
    if shape == "horizontal bar":
        a, b = 1.15 * r, 0.32 * r
        return np.array([[-a, -b], [a, -b], [a, b], [-a, b]])
    if shape == "star":
        ang = np.radians(-90.0 + 36.0 * np.arange(10))
        rad = np.where(np.arange(10) % 2 == 0, 1.2 * r, 0.5 * r)
        return np.stack([rad * np.cos(ang), rad * np.sin(ang)], axis=1)
    return None


def _shape_mask(shape: str, cx: float, cy: float, r: float, angle: float, size: int) -> np.ndarray:
    """Aliased (hard-edged) boolean mask of one shape: every pixel is wholly object or background."""
    im = Image.new("L", (size, size), 0)
    draw = ImageDraw.Draw(im)
    if shape == "disc":
        draw.ellipse([cx - r, cy - r, cx + r, cy + r], fill=1)
    elif shape == "ring":
        ro, ri = 1.05 * r, 0.55 * r
        draw.ellipse([cx - ro, cy - ro, cx + ro, cy + ro], fill=1)
        draw.ellipse([cx - ri, cy - ri, cx + ri, cy + ri], fill=0)
    else:
        pts = _rotate(_outline(shape, r), angle) + np.array([cx, cy])
        draw.polygon([(float(x), float(y)) for x, y in pts], fill=1)
    return np.asarray(im, dtype=bool)


def _smooth_noise(rng: np.random.Generator, grid: int, size: int) -> np.ndarray:
    small = rng.uniform(-1.0, 1.0, size=(grid, grid)).astype(np.float32)
    return np.asarray(Image.fromarray(small).resize((size, size), Image.Resampling.BILINEAR))


def _background(rng: np.random.Generator, size: int) -> np.ndarray:
    """Low-contrast, low-saturation smooth texture that no class colour comes close to."""
    level = rng.uniform(75.0, 140.0)
    tint = rng.uniform(-10.0, 10.0, size=3)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) / max(size - 1, 1) - 0.5
    theta = rng.uniform(0, 2 * math.pi)
    ramp = (xx * math.cos(theta) + yy * math.sin(theta)) * rng.uniform(0.0, 20.0)
    lum = level + ramp + 16.0 * _smooth_noise(rng, 4, size) + 5.0 * _smooth_noise(rng, 12, size)
    img = lum[..., None] + tint[None, None, :] + 3.0 * np.stack([_smooth_noise(rng, 6, size) for _ in range(3)], -1)
    return np.clip(np.rint(img), 0, 255).astype(np.uint8)


def _place_objects(rng: np.random.Generator, size: int) -> list[dict]:
    """Pick 2-4 distinct classes with sizes and 5-frame trajectories that overlap only a little."""
    count = int(rng.integers(2, 5))
    classes = [int(c) for c in rng.choice(len(CLASSES), size=count, replace=False)]
    objs: list[dict] = []
    for cls in classes:
        shape = CLASSES[cls].shape
        r = 0.5 * size * rng.uniform(0.15, 0.30)
        angle0 = rng.uniform(-_MAX_ANGLE[shape], _MAX_ANGLE[shape]) if _MAX_ANGLE[shape] else 0.0
        spin = rng.uniform(-3.0, 3.0) if _MAX_ANGLE[shape] >= 90 else 0.0
        jitter = rng.integers(-COLOUR_JITTER, COLOUR_JITTER + 1, size=3)
        colour = np.clip(np.array(CLASSES[cls].colour) + jitter, 0, 255).astype(np.uint8)
        lo, hi = _BOUND * r, size - _BOUND * r
        track = None
        for _attempt in range(60):
            p0 = rng.uniform(lo, hi, size=2)
            v = rng.uniform(-0.025, 0.025, size=2) * size
            t = np.arange(NUM_FRAMES)[:, None]
            cand = np.clip(p0[None, :] + v[None, :] * t, lo, hi)
            # Centres stay far enough apart that every object keeps most of its area visible.
            ok = all(
                np.min(np.linalg.norm(cand - o["track"], axis=1)) >= 0.85 * _BOUND * (r + o["r"]) for o in objs
            )
            if ok:
                track = cand
                break
        if track is None:
            continue  # no room left: the video keeps the objects placed so far
        objs.append({
            "class_index": cls, "r": r, "track": track, "colour": colour,
            "angles": [angle0 + spin * k for k in range(NUM_FRAMES)],
        })
    return objs


def _render_frames(rng: np.random.Generator, objs: list[dict], size: int) -> tuple[np.ndarray, np.ndarray]:
    """Frames uint8 [5,S,S,3] and label maps int8 [5,S,S] (-1 background, k = objs[k] visible)."""
    bg = _background(rng, size)
    frames = np.repeat(bg[None], NUM_FRAMES, axis=0)
    labels = np.full((NUM_FRAMES, size, size), -1, dtype=np.int8)
    for t in range(NUM_FRAMES):
        for k, o in enumerate(objs):  # later objects occlude earlier ones
            cx, cy = o["track"][t]
            m = _shape_mask(CLASSES[o["class_index"]].shape, cx, cy, o["r"], o["angles"][t], size)
            labels[t][m] = k
            frames[t][m] = o["colour"]
    return frames, labels


# ----------------------------------------------------------------------------------------------
# Audio
# ----------------------------------------------------------------------------------------------

def _harmonics(f0: float, t: np.ndarray, ks: list[int], rng: np.random.Generator) -> np.ndarray:
    out = np.zeros_like(t)
    for k in ks:
        if k * f0 < 7000.0:
            out += np.sin(2 * np.pi * k * f0 * t + rng.uniform(0, 2 * np.pi)) / k
    return out


def class_sound(class_index: int, n_samples: int, rng: np.random.Generator, f0_scale: float = 1.0) -> np.ndarray:
    """One instance of a class's sound, float64 [n_samples] at 16 kHz, normalised to unit RMS."""
    c = CLASSES[class_index]
    f0 = c.f0_hz * f0_scale
    t = np.arange(n_samples) / SAMPLE_RATE
    if c.timbre == "sine":
        x = np.sin(2 * np.pi * f0 * t + rng.uniform(0, 2 * np.pi))
    elif c.timbre == "odd_harmonics":
        x = _harmonics(f0, t, list(range(1, 60, 2)), rng)
    elif c.timbre == "saw":
        x = _harmonics(f0, t, list(range(1, 40)), rng)
    elif c.timbre == "tremolo":
        rate = 8.0 * rng.uniform(0.9, 1.1)
        env = 1.0 - 0.45 * (1.0 + np.sin(2 * np.pi * rate * t + rng.uniform(0, 2 * np.pi)))
        x = env * _harmonics(f0, t, [1, 2, 3], rng)
    elif c.timbre == "vibrato":
        rate, depth = 6.0 * rng.uniform(0.9, 1.1), 0.05
        ph = 2 * np.pi * f0 * t - (f0 * depth / rate) * np.cos(2 * np.pi * rate * t)
        x = np.sin(ph) + 0.3 * np.sin(2 * ph)
    elif c.timbre == "chirp":
        period, ratio, fade = 0.25, 1.8, 0.01
        tau = (t + rng.uniform(0, period)) % period
        ph = 2 * np.pi * f0 * period * (ratio ** (tau / period) - 1.0) / math.log(ratio)
        x = np.sin(ph) * np.clip(np.minimum(tau, period - tau) / fade, 0.0, 1.0)
    elif c.timbre == "noise_bursts":
        spec = np.fft.rfft(rng.standard_normal(n_samples))
        freqs = np.fft.rfftfreq(n_samples, 1.0 / SAMPLE_RATE)
        spec[(freqs < 0.75 * f0) | (freqs > 1.3 * f0)] = 0
        band = np.fft.irfft(spec, n=n_samples)
        period, length = 0.2, 0.1
        tau = (t + rng.uniform(0, period)) % period
        gate = np.where(tau < length, np.sin(np.pi * np.clip(tau / length, 0, 1)) ** 2, 0.0)
        x = band * gate
    elif c.timbre == "clicks":
        period = 1.0 / (12.0 * rng.uniform(0.9, 1.1))
        tau = (t + rng.uniform(0, period)) % period
        x = np.exp(-tau / 0.004) * np.sin(2 * np.pi * f0 * tau)
    else:  # pragma: no cover - CLASSES is fixed
        raise AssertionError(c.timbre)
    rms = float(np.sqrt(np.mean(x * x)))
    return x / rms if rms > 0 else x


def _segments() -> list[tuple[int, int]]:
    """Sample ranges that log-mel patches 0..4 summarise (the last one runs to the end)."""
    starts = [t * PATCH_SAMPLES for t in range(NUM_FRAMES)]
    ends = starts[1:] + [NUM_SAMPLES]
    return list(zip(starts, ends))


def _render_audio(rng: np.random.Generator, objs: list[dict], sounding: list[list[int]]) -> np.ndarray:
    """int16 [80000]: each object's sound in the segments where it sounds, plus low background noise."""
    out = np.zeros(NUM_SAMPLES)
    pitch = {k: rng.uniform(0.97, 1.03) for k in range(len(objs))}
    loud = {k: rng.uniform(0.05, 0.12) for k in range(len(objs))}
    fade = int(0.005 * SAMPLE_RATE)
    for t, (a, b) in enumerate(_segments()):
        for k in sounding[t]:
            onset = int(rng.integers(0, int(0.04 * SAMPLE_RATE)))
            n = b - a - onset
            x = class_sound(objs[k]["class_index"], n, rng, pitch[k]) * loud[k] * rng.uniform(0.85, 1.15)
            ramp = np.minimum(1.0, np.minimum(np.arange(n) + 1, n - np.arange(n)) / fade)
            out[a + onset:b] += x * ramp
    out += rng.standard_normal(NUM_SAMPLES) * rng.uniform(0.001, 0.003)
    return np.clip(np.rint(out * 32768.0), -32768, 32767).astype(np.int16)


def _choose_sounding(rng: np.random.Generator, candidates: list[list[int]], silent: bool) -> list[list[int]]:
    """Per-second sets of sounding objects: usually one, sometimes two, sometimes changing."""
    if silent:
        return [[] for _ in range(NUM_FRAMES)]

    def draw(pool: list[int]) -> list[int]:
        n = 2 if (len(pool) >= 2 and rng.random() < TWO_SOURCE_FRACTION) else 1
        return sorted(int(k) for k in rng.choice(pool, size=n, replace=False))

    changing = rng.random() < CHANGING_FRACTION
    always = [k for k in candidates[0] if all(k in c for c in candidates)]
    current = draw(always if always else candidates[0])
    out = []
    for t in range(NUM_FRAMES):
        if t > 0 and changing and rng.random() < 0.5:
            current = draw(candidates[t])
        if not all(k in candidates[t] for k in current):
            current = draw(candidates[t])
        out.append(list(current))
    return out


def render_video(seed: int, index: int, image_size: int = 224,
                 splits: Mapping[str, float] | None = None) -> SynthVideo:
    """Render video `index` of the set with this seed: frames, masks, audio and its description."""
    if image_size < MIN_IMAGE_SIZE:
        raise UserError(f"image size {image_size} is too small for the synthetic set: use at least {MIN_IMAGE_SIZE}")
    rng = _rng(seed, index)
    objs = _place_objects(rng, image_size)
    frames, labels = _render_frames(rng, objs, image_size)
    # An object can sound in a frame only if most of it is visible there.
    areas = [max(int(_shape_mask(CLASSES[o["class_index"]].shape, image_size / 2, image_size / 2, o["r"],
                                 o["angles"][0], image_size).sum()), 1) for o in objs]
    visible_px = [[int((labels[t] == k).sum()) for k in range(len(objs))] for t in range(NUM_FRAMES)]
    candidates = [[k for k in range(len(objs)) if visible_px[t][k] >= MIN_VISIBLE_FRACTION * areas[k]]
                  for t in range(NUM_FRAMES)]
    candidates = [c if c else [int(np.argmax(visible_px[t]))] for t, c in enumerate(candidates)]
    silent = _is_silent(seed, index)
    sounding = _choose_sounding(rng, candidates, silent)
    masks = np.zeros((NUM_FRAMES, image_size, image_size), dtype=np.uint8)
    for t in range(NUM_FRAMES):
        for k in sounding[t]:
            masks[t][labels[t] == k] = 1
    audio = _render_audio(rng, objs, sounding)
    name = video_name(index)
    split = split_of(index, splits)

    def cname(k: int) -> str:
        return CLASSES[objs[k]["class_index"]].name

    meta = {
        "name": name,
        "index": index,
        "split": split,
        "silent": silent,
        "objects": [
            {
                "class": cname(k),
                "class_index": o["class_index"],
                "colour": [int(v) for v in o["colour"]],
                "radius_px": round(float(o["r"]), 2),
                "centres_px": [[round(float(x), 2), round(float(y), 2)] for x, y in o["track"]],
                "angles_deg": [round(float(a), 2) for a in o["angles"]],
                "visible_px": [visible_px[t][k] for t in range(NUM_FRAMES)],
            }
            for k, o in enumerate(objs)
        ],
        "visible": [[cname(k) for k in range(len(objs)) if visible_px[t][k] > 0] for t in range(NUM_FRAMES)],
        "sounding": [[cname(k) for k in s] for s in sounding],
    }
    return SynthVideo(name=name, split=split, frames=frames, masks=masks, audio=audio, meta=meta)


def _logmel(video: SynthVideo) -> np.ndarray:
    from lightavseg_mobile.audio import log_mel

    return np.asarray(log_mel(video.waveform(), SAMPLE_RATE, num_patches=NUM_FRAMES), dtype=np.float32)


def make_clip(seed: int, index: int, image_size: int = 224) -> Clip:
    """Video `index` of the synthetic set as a Clip, identical to what the written set loads as."""
    v = render_video(seed, index, image_size)
    return Clip(
        name=v.name,
        frames=v.frames,
        logmel=_logmel(v),
        masks=v.masks,
        mask_valid=np.ones(NUM_FRAMES, dtype=bool),
        category=None,
    )


# ----------------------------------------------------------------------------------------------
# Writing the MS3 layout
# ----------------------------------------------------------------------------------------------

def _png_bytes(array: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(array).save(buf, format="PNG", compress_level=_PNG_LEVEL)
    return buf.getvalue()


def _wav_bytes(samples: np.ndarray) -> bytes:
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(SAMPLE_RATE)
        w.writeframes(samples.astype("<i2").tobytes())
    return buf.getvalue()


def logmel_pkl_bytes(logmel: np.ndarray) -> bytes:
    """Pickle float32 [5,96,64] as a torch tensor [5,1,96,64], like AVSBench's audio_log_mel files.

    torch's own tensor pickling embeds a memory address, so the bytes would change from run to run;
    this rebuilds the tensor from a numpy array instead, which `pickle.load` turns into the same tensor.
    """
    import torch

    arr = np.ascontiguousarray(logmel[:, None].astype(np.float32))

    class _Pickler(pickle.Pickler):
        def reducer_override(self, obj):  # noqa: ANN001, ANN202 (pickle API)
            if isinstance(obj, torch.Tensor):
                return torch._utils._rebuild_device_tensor_from_numpy, (
                    obj.detach().cpu().numpy(), obj.dtype, "cpu", False)
            return NotImplemented

    buf = io.BytesIO()
    _Pickler(buf, protocol=4).dump(torch.from_numpy(arr))
    return buf.getvalue()


def _write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


def write_synthetic(
    out: str | Path,
    videos: int,
    seed: int,
    image_size: int = 224,
    splits: Mapping[str, float] | None = None,
    *,
    progress: Callable[[int], None] | None = None,
) -> Path:
    """Write `videos` synthetic videos in the AVSBench MS3 layout into the empty or new folder `out`."""
    out = Path(out)
    fractions = check_splits(splits)
    if videos < 1:
        raise UserError(f"number of videos must be at least 1, got {videos}")
    if image_size < MIN_IMAGE_SIZE:
        raise UserError(f"image size {image_size} is too small for the synthetic set: use at least {MIN_IMAGE_SIZE}")
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise UserError(f"{out} already exists and is not an empty folder: choose a new output folder")
    out.mkdir(parents=True, exist_ok=True)
    layout = AVSBenchLayout(out, "ms3", must_exist=False)
    rows, metas = [], []
    for index in range(videos):
        v = render_video(seed, index, image_size, fractions)
        rec = VideoRecord(name=v.name, split=v.split, category=None)
        for i in range(NUM_FRAMES):
            _write(layout.frame_path(rec, i + 1), _png_bytes(v.frames[i]))
            _write(layout.mask_path(rec, i + 1), _png_bytes(v.masks[i] * np.uint8(255)))
        _write(layout.wav_path(rec), _wav_bytes(v.audio))
        _write(layout.pkl_path(rec), logmel_pkl_bytes(_logmel(v)))
        rows.append((v.name, v.split))
        metas.append(v.meta)
        if progress is not None:
            progress(1)
    buf = io.StringIO(newline="")
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["video_id", "split"])
    writer.writerows(rows)
    (out / META_CSV["ms3"]).write_text(buf.getvalue(), encoding="utf-8")
    meta = {
        "format": FORMAT_NAME,
        "version": FORMAT_VERSION,
        "seed": int(seed),
        "videos": int(videos),
        "image_size": int(image_size),
        "sample_rate": SAMPLE_RATE,
        "num_frames": NUM_FRAMES,
        "audio_segment_samples": PATCH_SAMPLES,
        "splits": fractions,
        "classes": [c.as_json() for c in CLASSES],
        "clips": metas,
    }
    (out / META_JSON).write_text(json.dumps(meta, indent=1) + "\n", encoding="utf-8")
    return out


def read_synth_meta(root: str | Path) -> dict:
    """Load synth_meta.json of a written synthetic set."""
    path = Path(root) / META_JSON
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
    except OSError as e:
        raise DataError(f"cannot read {path}: {e.strerror or e} (is {root} a synthetic set?)") from None
    except json.JSONDecodeError as e:
        raise DataError(f"{path} is not valid JSON: {e}") from None
    if meta.get("format") != FORMAT_NAME:
        raise DataError(f"{path} is not a {FORMAT_NAME} description (format={meta.get('format')!r})")
    return meta
