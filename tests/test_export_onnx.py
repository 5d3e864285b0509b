"""Real ONNX export of lightavseg-tiny: fp32 + int8 artifacts, manifests, alignment proof, parity through the runtime."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from lightavseg_mobile.errors import ParityError
from lightavseg_mobile.data import heldout
from lightavseg_mobile.export import onnx_export, pipeline
from lightavseg_mobile.artifact.manifest import load_manifest
from lightavseg_mobile.export.onnx_export import export_onnx_fp32
from lightavseg_mobile.export.strip_check import alignment_check, count_params
from lightavseg_mobile.parity import Thresholds
from lightavseg_mobile.presets import create_model
from lightavseg_mobile.runtime import load_runtime

pytestmark = pytest.mark.slow  # ONNX fp32 + int8 exports with the parity gate


@pytest.fixture(scope="module")
def small_recipe(tmp_path_factory) -> Path:
    # A user recipe file (exercises --recipe PATH); 10 calibration frames keep the test fast.
    p = tmp_path_factory.mktemp("recipe") / "quick.json"
    p.write_text(json.dumps({"name": "quick-minmax", "backend": "ort-static", "scheme": "w8a8",
                             "calibration": {"method": "minmax", "max_frames": 10}, "activation_dtype": "uint8"}))
    return p


@pytest.fixture(scope="module")
def exported(tiny_ckpt, small_recipe, tmp_path_factory) -> Path:
    """One real export (fp32 + int8 from a recipe file) shared by the tests below."""
    out = tmp_path_factory.mktemp("run") / "exports"
    req = pipeline.ExportRequest(checkpoint=tiny_ckpt, formats=("onnx",), recipes=(str(small_recipe),), out=out,
                                 max_heldout_clips=1)
    summary = pipeline.run_export(req, progress=lambda s, m: None)
    pipeline.check_parity(summary)
    return out


def test_onnx_fp32_and_int8_published_with_manifests(exported, tiny_ckpt):
    out = exported
    files = sorted(p.name for p in out.iterdir())
    # X.names.json: ONNX node -> torch module path, published for per-module profiling.
    assert files == ["lightavseg-tiny.fp32.names.json", "lightavseg-tiny.fp32.onnx", "lightavseg-tiny.fp32.onnx.manifest.json",
                     "lightavseg-tiny.quick-minmax.onnx", "lightavseg-tiny.quick-minmax.onnx.manifest.json"]
    names = json.loads((out / "lightavseg-tiny.fp32.names.json").read_text())
    assert names and {v.split(".")[0] for v in names.values()} >= {"visual", "audio", "fusion_decoder", "seg_head"}
    fp32, _ = load_manifest(out / "lightavseg-tiny.fp32.onnx")
    int8, _ = load_manifest(out / "lightavseg-tiny.quick-minmax.onnx")
    net = create_model("lightavseg-tiny").for_inference()
    for man in (fp32, int8):
        assert man.status == "published" and man.preset == "lightavseg-tiny" and man.module == "model"
        assert [s.name for s in man.inputs] == ["frame", "logmel"] and man.outputs[0].name == "mask_logits"
        assert man.inputs[0].shape == [1, 3, 224, 224] and man.outputs[0].shape == [1, 1, 224, 224]
        assert man.alignment_check["passed"] and man.alignment_check["forbidden_name_hits"] == []
        assert man.params == count_params(net) < man.alignment_check["training_model_params"]
        assert man.format_details["opset"] == 18 and man.tools["onnxruntime"]
        assert man.preprocessing["image"]["mean"] == [0.485, 0.456, 0.406] and man.preprocessing["audio"]["num_mel_bins"] == 64
        assert man.parity["passed"] and man.parity["frames"] == 5 and man.parity["runtime"]["runtime"] == "onnxruntime"
        assert man.export["duration_s"] > 0
    assert fp32.precision == "fp32" and fp32.parity["tensor"]["max_abs"] <= 1e-4
    assert int8.precision == "int8" and int8.recipe["calibration"]["max_frames"] == 10
    assert int8.artifact_size < 0.35 * fp32.artifact_size
    # The published artifact runs in the deploying runtime and matches torch.
    rt = load_runtime(out / "lightavseg-tiny.fp32.onnx")
    x = np.random.default_rng(0).standard_normal((1, 3, 224, 224)).astype(np.float32)
    lm = np.random.default_rng(1).standard_normal((1, 1, 96, 64)).astype(np.float32)
    with torch.no_grad():
        m = create_model("lightavseg-tiny")
        m.load_state_dict(torch.load(tiny_ckpt, weights_only=True)["state_dict"])
        want = m.for_inference()(torch.from_numpy(x), torch.from_numpy(lm)).numpy()
    got = rt.run({"frame": x, "logmel": lm})["mask_logits"]
    assert np.max(np.abs(got - want)) < 1e-4


def _activation_scales(path: Path) -> dict[str, float]:
    """Scalar `*_scale` initializers of a QDQ model: one per quantized activation (weights have per-channel vectors)."""
    import onnx
    from onnx import numpy_helper

    return {i.name: float(numpy_helper.to_array(i)) for i in onnx.load(str(path)).graph.initializer
            if i.name.endswith("_scale") and not i.dims}


def test_ort_calibration_methods_and_keep_float(exported, tmp_path):
    from lightavseg_mobile.export.onnx_export import nodes_of_modules, quantize_onnx
    from lightavseg_mobile.export.recipes import parse_recipe
    from lightavseg_mobile.presets import get_preset

    p = get_preset("lightavseg-tiny")
    clips = heldout.load_clips(heldout.DEFAULT_HELDOUT, heldout.CALIBRATION_SPLIT, 224, p.mean, p.std, "logmel", 2)
    # Real calibration clips: their activations have the long tails percentile is there to cut.
    feeds = [{"frame": c.frames[i:i + 1], "logmel": c.audio[i:i + 1]} for c in clips for i in range(2)]
    fp32 = exported / "lightavseg-tiny.fp32.onnx"

    def quantize(name: str, method: str, **extra) -> Path:
        recipe = parse_recipe({"name": name, "backend": "ort-static", "scheme": "w8a8", "activation_dtype": "uint8",
                               "calibration": {"method": method, "max_frames": len(feeds),
                                               **({"percentile": 99.9} if method == "percentile" else {})}, **extra})
        dest = tmp_path / f"{name}.onnx"
        quantize_onnx(fp32, dest, recipe, feeds)
        return dest

    scales = {m: _activation_scales(quantize(m, m)) for m in ("minmax", "percentile")}
    common = set(scales["minmax"]) & set(scales["percentile"])
    assert len(common) > 50
    # Percentile keeps every range inside min/max and cuts the long-tailed ones (over a third here: 136 of 356 on
    # the tiny model's 4 frames).
    assert all(scales["percentile"][k] <= scales["minmax"][k] * (1 + 1e-6) for k in common)
    assert sum(scales["percentile"][k] < 0.99 * scales["minmax"][k] for k in common) > len(common) // 4

    import onnx

    names = json.loads((exported / "lightavseg-tiny.fp32.names.json").read_text())
    head = set(nodes_of_modules(names, ["seg_head"]))
    assert head

    def quantized_in_head(path: Path) -> int:
        """Head nodes reading an int8 weight, plus quantize ops on a head node's output (0 = the head runs in float)."""
        g = onnx.load(str(path)).graph
        producer = {o: n for n in g.node for o in n.output}
        inits = {i.name for i in g.initializer}
        weights = sum(producer[i].op_type == "DequantizeLinear" and producer[i].input[0] in inits
                      for n in g.node if n.name in head for i in n.input if i in producer)
        outputs = sum(n.op_type == "QuantizeLinear" and n.input[0] in producer and producer[n.input[0]].name in head
                      for n in g.node)
        return weights + outputs

    # keep_float leaves the segmentation head in fp32 (it still reads the decoder's dequantized output at its
    # boundary); without it, its weights and outputs are quantized.
    assert quantized_in_head(quantize("keep", "minmax", keep_float=["seg_head"])) == 0
    assert quantized_in_head(tmp_path / "minmax.onnx") > 0


def test_entropy_calibration_gives_kl_ranges_not_minmax(tmp_path):
    # ORT's quantize_static Entropy silently equals MinMax (128 bins for 128 levels); ours must not. A two-conv
    # model fed heavy-tailed inputs: the KL ranges cut the rare outliers that set MinMax's ranges.
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    from lightavseg_mobile.export.onnx_export import quantize_onnx
    from lightavseg_mobile.export.recipes import parse_recipe

    rng = np.random.default_rng(0)
    w1 = numpy_helper.from_array(rng.standard_normal((8, 3, 3, 3)).astype(np.float32), "w1")
    w2 = numpy_helper.from_array(rng.standard_normal((4, 8, 1, 1)).astype(np.float32), "w2")
    nodes = [helper.make_node("Conv", ["x", "w1"], ["c1"], pads=[1, 1, 1, 1]), helper.make_node("Relu", ["c1"], ["r1"]),
             helper.make_node("Conv", ["r1", "w2"], ["y"])]
    graph = helper.make_graph(nodes, "two_conv", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 16, 16])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4, 16, 16])], initializer=[w1, w2])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    model.ir_version = 9
    fp32 = tmp_path / "two_conv.onnx"
    onnx.save(model, fp32)
    feeds = [{"x": rng.standard_t(2, (1, 3, 16, 16)).astype(np.float32)} for _ in range(8)]
    scales = {}
    for method in ("minmax", "entropy"):
        recipe = parse_recipe({"name": method, "backend": "ort-static", "scheme": "w8a8", "activation_dtype": "uint8",
                               "calibration": {"method": method, "max_frames": len(feeds)}})
        dest = tmp_path / f"{method}.onnx"
        quantize_onnx(fp32, dest, recipe, feeds)
        scales[method] = _activation_scales(dest)
        assert np.isfinite(load_ort_output(dest, feeds[0])).all()
    assert set(scales["entropy"]) == set(scales["minmax"]) and len(scales["minmax"]) >= 3
    assert all(scales["entropy"][k] < 0.9 * scales["minmax"][k] for k in scales["minmax"]), scales


def load_ort_output(path: Path, feed: dict[str, np.ndarray]) -> np.ndarray:
    """First output of an ONNX file run by ONNX Runtime on the CPU."""
    import onnxruntime as ort

    return ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(None, feed)[0]


def test_failing_gate_goes_to_failed_and_exits_3(exported, tiny_ckpt, tmp_path, monkeypatch):
    def reuse(module, args, in_names, out_names, dest):
        # The conversion itself is tested above; here only the gate and the publishing matter.
        shutil.copy(exported / "lightavseg-tiny.fp32.onnx", dest)
        return {"opset": 18}

    monkeypatch.setattr(onnx_export, "export_onnx_fp32", reuse)
    out = tmp_path / "exports"
    strict = Thresholds(fp32_max_abs=0.0, fp32_rel=0.0)  # no fp32 runtime is bit-exact with torch
    req = pipeline.ExportRequest(checkpoint=tiny_ckpt, formats=("onnx",), out=out, max_heldout_clips=1, thresholds=strict)
    summary = pipeline.run_export(req, progress=lambda s, m: None)
    with pytest.raises(ParityError) as exc:
        pipeline.check_parity(summary)
    assert exc.value.exit_code == 3 and "lightavseg-tiny.fp32.onnx" in str(exc.value)
    assert sorted(p.name for p in out.iterdir()) == ["failed"]
    man, _ = load_manifest(out / "failed" / "lightavseg-tiny.fp32.onnx")
    assert man.status == "failed-parity" and not man.parity["passed"]
    # --allow-parity-failure publishes it, marked failed.
    req.allow_parity_failure = True
    req.out = tmp_path / "allowed"
    summary = pipeline.run_export(req, progress=lambda s, m: None)
    pipeline.check_parity(summary, allow_failure=True)
    man, _ = load_manifest(tmp_path / "allowed" / "lightavseg-tiny.fp32.onnx")
    assert man.status == "failed-parity"


def test_failing_int8_gate_names_the_module_that_lost_most(exported, tiny_ckpt, small_recipe, tmp_path, monkeypatch):
    # A gate no int8 artifact can pass (mIoU must *rise* by 100 points) forces the diagnosis path: the int8
    # sub-models are built with the whole model's quantization settings and their SQNR names the culprit.
    real_export = onnx_export.export_onnx_fp32

    def reuse_whole(module, args, in_names, out_names, dest):
        if dest.name == "lightavseg-tiny.fp32.onnx":  # the whole model was converted above already
            shutil.copy(exported / dest.name, dest)
            return {"opset": 18}
        return real_export(module, args, in_names, out_names, dest)

    monkeypatch.setattr(onnx_export, "export_onnx_fp32", reuse_whole)
    out = tmp_path / "exports"
    req = pipeline.ExportRequest(checkpoint=tiny_ckpt, formats=("onnx",), recipes=(str(small_recipe),), out=out,
                                 max_heldout_clips=1, thresholds=Thresholds(int8_miou_drop=-1.0))
    summary = pipeline.run_export(req, progress=lambda s, m: None)
    with pytest.raises(ParityError) as exc:
        pipeline.check_parity(summary)
    man, _ = load_manifest(out / "failed" / "lightavseg-tiny.quick-minmax.onnx")
    per_module = man.parity["per_module_sqnr_db"]
    assert set(per_module) == {"visual", "audio", "reciprocal_encoder", "fusion_decoder", "seg_head"}
    assert all(isinstance(v, float) for v in per_module.values()), per_module
    worst = min(per_module, key=per_module.get)
    assert man.parity["worst_module"] == worst and man.status == "failed-parity"
    assert exc.value.exit_code == 3 and f"module with the lowest SQNR: {worst}" in str(exc.value)
    # Diagnosis sub-models are not published (no --split-modules); the fp32 artifact passed and is.
    assert sorted(p.name for p in out.iterdir() if p.suffix == ".onnx") == ["lightavseg-tiny.fp32.onnx"]


class _WithAlignment(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.seg_head = nn.Conv2d(3, 1, 1)
        self.alignment = nn.Conv2d(3, 1, 1)

    def forward(self, x):
        return self.seg_head(x) + self.alignment(x)


def test_alignment_check_catches_a_leaked_branch(tmp_path):
    m = _WithAlignment().eval()
    path = tmp_path / "leak.onnx"
    export_onnx_fp32(m, (torch.zeros(1, 3, 8, 8),), ["x"], ["y"], path)
    check = alignment_check(path, "onnx", m, expected_params=count_params(m.seg_head), training_params=count_params(m))
    assert not check["passed"]
    assert check["exported_graph_params"] != check["inference_module_params"]
