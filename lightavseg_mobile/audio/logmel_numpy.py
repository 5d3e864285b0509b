"""VGGish log-mel patches from a waveform in numpy (the reference; librosa only to resample)."""

from __future__ import annotations

import math
import numbers
from pathlib import Path

import numpy as np

from lightavseg_mobile.audio.melmatrix import mel_matrix, periodic_hann
from lightavseg_mobile.audio.params import VGGISH
from lightavseg_mobile.errors import DataError

_INT_SCALES = {np.dtype(np.int16): 32768.0, np.dtype(np.int32): 2147483648.0}


def _check_sample_rate(sample_rate: object) -> float:
    """Return sample_rate as a float, or raise DataError if it is not a positive finite number."""
    if (isinstance(sample_rate, bool) or not isinstance(sample_rate, numbers.Real)
            or not math.isfinite(float(sample_rate)) or float(sample_rate) <= 0):
        raise DataError(f"sample_rate must be a positive number of Hz, got {sample_rate!r}")
    return float(sample_rate)


def _check_num_patches(num_patches: object) -> int | None:
    """Return num_patches, or raise DataError unless it is None or an int >= 1."""
    if num_patches is None:
        return None
    if isinstance(num_patches, bool) or not isinstance(num_patches, numbers.Integral) or num_patches < 1:
        raise DataError(f"num_patches must be None or an int >= 1 (AVSBench uses 5), got {num_patches!r}")
    return int(num_patches)


def _to_mono_float(waveform: np.ndarray) -> np.ndarray:
    """Validate a waveform, scale integers to [-1, 1) and average channels; float64 [samples]."""
    if not isinstance(waveform, np.ndarray):
        waveform = np.asarray(waveform)
    if waveform.ndim not in (1, 2):
        raise DataError(f"waveform must be [samples] or [samples, channels], got shape {waveform.shape}")
    if waveform.size == 0:
        raise DataError(f"waveform is empty (shape {waveform.shape}): pass at least one sample")
    if waveform.ndim == 2 and waveform.shape[1] > waveform.shape[0]:
        raise DataError(f"waveform of shape {waveform.shape} looks channels-first: pass "
                        f"[samples, channels] (transpose it)")
    if waveform.dtype in _INT_SCALES:
        audio = waveform.astype(np.float64) / _INT_SCALES[waveform.dtype]
    elif waveform.dtype.kind == "f":
        audio = waveform.astype(np.float64)
        if not np.all(np.isfinite(audio)):
            raise DataError("waveform contains NaN or infinite samples: clean the audio first")
    else:
        raise DataError(f"waveform dtype {waveform.dtype} is not supported: pass int16, int32 or float")
    if audio.ndim == 2:
        audio = audio.mean(axis=1)
    return audio


def _resample(audio: np.ndarray, sample_rate: float) -> np.ndarray:
    """Resample mono float64 audio to the VGGish rate with librosa (imported only when needed)."""
    if sample_rate == VGGISH.sample_rate:
        return audio
    import librosa  # deferred: the 16 kHz path, as used on a device, needs numpy only

    return np.asarray(librosa.resample(audio, orig_sr=sample_rate, target_sr=VGGISH.sample_rate),
                      dtype=np.float64)


def _prepare(waveform: np.ndarray, sample_rate: int) -> np.ndarray:
    """Validated, mono, 16 kHz float64 audio, zero-padded to at least one patch."""
    rate = _check_sample_rate(sample_rate)
    audio = _resample(_to_mono_float(waveform), rate)
    if audio.shape[0] < VGGISH.patch_samples:
        audio = np.pad(audio, (0, VGGISH.patch_samples - audio.shape[0]))
    return audio


def _whole_patches(num_samples: int) -> int:
    """How many whole patches num_samples (>= one patch) of 16 kHz audio hold."""
    p = VGGISH
    num_frames = 1 + (num_samples - p.window_length) // p.hop_length
    return 1 + (num_frames - p.patch_frames) // p.patch_hop_frames


def _patch_plan(num_samples: int, num_patches: int | None) -> tuple[int, list[int]]:
    """(whole patches to compute, index of the computed patch for each output patch)."""
    whole = _whole_patches(num_samples)
    if num_patches is None:
        return whole, list(range(whole))
    computed = min(whole, num_patches)
    # AVSBench: a short clip repeats its last whole patch (its last second) up to num_patches.
    return computed, [min(i, computed - 1) for i in range(num_patches)]


def _log_mel_frames(audio: np.ndarray, num_frames: int) -> np.ndarray:
    """log(mel + 0.01) of the first num_frames uncentred frames, float64 [num_frames, 64]."""
    p = VGGISH
    frames = np.lib.stride_tricks.sliding_window_view(audio, p.window_length)[::p.hop_length][:num_frames]
    magnitude = np.abs(np.fft.rfft(frames * periodic_hann(p.window_length), n=p.fft_length))
    return np.log(magnitude @ mel_matrix() + p.log_offset)


def log_mel(waveform: np.ndarray, sample_rate: int, num_patches: int | None = None) -> np.ndarray:
    """VGGish log-mel patches float32 [N, 96, 64] of a waveform (int16/int32/float, mono or [samples, ch])."""
    count = _check_num_patches(num_patches)
    audio = _prepare(waveform, sample_rate)
    computed, order = _patch_plan(audio.shape[0], count)
    p = VGGISH
    # Frames past the last whole patch are dropped, as VGGish does.
    frames = _log_mel_frames(audio, computed * p.patch_hop_frames)
    patches = frames.reshape(computed, p.patch_frames, p.num_mel_bins)
    return patches[order].astype(np.float32)


def waveform_patches(waveform: np.ndarray, sample_rate: int, num_patches: int | None = None) -> np.ndarray:
    """16 kHz float32 windows [N, 15600]; the log-mel of window n is exactly log_mel(...)[n]."""
    count = _check_num_patches(num_patches)
    audio = _prepare(waveform, sample_rate)
    computed, order = _patch_plan(audio.shape[0], count)
    p = VGGISH
    starts = np.arange(computed) * p.patch_hop_samples
    windows = np.stack([audio[s:s + p.patch_samples] for s in starts])
    return windows[order].astype(np.float32)


def read_wav(path: str | Path) -> tuple[np.ndarray, int]:
    """Read an audio file with soundfile as float64 [samples] or [samples, ch] plus its sample rate."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"audio file not found: {path}")
    import soundfile  # deferred: only file input needs libsndfile

    try:
        data, rate = soundfile.read(str(path), dtype="float64", always_2d=False)
    except RuntimeError as exc:  # soundfile's LibsndfileError is a RuntimeError
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise DataError(f"cannot read audio file {path}: {reason}") from None
    return data, int(rate)


def log_mel_file(path: str | Path, num_patches: int | None = None) -> np.ndarray:
    """VGGish log-mel patches float32 [N, 96, 64] of an audio file (wav or anything libsndfile reads)."""
    data, rate = read_wav(path)
    return log_mel(data, rate, num_patches)
