"""VGGish's mel weight matrix and analysis window (numpy only, runs on a device)."""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from lightavseg_mobile.audio.params import VGGISH, VGGishParams

# HTK mel scale constants used by VGGish.
_MEL_BREAK_HZ = 700.0
_MEL_Q = 1127.0


def hertz_to_mel(hz: np.ndarray | float) -> np.ndarray:
    """HTK mel of a frequency in Hz: 1127 * ln(1 + f / 700)."""
    return _MEL_Q * np.log1p(np.asarray(hz, dtype=np.float64) / _MEL_BREAK_HZ)


def mel_to_hertz(mel: np.ndarray | float) -> np.ndarray:
    """Inverse of hertz_to_mel."""
    return _MEL_BREAK_HZ * np.expm1(np.asarray(mel, dtype=np.float64) / _MEL_Q)


def periodic_hann(length: int) -> np.ndarray:
    """Periodic Hann window (period = length, not length - 1 as np.hanning), float64."""
    n = np.arange(length, dtype=np.float64)
    return 0.5 - 0.5 * np.cos(2.0 * np.pi * n / length)


def mel_band_edges(params: VGGishParams = VGGISH) -> np.ndarray:
    """num_mel_bins + 2 equally spaced mel values: band i spans edges[i]..edges[i + 2], peaks at edges[i + 1]."""
    return np.linspace(hertz_to_mel(params.mel_min_hz), hertz_to_mel(params.mel_max_hz),
                       params.num_mel_bins + 2)


@lru_cache(maxsize=4)
def _mel_matrix_cached(params: VGGishParams) -> np.ndarray:
    bins_hz = np.linspace(0.0, params.sample_rate / 2, params.num_spectrogram_bins)
    bins_mel = hertz_to_mel(bins_hz)[:, None]  # [257, 1]
    edges = mel_band_edges(params)
    lower, center, upper = edges[:-2], edges[1:-1], edges[2:]  # each [64]
    # Both slopes are straight lines in the mel domain (not in Hz, unlike librosa's htk=True).
    rising = (bins_mel - lower) / (center - lower)
    falling = (upper - bins_mel) / (upper - center)
    weights = np.maximum(0.0, np.minimum(rising, falling))
    # HTK leaves the DC bin out of every band (zero anyway for a lower edge >= 0 Hz; kept to
    # mirror VGGish's definition exactly).
    weights[0, :] = 0.0
    weights.setflags(write=False)
    return weights


def mel_matrix(params: VGGishParams = VGGISH) -> np.ndarray:
    """Mel weights [fft_length // 2 + 1, num_mel_bins] (257 x 64), float64: mel = magnitude @ matrix."""
    return _mel_matrix_cached(params)
