"""TFLite export: fp32 via litert-torch, full-int8 via PT2E, and ai-edge-quantizer recipes on the fp32 file."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from ..console import library_output
from ..model import graphs as graph
from .backends import Samples, Source
from .errors import ConverterError, first_line
from .onnx_export import reraise_own_bug
from .recipes import Recipe

SIGNATURE = "serving_default"


def export_tflite_fp32(module: torch.nn.Module, args: tuple[torch.Tensor, ...], dest: Path) -> dict:
    """Convert `module` with litert-torch to an fp32 .tflite at `dest`; returns format details."""
    import litert_torch

    try:
        with library_output():
            edge = litert_torch.convert(module.eval(), args)
            edge.export(str(dest))
    except Exception as exc:
        reraise_own_bug(exc)  # our TypeError keeps its traceback; a converter's failure is one line (--debug: cause)
        raise ConverterError(f"litert-torch rejected the model: {type(exc).__name__}: {first_line(exc)}") from exc
    return {"converter": "litert_torch.convert", "signature": SIGNATURE, **_schema(dest)}


def export_tflite_pt2e(module: torch.nn.Module, args: tuple[torch.Tensor, ...], dest: Path, recipe: Recipe,
                       calibration: list[tuple[torch.Tensor, ...]]) -> dict:
    """Full-integer TFLite via PT2E: strict torch.export, PT2EQuantizer, calibrate, convert; int8 I/O.

    strict=True is required: non-strict export leaves no source_fn_stack metadata, the quantizer's
    add/mul/cat/pool annotators then match nothing and the TFLite is silently wrong (field notes 3b.1).
    """
    import litert_torch
    from litert_torch.quantize.pt2e_quantizer import PT2EQuantizer, get_symmetric_quantization_config
    from litert_torch.quantize.quant_config import QuantConfig
    from torchao.quantization.pt2e.quantize_pt2e import convert_pt2e, prepare_pt2e

    try:
        with library_output():
            program = torch.export.export(module.eval(), args, strict=True)
            quantizer = PT2EQuantizer().set_global(get_symmetric_quantization_config(is_per_channel=recipe.per_channel))
            prepared = prepare_pt2e(graph.conv_weight_buffers_as_parameters(program.module()), quantizer)
            with torch.no_grad():
                for sample in calibration:
                    prepared(*sample)
            converted = convert_pt2e(prepared, fold_quantize=False)
            # An exported graph module refuses .eval() ("not supported yet") and reports training=True, so
            # litert-torch warns "converted in training mode". The graph was traced from an eval-mode module
            # (dropout/batch norm already in their eval form): only the flag is wrong, so set it directly.
            torch.nn.Module.train(converted, False)
            edge = litert_torch.convert(converted, args, quant_config=QuantConfig(pt2e_quantizer=quantizer))
            edge.export(str(dest))
    except ConverterError:
        raise
    except Exception as exc:
        reraise_own_bug(exc)  # our TypeError keeps its traceback; a converter's failure is one line (--debug: cause)
        raise ConverterError(f"PT2E int8 conversion failed: {type(exc).__name__}: {first_line(exc)}") from exc
    return {"converter": "torch.export(strict=True) + torchao prepare/convert_pt2e + litert_torch PT2EQuantizer",
            "signature": SIGNATURE, "calibration_frames": len(calibration), **_schema(dest)}


def quantize_tflite_aiq(fp32_path: Path, dest: Path, recipe: Recipe, feeds: list[dict[str, np.ndarray]]) -> dict:
    """Apply an ai-edge-quantizer recipe to an fp32 .tflite; `feeds` use the signature's input names."""
    from ai_edge_quantizer import quantizer as aiq
    from ai_edge_quantizer import recipe as aiq_recipe

    build = {"static_wi8_ai8": aiq_recipe.static_wi8_ai8, "dynamic_wi8_afp32": aiq_recipe.dynamic_wi8_afp32,
             "weight_only_wi8_afp32": aiq_recipe.weight_only_wi8_afp32}[recipe.scheme]
    try:
        with library_output():
            q = aiq.Quantizer(str(fp32_path), build())
            calib = q.calibrate({SIGNATURE: feeds}, num_threads=1) if q.need_calibration else None
            result = q.quantize(calib, enable_progress_report=False)
    except Exception as exc:
        reraise_own_bug(exc)  # our TypeError keeps its traceback; a converter's failure is one line (--debug: cause)
        raise ConverterError(f"ai-edge-quantizer {recipe.scheme} failed: {type(exc).__name__}: {first_line(exc)}") from exc
    dest.write_bytes(bytes(result.quantized_model))
    return {"converter": f"ai-edge-quantizer {recipe.scheme}", "signature": SIGNATURE,
            "calibration_frames": len(feeds) if calib is not None else 0, **_schema(dest)}


def _schema(path: Path) -> dict:
    """TFLite schema version of a flatbuffer (the file identifier 'TFL3' is schema 3)."""
    head = Path(path).read_bytes()[:8]
    ident = head[4:8].decode("ascii", "replace")
    return {"tflite_schema": 3 if ident == "TFL3" else ident, "file_identifier": ident}


def signature_io(path: Path) -> tuple[list[dict], list[dict]]:
    """Signature inputs and outputs of a .tflite: name, shape, dtype, quantization (scale, zero_point) or None."""
    from ai_edge_litert.interpreter import Interpreter

    interp = Interpreter(model_path=str(path), num_threads=1)
    runner = interp.get_signature_runner(SIGNATURE)

    def rows(details: dict) -> list[dict]:
        out = []
        for name, d in details.items():
            scale, zp = d.get("quantization", (0.0, 0))
            quant = {"scale": float(scale), "zero_point": int(zp)} if scale else None
            out.append({"name": name, "shape": [int(x) for x in d["shape"]], "dtype": np.dtype(d["dtype"]).name,
                        "quantization": quant})
        return out

    return rows(runner.get_input_details()), rows(runner.get_output_details())


def pt2e_source(source: Source, dest: Path, recipe: Recipe, calibration: Samples) -> dict:
    """The `pt2e` backend entry: `export_tflite_pt2e` of the torch graph, calibration fed in input-name order."""
    samples = [tuple(torch.from_numpy(np.asarray(s[n])) for n in source.input_names) for s in calibration]
    return export_tflite_pt2e(source.module, source.args, dest, recipe, samples)


def aiq_source(source: Source, dest: Path, recipe: Recipe, calibration: Samples) -> dict:
    """The `aiq` backend entry: `quantize_tflite_aiq` of the fp32 artifact, inputs renamed to signature keys."""
    feeds = [{f"args_{i}": s[n] for i, n in enumerate(source.input_names)} for s in calibration]
    return quantize_tflite_aiq(source.fp32_path, dest, recipe, feeds)
