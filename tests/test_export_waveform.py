"""`lavseg-export --audio-input waveform` through the command line: the log-mel front end inside the graph, fp32 in both
formats and int8 ONNX, gated on parity with 16 kHz audio from the shipped clips as input."""

from __future__ import annotations

import contextlib
import io
import json

import numpy as np
import pytest
import torch

from lightavseg_mobile.data import heldout
from lightavseg_mobile.export import cli_export, pipeline
from lightavseg_mobile.artifact.manifest import load_manifest
from lightavseg_mobile.presets import create_model, get_preset
from lightavseg_mobile.runtime import load_runtime
from lightavseg_mobile.runtime.predictor import logmel_from_waveform

pytestmark = pytest.mark.slow  # exports and gates waveform-input artifacts

SAMPLES = 15600  # 0.975 s at 16 kHz: the 96 x 10 ms hops plus the last 25 ms window of one VGGish patch


def test_waveform_artifacts_export_run_and_pass_parity(tiny_ckpt, tmp_path):
    out = tmp_path / "exports"
    argv = [str(tiny_ckpt), "--format", "all", "--recipe", "onnx-ort-w8a8-minmax", "--audio-input", "waveform",
            "--heldout-clips", "1", "--out", str(out), "--json"]
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        assert cli_export.main(argv) == 0
    published = {a["path"].rsplit("/", 1)[-1]: a for a in json.loads(buf.getvalue())["artifacts"]}
    # Named apart from log-mel artifacts, so both can sit in one folder.
    names = ["lightavseg-tiny-waveform.fp32.onnx", "lightavseg-tiny-waveform.fp32.tflite",
             "lightavseg-tiny-waveform.onnx-ort-w8a8-minmax.onnx"]
    assert set(names) <= set(published) and all(published[n]["status"] == "published" for n in names)

    # One shipped held-out clip, as raw audio: what a phone's microphone path hands the artifact.
    p = get_preset("lightavseg-tiny")
    clip = heldout.load_clips(heldout.DEFAULT_HELDOUT, heldout.HELDOUT_SPLIT, 224, p.mean, p.std, "waveform", 1)[0]
    frame, wave = clip.frames[:1], clip.audio[:1]
    assert wave.shape == (1, SAMPLES)
    outputs = {}
    for n in names:
        man, _ = load_manifest(out / n)
        assert [s.name for s in man.inputs] == ["frame", "waveform"] and man.inputs[1].shape == [1, SAMPLES]
        assert man.parity["passed"] and man.parity["frames"] == 5
        # The manifest still carries the VGGish constants: a runtime that is fed log-mel elsewhere can check them.
        assert man.preprocessing["audio"]["num_mel_bins"] == 64
        outputs[n] = load_runtime(out / n).run({"frame": frame, "waveform": wave})["mask_logits"]
    # The front end inside the graphs agrees with the numpy one: the fp32 artifacts match the torch model run on
    # numpy log-mel of the same audio.
    net = create_model("lightavseg-tiny")
    net.load_state_dict(torch.load(tiny_ckpt, weights_only=True)["state_dict"])
    with torch.no_grad():
        want = net.for_inference()(torch.from_numpy(frame), torch.from_numpy(logmel_from_waveform(wave))).numpy()
    for n in names[:2]:
        np.testing.assert_allclose(outputs[n], want, atol=1e-3)
    agree = ((outputs[names[2]] > 0) == (want > 0)).mean()
    assert agree > 0.95
