"""Quantization backends as data: one spec per backend, dispatch is a lookup.

A backend is registered once in `BACKENDS`: the artifact format it makes, the schemes it implements, what a
recipe may ask of it (calibration methods, activation dtypes, modules kept in fp32), what it converts from
(the fp32 artifact or the torch graph) and whether the exporter runs it in a background process. Its
`quantize(source, dest, recipe, calibration)` entry has one signature for every backend; implementations
are named "module:function" and imported on first use, so reading the table imports no converter.
Calibration data is an iterable of `{input_name: array}` keyed by the graph's logical input names.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import UserError

if TYPE_CHECKING:  # recipes imports this module to validate recipes
    from .recipes import Recipe

Samples = Iterable[Mapping[str, np.ndarray]]
FP32_ARTIFACT = "fp32-artifact"  # quantizes the converted fp32 file
TORCH_GRAPH = "torch-graph"  # quantizes the torch module itself (needs example inputs)
FRONTEND = "frontend"  # the waveform graph's log-mel front end (model.graphs.WaveformModel.frontend)


@dataclass(frozen=True)
class Scheme:
    """One quantization scheme a backend implements."""

    name: str
    calibrated: bool  # quantizes activations, so ranges must be collected on calibration data
    precision: str  # manifest precision label


@dataclass(frozen=True)
class Source:
    """What a backend quantizes: the fp32 artifact, the torch graph, or both, plus the graph's input names."""

    input_names: tuple[str, ...]
    fp32_path: Path | None = None
    module: Any = None  # torch.nn.Module (torch stays out of this module's imports)
    args: tuple = ()  # example inputs of `module`
    # Top-level modules (and "frontend", the waveform log-mel front end) the backend must leave in fp32.
    fp32_modules: tuple[str, ...] = ()


@dataclass(frozen=True)
class Backend:
    """One quantization backend."""

    name: str
    format: str  # artifact format it makes
    schemes: tuple[Scheme, ...]
    source: str  # FP32_ARTIFACT or TORCH_GRAPH
    implementation: str  # "module:function" with the signature of `quantize`
    calibration_methods: tuple[str, ...] = ("minmax",)
    activation_dtypes: tuple[str, ...] = ("int8",)
    keeps_modules_fp32: bool = False  # honours a recipe's keep_float (mixed precision)
    keeps_frontend_fp32: bool = False  # can leave the waveform log-mel front end in fp32 (--audio-input waveform)
    background: bool = False  # slow and mostly single-threaded: the exporter starts it early in a child process
    notes: str = ""
    _schemes: dict[str, Scheme] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_schemes", {s.name: s for s in self.schemes})

    def scheme(self, name: str) -> Scheme:
        """The scheme called `name` (KeyError if the backend does not implement it)."""
        return self._schemes[name]

    def quantize(self, source: Source, dest: Path, recipe: Recipe, calibration: Samples) -> dict:
        """Quantize `source` into `dest` as `recipe` says; returns the manifest's format details."""
        modules = [m for m in source.fp32_modules if m != FRONTEND]
        if (modules and not self.keeps_modules_fp32) or (FRONTEND in source.fp32_modules and not self.keeps_frontend_fp32):
            raise UserError(f"backend {self.name!r} cannot keep {', '.join(source.fp32_modules)} in fp32")
        if self.source == FP32_ARTIFACT and source.fp32_path is None:
            raise ValueError(f"backend {self.name!r} quantizes the fp32 artifact: Source.fp32_path is required")
        if self.source == TORCH_GRAPH and source.module is None:
            raise ValueError(f"backend {self.name!r} quantizes the torch graph: Source.module is required")
        module, _, func = self.implementation.partition(":")
        fn: Callable[..., dict] = getattr(importlib.import_module(module), func)
        return fn(source, dest, recipe, calibration)


_W8A8 = Scheme("w8a8", calibrated=True, precision="int8")

BACKENDS: dict[str, Backend] = {b.name: b for b in (
    Backend(name="ort-static", format="onnx", schemes=(_W8A8,), source=FP32_ARTIFACT,
            implementation="lightavseg_mobile.export.onnx_export:quantize_source",
            calibration_methods=("minmax", "percentile", "entropy"), activation_dtypes=("int8", "uint8"),
            keeps_modules_fp32=True, keeps_frontend_fp32=True,
            notes="ONNX Runtime quantize_static, QDQ, after quant_pre_process; excludes nodes by torch module path"),
    Backend(name="pt2e", format="tflite", schemes=(_W8A8,), source=TORCH_GRAPH,
            implementation="lightavseg_mobile.export.tflite_export:pt2e_source", background=True,
            notes="strict torch.export + torchao prepare/convert_pt2e + litert-torch PT2EQuantizer; full-integer, "
                  "int8 I/O; cannot keep a submodule float (field notes 3b.3)"),
    Backend(name="aiq", format="tflite", source=FP32_ARTIFACT,
            schemes=(Scheme("static_wi8_ai8", calibrated=True, precision="int8"),
                     Scheme("dynamic_wi8_afp32", calibrated=False, precision="int8-dynamic"),
                     Scheme("weight_only_wi8_afp32", calibrated=False, precision="int8-weight-only")),
            implementation="lightavseg_mobile.export.tflite_export:aiq_source",
            notes="ai-edge-quantizer recipes on the fp32 .tflite; selects ops by tensor-name regex, which does not "
                  "map reliably to modules here, so no keep_float"),
)}


def get_backend(name: str) -> Backend:
    """The backend called `name`; an unknown name is a one-line error listing the registered ones."""
    if name not in BACKENDS:
        raise UserError(f"unknown quantization backend {name!r}; choose one of: {', '.join(BACKENDS)}")
    return BACKENDS[name]


def backends_for(fmt: str) -> list[Backend]:
    """Backends that make artifacts of format `fmt`."""
    return [b for b in BACKENDS.values() if b.format == fmt]
