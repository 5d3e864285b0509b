"""Runtimes and delegates as data: one spec per runtime, one delegate vocabulary for every command and runner.

Adding a runtime is one module implementing `base.Runtime` plus one `RuntimeSpec` in `RUNTIMES` below.
Nothing here imports a runtime library: specs name their loader as "module:Class" and are resolved on use.
Numpy/stdlib only (the device runner reads it).
"""

from __future__ import annotations

import importlib
import importlib.util
from dataclasses import dataclass, field
from importlib import metadata
from typing import Any

from ..errors import UserError

# The one delegate vocabulary: what --delegate accepts everywhere (host bench, device runners, app runner).
DELEGATES: dict[str, str] = {
    "auto": "the runtime's default: LiteRT XNNPACK, ONNX Runtime CPU provider, torch eager",
    "cpu": "the runtime's plain CPU kernels (LiteRT builtin kernels without XNNPACK, ONNX Runtime CPU provider)",
    "none": "LiteRT's name for its builtin kernels: the same as cpu",
    "xnnpack": "XNNPACK (LiteRT delegate, ONNX Runtime execution provider)",
    "nnapi": "Android NNAPI (deprecated since Android 15)",
    "gpu": "the LiteRT GPU delegate (benchmark_model and the app only)",
    "qnn": "Qualcomm QNN (HTP) through ONNX Runtime's QNN execution provider",
    "coreml": "ONNX Runtime's CoreML execution provider",
    "cuda": "ONNX Runtime's CUDA execution provider",
    "openvino": "ONNX Runtime's OpenVINO execution provider",
}


@dataclass(frozen=True)
class RuntimeSpec:
    """What one runtime loads, how it is constructed, which delegates it takes and what provides it."""

    name: str
    format: str  # artifact format it runs (manifest `format`), "torch" for checkpoints
    suffixes: tuple[str, ...]  # file suffixes of that format
    loader: str  # "module:Class" implementing base.Runtime, imported on first use
    # Our delegate name -> the runtime's own name (passed as `delegate_kwarg`); None: exists but not reachable
    # from Python (e.g. LiteRT GPU: benchmark_model or the app only).
    delegates: dict[str, str | None]
    delegate_kwarg: str | None  # constructor keyword that takes the native delegate name (None: takes none)
    cpu_fallback: str  # our delegate name of the runtime's own CPU path (--allow-fallback)
    distributions: tuple[tuple[str, str], ...]  # (import name, distribution) that provide it, in order of preference
    on_device: bool = False  # numpy-only module: the device runner bundle may carry it
    device_wheels: tuple[str, ...] = ()  # distributions the device bundle pushes for it
    info: dict[str, Any] = field(default_factory=dict)


RUNTIMES: dict[str, RuntimeSpec] = {spec.name: spec for spec in (
    RuntimeSpec(
        name="torch", format="torch", suffixes=(".pt", ".pth"), loader="lightavseg_mobile.runtime.torch_rt:TorchRuntime",
        delegates={"auto": None, "cpu": None, "none": None}, delegate_kwarg=None, cpu_fallback="cpu",
        distributions=(("torch", "torch"),)),
    RuntimeSpec(
        name="onnxruntime", format="onnx", suffixes=(".onnx",),
        loader="lightavseg_mobile.runtime.onnxruntime_rt:OnnxRuntime",
        delegates={"auto": "cpu", "cpu": "cpu", "xnnpack": "xnnpack", "nnapi": "nnapi", "qnn": "qnn", "coreml": "coreml",
                   "cuda": "cuda", "openvino": "openvino", "gpu": None},
        delegate_kwarg="provider", cpu_fallback="cpu", distributions=(("onnxruntime", "onnxruntime"),),
        on_device=True, device_wheels=("onnxruntime",)),
    RuntimeSpec(
        name="litert", format="tflite", suffixes=(".tflite",), loader="lightavseg_mobile.runtime.litert_rt:LiteRTRuntime",
        delegates={"auto": "xnnpack", "xnnpack": "xnnpack", "cpu": "none", "none": "none", "nnapi": None, "gpu": None},
        delegate_kwarg="delegate", cpu_fallback="xnnpack",
        distributions=(("ai_edge_litert", "ai-edge-litert"), ("tflite_runtime", "tflite-runtime")),
        on_device=True, device_wheels=("ai-edge-litert",)),
)}


def get_spec(name: str) -> RuntimeSpec:
    """The spec of runtime `name`; an unknown name lists the known ones."""
    try:
        return RUNTIMES[name]
    except KeyError:
        raise UserError(f"unknown runtime {name!r}; choose one of: auto, {', '.join(RUNTIMES)}") from None


def spec_for_format(fmt: str) -> RuntimeSpec:
    """The runtime that deploys artifacts of format `fmt`."""
    for spec in RUNTIMES.values():
        if spec.format == fmt:
            return spec
    raise UserError(f"no runtime runs {fmt!r} artifacts; formats: {', '.join(s.format for s in RUNTIMES.values())}")


def spec_for_suffix(suffix: str) -> RuntimeSpec | None:
    """The runtime whose format uses file suffix `suffix` (".onnx", ...), or None."""
    return next((s for s in RUNTIMES.values() if suffix.lower() in s.suffixes), None)


def check_delegate(delegate: str) -> str:
    """`delegate` if it is in the vocabulary, else a one-line error listing it."""
    if delegate not in DELEGATES:
        raise UserError(f"unknown delegate {delegate!r}; choose one of: {', '.join(DELEGATES)}")
    return delegate


def native_delegate(spec: RuntimeSpec, delegate: str) -> str | None:
    """The runtime's own name for our `delegate`; UserError when the runtime has no such delegate at all.

    None means the delegate exists for this format but not from Python (see RuntimeSpec.delegates).
    """
    check_delegate(delegate)
    if delegate not in spec.delegates:
        raise UserError(f"delegate {delegate!r} does not apply to {spec.name}; choose one of: "
                        f"{', '.join(d for d, n in spec.delegates.items() if n is not None or d == 'auto')}")
    return spec.delegates[delegate]


def our_delegate(spec: RuntimeSpec, native: str | None) -> str | None:
    """Our name for what a runtime reports it ran (`info()["delegate"]`): "none" and "auto" never come back, cpu does."""
    if native is None:
        return None
    names = [d for d, n in spec.delegates.items() if n == native and d not in ("auto", "none")]
    if names:
        return names[0]
    # Not in the spec's table (torch reports "none"; ORT may name a provider we do not list).
    return "cpu" if native in ("none", "cpu") else native


def resolve_delegate(spec: RuntimeSpec, delegate: str) -> str:
    """The concrete delegate of ours that `delegate` asks `spec` for: auto becomes the runtime's default, none is cpu."""
    check_delegate(delegate)
    if delegate == "none":
        return "cpu"
    if delegate != "auto":
        return delegate
    return our_delegate(spec, spec.delegates.get("auto")) or "cpu"


def tool_delegates(tool: str, mapping: dict[str, Any]) -> dict[str, Any]:
    """A tool's own spellings keyed by our vocabulary (benchmark_model flags, app extras), checked against it."""
    unknown = sorted(set(mapping) - set(DELEGATES))
    if unknown:
        raise ValueError(f"{tool}: delegate names {unknown} are not in the vocabulary ({', '.join(DELEGATES)})")
    return mapping


def check_tool_delegate(tool: str, mapping: dict[str, Any], delegate: str) -> Any:
    """`mapping[delegate]` for a delegate `tool` takes; a one-line error listing what it takes otherwise."""
    check_delegate(delegate)
    if delegate not in mapping:
        raise UserError(f"{tool} does not take delegate {delegate!r}; choose one of: {', '.join(mapping)}")
    return mapping[delegate]


def runtime_class(spec: RuntimeSpec) -> type:
    """Import and return the class implementing `spec` (its runtime library is imported only now)."""
    module, _, cls = spec.loader.partition(":")
    return getattr(importlib.import_module(module), cls)


def installed_version(spec: RuntimeSpec) -> str | None:
    """Installed version of the distribution providing `spec` (None when none is installed), without importing it."""
    for module, dist in spec.distributions:
        if importlib.util.find_spec(module) is not None:
            try:
                return metadata.version(dist)
            except metadata.PackageNotFoundError:
                return "unknown"
    return None
