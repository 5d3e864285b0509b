"""The VGGish log-mel recipe as one frozen, self-validating set of constants."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from lightavseg_mobile.errors import DataError


@dataclass(frozen=True)
class VGGishParams:
    """Constants of the VGGish log-mel front end (what AVSBench's audio_log_mel files hold)."""

    sample_rate: int = 16000
    # int16 PCM is mapped to [-1, 1) by dividing by 2**15, as VGGish does.
    int16_scale: float = 32768.0
    window_length: int = 400  # 25 ms
    hop_length: int = 160  # 10 ms
    fft_length: int = 512  # next power of two above the window; the window is zero-padded
    window: str = "periodic_hann"
    spectrum: str = "magnitude"
    mel_scale: str = "htk"  # 1127 * ln(1 + f / 700), triangles linear in mel
    num_mel_bins: int = 64
    mel_min_hz: float = 125.0
    mel_max_hz: float = 7500.0
    log_offset: float = 0.01
    patch_frames: int = 96
    patch_hop_frames: int = 96  # non-overlapping patches
    centered: bool = False  # frame i = samples[i*hop : i*hop + window], no centre padding

    def __post_init__(self) -> None:
        """Reject inconsistent recipes at construction time."""
        for name in ("sample_rate", "window_length", "hop_length", "fft_length", "num_mel_bins",
                     "patch_frames", "patch_hop_frames"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
                raise DataError(f"VGGishParams.{name} must be a positive int, got {value!r}")
        if self.window_length > self.fft_length:
            raise DataError(f"VGGishParams.window_length {self.window_length} exceeds fft_length "
                            f"{self.fft_length}: raise fft_length")
        if not 0.0 <= self.mel_min_hz < self.mel_max_hz <= self.sample_rate / 2:
            raise DataError(f"VGGishParams mel range [{self.mel_min_hz}, {self.mel_max_hz}] Hz must "
                            f"satisfy 0 <= min < max <= Nyquist ({self.sample_rate / 2} Hz)")
        if self.int16_scale <= 0 or self.log_offset <= 0:
            raise DataError("VGGishParams.int16_scale and log_offset must be positive")
        if (self.window, self.spectrum, self.mel_scale, self.centered) != (
                "periodic_hann", "magnitude", "htk", False):
            raise DataError("VGGishParams only implements periodic_hann / magnitude / htk / "
                            "uncentred framing; leave those fields at their defaults")

    @property
    def num_spectrogram_bins(self) -> int:
        """Bins of the one-sided spectrum (fft_length // 2 + 1, i.e. 257)."""
        return self.fft_length // 2 + 1

    @property
    def patch_samples(self) -> int:
        """Samples one patch needs: window + (frames - 1) * hop (15600)."""
        return self.window_length + (self.patch_frames - 1) * self.hop_length

    @property
    def patch_hop_samples(self) -> int:
        """Samples between the starts of consecutive patches (15360)."""
        return self.patch_hop_frames * self.hop_length

    @property
    def patch_seconds(self) -> float:
        """Duration a patch stands for: frames * hop / rate (0.96 s)."""
        return self.patch_frames * self.hop_length / self.sample_rate

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict of every field plus the derived sizes, for export manifests."""
        out: dict[str, Any] = asdict(self)
        out.update(
            num_spectrogram_bins=self.num_spectrogram_bins,
            patch_samples=self.patch_samples,
            patch_hop_samples=self.patch_hop_samples,
            patch_seconds=self.patch_seconds,
        )
        return out


VGGISH = VGGishParams()
