"""Main-stage training can start from official PANNs MobileNetV2 weights (the audio pre-training stage is skipped)."""

from __future__ import annotations

import torch

from lightavseg_mobile.presets import create_model
from lightavseg_mobile.train.loop import init_audio_encoder
from test_weights import fabricate, official_panns_mobilenetv2


def test_audio_init_accepts_an_official_panns_file(tmp_path):
    state = fabricate(official_panns_mobilenetv2(), seed=3)
    path = tmp_path / "MobileNetV2_mAP=0.383.pth"
    torch.save({"model": state, "iteration": 0}, path)
    model = create_model("lightavseg-tiny")
    assert init_audio_encoder(model, path) == "panns"
    assert torch.equal(model.audio.fc1.weight, state["fc1.weight"])
    assert torch.equal(model.audio.features[3].conv[0].weight, state["features.3.conv.0.weight"])
