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
from lightavseg_mobile.export import pipeline
from lightavseg_mobile.export.manifest import load_manifest
from lightavseg_mobile.export.onnx_export import export_onnx_fp32
from lightavseg_mobile.export.strip_check import alignment_check, count_params
from lightavseg_mobile.parity import Thresholds
from lightavseg_mobile.presets import create_model
from lightavseg_mobile.runtime import load_runtime


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


def test_failing_gate_goes_to_failed_and_exits_3(exported, tiny_ckpt, tmp_path, monkeypatch):
    def reuse(module, args, in_names, out_names, dest):
        # The conversion itself is tested above; here only the gate and the publishing matter.
        shutil.copy(exported / "lightavseg-tiny.fp32.onnx", dest)
        return {"opset": 18}

    monkeypatch.setattr(pipeline, "export_onnx_fp32", reuse)
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
    real_export = pipeline.export_onnx_fp32

    def reuse_whole(module, args, in_names, out_names, dest):
        if dest.name == "lightavseg-tiny.fp32.onnx":  # the whole model was converted above already
            shutil.copy(exported / dest.name, dest)
            return {"opset": 18}
        return real_export(module, args, in_names, out_names, dest)

    monkeypatch.setattr(pipeline, "export_onnx_fp32", reuse_whole)
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
