"""ONNX Runtime backend on tiny artifacts built here: fp32 dynamo export, static QDQ int8, a hand-made integer-I/O graph."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn
from torch.nn import functional as F

from lightavseg_mobile.errors import UserError
from lightavseg_mobile.artifact.manifest import Manifest, ManifestError, Quantization, TensorSpec, artifact_sha256
from lightavseg_mobile.runtime import load_runtime, physical_cores, runtime_predictor
from lightavseg_mobile.runtime.base import COMMON_INFO_KEYS
from lightavseg_mobile.runtime.onnxruntime_rt import OnnxRuntime

S = 32


class TinyAV(nn.Module):
    """Frame conv modulated by a pooled log-mel embedding."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, padding=1)
        self.audio = nn.Linear(64, 8)
        self.head = nn.Conv2d(8, 1, 1)

    def forward(self, frame: torch.Tensor, logmel: torch.Tensor) -> torch.Tensor:
        x = F.relu(self.conv(frame))
        a = self.audio(logmel.mean(dim=2)).reshape(-1, 8, 1, 1)
        return self.head(x * a)


def sample(seed: int) -> dict[str, np.ndarray]:
    g = np.random.default_rng(seed)
    return {"frame": g.standard_normal((1, 3, S, S)).astype(np.float32),
            "logmel": g.standard_normal((1, 1, 96, 64)).astype(np.float32)}


def torch_out(model: nn.Module, x: dict[str, np.ndarray]) -> np.ndarray:
    with torch.no_grad():
        return model(torch.from_numpy(x["frame"]), torch.from_numpy(x["logmel"])).numpy()


def write_manifest(path: Path, precision: str, inputs: list[TensorSpec], outputs: list[TensorSpec], **extra) -> Path:
    man = Manifest(artifact_file=path.name, artifact_sha256=artifact_sha256(path), artifact_size=path.stat().st_size,
                   format="onnx", precision=precision, preset="test", module="model", inputs=inputs, outputs=outputs,
                   preprocessing={}, **extra)
    mpath = path.with_name(path.name + ".manifest.json")
    mpath.write_text(man.to_json())
    return mpath


def model_specs() -> tuple[list[TensorSpec], list[TensorSpec]]:
    return ([TensorSpec("frame", [1, 3, S, S], "float32"), TensorSpec("logmel", [1, 1, 96, 64], "float32")],
            [TensorSpec("mask_logits", [1, 1, S, S], "float32")])


class Reader:
    """ORT calibration reader: a list of {input_name: array}."""

    def __init__(self, seeds) -> None:
        self._it = iter([sample(s) for s in seeds])

    def get_next(self):
        return next(self._it, None)


# Integer-I/O graph: NHWC uint8 in -> dequantize -> x2 -> quantize -> int8 out (what an exporter with integer I/O makes).
IN_Q = Quantization(0.5, 128)
OUT_Q = Quantization(0.25, -3)


def integer_io_graph(path: Path) -> None:
    import onnx
    from onnx import TensorProto, helper

    nodes = [
        helper.make_node("DequantizeLinear", ["x_q", "in_scale", "in_zp"], ["x"]),
        helper.make_node("Mul", ["x", "two"], ["y"]),
        helper.make_node("QuantizeLinear", ["y", "out_scale", "out_zp"], ["y_q"]),
    ]
    inits = [
        helper.make_tensor("in_scale", TensorProto.FLOAT, [], [IN_Q.scale]),
        helper.make_tensor("in_zp", TensorProto.UINT8, [], [IN_Q.zero_point]),
        helper.make_tensor("two", TensorProto.FLOAT, [], [2.0]),
        helper.make_tensor("out_scale", TensorProto.FLOAT, [], [OUT_Q.scale]),
        helper.make_tensor("out_zp", TensorProto.INT8, [], [OUT_Q.zero_point]),
    ]
    graph = helper.make_graph(nodes, "integer_io", [helper.make_tensor_value_info("x_q", TensorProto.UINT8, [1, 2, 2, 3])],
                              [helper.make_tensor_value_info("y_q", TensorProto.INT8, [1, 2, 2, 3])], inits)
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path))


@pytest.fixture(scope="module")
def artifacts(tmp_path_factory):
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static

    d = tmp_path_factory.mktemp("onnx")
    torch.manual_seed(0)
    model = TinyAV().eval()
    args = tuple(torch.from_numpy(v) for v in sample(0).values())
    fp32 = d / "tiny-fp32.onnx"
    torch.onnx.export(model, args, str(fp32), input_names=["frame", "logmel"], output_names=["mask_logits"],
                      dynamo=True, external_data=False)
    write_manifest(fp32, "fp32", *model_specs())
    int8 = d / "tiny-int8.onnx"
    quantize_static(str(fp32), str(int8), Reader(range(100, 116)), quant_format=QuantFormat.QDQ, per_channel=True,
                    activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8, calibrate_method=CalibrationMethod.MinMax)
    write_manifest(int8, "int8", *model_specs())
    intio = d / "integer-io.onnx"
    integer_io_graph(intio)
    write_manifest(intio, "int8", [TensorSpec("frame", [1, 2, 2, 3], "uint8", "NHWC", IN_Q, artifact_name="x_q")],
                   [TensorSpec("mask_logits", [1, 2, 2, 3], "int8", "NHWC", OUT_Q, artifact_name="y_q")])
    return {"dir": d, "model": model, "fp32": fp32, "int8": int8, "intio": intio}


def copy_artifact(src: Path, dst_dir: Path) -> Path:
    dst = dst_dir / src.name
    dst.write_bytes(src.read_bytes())
    mname = src.name + ".manifest.json"
    (dst_dir / mname).write_text((src.parent / mname).read_text())
    return dst


def test_fp32_matches_torch(artifacts):
    rt = OnnxRuntime(artifacts["fp32"], threads=1)
    for seed in (1, 2, 3):
        x = sample(seed)
        y = rt.run(x)
        assert set(y) == {"mask_logits"} and y["mask_logits"].dtype == np.float32
        np.testing.assert_allclose(y["mask_logits"], torch_out(artifacts["model"], x), atol=1e-5, rtol=0)


def test_qdq_int8_is_close_to_torch(artifacts):
    rt = OnnxRuntime(artifacts["int8"], threads=1)
    for seed in (4, 5):
        x = sample(seed)
        ref = torch_out(artifacts["model"], x)
        y = rt.run(x)["mask_logits"]
        spread = float(ref.max() - ref.min())
        assert np.abs(y - ref).max() <= 0.05 * spread, (np.abs(y - ref).max(), spread)
        assert not np.allclose(y, ref, atol=1e-6)  # it really is the quantized graph


def test_integer_io_quantize_layout_dequantize_exact(artifacts):
    rt = OnnxRuntime(artifacts["intio"], threads=1)
    # Logical NCHW [1,3,2,2]; the artifact takes NHWC uint8 (scale 0.5, zp 128) and emits int8 (scale 0.25, zp -3).
    x = np.array([0.25, 0.75, -0.25, 1.25, 100.0, -100.0, 3.0, -3.1, 0.0, 10.0, 2.0, -0.75], np.float32).reshape(1, 3, 2, 2)
    # Input: round half away from zero of x/0.5 -> [1, 2, -1, 3, clip 255-128, clip -128, 6, -6, 0, 20, 4, -2]; + zp.
    q_in = np.array([1, 2, -1, 3, 127, -128, 6, -6, 0, 20, 4, -2], np.float64)
    x_seen = q_in * 0.5
    # Graph: y = 2 x, quantized by ORT (half-even) with scale 0.25, zp -3, clipped to int8, dequantized here.
    q_out = np.clip(np.rint(2 * x_seen / 0.25) - 3, -128, 127)
    expected = ((q_out + 3) * 0.25).reshape(1, 3, 2, 2).astype(np.float32)
    y = rt.run({"frame": x})["mask_logits"]
    assert y.shape == (1, 3, 2, 2) and y.dtype == np.float32
    np.testing.assert_array_equal(y, expected)


def test_tampered_artifact_is_refused(artifacts, tmp_path):
    art = copy_artifact(artifacts["fp32"], tmp_path)
    data = bytearray(art.read_bytes())
    data[len(data) // 2] ^= 0x01
    art.write_bytes(bytes(data))
    with pytest.raises(ManifestError, match="does not match its manifest") as err:
        OnnxRuntime(art)
    assert "\n" not in str(err.value)


def test_newer_schema_and_missing_manifest_are_refused(artifacts, tmp_path):
    art = copy_artifact(artifacts["fp32"], tmp_path)
    mpath = tmp_path / "tiny-fp32.onnx.manifest.json"
    raw = json.loads(mpath.read_text())
    raw["schema_version"] += 1
    mpath.write_text(json.dumps(raw))
    with pytest.raises(ManifestError, match="schema version"):
        OnnxRuntime(art)
    mpath.unlink()
    with pytest.raises(ManifestError, match="no manifest next to"):
        load_runtime(art)


def test_manifest_that_disagrees_with_the_graph_is_refused(artifacts, tmp_path):
    art = copy_artifact(artifacts["fp32"], tmp_path)
    mpath = tmp_path / "tiny-fp32.onnx.manifest.json"
    raw = json.loads(mpath.read_text())
    raw["inputs"][0]["shape"] = [1, 3, 64, 64]
    mpath.write_text(json.dumps(raw))
    with pytest.raises(ManifestError, match=r"'frame'.*\[1, 3, 32, 32\] in the artifact but \[1, 3, 64, 64\]"):
        OnnxRuntime(art)
    raw["inputs"][0]["shape"] = [1, 3, S, S]
    raw["inputs"][1]["name"] = "waveform"
    mpath.write_text(json.dumps(raw))
    with pytest.raises(ManifestError, match="inputs are"):
        OnnxRuntime(art)


def test_each_artifact_file_has_its_own_manifest(artifacts, tmp_path):
    # Same stem, other format: the manifest is named after the whole file name, so the two never share one.
    art = copy_artifact(artifacts["fp32"], tmp_path)
    other = tmp_path / "tiny-fp32.tflite"
    other.write_bytes(b"not this one")
    with pytest.raises(ManifestError, match="no manifest next to"):
        load_runtime(other)
    assert load_runtime(art, threads=1).info()["artifact"] == "tiny-fp32.onnx"


def test_manifest_describing_another_file_is_refused(artifacts, tmp_path):
    art = copy_artifact(artifacts["fp32"], tmp_path)
    renamed = tmp_path / "renamed.onnx"
    renamed.write_bytes(art.read_bytes())
    (tmp_path / "renamed.onnx.manifest.json").write_text((tmp_path / "tiny-fp32.onnx.manifest.json").read_text())
    with pytest.raises(ManifestError, match="describes tiny-fp32.onnx"):
        load_runtime(renamed)


def test_wrong_inputs_are_one_line_user_errors(artifacts):
    rt = OnnxRuntime(artifacts["fp32"], threads=1)
    x = sample(6)
    bad = dict(x, frame=x["frame"][:, :, :16])
    with pytest.raises(UserError, match=r"input 'frame' has shape \(1, 3, 16, 32\); expected \(1, 3, 32, 32\)"):
        rt.run(bad)
    with pytest.raises(UserError, match=r"missing \['logmel'\]"):
        rt.run({"frame": x["frame"]})
    with pytest.raises(UserError, match=r"unexpected \['audio'\]"):
        rt.run(dict(x, audio=x["logmel"]))
    with pytest.raises(UserError, match="input 'logmel' has dtype int32"):
        rt.run(dict(x, logmel=x["logmel"].astype(np.int32)))


def test_unknown_provider_runtime_and_threads(artifacts):
    with pytest.raises(UserError, match=r"provider 'nnapi' is not available.*cpu \(CPUExecutionProvider\)"):
        OnnxRuntime(artifacts["fp32"], provider="nnapi")
    with pytest.raises(UserError, match="unknown runtime 'tensorrt'; choose one of: auto, torch, onnxruntime, litert"):
        load_runtime(artifacts["fp32"], runtime="tensorrt")
    with pytest.raises(UserError, match="delegate 'gpu' is not reachable from Python for onnxruntime"):
        load_runtime(artifacts["fp32"], delegate="gpu")
    with pytest.raises(UserError, match="threads must be a positive integer"):
        OnnxRuntime(artifacts["fp32"], threads=0)


def test_info_reports_threads_and_provider(artifacts):
    info = load_runtime(artifacts["fp32"], threads=1).info()
    assert info["runtime"] == "onnxruntime" and info["version"]
    assert (info["provider"], info["providers"], info["threads"], info["inter_op_threads"]) == ("cpu", ["CPUExecutionProvider"], 1, 1)
    assert info["execution_mode"] == "sequential" and info["artifact_sha256"] == artifact_sha256(artifacts["fp32"])
    assert OnnxRuntime(artifacts["fp32"]).info()["threads"] == physical_cores()
    json.dumps(info)
    assert set(COMMON_INFO_KEYS) <= set(info)


def test_profiling_writes_per_node_trace(artifacts, tmp_path):
    rt = OnnxRuntime(artifacts["fp32"], threads=1, profile_dir=tmp_path / "prof")
    rt.run(sample(7))
    path = rt.end_profile()
    assert path.is_file() and path.parent == tmp_path / "prof"
    events = json.loads(path.read_text())
    assert any(e.get("cat") == "Node" and "Conv" in e.get("args", {}).get("op_name", "") for e in events)
    with pytest.raises(UserError, match="profiling is off"):
        rt.end_profile()
    with pytest.raises(UserError, match="profiling is off"):
        OnnxRuntime(artifacts["fp32"], threads=1).end_profile()


def test_predictor_loops_over_a_batch_of_one_artifact(artifacts):
    predict = runtime_predictor(OnnxRuntime(artifacts["fp32"], threads=1))
    assert predict.audio_input == "logmel" and predict.batch == 1
    xs = [sample(20 + i) for i in range(3)]
    out = predict(np.concatenate([x["frame"] for x in xs]), np.concatenate([x["logmel"] for x in xs]))
    assert out.shape == (3, 1, S, S)
    for i, x in enumerate(xs):
        np.testing.assert_allclose(out[i : i + 1], torch_out(artifacts["model"], x), atol=1e-5, rtol=0)


def test_onnxruntime_runs_without_importing_torch(artifacts):
    code = (
        "import sys, numpy as np\n"
        "from lightavseg_mobile.runtime import load_runtime\n"
        f"rt = load_runtime({str(artifacts['int8'])!r}, threads=1)\n"
        "y = rt.run({'frame': np.zeros((1, 3, 32, 32), np.float32), 'logmel': np.zeros((1, 1, 96, 64), np.float32)})\n"
        "assert y['mask_logits'].shape == (1, 1, 32, 32)\n"
        "assert 'torch' not in sys.modules, 'torch was imported'\n"
    )
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, res.stderr[-2000:]


def test_artifact_swapped_after_verification_does_not_run(artifacts, tmp_path, monkeypatch):
    # TOCTOU: the file is replaced (by another valid model with the same I/O) between the hash check and the
    # session creation. The session must run the bytes that were hashed, not whatever is on disk by then.
    import onnxruntime as ort

    art = copy_artifact(artifacts["fp32"], tmp_path)
    swapped_in = artifacts["int8"].read_bytes()
    real_session = ort.InferenceSession

    def swap_then_create(model, *args, **kwargs):
        art.write_bytes(swapped_in)
        return real_session(model, *args, **kwargs)

    monkeypatch.setattr(ort, "InferenceSession", swap_then_create)
    rt = OnnxRuntime(art, threads=1)
    monkeypatch.undo()
    assert art.read_bytes() == swapped_in  # the swap really happened
    x = sample(7)
    ref = torch_out(artifacts["model"], x)
    np.testing.assert_allclose(rt.run(x)["mask_logits"], ref, atol=1e-5, rtol=0)
    other = OnnxRuntime(artifacts["int8"], threads=1).run(x)["mask_logits"]
    assert np.abs(other - ref).max() > 1e-4  # the swapped-in model would have given other numbers


def test_profiling_still_works_from_verified_bytes(artifacts, tmp_path):
    rt = OnnxRuntime(artifacts["fp32"], threads=1, profile_dir=tmp_path / "prof")
    rt.run(sample(8))
    trace = rt.end_profile()
    assert trace.is_file() and (tmp_path / "prof" / "optimized.onnx").is_file()
    assert rt.info()["artifact_sha256"] == artifact_sha256(artifacts["fp32"])
