"""TorchRuntime: the fp32 reference from a checkpoint or a built module, behind the same Runtime interface."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from lightavseg_mobile.checkpoint import ASSET_DIR, save_checkpoint
from lightavseg_mobile.errors import CheckpointError, UserError
from lightavseg_mobile.evaluate import torch_predictor
from lightavseg_mobile.artifact.manifest import Manifest, Quantization, TensorSpec
from lightavseg_mobile.presets import create_model, get_preset
from lightavseg_mobile.runtime import Runtime, load_runtime, runtime_predictor
from lightavseg_mobile.runtime.base import COMMON_INFO_KEYS
from lightavseg_mobile.runtime.torch_rt import TorchRuntime, reference_manifest

PRESET = "lightavseg-tiny"


def inputs(seed: int, batch: int = 1, size: int = 224) -> dict[str, np.ndarray]:
    g = np.random.default_rng(seed)
    return {"frame": g.standard_normal((batch, 3, size, size)).astype(np.float32),
            "logmel": g.standard_normal((batch, 1, 96, 64)).astype(np.float32)}


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    torch.manual_seed(0)
    model = create_model(PRESET).eval()
    path = tmp_path_factory.mktemp("ckpt") / "tiny.pt"
    save_checkpoint(path, model, get_preset(PRESET))
    return path, model.for_inference()


def test_checkpoint_runtime_matches_the_inference_module(checkpoint):
    path, module = checkpoint
    rt = load_runtime(path, threads=1)
    assert isinstance(rt, TorchRuntime) and isinstance(rt, Runtime)
    m = rt.manifest
    assert (m.format, m.precision, m.preset, m.module) == ("torch", "fp32", PRESET, "model")
    assert [(s.name, s.shape) for s in m.inputs] == [("frame", [1, 3, 224, 224]), ("logmel", [1, 1, 96, 64])]
    assert [(s.name, s.shape) for s in m.outputs] == [("mask_logits", [1, 1, 224, 224])]
    assert m.preprocessing["image"]["mean"] == list(get_preset(PRESET).mean) and m.preprocessing["image"]["size"] == 224
    assert m.preprocessing["audio_input"] == "logmel"
    assert m.artifact_file == "tiny.pt" and len(m.checkpoint_sha256) == 64
    x = inputs(1)
    y = rt.run(x)["mask_logits"]
    # Same thread count as the runtime: reduction order (and so the last bits) depends on it.
    saved = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with torch.inference_mode():
            ref = module(torch.from_numpy(x["frame"]), torch.from_numpy(x["logmel"])).numpy()
    finally:
        torch.set_num_threads(saved)
    assert y.dtype == np.float32
    np.testing.assert_array_equal(y, ref)
    info = rt.info()
    assert (info["runtime"], info["threads"], info["precision"], info["module"]) == ("torch", 1, "fp32", "LightAVSegInference")
    assert set(COMMON_INFO_KEYS) <= set(info)


def test_shipped_checkpoint_runs_or_is_reported_missing():
    shipped = ASSET_DIR / f"{PRESET}.pt"
    if shipped.is_file():
        rt = TorchRuntime(preset=PRESET, threads=1)
        y = rt.run(inputs(2))["mask_logits"]
        assert y.shape == (1, 1, 224, 224) and np.isfinite(y).all()
        assert rt.manifest.artifact_file == shipped.name
    else:
        with pytest.raises(CheckpointError, match=f"no shipped checkpoint for preset '{PRESET}'"):
            TorchRuntime(preset=PRESET)
    with pytest.raises(UserError, match="unknown preset 'huge'"):
        TorchRuntime(preset="huge")


def test_checkpoint_of_another_preset_is_refused(checkpoint):
    with pytest.raises(CheckpointError, match="holds preset 'lightavseg-tiny', not 'lightavseg'"):
        TorchRuntime(checkpoint[0], preset="lightavseg")


def test_predictor_over_torch_runtime_equals_batched_torch(checkpoint):
    path, module = checkpoint
    rt = TorchRuntime(path, threads=1)
    x = inputs(3, batch=2)
    looped = runtime_predictor(rt)(x["frame"], x["logmel"])
    batched = torch_predictor(module)(x["frame"], x["logmel"])
    assert looped.shape == (2, 1, 224, 224)
    np.testing.assert_allclose(looped, batched, atol=1e-4, rtol=0)


def test_wrong_shape_is_a_user_error(checkpoint):
    rt = TorchRuntime(checkpoint[0], threads=1)
    with pytest.raises(UserError, match=r"input 'frame' has shape \(1, 3, 64, 64\); expected \(1, 3, 224, 224\)"):
        rt.run(inputs(4, size=64))


class TwoHeads(nn.Module):
    def __init__(self, as_dict: bool) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 2, 1)
        self.as_dict = as_dict

    def forward(self, x: torch.Tensor):
        y = self.conv(x)
        return {"b": y[:, 1:], "a": y[:, :1]} if self.as_dict else (y[:, :1], y[:, 1:])


def sub_manifest(quant: Quantization | None = None) -> Manifest:
    dtype = "int8" if quant else "float32"
    return Manifest(artifact_file="", artifact_sha256="", artifact_size=0, format="torch", precision="fp32", preset=PRESET,
                    module="seg_head", inputs=[TensorSpec("x", [1, 3, 4, 4], dtype, "NCHW", quant)],
                    outputs=[TensorSpec("a", [1, 1, 4, 4], "float32"), TensorSpec("b", [1, 1, 4, 4], "float32")], preprocessing={})


@pytest.mark.parametrize("as_dict", [False, True])
def test_from_module_names_outputs_by_position_or_key(as_dict):
    torch.manual_seed(0)
    module = TwoHeads(as_dict)
    rt = TorchRuntime.from_module(module, sub_manifest(), threads=1)
    x = np.random.default_rng(5).standard_normal((1, 3, 4, 4)).astype(np.float32)
    out = rt.run({"x": x})
    with torch.no_grad():
        y = module.conv(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(out["a"], y[:, :1], atol=1e-6)
    np.testing.assert_allclose(out["b"], y[:, 1:], atol=1e-6)


def test_from_module_rounds_inputs_through_declared_int8_quantization():
    torch.manual_seed(0)
    module = TwoHeads(False)
    q = Quantization(0.25, 1)
    rt = TorchRuntime.from_module(module, sub_manifest(q), threads=1)
    x = np.random.default_rng(6).standard_normal((1, 3, 4, 4)).astype(np.float32)
    seen = ((np.clip(np.rint(x / 0.25) + 1, -128, 127) - 1) * 0.25).astype(np.float32)
    with torch.no_grad():
        y = module.conv(torch.from_numpy(seen)).numpy()
    np.testing.assert_allclose(rt.run({"x": x})["a"], y[:, :1], atol=1e-6)


def test_from_module_with_too_few_outputs_is_a_user_error():
    rt = TorchRuntime.from_module(nn.Conv2d(3, 1, 1), sub_manifest(), threads=1)
    with pytest.raises(UserError, match=r"returned 1 output\(s\); the manifest expects 2"):
        rt.run({"x": np.zeros((1, 3, 4, 4), np.float32)})


def test_torch_threads_are_restored_after_run(checkpoint):
    before = torch.get_num_threads()
    rt = TorchRuntime.from_module(nn.Conv2d(3, 1, 1), Manifest(
        artifact_file="", artifact_sha256="", artifact_size=0, format="torch", precision="fp32", preset=PRESET, module="x",
        inputs=[TensorSpec("x", [1, 3, 2, 2], "float32")], outputs=[TensorSpec("y", [1, 1, 2, 2], "float32")], preprocessing={}),
        threads=before + 1)
    rt.run({"x": np.zeros((1, 3, 2, 2), np.float32)})
    assert torch.get_num_threads() == before and rt.info()["threads"] == before + 1


class WaveformModel(nn.Module):
    """The whole model with the log-mel front end in the graph: (frame, waveform [B,15600]) -> logits."""

    def __init__(self, inner: nn.Module) -> None:
        super().__init__()
        from lightavseg_mobile.audio import LogMelFrontEnd

        self.front = LogMelFrontEnd()
        self.inner = inner

    def forward(self, frame: torch.Tensor, waveform: torch.Tensor) -> torch.Tensor:
        return self.inner(frame, self.front(waveform))


def test_waveform_model_gets_waveform_and_matches_the_logmel_model(checkpoint):
    path, module = checkpoint
    base = reference_manifest(get_preset(PRESET))
    wave_manifest = Manifest(**{**base.__dict__, "inputs": [base.inputs[0], TensorSpec("waveform", [1, 15600], "float32", "-")]})
    wave_rt = TorchRuntime.from_module(WaveformModel(module), wave_manifest, threads=1)
    predict_wave = runtime_predictor(wave_rt)
    predict_logmel = runtime_predictor(TorchRuntime(path, threads=1))
    assert (predict_wave.audio_input, predict_logmel.audio_input) == ("waveform", "logmel")
    g = np.random.default_rng(7)
    frames = g.standard_normal((1, 3, 224, 224)).astype(np.float32)
    wave = (0.3 * np.sin(np.arange(15600) * 0.05) + 0.05 * g.standard_normal(15600)).astype(np.float32)[None]
    # The logmel model is handed the same waveform and computes the numpy reference log-mel itself.
    a, b = predict_wave(frames, wave), predict_logmel(frames, wave)
    assert np.abs(a - b).max() < 1e-3 * max(1.0, np.abs(b).max())
    with pytest.raises(UserError, match="takes waveform"):
        predict_wave(frames, np.zeros((1, 1, 96, 64), np.float32))
