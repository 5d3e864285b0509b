"""Runtime plumbing without any backend: quantize/dequantize math, input checks, layout, delegation counting, predictor."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

from lightavseg_mobile.errors import UserError
from lightavseg_mobile.artifact.manifest import Manifest, ManifestError, Quantization, TensorSpec
from lightavseg_mobile.runtime import (
    ModelInputs,
    RUNTIMES,
    audio_input,
    available_runtimes,
    load_runtime,
    physical_cores,
    runtime_predictor,
)
from lightavseg_mobile.artifact import tensors
from lightavseg_mobile.runtime.cores import resolve_threads
from lightavseg_mobile.runtime.litert_rt import delegation


def test_quantize_rounds_half_away_from_zero_and_clips():
    q = Quantization(0.5, 3)
    x = np.array([0.25, 0.75, -0.25, 1.25, -1.25, 0.2, 100.0, -100.0], np.float32)
    # x / 0.5 = 0.5, 1.5, -0.5, 2.5, -2.5, 0.4, 200, -200 -> half away 1, 2, -1, 3, -3, 0 -> + 3, clip to int8
    got = tensors.quantize(x, q, "int8")
    assert got.dtype == np.int8
    np.testing.assert_array_equal(got, [4, 5, 2, 6, 0, 3, 127, -128])
    got_u8 = tensors.quantize(np.array([-1.0, 0.0, 0.26, 200.0], np.float32), Quantization(1 / 128, 128), "uint8")
    np.testing.assert_array_equal(got_u8, [0, 128, 161, 255])  # 0.26 * 128 = 33.28 -> 33


def _quantize_float64(x: np.ndarray, q: Quantization, lo: int, hi: int) -> np.ndarray:
    """The rule written the slow, obviously exact way: float32 quotient, then half away from zero in float64."""
    with np.errstate(invalid="ignore", over="ignore"):
        v = (x.astype(np.float32) / np.float32(q.scale)).astype(np.float64)
        v = np.trunc(v + np.copysign(0.5, v)) + q.zero_point
    return np.clip(np.nan_to_num(v, nan=q.zero_point), lo, hi)


def test_float32_quantize_matches_the_float64_rule_bit_for_bit():
    halves = np.arange(-300, 300, dtype=np.float32) + np.float32(0.5)
    just_below = np.nextafter(np.float32(0.5), np.float32(0))  # 0.49999997: float32 + 0.5 rounds up to 1
    edge = np.array([0.0, -0.0, just_below, -just_below, np.nan, np.inf, -np.inf, 1e30, -1e30], np.float32)
    rng = np.random.default_rng(0)
    # Random bit patterns: every exponent, subnormals, NaNs and infinities included.
    bits = rng.integers(0, 2**32, 500_000, dtype=np.uint64).astype(np.uint32).view(np.float32)
    values = np.concatenate([halves, np.nextafter(halves, np.float32(np.inf)), np.nextafter(halves, np.float32(-np.inf)),
                             edge, bits, rng.standard_normal(100_000).astype(np.float32)])
    for scale, zp, dtype, lo, hi in ((1.0, 0, "int8", -128, 127), (0.0174, -19, "int8", -128, 127),
                                     (3.0, 5, "int8", -128, 127), (1 / 128, 128, "uint8", 0, 255)):
        q = Quantization(scale, zp)
        with np.errstate(invalid="ignore", over="ignore"):
            got = tensors.quantize(values * np.float32(scale), q, dtype)
        want = _quantize_float64(values * np.float32(scale), q, lo, hi)
        assert got.dtype == np.dtype(dtype)
        np.testing.assert_array_equal(got.astype(np.int64), want.astype(np.int64))


def test_dequantize_and_round_trip():
    q = Quantization(0.5, 3)
    y = tensors.dequantize(np.array([5, -128, 127, 3], np.int8), q)
    assert y.dtype == np.float32
    np.testing.assert_array_equal(y, [1.0, -65.5, 62.0, 0.0])
    x = np.linspace(-60, 60, 1001, dtype=np.float32)
    back = tensors.dequantize(tensors.quantize(x, q, "int8"), q)
    assert np.abs(back - x).max() <= 0.25 + 1e-6  # half a step inside the range


def test_quantize_refuses_unknown_dtype():
    with pytest.raises(UserError, match="int4"):
        tensors.quantize(np.zeros(2, np.float32), Quantization(1.0, 0), "int4")


def test_layout_conversion_round_trip():
    spec = TensorSpec("frame", [1, 4, 5, 3], "float32", "NHWC")
    assert tensors.logical_shape(spec) == (1, 3, 4, 5)
    x = np.arange(60, dtype=np.float32).reshape(1, 3, 4, 5)
    a = tensors.to_artifact(spec, x)
    assert a.shape == (1, 4, 5, 3) and a[0, 2, 1, 0] == x[0, 0, 2, 1] and a.flags.c_contiguous
    np.testing.assert_array_equal(tensors.from_artifact(spec, a), x)


def test_quantized_as_float_rounds_through_the_grid():
    spec = TensorSpec("frame", [1, 2], "int8", "-", Quantization(0.5, 0))
    out = tensors.to_artifact(spec, np.array([[0.3, 0.8]], np.float32), quantized_as_float=True)
    assert out.dtype == np.float32
    np.testing.assert_array_equal(out, [[0.5, 1.0]])


def test_validate_inputs_messages():
    specs = [TensorSpec("frame", [-1, 3, 8, 8], "float32"), TensorSpec("logmel", [1, 1, 96, 64], "float32")]
    ok = tensors.validate_inputs(specs, {"frame": np.zeros((4, 3, 8, 8), np.float64), "logmel": np.zeros((1, 1, 96, 64), np.float32)})
    assert ok["frame"].dtype == np.float32 and ok["frame"].shape[0] == 4  # dynamic batch accepted, cast to float32
    with pytest.raises(UserError, match=r"^input 'logmel' has shape \(1, 96, 64\); expected \(1, 1, 96, 64\)$"):
        tensors.validate_inputs(specs, {"frame": np.zeros((1, 3, 8, 8)), "logmel": np.zeros((1, 96, 64))})
    with pytest.raises(UserError, match=r"missing \['logmel'\]; unexpected \['audio'\]; the artifact takes \['frame', 'logmel'\]"):
        tensors.validate_inputs(specs, {"frame": np.zeros((1, 3, 8, 8)), "audio": np.zeros(3)})
    with pytest.raises(UserError, match="input 'frame' has dtype uint8"):
        tensors.validate_inputs(specs, {"frame": np.zeros((1, 3, 8, 8), np.uint8), "logmel": np.zeros((1, 1, 96, 64))})


def test_check_specs_and_boundary():
    with pytest.raises(ManifestError, match="'frame' is int8 but has no quantization"):
        tensors.check_specs([TensorSpec("frame", [1, 3, 8, 8], "int8")], "m")
    with pytest.raises(ManifestError, match="dtype 'int4'"):
        tensors.check_specs([TensorSpec("frame", [1], "int4")], "m")
    with pytest.raises(ManifestError, match="layout 'CHW'"):
        tensors.check_specs([TensorSpec("frame", [1], "float32", "CHW")], "m")
    with pytest.raises(ManifestError, match="zero_point=300"):
        tensors.check_specs([TensorSpec("frame", [1], "int8", "-", Quantization(0.1, 300))], "m")
    spec = TensorSpec("frame", [1, 3, 8, 8], "int8", quantization=Quantization(0.1, 2))
    tensors.check_boundary(spec, ["batch", 3, 8, 8], "int8", Quantization(0.1, 2), "m")  # symbolic dim is fine
    with pytest.raises(ManifestError, match="is uint8 in the artifact but int8"):
        tensors.check_boundary(spec, [1, 3, 8, 8], "uint8", None, "m")
    with pytest.raises(ManifestError, match="zero_point=5 in the artifact"):
        tensors.check_boundary(spec, [1, 3, 8, 8], "int8", Quantization(0.1, 5), "m")


def test_integer_output_without_quantization_is_a_manifest_error():
    with pytest.raises(ManifestError, match="mask_logits"):
        tensors.from_artifact(TensorSpec("mask_logits", [1, 2], "float32"), np.zeros((1, 2), np.int8))


def _op(name, inputs, outputs):
    return {"op_name": name, "inputs": np.array(inputs), "outputs": np.array(outputs)}


def test_delegation_walks_partitions_back_from_their_outputs():
    # t0 -conv-> t1 -cumsum-> t2 -add(t2, t3 const)-> t4 -relu-> t5 ; t6 -mean-> t7 (second branch)
    before = [_op("CONV_2D", [0, 9], [1]), _op("CUMSUM", [1, 10], [2]), _op("ADD", [2, 3], [4]), _op("RELU", [4], [5]),
              _op("MEAN", [6, 11], [7])]
    after = before + [_op("DELEGATE", [0, 9, 6, 11], [1, 7]), _op("DELEGATE", [2, 3], [5])]
    d = delegation(before, after)
    assert d == {"partitions": 2, "ops_total": 5, "ops_delegated": 4, "ops_not_delegated": 1, "not_delegated_by_op": {"CUMSUM": 1}}
    none = delegation(before, list(before))
    assert none["partitions"] == 0 and none["ops_not_delegated"] == 5


def test_physical_cores_and_threads():
    n = physical_cores()
    assert 1 <= n <= (os.cpu_count() or 1)
    assert resolve_threads(None) == n and resolve_threads(3) == 3
    for bad in (0, -1, 1.5, True, "2"):
        with pytest.raises(UserError, match="threads must be a positive integer"):
            resolve_threads(bad)


def test_available_runtimes_names_every_runtime():
    avail = available_runtimes()
    assert tuple(avail) == tuple(RUNTIMES)
    assert all(v for v in avail.values())  # this environment installs all three


def test_load_runtime_refuses_bad_choices_before_loading(tmp_path):
    with pytest.raises(UserError, match="unknown runtime 'tvm'; choose one of: auto, torch, onnxruntime, litert"):
        load_runtime(tmp_path / "m.onnx", runtime="tvm")
    with pytest.raises(UserError, match=r"cannot tell the format of .*m\.bin"):
        load_runtime(tmp_path / "m.bin")
    with pytest.raises(UserError, match="runtime 'torch' cannot load the tflite file"):
        load_runtime(tmp_path / "m.tflite", runtime="torch")
    # One delegate vocabulary (runtime/registry.py): unknown names, names of another runtime, names not reachable here.
    with pytest.raises(UserError, match="unknown delegate 'warp'; choose one of: auto, cpu, none, xnnpack"):
        load_runtime(tmp_path / "m.tflite", delegate="warp")
    with pytest.raises(UserError, match="delegate 'qnn' does not apply to litert; choose one of: auto, xnnpack, cpu, none"):
        load_runtime(tmp_path / "m.tflite", delegate="qnn")
    with pytest.raises(UserError, match="delegate 'nnapi' is not reachable from Python for litert"):
        load_runtime(tmp_path / "m.tflite", delegate="nnapi")


def test_importing_runtime_modules_does_not_import_backends():
    # Backends are imported when a runtime is created, so a device with only one of them can import all modules.
    code = ("import sys\n"
            "import lightavseg_mobile.runtime, lightavseg_mobile.runtime.onnxruntime_rt, lightavseg_mobile.runtime.litert_rt\n"
            "import lightavseg_mobile.runtime.predictor, lightavseg_mobile.artifact.tensors\n"
            "print(sorted(m for m in ('torch', 'onnxruntime', 'ai_edge_litert', 'tflite_runtime') if m in sys.modules))\n")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, res.stderr[-2000:]
    assert res.stdout.strip() == "[]"


class FakeRuntime:
    """Records batches; logits = frame mean per pixel plus the first audio value (so inputs are traceable)."""

    name = "fake"

    def __init__(self, audio: str, batch: int, audio_shape: list[int]) -> None:
        self.manifest = Manifest(
            artifact_file="fake.bin", artifact_sha256="", artifact_size=0, format="fake", precision="fp32", preset="test",
            module="model", inputs=[TensorSpec("frame", [batch, 3, 4, 4], "float32"), TensorSpec(audio, [batch, *audio_shape], "float32")],
            outputs=[TensorSpec("mask_logits", [batch, 1, 4, 4], "float32")], preprocessing={})
        self.audio = audio
        self.calls: list[int] = []

    def run(self, inputs):
        x = tensors.validate_inputs(self.manifest.inputs, inputs)
        self.calls.append(len(x["frame"]))
        a = x[self.audio].reshape(len(x[self.audio]), -1)[:, :1, None, None]
        return {"mask_logits": x["frame"].mean(axis=1, keepdims=True) + a}

    def info(self):
        return {"runtime": self.name}


def _batch(n: int, seed: int = 0):
    g = np.random.default_rng(seed)
    return g.standard_normal((n, 3, 4, 4)).astype(np.float32), g.standard_normal((n, 1, 96, 64)).astype(np.float32)


@pytest.mark.parametrize("artifact_batch,calls", [(1, [1, 1, 1, 1, 1]), (2, [2, 2, 2]), (-1, [5])])
def test_predictor_chunks_to_the_artifact_batch(artifact_batch, calls):
    rt = FakeRuntime("logmel", artifact_batch, [1, 96, 64])
    frames, logmel = _batch(5)
    out = runtime_predictor(rt)(frames, logmel)
    assert rt.calls == calls
    np.testing.assert_allclose(out, frames.mean(axis=1, keepdims=True) + logmel[:, :, :1, :1], rtol=0, atol=1e-6)


def test_predictor_feeds_waveform_models_waveform_only():
    rt = FakeRuntime("waveform", 1, [15600])
    predict = runtime_predictor(rt)
    assert predict.audio_input == "waveform" and audio_input(rt.manifest) == "waveform"
    frames, logmel = _batch(2)
    wave = np.random.default_rng(1).uniform(-0.5, 0.5, (2, 15600)).astype(np.float32)
    out = predict(frames, wave)
    np.testing.assert_allclose(out, frames.mean(axis=1, keepdims=True) + wave[:, :1, None, None], rtol=0, atol=1e-6)
    with pytest.raises(UserError, match=r"takes waveform \[1, 15600\]; none was given: log-mel cannot be turned back"):
        predict(frames, logmel)


def test_logmel_model_given_waveform_gets_the_reference_logmel():
    from lightavseg_mobile.audio import VGGISH, log_mel

    rt = FakeRuntime("logmel", 1, [1, 96, 64])
    frames, _ = _batch(2)
    wave = np.random.default_rng(2).uniform(-0.5, 0.5, (2, 15600)).astype(np.float32)
    feed = ModelInputs.from_audio(frames, wave).feed(rt.manifest)
    assert feed["logmel"].shape == (2, 1, 96, 64)
    np.testing.assert_array_equal(feed["logmel"][1, 0], log_mel(wave[1], VGGISH.sample_rate)[0])
    with pytest.raises(UserError, match=r"audio has shape \(2, 3, 4\)"):
        ModelInputs.from_audio(frames, np.zeros((2, 3, 4)))


def test_predictor_refuses_sub_models():
    rt = FakeRuntime("logmel", 1, [1, 96, 64])
    rt.manifest.inputs = [TensorSpec("x", [1, 3], "float32")]
    rt.manifest.module = "visual"
    with pytest.raises(UserError, match="not a whole LightAVSeg model"):
        runtime_predictor(rt)


def test_litert_falls_back_to_tflite_runtime_and_says_so(monkeypatch):
    import types

    from lightavseg_mobile.runtime import litert_rt

    fake = types.ModuleType("tflite_runtime.interpreter")

    def import_module(name):
        if name == "tflite_runtime.interpreter":
            return fake
        raise ImportError(name)

    monkeypatch.setattr(litert_rt.importlib, "import_module", import_module)
    module, package, _ = litert_rt.import_interpreter()
    assert module is fake and package == "tflite_runtime"
    monkeypatch.setattr(litert_rt.importlib, "import_module", lambda name: (_ for _ in ()).throw(ImportError(name)))
    with pytest.raises(UserError, match="no TFLite interpreter installed: pip install ai-edge-litert"):
        litert_rt.import_interpreter()


def test_timed_call_whole_model_end_to_end_sub_model_at_the_call():
    from types import SimpleNamespace

    from lightavseg_mobile.runtime import timed_call

    calls = []
    spec = TensorSpec("decoder_map", [1, 2], "int8", "-", Quantization(0.5, 0))

    def rt(module):
        return SimpleNamespace(manifest=SimpleNamespace(module=module, inputs=[spec]),
                               run=lambda feed: calls.append(("run", feed)), invoke=lambda feed: calls.append(("invoke", feed)))

    feed = {"decoder_map": np.array([[1.0, -1.25]], np.float32)}
    fn, how = timed_call(rt("model"), feed)
    fn()
    assert how == "end to end" and calls[-1] == ("run", feed)
    fn, how = timed_call(rt("seg_head"), feed)
    fn()
    # Quantized once, outside the timed call: the call itself gets the artifact's int8 feed.
    kind, got = calls[-1]
    assert how == "runtime call on prepared inputs" and kind == "invoke"
    assert got["decoder_map"].dtype == np.int8 and got["decoder_map"].tolist() == [[2, -3]]


def test_boundary_call_is_the_numpy_part_of_a_whole_model_run(monkeypatch):
    from types import SimpleNamespace

    from lightavseg_mobile.artifact import tensors
    from lightavseg_mobile.runtime import boundary_call

    spec_in = TensorSpec("decoder_map", [1, 2], "int8", "-", Quantization(0.5, 0))
    spec_out = TensorSpec("mask_logits", [1, 2], "int8", "-", Quantization(0.25, 1))
    raw = {"mask_logits": np.array([[5, -3]], np.int8)}

    def rt(module, invoke=True):
        ns = SimpleNamespace(manifest=SimpleNamespace(module=module, inputs=[spec_in], outputs=[spec_out]), run=None)
        if invoke:
            ns.invoke = lambda feed: raw
        return ns

    feed = {"decoder_map": np.array([[1.0, -1.25]], np.float32)}
    assert boundary_call(rt("seg_head"), feed) is None  # sub-models are timed without it
    assert boundary_call(rt("model", invoke=False), feed) is None  # torch: no runtime call to split off
    seen = []
    monkeypatch.setattr(tensors, "prepare_feed", lambda specs, f: seen.append(("in", f)) or {})
    monkeypatch.setattr(tensors, "collect_outputs", lambda specs, r: seen.append(("out", r)) or {})
    convert = boundary_call(rt("model"), feed)
    seen.clear()
    convert()
    # Exactly the conversions a whole-model run does: the float feed in, the runtime's raw outputs out.
    assert seen == [("in", feed), ("out", raw)]


def _verified_artifact(folder, data: bytes = b"flatbuffer " * 50):
    from lightavseg_mobile.artifact.manifest import artifact_sha256, manifest_path

    art = folder / "m.tflite"
    art.write_bytes(data)
    man = Manifest(artifact_file=art.name, artifact_sha256=artifact_sha256(art), artifact_size=len(data), format="tflite",
                   precision="fp32", preset="t", module="model", inputs=[], outputs=[], preprocessing={})
    manifest_path(art).write_text(man.to_json())
    return art, data


def test_read_verified_returns_the_hashed_bytes(tmp_path):
    from lightavseg_mobile.artifact.verified import read_verified

    art, data = _verified_artifact(tmp_path)
    man, got = read_verified(art)
    assert got == data and man.artifact_file == "m.tflite"


def test_read_verified_refuses_changed_grown_and_odd_files(tmp_path, monkeypatch):
    import os

    from lightavseg_mobile.artifact import verified

    art, data = _verified_artifact(tmp_path)
    art.write_bytes(data[:-1] + b"X")
    with pytest.raises(ManifestError, match="does not match its manifest"):
        verified.read_verified(art)
    art.write_bytes(data + b"more")
    with pytest.raises(ManifestError, match="has 554 bytes, its manifest says 550"):
        verified.read_verified(art)
    art.unlink()
    os.mkfifo(art)  # would block a plain read forever
    with pytest.raises(ManifestError, match="not a regular file"):
        verified.read_verified(art)
