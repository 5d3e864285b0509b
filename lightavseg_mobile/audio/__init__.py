"""VGGish log-mel front end: numpy reference (device-safe) and an export-friendly torch module."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from lightavseg_mobile.audio.logmel_numpy import log_mel, log_mel_file, waveform_patches
from lightavseg_mobile.audio.params import VGGISH, VGGishParams

if TYPE_CHECKING:
    from lightavseg_mobile.audio.logmel_torch import LogMelFrontEnd

__all__ = ["VGGISH", "LogMelFrontEnd", "VGGishParams", "log_mel", "log_mel_file", "waveform_patches"]


def __getattr__(name: str) -> Any:
    """Import the torch module only when LogMelFrontEnd is asked for (devices have no torch)."""
    if name == "LogMelFrontEnd":
        from lightavseg_mobile.audio.logmel_torch import LogMelFrontEnd

        return LogMelFrontEnd
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
