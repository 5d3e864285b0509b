"""VGGish log-mel front end: mel matrix, numpy reference, torch module and its ONNX/TFLite exports."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile
import torch

import lightavseg_mobile
from lightavseg_mobile.audio import VGGISH, VGGishParams, log_mel, log_mel_file, waveform_patches
from lightavseg_mobile.audio.melmatrix import (hertz_to_mel, mel_band_edges, mel_matrix, mel_to_hertz,
                                               periodic_hann)
from lightavseg_mobile.errors import DataError

ASSETS = Path(lightavseg_mobile.__file__).parent / "assets" / "audio"
RECORDINGS = ["speech", "music", "tone", "silence", "clipped"]
PARITY_TOL = 1e-3
LOG_FLOOR = np.log(0.01)


def _read_int16(name: str) -> np.ndarray:
    data, rate = soundfile.read(str(ASSETS / f"{name}.wav"), dtype="int16")
    assert rate == 16000
    return data


def _tones(rate: int, seconds: float = 2.0) -> np.ndarray:
    """Analytic band-limited test signal (amplitude-modulated sines below 6 kHz) at any rate."""
    t = np.arange(int(seconds * rate)) / rate
    out = np.zeros_like(t)
    for freq, amp in [(220, 0.2), (660, 0.15), (1500, 0.1), (3100, 0.08), (5200, 0.05)]:
        out += amp * np.sin(2 * np.pi * freq * t + freq / 100.0) * (1 + 0.5 * np.sin(2 * np.pi * 3 * t))
    return out


# ---------------------------------------------------------------- recipe constants and mel matrix

def test_params_values_and_manifest_dict():
    assert VGGISH.patch_samples == 400 + 95 * 160 == 15600
    assert VGGISH.patch_hop_samples == 96 * 160
    assert VGGISH.num_spectrogram_bins == 257
    assert VGGISH.patch_seconds == pytest.approx(0.96)
    d = json.loads(json.dumps(VGGISH.to_dict()))
    assert d["sample_rate"] == 16000 and d["log_offset"] == 0.01 and d["patch_samples"] == 15600
    assert (d["mel_min_hz"], d["mel_max_hz"], d["num_mel_bins"]) == (125.0, 7500.0, 64)
    names = {f.name for f in dataclasses.fields(VGGishParams)}
    assert VGGishParams(**{k: v for k, v in d.items() if k in names}) == VGGISH
    with pytest.raises(dataclasses.FrozenInstanceError):
        VGGISH.hop_length = 10  # type: ignore[misc]


@pytest.mark.parametrize("bad", [{"hop_length": 0}, {"window_length": 1024}, {"mel_max_hz": 9000.0},
                                 {"spectrum": "power"}, {"num_mel_bins": 64.0}])
def test_params_reject_inconsistent_recipes(bad):
    with pytest.raises(DataError):
        VGGishParams(**bad)


def test_htk_mel_scale_and_periodic_hann():
    assert hertz_to_mel(700.0) == pytest.approx(1127.0 * np.log(2.0))
    assert hertz_to_mel(1000.0) == pytest.approx(1000.0, abs=0.02)  # HTK's anchor: 1000 Hz ~ 1000 mel
    assert mel_to_hertz(hertz_to_mel(3210.0)) == pytest.approx(3210.0)
    w = periodic_hann(400)
    assert w.shape == (400,) and w[0] == 0.0 and w[200] == pytest.approx(1.0)
    np.testing.assert_allclose(w[1:], w[1:][::-1], atol=1e-15)  # periodic: w[n] = w[400 - n]
    np.testing.assert_allclose(w, np.hanning(401)[:400], atol=1e-12)
    assert w.sum() == pytest.approx(200.0)


def test_mel_matrix_matches_mel_domain_triangles():
    m = mel_matrix()
    assert m.shape == (257, 64)
    assert np.all(m[0] == 0.0), "the DC bin must be excluded from every band"
    assert np.all(m >= 0.0) and m.max() <= 1.0
    # Independent construction: piecewise-linear interpolation in the mel domain, one band at a time.
    bin_mel = 1127.0 * np.log(1.0 + np.arange(257) * (8000.0 / 256) / 700.0)
    edges = np.linspace(1127.0 * np.log(1 + 125 / 700), 1127.0 * np.log(1 + 7500 / 700), 66)
    expected = np.stack([np.interp(bin_mel, edges[j:j + 3], [0.0, 1.0, 0.0], left=0.0, right=0.0)
                         for j in range(64)], axis=1)
    expected[0] = 0.0
    np.testing.assert_allclose(m, expected, atol=1e-12)
    # Each triangle peaks at the bin whose HTK mel is nearest the band's centre.
    centres = edges[1:-1]
    nearest = np.abs(bin_mel[:, None] - centres[None, :]).argmin(axis=0)
    np.testing.assert_array_equal(m.argmax(axis=0), nearest)
    np.testing.assert_allclose(mel_band_edges(), edges, atol=1e-9)
    # No bin above 7500 Hz or at/below 125 Hz contributes.
    hz = np.arange(257) * 8000.0 / 256
    assert np.all(m[(hz >= 7500) | (hz <= 125)] == 0.0)
    assert m.sum(axis=0).max() < 10.0  # bound used by the torch module's sqrt epsilon argument


# ---------------------------------------------------------------- numpy log-mel

def test_log_mel_shape_dtype_and_whole_patches():
    speech = _read_int16("speech")  # 3.01 s: 3 whole patches (3 patches need 46320 samples)
    out = log_mel(speech, 16000)
    assert out.shape == (3, 96, 64) and out.dtype == np.float32
    assert log_mel(speech[:46320], 16000).shape == (3, 96, 64)
    assert log_mel(speech[:46319], 16000).shape == (2, 96, 64)
    np.testing.assert_array_equal(log_mel(speech, 16000, num_patches=2), out[:2])  # extra patches dropped
    five_seconds = np.random.default_rng(0).standard_normal(80000) * 0.1
    assert log_mel(five_seconds, 16000).shape == (5, 96, 64)


def test_avsbench_padding_repeats_last_whole_patch():
    music = _read_int16("music")[:40000]  # 2.5 s: 2 whole patches
    plain = log_mel(music, 16000)
    assert plain.shape == (2, 96, 64)
    padded = log_mel(music, 16000, num_patches=5)
    assert padded.shape == (5, 96, 64)
    np.testing.assert_array_equal(padded[:2], plain)
    for i in (2, 3, 4):
        np.testing.assert_array_equal(padded[i], plain[1])
    assert not np.array_equal(plain[0], plain[1])


def test_clip_shorter_than_one_patch_is_zero_padded():
    speech = _read_int16("speech")[:8000]
    padded_by_hand = np.concatenate([speech.astype(np.float64) / 32768.0, np.zeros(15600 - 8000)])
    out = log_mel(speech, 16000)
    assert out.shape == (1, 96, 64)
    np.testing.assert_allclose(out, log_mel(padded_by_hand, 16000), atol=1e-6)
    assert np.all(out[0, -40:] == np.float32(LOG_FLOOR))  # the zero tail gives log(0.01)
    five = log_mel(speech, 16000, num_patches=5)
    assert five.shape == (5, 96, 64) and all(np.array_equal(p, out[0]) for p in five)


def test_int16_int32_and_float_scaling_agree():
    speech = _read_int16("speech")
    as_float = log_mel(speech.astype(np.float32) / 32768.0, 16000)
    np.testing.assert_allclose(log_mel(speech, 16000), as_float, atol=1e-5)
    np.testing.assert_allclose(log_mel(speech.astype(np.int32) << 16, 16000), as_float, atol=1e-5)
    # Unscaled int16 values treated as float would be 32768x louder: a different log-mel.
    assert np.abs(log_mel(speech.astype(np.float64), 16000) - as_float).max() > 5.0
    np.testing.assert_allclose(log_mel_file(ASSETS / "speech.wav"), as_float, atol=1e-5)


def test_multichannel_is_averaged_to_mono():
    left = _read_int16("music")[:32000]
    right = _read_int16("speech")[:32000]
    stereo = np.stack([left, right], axis=1)  # channels-last, as soundfile returns
    mono = (left.astype(np.float64) + right) / 2 / 32768.0
    np.testing.assert_allclose(log_mel(stereo, 16000), log_mel(mono, 16000), atol=1e-5)
    np.testing.assert_allclose(log_mel(np.stack([left, left], 1), 16000), log_mel(left, 16000), atol=1e-6)


def test_stereo_file_is_read_and_averaged(tmp_path):
    left, right = _read_int16("music")[:20000], _read_int16("speech")[:20000]
    path = tmp_path / "stereo.wav"
    soundfile.write(str(path), np.stack([left, right], axis=1), 16000, subtype="PCM_16")
    expected = log_mel((left.astype(np.float64) + right) / 2 / 32768.0, 16000)
    np.testing.assert_allclose(log_mel_file(path), expected, atol=1e-5)


@pytest.mark.parametrize("rate", [44100, 48000])
def test_resampling_matches_native_16k(rate):
    native = log_mel(_tones(16000), 16000).reshape(-1, 64)
    resampled = log_mel(_tones(rate), rate).reshape(-1, 64)
    assert resampled.shape == native.shape
    # Frame 0 sees the resampler's start-up transient; every later frame agrees closely.
    assert np.abs(resampled[1:] - native[1:]).max() < 1e-3
    assert np.abs(resampled[0] - native[0]).max() < 0.1


def test_framing_is_not_centred():
    x = np.zeros(15600)
    x[500] = 0.5  # inside frames 1..3 only (frame i covers samples 160 i .. 160 i + 399)
    frames = log_mel(x, 16000)[0]
    assert np.all(frames[0] == np.float32(LOG_FLOOR))  # a centred STFT would put frame 0 at -200..199
    assert np.all(frames[4:] == np.float32(LOG_FLOOR))
    assert np.all(frames[1:4].max(axis=1) > LOG_FLOOR + 0.1)


def test_single_frame_by_hand_for_a_bin_centred_sine():
    amp = 0.5
    t = np.arange(15600) / 16000
    x = amp * np.sin(2 * np.pi * 1000.0 * t)  # 1000 Hz = FFT bin 32 (31.25 Hz per bin)
    frame = log_mel(x, 16000)[0, 0]
    # Direct DFT of frame 0 (no FFT routine), then the mel weights.
    n, k = np.arange(400), np.arange(257)[:, None]
    windowed = x[:400] * (0.5 - 0.5 * np.cos(2 * np.pi * n / 400))
    spectrum = np.abs((windowed * np.exp(-2j * np.pi * k * n / 512)).sum(axis=1))
    assert spectrum.argmax() == 32
    assert spectrum[32] == pytest.approx(amp * 200 / 2, rel=0.01)  # A * sum(window) / 2
    np.testing.assert_allclose(frame, np.log(spectrum @ mel_matrix() + 0.01), atol=1e-5)
    assert frame.argmax() == np.abs(hertz_to_mel(1000.0) - mel_band_edges()[1:-1]).argmin()


def test_sine_at_each_band_centre_peaks_in_that_band():
    t = np.arange(15600) / 16000
    centres_hz = mel_to_hertz(mel_band_edges()[1:-1])
    for band, freq in enumerate(centres_hz):
        out = log_mel(0.5 * np.sin(2 * np.pi * freq * t), 16000)[0]
        assert np.all(out.argmax(axis=1) == band), f"band {band} ({freq:.1f} Hz)"
        far = np.delete(out[48], range(max(band - 3, 0), min(band + 4, 64)))
        assert far.max() < out[48, band] - 4.0  # leakage far from the band is tiny


def test_silence_is_the_log_offset():
    out = log_mel(_read_int16("silence"), 16000)
    assert out.shape == (1, 96, 64)
    assert np.all(out == np.float32(LOG_FLOOR))


def test_waveform_patches_are_the_windows_of_each_patch():
    speech = _read_int16("speech")
    windows = waveform_patches(speech, 16000, num_patches=5)
    assert windows.shape == (5, 15600) and windows.dtype == np.float32
    scaled = speech.astype(np.float64) / 32768.0
    for i in range(3):
        np.testing.assert_array_equal(windows[i], scaled[i * 15360:i * 15360 + 15600].astype(np.float32))
    np.testing.assert_array_equal(windows[3], windows[2])
    np.testing.assert_array_equal(windows[4], windows[2])
    patches = log_mel(speech, 16000, num_patches=5)
    for i in range(5):
        np.testing.assert_allclose(log_mel(windows[i], 16000)[0], patches[i], atol=1e-5)
    assert waveform_patches(speech, 16000).shape == (3, 15600)
    assert waveform_patches(_tones(48000, 1.0), 48000).shape == (1, 15600)


@pytest.mark.parametrize("waveform, rate, patches", [
    (np.zeros(0), 16000, None),
    (np.zeros((0, 2)), 16000, None),
    (np.array([0.1, np.nan, 0.2] * 6000), 16000, None),
    (np.array([0.1, np.inf] * 9000), 16000, None),
    (np.zeros((2, 3, 20000)), 16000, None),
    (np.zeros((2, 20000)), 16000, None),  # channels-first
    (np.zeros(20000, dtype=np.complex64), 16000, None),
    (np.zeros(20000, dtype=np.uint8), 16000, None),
    (np.zeros(20000), 0, None),
    (np.zeros(20000), -16000, None),
    (np.zeros(20000), float("nan"), None),
    (np.zeros(20000), "16000", None),
    (np.zeros(20000), 16000, 0),
    (np.zeros(20000), 16000, 2.5),
])
def test_invalid_input_raises_data_error(waveform, rate, patches):
    for fn in (log_mel, waveform_patches):
        with pytest.raises(DataError) as info:
            fn(waveform, rate, patches)
        assert "\n" not in str(info.value) and str(info.value)


def test_unreadable_files_raise_data_error(tmp_path):
    with pytest.raises(DataError, match="not found"):
        log_mel_file(tmp_path / "missing.wav")
    bogus = tmp_path / "bogus.wav"
    bogus.write_text("not audio\n" * 10)
    with pytest.raises(DataError, match="cannot read") as info:
        log_mel_file(bogus)
    assert "\n" not in str(info.value)


def test_importing_the_package_needs_neither_torch_nor_librosa():
    code = ("import sys, lightavseg_mobile.audio as a; "
            "assert 'torch' not in sys.modules and 'librosa' not in sys.modules, 'heavy import'; "
            "assert a.log_mel([0.0] * 16000, 16000).shape == (1, 96, 64); "
            "assert 'torch' not in sys.modules and 'librosa' not in sys.modules, 'heavy import at 16 kHz'; "
            "assert a.LogMelFrontEnd.__name__ == 'LogMelFrontEnd' and 'torch' in sys.modules")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]


# ---------------------------------------------------------------- torch module and exports

@pytest.fixture(scope="module")
def front_end():
    from lightavseg_mobile.audio import LogMelFrontEnd

    return LogMelFrontEnd().eval()


def _torch_patches(module, windows: np.ndarray) -> np.ndarray:
    with torch.no_grad():
        return module(torch.from_numpy(windows)).numpy()


@pytest.mark.parametrize("name", RECORDINGS)
def test_torch_front_end_matches_numpy_on_every_recording(front_end, name):
    audio = _read_int16(name)
    reference = log_mel(audio, 16000)
    out = _torch_patches(front_end, waveform_patches(audio, 16000))
    assert out.shape == (reference.shape[0], 1, 96, 64) and out.dtype == np.float32
    assert np.abs(out[:, 0] - reference).max() <= PARITY_TOL


def test_torch_front_end_buffers_are_not_state(front_end):
    assert front_end.state_dict() == {}
    assert {name for name, _ in front_end.named_buffers()} == {"dft_basis", "mel_weights"}
    assert front_end.dft_basis.shape == (514, 1, 400) and front_end.dft_basis.dtype == torch.float32
    with pytest.raises(DataError):
        front_end(torch.zeros(1, 16000))
    with pytest.raises(DataError):
        front_end(torch.zeros(15600))


def test_torch_front_end_silence_gradient_is_finite(front_end):
    x = torch.zeros(2, 15600, requires_grad=True)
    out = front_end(x)
    out.sum().backward()
    assert torch.isfinite(x.grad).all()
    # The sqrt epsilon costs nothing measurable: silence still maps to exactly log(0.01) in fp32.
    assert torch.all(out == torch.tensor(LOG_FLOOR, dtype=torch.float32))


@pytest.mark.slow
def test_onnx_export_runs_in_onnxruntime(front_end, tmp_path):
    import onnxruntime

    audio = _read_int16("speech")
    windows = waveform_patches(audio, 16000)
    path = tmp_path / "logmel.onnx"
    torch.onnx.export(front_end, (torch.from_numpy(windows),), str(path), dynamo=True, external_data=False,
                      input_names=["waveform"], output_names=["log_mel"])
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    out = session.run(["log_mel"], {"waveform": windows})[0]
    assert out.shape == (3, 1, 96, 64)
    assert np.abs(out[:, 0] - log_mel(audio, 16000)).max() <= PARITY_TOL


@pytest.mark.slow
def test_tflite_conversion_runs_in_litert(front_end, tmp_path):
    import litert_torch
    from ai_edge_litert.interpreter import Interpreter

    audio = _read_int16("music")
    windows = waveform_patches(audio, 16000)
    path = tmp_path / "logmel.tflite"
    litert_torch.convert(front_end, (torch.from_numpy(windows),)).export(str(path))
    interpreter = Interpreter(model_path=str(path), num_threads=1)
    interpreter.allocate_tensors()
    interpreter.set_tensor(interpreter.get_input_details()[0]["index"], windows)
    interpreter.invoke()
    out = interpreter.get_tensor(interpreter.get_output_details()[0]["index"])
    assert out.shape == (3, 1, 96, 64)
    assert np.abs(out[:, 0] - log_mel(audio, 16000)).max() <= PARITY_TOL
