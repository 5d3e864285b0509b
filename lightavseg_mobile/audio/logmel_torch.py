"""VGGish log-mel as an export-friendly torch graph: conv1d DFT, magnitude, mel matmul, log."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from lightavseg_mobile.audio.melmatrix import mel_matrix, periodic_hann
from lightavseg_mobile.audio.params import VGGISH, VGGishParams
from lightavseg_mobile.errors import DataError

# Added to re^2 + im^2 so that sqrt has a finite gradient on digital silence (d sqrt(u)/du is
# infinite at u = 0, which turns into NaN input gradients). Its forward effect is at most
# sqrt(1e-20) = 1e-10 per bin, i.e. below 1e-9 per mel band (every column of the mel matrix
# sums to less than 10), so below 1e-7 after log(x + 0.01): far under fp32 resolution of the output.
MAGNITUDE_EPS = 1e-20


def windowed_dft_basis(params: VGGishParams = VGGISH) -> np.ndarray:
    """Conv1d weights float64 [2 * bins, 1, window]: rows 0..256 window*cos, rows 257..513 -window*sin."""
    n = np.arange(params.window_length, dtype=np.float64)
    k = np.arange(params.num_spectrogram_bins, dtype=np.float64)[:, None]
    # The rfft of a window zero-padded to fft_length is the DFT of the window at k / fft_length:
    # the padding never needs to exist in the graph.
    phase = 2.0 * np.pi * k * n / params.fft_length
    window = periodic_hann(params.window_length)
    basis = np.concatenate([np.cos(phase) * window, -np.sin(phase) * window], axis=0)
    return basis[:, None, :]


class LogMelFrontEnd(nn.Module):
    """Waveform [B, 15600] at 16 kHz in [-1, 1] -> VGGish log-mel patch [B, 1, 96, 64], fp32."""

    def __init__(self, params: VGGishParams = VGGISH) -> None:
        super().__init__()
        self.params = params
        # Non-persistent: fixed constants, rebuilt from the recipe, never part of a checkpoint.
        self.register_buffer("dft_basis", torch.from_numpy(windowed_dft_basis(params)).float(),
                             persistent=False)
        self.register_buffer("mel_weights", torch.from_numpy(np.array(mel_matrix(params))).float(),
                             persistent=False)

    def forward(self, waveform: torch.Tensor) -> torch.Tensor:
        """Log-mel patch of each 15600-sample window in the batch."""
        p = self.params
        if waveform.dim() != 2 or waveform.shape[-1] != p.patch_samples:
            raise DataError(f"LogMelFrontEnd expects a waveform [batch, {p.patch_samples}] at "
                            f"{p.sample_rate} Hz, got shape {tuple(waveform.shape)}")
        bins = p.num_spectrogram_bins
        spectrum = F.conv1d(waveform.unsqueeze(1), self.dft_basis, stride=p.hop_length)  # [B, 514, 96]
        real, imag = spectrum[:, :bins], spectrum[:, bins:]
        magnitude = torch.sqrt(real * real + imag * imag + MAGNITUDE_EPS)  # [B, 257, 96]
        mel = torch.matmul(magnitude.transpose(1, 2), self.mel_weights)  # [B, 96, 64]
        return torch.log(mel + p.log_offset).unsqueeze(1)
