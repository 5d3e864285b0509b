"""Proof that the training-only alignment branch is not in an artifact: names, metadata and parameter counts."""

from __future__ import annotations

from pathlib import Path

from torch import nn

from ..model import TRAINING_ONLY_MODULES

FORBIDDEN = TRAINING_ONLY_MODULES  # ("alignment",)


def _hits(names: list[str]) -> list[str]:
    return sorted({n for n in names if any(f in n.lower() for f in FORBIDDEN)})


def onnx_names(path: Path) -> list[str]:
    """Every initializer, node name, tensor name and metadata value of an ONNX file."""
    import onnx

    model = onnx.load(str(path))
    g = model.graph
    names = [i.name for i in g.initializer]
    for node in g.node:
        names.append(node.name)
        names.extend(node.input)
        names.extend(node.output)
        names.extend(p.value for p in node.metadata_props)
    names.extend(p.value for p in model.metadata_props)
    return names


def tflite_names(path: Path) -> list[str]:
    """Every tensor name of a .tflite (litert-torch names tensors after their torch module path)."""
    from ai_edge_litert.interpreter import Interpreter

    interp = Interpreter(model_path=str(path), num_threads=1)
    return [d["name"] for d in interp.get_tensor_details()]


def count_params(module: nn.Module) -> int:
    """Number of parameter elements (shared parameters counted once)."""
    return sum(p.numel() for p in module.parameters())


def alignment_check(artifact: Path, fmt: str, exported: nn.Module, expected_params: int, training_params: int) -> dict:
    """Names in the artifact mention no training-only module, and the exported graph holds exactly the inference weights.

    `expected_params`: the inference module's (or sub-model's) parameter count; `training_params`: the full
    training model's, recorded for contrast.
    """
    names = onnx_names(artifact) if fmt == "onnx" else tflite_names(artifact)
    hits = _hits(names)
    graph_params = count_params(exported)
    ok = not hits and graph_params == expected_params
    return {
        "passed": ok,
        "forbidden_modules": list(FORBIDDEN),
        "names_scanned": len(names),
        "forbidden_name_hits": hits[:10],
        "exported_graph_params": graph_params,
        "inference_module_params": expected_params,
        "training_model_params": training_params,
        "method": "artifact initializer/tensor/node names and module-path metadata scanned for training-only module "
                  "names; parameter count of the exported torch graph equals the inference module's",
    }
