"""Rebuild the test recordings in this folder from Debian packages (see README.md for provenance).

Usage:
    apt-get download alsa-utils lmms-common
    dpkg -x alsa-utils_*.deb root && dpkg -x lmms-common_*.deb root
    python make_assets.py root
"""

from __future__ import annotations

import sys
from pathlib import Path

import librosa
import numpy as np
import soundfile

RATE = 16000
HERE = Path(__file__).resolve().parent


def _load_mono(path: Path) -> np.ndarray:
    """Decode a file, average its channels and resample it to 16 kHz (soxr_hq), float64."""
    data, rate = soundfile.read(str(path), dtype="float64", always_2d=True)
    return librosa.resample(data.mean(axis=1), orig_sr=rate, target_sr=RATE)


def _write(name: str, audio: np.ndarray) -> None:
    """Write float audio in [-1, 1] as 16-bit PCM mono at 16 kHz."""
    pcm = np.clip(np.round(audio * 32768.0), -32768, 32767).astype(np.int16)
    soundfile.write(str(HERE / name), pcm, RATE, subtype="PCM_16")


def main(root: Path) -> None:
    """Write the five test recordings from the extracted packages under root."""
    alsa = root / "usr/share/sounds/alsa"
    speech = np.concatenate([_load_mono(alsa / "Front_Left.wav"), _load_mono(alsa / "Front_Right.wav")])
    _write("speech.wav", speech)

    guitar = _load_mono(root / "usr/share/lmms/samples/latin/latin_guitar02.ogg")[: 3 * RATE]
    _write("music.wav", guitar * (0.9 / np.abs(guitar).max()))

    t = np.arange(int(1.5 * RATE)) / RATE
    _write("tone.wav", 0.5 * np.sin(2 * np.pi * 1000.0 * t))

    _write("silence.wav", np.zeros(RATE))

    center = _load_mono(alsa / "Front_Center.wav")
    _write("clipped.wav", np.clip(8.0 * center, -1.0, 32767 / 32768))


if __name__ == "__main__":
    main(Path(sys.argv[1]))
