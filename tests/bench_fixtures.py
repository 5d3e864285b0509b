"""Small ONNX artifacts with real manifests, built in milliseconds with onnx.helper (no converter, no training)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from lightavseg_mobile.artifact.manifest import Manifest, TensorSpec, artifact_sha256, manifest_path

PRESET = "lightavseg-tiny"
S = 224


def _save(model, dest: Path, module: str, inputs: list[TensorSpec], outputs: list[TensorSpec], checkpoint: str | None) -> Path:
    import onnx

    onnx.checker.check_model(model)
    onnx.save(model, str(dest))
    man = Manifest(artifact_file=dest.name, artifact_sha256=artifact_sha256(dest), artifact_size=dest.stat().st_size,
                   format="onnx", precision="fp32", preset=PRESET, module=module, inputs=inputs, outputs=outputs,
                   preprocessing={}, export={"checkpoint": checkpoint} if checkpoint else {},
                   parity={"artifact": {"miou": 0.5, "f": 0.6}, "float": {"miou": 0.5, "f": 0.6},
                           "tensor": {"sqnr_db": 140.0}, "passed": True} if module == "model" else {})
    manifest_path(dest).write_text(man.to_json())
    return dest


def _graph(nodes, ins, outs, inits=()):
    import onnx
    from onnx import helper

    g = helper.make_graph(nodes, "g", ins, outs, initializer=list(inits))
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 18)], ir_version=9)


def _vi(name, shape):
    from onnx import TensorProto, helper

    return helper.make_tensor_value_info(name, TensorProto.FLOAT, shape)


def build_exports(out: Path, checkpoint: str | None = None, split: bool = True) -> Path:
    """`lightavseg-tiny.fp32.onnx` (frame + logmel -> mask_logits) plus its five split sub-models and names map."""
    from onnx import helper, numpy_helper

    out.mkdir(parents=True, exist_ok=True)
    w = numpy_helper.from_array(np.full((1, 3, 1, 1), 0.1, np.float32), "w")
    nodes = [helper.make_node("Conv", ["frame", "w"], ["v"], name="n_vis"),
             helper.make_node("GlobalAveragePool", ["logmel"], ["a"], name="n_aud"),
             helper.make_node("Add", ["v", "a"], ["s"], name="n_fuse"),
             helper.make_node("Sigmoid", ["s"], ["mask_logits"], name="n_head")]
    model = _graph(nodes, [_vi("frame", [1, 3, S, S]), _vi("logmel", [1, 1, 96, 64])], [_vi("mask_logits", [1, 1, S, S])], [w])
    ins = [TensorSpec("frame", [1, 3, S, S], "float32"), TensorSpec("logmel", [1, 1, 96, 64], "float32")]
    whole = _save(model, out / f"{PRESET}.fp32.onnx", "model", ins, [TensorSpec("mask_logits", [1, 1, S, S], "float32")], checkpoint)
    (out / f"{PRESET}.fp32.names.json").write_text(json.dumps(
        {"n_vis": "visual.stem.conv", "n_aud": "audio.pool", "n_fuse": "fusion_decoder.steps.0", "n_head": "seg_head.act"}))
    if split:
        for module, op in (("visual", "Relu"), ("audio", "Relu"), ("reciprocal_encoder", "Relu"), ("fusion_decoder", "Relu"),
                           ("seg_head", "Sigmoid")):
            shape = [1, 3, S, S] if module == "visual" else [1, 8, 28, 28]
            m = _graph([helper.make_node(op, ["x"], ["y"], name=f"{module}_op")], [_vi("x", shape)], [_vi("y", shape)])
            _save(m, out / f"{PRESET}.fp32.{module}.onnx", module, [TensorSpec("x", shape, "float32")],
                  [TensorSpec("y", shape, "float32")], checkpoint)
    return whole
