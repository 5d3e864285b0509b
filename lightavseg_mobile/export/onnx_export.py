"""ONNX export: dynamo torch.onnx.export to one self-contained file, full check, simplification, ORT static QDQ int8."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

from ..console import library_output
from .backends import Samples, Source
from .errors import ConverterError, first_line
from .recipes import Recipe

OPSET = 18
_OWN_BUG_TYPES = (TypeError, AttributeError, NameError)
_PACKAGE_DIR = str(Path(__file__).resolve().parents[1])
__all__ = ["ConverterError", "OPSET", "export_onnx_fp32", "node_module_map", "nodes_of_modules", "entropy_ranges",
           "quantize_onnx", "quantize_source"]


def reraise_own_bug(exc: BaseException) -> None:
    """Re-raise `exc` as is when it is a TypeError/AttributeError/NameError whose innermost frame is this package's
    code: that is a bug of ours and needs its traceback, not a converter's one-line verdict."""
    if not isinstance(exc, _OWN_BUG_TYPES):
        return
    tb = exc.__traceback__
    while tb is not None and tb.tb_next is not None:
        tb = tb.tb_next
    if tb is not None and tb.tb_frame.f_code.co_filename.startswith(_PACKAGE_DIR):
        raise exc


def export_onnx_fp32(module: torch.nn.Module, args: tuple[torch.Tensor, ...], input_names: Sequence[str],
                     output_names: Sequence[str], dest: Path) -> dict:
    """Export `module` to `dest` (fp32, opset OPSET, weights inside), check and simplify; returns format details.

    Also writes `dest.with_suffix('.names.json')`: ONNX node name -> torch module path, read from the raw
    export before simplification strips the metadata (field notes 3b.6).
    """
    import onnx

    raw = dest.with_suffix(".raw.onnx")
    try:
        with library_output():
            torch.onnx.export(module, args, str(raw), input_names=list(input_names), output_names=list(output_names),
                              opset_version=OPSET, dynamo=True, external_data=False, verbose=False)
    except Exception as exc:  # the exporter raises many types; the user gets one line (--debug: the chained cause)
        reraise_own_bug(exc)
        raise ConverterError(f"torch.onnx.export rejected the model: {type(exc).__name__}: {first_line(exc)}") from exc
    model = onnx.load(str(raw))
    names = node_module_map(model)
    simplified, simplifier, simplifier_errors = _simplify(model)
    try:
        onnx.checker.check_model(simplified, full_check=True)
    except Exception as exc:
        reraise_own_bug(exc)
        raise ConverterError(f"onnx.checker rejected the exported model: {first_line(exc)}") from exc
    onnx.save(simplified, str(dest))
    raw.unlink(missing_ok=True)
    dest.with_suffix(".names.json").write_text(json.dumps(names, indent=0, sort_keys=True))
    return {"opset": OPSET, "ir_version": int(simplified.ir_version), "exporter": "torch.onnx.export(dynamo=True)",
            "simplifier": simplifier, "nodes": len(simplified.graph.node),
            **({"simplifier_errors": simplifier_errors} if simplifier_errors else {})}



def node_module_map(model) -> dict[str, str]:
    """ONNX node name -> path of the innermost torch module that produced it (from `pkg.torch.onnx.name_scopes`)."""
    import ast

    out: dict[str, str] = {}
    for node in model.graph.node:
        for prop in node.metadata_props:
            if prop.key == "pkg.torch.onnx.name_scopes":
                try:
                    scopes = [s for s in ast.literal_eval(prop.value) if s]
                except (ValueError, SyntaxError):
                    continue
                # The last scope is the op itself; the one before it is the innermost module.
                out[node.name] = scopes[-2] if len(scopes) >= 2 else ""
    return out


def _simplify(model) -> tuple[object, str, list[str]]:
    """onnxsim first, onnxslim as fallback, the unsimplified model if both fail; returns (model, simplifier, errors).

    A simplifier failure is not fatal (the model is still valid) but is recorded: the manifest's format details say
    which simplifier ran and why the others did not, instead of silently shipping an unsimplified graph."""
    errors: list[str] = []
    try:
        import onnxsim

        with library_output():
            simplified, ok = onnxsim.simplify(model)
        if ok:
            return simplified, "onnxsim", errors
        errors.append("onnxsim: its check of the simplified model failed")
    except Exception as exc:  # noqa: BLE001 - any simplifier failure falls back, and is recorded
        reraise_own_bug(exc)
        errors.append(f"onnxsim: {type(exc).__name__}: {first_line(exc)}")
    try:
        import onnxslim

        with library_output():
            return onnxslim.slim(model), "onnxslim", errors
    except Exception as exc:  # noqa: BLE001 - as above
        reraise_own_bug(exc)
        errors.append(f"onnxslim: {type(exc).__name__}: {first_line(exc)}")
        return model, "none", errors


def nodes_of_modules(names: dict[str, str], modules: Iterable[str]) -> list[str]:
    """ONNX node names whose torch module path starts with any top-level module in `modules`."""
    mods = tuple(modules)
    # The waveform graph nests the network under `net.` (its log-mel front end is `frontend.`).
    top = {n: (p[4:] if p.startswith("net.") else p).split(".")[0] for n, p in names.items()}
    return sorted(n for n, t in top.items() if t in mods)


def entropy_ranges(model_path: Path, feeds: list[dict[str, np.ndarray]], num_bins: int = 512,
                   num_quantized_bins: int = 128) -> dict[str, tuple[float, float]]:
    """Per-activation (min, max) that minimise the KL divergence of a `num_quantized_bins` histogram (ORT's calibrator).

    512 bins, not the 2048 of TensorRT's recipe: ORT's KL search is a Python loop over (bins / 2 - 64) candidate
    ranges per tensor, and 2048 bins took 5 min 41 s on lightavseg-tiny with 4 frames (host x86).
    """
    import tempfile

    from onnxruntime.quantization.calibrate import CalibrationMethod, create_calibrator

    with tempfile.TemporaryDirectory(prefix="lavseg-entropy-") as tmp:
        try:
            with library_output():
                calib = create_calibrator(Path(model_path), None, augmented_model_path=str(Path(tmp) / "augmented.onnx"),
                                          calibrate_method=CalibrationMethod.Entropy,
                                          extra_options={"num_bins": num_bins, "num_quantized_bins": num_quantized_bins})
                calib.collect_data(_Reader(feeds))
                data = calib.compute_data()
        except Exception as exc:
            reraise_own_bug(exc)
            raise ConverterError(f"onnxruntime entropy calibration failed: {type(exc).__name__}: {first_line(exc)}") from exc
        del calib
    return {name: (float(np.asarray(v.range_value[0]).ravel()[0]), float(np.asarray(v.range_value[1]).ravel()[0]))
            for name, v in data.data.items()}


class _Reader:
    """ORT CalibrationDataReader over a list of {input_name: array} feeds."""

    def __init__(self, feeds: list[dict[str, np.ndarray]]) -> None:
        self._it = iter(feeds)

    def get_next(self):
        return next(self._it, None)

    def rewind(self) -> None:  # pragma: no cover - ORT only calls it for some methods
        pass



def quantize_onnx(fp32_path: Path, dest: Path, recipe: Recipe, feeds: list[dict[str, np.ndarray]]) -> dict:
    """ORT static QDQ quantization of an fp32 ONNX file after quant_pre_process; returns format details."""
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    pre = dest.with_suffix(".pre.onnx")
    try:
        with library_output():
            quant_pre_process(str(fp32_path), str(pre), skip_symbolic_shape=True)
    except Exception as exc:
        reraise_own_bug(exc)
        raise ConverterError(f"onnxruntime quant_pre_process failed: {type(exc).__name__}: {first_line(exc)}") from exc
    names_file = fp32_path.with_suffix(".names.json")
    names = json.loads(names_file.read_text()) if names_file.is_file() else {}
    exclude = nodes_of_modules(names, recipe.keep_float) if recipe.keep_float else []
    method = {"minmax": CalibrationMethod.MinMax, "percentile": CalibrationMethod.Percentile,
              "entropy": CalibrationMethod.MinMax}[recipe.calibration.method]
    extra: dict = {}
    if recipe.calibration.method == "percentile":
        extra["CalibPercentile"] = recipe.calibration.percentile
    elif recipe.calibration.method == "entropy":
        # quantize_static's own Entropy runs with 128 histogram bins for 128 quantized bins, where the KL search
        # has one candidate, the full range: measured identical to MinMax on all 495 tensors of lightavseg-tiny.
        # It passes no bin counts through, so the entropy ranges are computed here and handed in as overrides.
        extra["TensorQuantOverrides"] = {name: [{"rmin": np.float32(lo), "rmax": np.float32(hi)}]
                                         for name, (lo, hi) in entropy_ranges(pre, feeds).items()}
    act = QuantType.QUInt8 if recipe.activation_dtype == "uint8" else QuantType.QInt8
    try:
        with library_output():
            quantize_static(str(pre), str(dest), _Reader(feeds), quant_format=QuantFormat.QDQ,
                            per_channel=recipe.per_channel, activation_type=act, weight_type=QuantType.QInt8,
                            calibrate_method=method, nodes_to_exclude=exclude, extra_options=extra)
    except Exception as exc:
        reraise_own_bug(exc)
        raise ConverterError(f"onnxruntime quantize_static failed: {type(exc).__name__}: {first_line(exc)}") from exc
    finally:
        pre.unlink(missing_ok=True)
        for leftover in dest.parent.glob("augmented_model*.onnx"):
            leftover.unlink(missing_ok=True)
    import onnx

    model = onnx.load(str(dest))
    return {"opset": OPSET, "ir_version": int(model.ir_version), "quantizer": "onnxruntime.quantize_static QDQ",
            "excluded_nodes": len(exclude), "nodes": len(model.graph.node)}


def quantize_source(source: Source, dest: Path, recipe: Recipe, calibration: Samples) -> dict:
    """The `ort-static` backend entry: `quantize_onnx` of the fp32 artifact, leaving `source.fp32_modules` in fp32."""
    if tuple(recipe.keep_float) != source.fp32_modules:
        recipe = replace(recipe, keep_float=source.fp32_modules)
    return quantize_onnx(source.fp32_path, dest, recipe, [dict(s) for s in calibration])
