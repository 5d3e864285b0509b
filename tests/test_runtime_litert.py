"""LiteRT runtime on tiny artifacts built here: fp32 and PT2E int8, XNNPACK on and off, delegation counts."""

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
from lightavseg_mobile.runtime import load_runtime, runtime_predictor
from lightavseg_mobile.runtime.base import COMMON_INFO_KEYS
from lightavseg_mobile.runtime.litert_rt import LiteRTRuntime

S = 32


class TinyAV(nn.Module):
    """Frame conv modulated by a pooled log-mel embedding; `gate` adds a CUMSUM, an op XNNPACK does not take."""

    def __init__(self, gate: bool) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, padding=1)
        self.audio = nn.Linear(64, 8)
        self.head = nn.Conv2d(8, 1, 1)
        self.gate = gate

    def forward(self, frame: torch.Tensor, logmel: torch.Tensor) -> torch.Tensor:
        x = F.relu(self.conv(frame))
        a = self.audio(logmel.mean(dim=2)).reshape(-1, 8, 1, 1)
        a = a.cumsum(dim=1) if self.gate else a
        return self.head(x * a)


def sample(seed: int) -> dict[str, np.ndarray]:
    g = np.random.default_rng(seed)
    return {"frame": g.standard_normal((1, 3, S, S)).astype(np.float32),
            "logmel": g.standard_normal((1, 1, 96, 64)).astype(np.float32)}


def torch_out(model: nn.Module, x: dict[str, np.ndarray]) -> np.ndarray:
    with torch.no_grad():
        return model(torch.from_numpy(x["frame"]), torch.from_numpy(x["logmel"])).numpy()


def write_manifest(path: Path, precision: str, signature) -> Manifest:
    """A hand-written manifest whose I/O quantization is read off the artifact's signature (as an exporter would)."""
    ins, outs = signature.get_input_details(), signature.get_output_details()

    def spec(name: str, key: str, d: dict) -> TensorSpec:
        scale, zero = d["quantization"]
        quant = Quantization(float(scale), int(zero)) if scale else None
        return TensorSpec(name, [int(v) for v in d["shape"]], np.dtype(d["dtype"]).name, "NCHW", quant, artifact_name=key)

    man = Manifest(artifact_file=path.name, artifact_sha256=artifact_sha256(path), artifact_size=path.stat().st_size,
                   format="tflite", precision=precision, preset="test", module="model",
                   inputs=[spec("frame", "args_0", ins["args_0"]), spec("logmel", "args_1", ins["args_1"])],
                   outputs=[spec("mask_logits", "output_0", outs["output_0"])], preprocessing={})
    path.with_name(path.name + ".manifest.json").write_text(man.to_json())
    return man


def signature_of(path: Path):
    from ai_edge_litert import interpreter

    it = interpreter.Interpreter(model_path=str(path), experimental_op_resolver_type=interpreter.OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES)
    it.allocate_tensors()
    return it.get_signature_runner()


@pytest.fixture(scope="module")
def artifacts(tmp_path_factory):
    import litert_torch
    from litert_torch.quantize.pt2e_quantizer import PT2EQuantizer, get_symmetric_quantization_config
    from litert_torch.quantize.quant_config import QuantConfig
    from torchao.quantization.pt2e.quantize_pt2e import convert_pt2e, prepare_pt2e

    d = tmp_path_factory.mktemp("litert")
    torch.manual_seed(0)
    fp32_model = TinyAV(gate=True).eval()
    args = tuple(torch.from_numpy(v) for v in sample(0).values())
    fp32 = d / "tiny-fp32.tflite"
    litert_torch.convert(fp32_model, args).export(str(fp32))
    write_manifest(fp32, "fp32", signature_of(fp32))

    # Full-integer PT2E (field notes 3b.1: strict export, or the annotators match nothing).
    torch.manual_seed(1)
    int8_model = TinyAV(gate=False).eval()
    quantizer = PT2EQuantizer().set_global(get_symmetric_quantization_config(is_per_channel=True, is_dynamic=False))
    prepared = prepare_pt2e(torch.export.export(int8_model, args, strict=True).module(), quantizer)
    for seed in range(16):
        x = sample(100 + seed)
        prepared(torch.from_numpy(x["frame"]), torch.from_numpy(x["logmel"]))
    fake_quant = convert_pt2e(prepared, fold_quantize=False)
    int8 = d / "tiny-int8.tflite"
    litert_torch.convert(fake_quant, args, quant_config=QuantConfig(pt2e_quantizer=quantizer)).export(str(int8))
    write_manifest(int8, "int8", signature_of(int8))
    return {"dir": d, "fp32": fp32, "fp32_model": fp32_model, "int8": int8, "int8_model": int8_model, "fake_quant": fake_quant}


@pytest.mark.parametrize("delegate", ["xnnpack", "none"])
def test_fp32_matches_torch_with_and_without_xnnpack(artifacts, delegate):
    rt = LiteRTRuntime(artifacts["fp32"], threads=1, delegate=delegate)
    for seed in (1, 2):
        x = sample(seed)
        y = rt.run(x)
        assert set(y) == {"mask_logits"} and y["mask_logits"].dtype == np.float32
        np.testing.assert_allclose(y["mask_logits"], torch_out(artifacts["fp32_model"], x), atol=1e-5, rtol=0)


def test_info_reports_whether_xnnpack_was_applied_and_what_it_left(artifacts):
    on = LiteRTRuntime(artifacts["fp32"], threads=2, delegate="xnnpack").info()
    off = LiteRTRuntime(artifacts["fp32"], threads=1, delegate="none").info()
    assert on["runtime"] == "litert" and on["interpreter_package"] == "ai_edge_litert" and on["version"]
    assert (on["delegate"], on["delegate_requested"], on["threads"]) == ("xnnpack", "xnnpack", 2)
    assert (off["delegate"], off["delegate_requested"], off["threads"]) == ("none", "none", 1)
    assert on["ops_total"] == off["ops_total"] >= 6
    # CUMSUM is not an XNNPACK op: exactly it stays outside, and it splits the graph into two partitions.
    assert on["not_delegated_by_op"] == {"CUMSUM": 1}
    assert on["ops_not_delegated"] == 1 and on["delegate_partitions"] == 2
    assert off["ops_not_delegated"] == off["ops_total"] and off["delegate_partitions"] == 0
    json.dumps(on)  # info goes into reports as JSON
    assert set(COMMON_INFO_KEYS) <= set(on)
    assert set(COMMON_INFO_KEYS) <= set(off)


def test_int8_io_is_quantized_and_dequantized_from_the_manifest(artifacts):
    man = json.loads(artifacts["int8"].with_name("tiny-int8.tflite.manifest.json").read_text())
    frame_spec, out_spec = man["inputs"][0], man["outputs"][0]
    assert frame_spec["dtype"] == "int8" and out_spec["dtype"] == "int8"  # the test needs integer I/O to mean anything
    rt = LiteRTRuntime(artifacts["int8"], threads=1)
    assert rt.info()["delegate"] == "xnnpack"
    out_scale = out_spec["quantization"]["scale"]
    for seed in (3, 4):
        x = sample(seed)
        y = rt.run(x)["mask_logits"]
        fq = torch_out(artifacts["fake_quant"], x)
        ref = torch_out(artifacts["int8_model"], x)
        # Same integer math as the fake-quant model up to a couple of output steps; close to fp32 at int8 tolerance.
        assert np.abs(y - fq).max() <= 3 * out_scale
        assert np.abs(y - ref).max() <= 0.05 * (np.abs(ref).max() + 1e-6) + 3 * out_scale
        # Outputs sit on the int8 grid of the manifest's output quantization.
        steps = y / out_scale + out_spec["quantization"]["zero_point"]
        np.testing.assert_allclose(steps, np.round(steps), atol=1e-3)


def test_int8_with_xnnpack_off_gives_the_same_integers(artifacts):
    x = sample(5)
    on = LiteRTRuntime(artifacts["int8"], threads=1, delegate="xnnpack").run(x)["mask_logits"]
    off = LiteRTRuntime(artifacts["int8"], threads=1, delegate="none").run(x)["mask_logits"]
    scale = json.loads(artifacts["int8"].with_name("tiny-int8.tflite.manifest.json").read_text())["outputs"][0]["quantization"]["scale"]
    assert np.abs(on - off).max() <= scale + 1e-7  # XNNPACK and builtin int8 kernels may differ by one rounding step


def test_wrong_manifest_quantization_is_refused(artifacts, tmp_path):
    src = artifacts["int8"]
    art = tmp_path / src.name
    art.write_bytes(src.read_bytes())
    man = json.loads(src.with_name("tiny-int8.tflite.manifest.json").read_text())
    man["inputs"][0]["quantization"]["scale"] *= 2
    (tmp_path / "tiny-int8.tflite.manifest.json").write_text(json.dumps(man))
    with pytest.raises(ManifestError, match="frame.*quantized with scale"):
        LiteRTRuntime(art, threads=1)


def test_wrong_signature_name_in_manifest_is_refused(artifacts, tmp_path):
    src = artifacts["fp32"]
    art = tmp_path / src.name
    art.write_bytes(src.read_bytes())
    man = json.loads(src.with_name("tiny-fp32.tflite.manifest.json").read_text())
    man["outputs"][0]["artifact_name"] = "mask"
    (tmp_path / "tiny-fp32.tflite.manifest.json").write_text(json.dumps(man))
    with pytest.raises(ManifestError, match="output_0"):
        LiteRTRuntime(art, threads=1)


def test_tampered_tflite_is_refused(artifacts, tmp_path):
    src = artifacts["fp32"]
    data = bytearray(src.read_bytes())
    data[len(data) // 2] ^= 0x01
    (tmp_path / src.name).write_bytes(bytes(data))
    (tmp_path / "tiny-fp32.tflite.manifest.json").write_text(src.with_name("tiny-fp32.tflite.manifest.json").read_text())
    with pytest.raises(ManifestError, match="does not match its manifest"):
        LiteRTRuntime(tmp_path / src.name)


def test_wrong_shape_and_unknown_delegate_are_user_errors(artifacts):
    rt = LiteRTRuntime(artifacts["fp32"], threads=1)
    x = sample(6)
    x["logmel"] = x["logmel"][:, :, :94]
    with pytest.raises(UserError, match=r"input 'logmel' has shape \(1, 1, 94, 64\); expected \(1, 1, 96, 64\)"):
        rt.run(x)
    with pytest.raises(UserError, match="unknown LiteRT delegate 'gpu'.*xnnpack, none"):
        LiteRTRuntime(artifacts["fp32"], delegate="gpu")
    with pytest.raises(UserError, match="delegate 'gpu' is not reachable from Python for litert"):
        load_runtime(artifacts["fp32"], delegate="gpu")
    with pytest.raises(UserError, match="needs runtime 'litert'"):
        load_runtime(artifacts["fp32"], runtime="onnxruntime")


def test_load_runtime_auto_and_predictor_loop_over_the_batch(artifacts):
    rt = load_runtime(artifacts["fp32"], threads=1)
    assert isinstance(rt, LiteRTRuntime) and rt.info()["delegate"] == "xnnpack"
    assert load_runtime(artifacts["fp32"].with_name("tiny-fp32.tflite.manifest.json"), delegate="none").info()["delegate"] == "none"
    xs = [sample(10 + i) for i in range(3)]
    frames = np.concatenate([x["frame"] for x in xs])
    logmel = np.concatenate([x["logmel"] for x in xs])
    out = runtime_predictor(rt)(frames, logmel)
    assert out.shape == (3, 1, S, S)
    for i, x in enumerate(xs):
        np.testing.assert_allclose(out[i : i + 1], torch_out(artifacts["fp32_model"], x), atol=1e-5, rtol=0)


def test_litert_runs_without_importing_torch(artifacts):
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
    # TOCTOU: the file is replaced between the hash check and the interpreter's creation; the interpreter
    # must run the bytes that were hashed, not whatever is on disk by then.
    import ai_edge_litert.interpreter as litert

    src = artifacts["fp32"]
    art = tmp_path / src.name
    art.write_bytes(src.read_bytes())
    (tmp_path / "tiny-fp32.tflite.manifest.json").write_text(src.with_name("tiny-fp32.tflite.manifest.json").read_text())
    swapped_in = artifacts["int8"].read_bytes()
    real_interpreter = litert.Interpreter

    def swap_then_create(*args, **kwargs):
        art.write_bytes(swapped_in)
        return real_interpreter(*args, **kwargs)

    monkeypatch.setattr(litert, "Interpreter", swap_then_create)
    rt = LiteRTRuntime(art, threads=1)
    monkeypatch.undo()
    assert art.read_bytes() == swapped_in  # the swap really happened
    x = sample(7)
    np.testing.assert_allclose(rt.run(x)["mask_logits"], torch_out(artifacts["fp32_model"], x), atol=1e-5, rtol=0)
    info = rt.info()
    assert info["delegate"] == "xnnpack" and info["ops_not_delegated"] >= 1  # XNNPACK accounting unchanged
