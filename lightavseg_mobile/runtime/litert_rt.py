"""LiteRT (TFLite) backend: the interpreter with XNNPACK on or off, read through its signature runner.

Numpy and ai_edge_litert only (tflite_runtime as a fallback on devices without it); no torch.
XNNPACK: ai_edge_litert applies it by default to every model (the lazy default delegate);
`delegate="none"` uses the BUILTIN_WITHOUT_DEFAULT_DELEGATES op resolver, which does not.
Whether it was applied, and how many ops it left to the builtin kernels, is read from the
interpreter's node list after allocation (delegate kernels appear as DELEGATE nodes).
"""

from __future__ import annotations

import importlib
import os
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

from ..errors import UserError
from ..artifact.manifest import Manifest, ManifestError, Quantization
from ..artifact import tensors
from .cores import resolve_threads

DELEGATES = ("xnnpack", "none")
_DELEGATE_NODE = "DELEGATE"


def import_interpreter() -> tuple[ModuleType, str, str]:
    """(interpreter module, package name, package version): ai_edge_litert, else tflite_runtime."""
    for package in ("ai_edge_litert", "tflite_runtime"):
        try:
            module = importlib.import_module(f"{package}.interpreter")
        except ImportError:
            continue
        return module, package, _package_version(package)
    raise UserError("no TFLite interpreter installed: pip install ai-edge-litert")


def _package_version(package: str) -> str:
    from importlib import metadata

    for dist in (package.replace("_", "-"), package):
        try:
            return metadata.version(dist)
        except metadata.PackageNotFoundError:
            continue
    return "unknown"


def _node_tensors(indices: Any) -> list[int]:
    return [int(i) for i in indices if int(i) >= 0]


def delegation(before: list[dict[str, Any]], after: list[dict[str, Any]]) -> dict[str, Any]:
    """Which original ops the delegate kernels replaced, from the node lists before and after allocation.

    A delegate partition is closed: walking back from its outputs through producers, stopping at
    its inputs (or constants), visits exactly the ops it replaced.
    """
    n = len(before)
    producer = {t: i for i, op in enumerate(before) for t in _node_tensors(op["outputs"])}
    partitions = [op for op in after[n:] if op["op_name"] == _DELEGATE_NODE]
    taken: set[int] = set()
    for part in partitions:
        stop = set(_node_tensors(part["inputs"]))
        stack = [t for t in _node_tensors(part["outputs"])]
        while stack:
            t = stack.pop()
            i = producer.get(t)
            if t in stop or i is None or i in taken:
                continue
            taken.add(i)
            stack.extend(_node_tensors(before[i]["inputs"]))
    outside = sorted(op["op_name"] for i, op in enumerate(before) if i not in taken)
    counts: dict[str, int] = {}
    for name in outside:
        counts[name] = counts.get(name, 0) + 1
    return {"partitions": len(partitions), "ops_total": n, "ops_delegated": len(taken),
            "ops_not_delegated": n - len(taken), "not_delegated_by_op": counts}


class LiteRTRuntime:
    """A TFLite artifact in the LiteRT interpreter, fed and read through its manifest."""

    name = "litert"

    def __init__(self, artifact: str | os.PathLike[str], threads: int | None = None, delegate: str = "xnnpack") -> None:
        if delegate not in DELEGATES:
            raise UserError(f"unknown LiteRT delegate {delegate!r}; choose one of: {', '.join(DELEGATES)}")
        # The interpreter is built from the bytes that were hashed, never from the path again (no swap in between).
        manifest, path, model_bytes = tensors.open_verified(artifact, "tflite", self.name)
        self.manifest: Manifest = manifest
        self.artifact: Path = path
        self.threads = resolve_threads(threads)
        self.delegate_requested = delegate
        module, self._package, self._version = import_interpreter()
        resolver = module.OpResolverType
        kind = resolver.AUTO if delegate == "xnnpack" else resolver.BUILTIN_WITHOUT_DEFAULT_DELEGATES
        try:
            interp = module.Interpreter(model_content=model_bytes, num_threads=self.threads, experimental_op_resolver_type=kind)
            before = _ops(interp)
            # The default delegate is applied lazily, by the first allocation.
            interp.allocate_tensors()
            after = _ops(interp)
        except (ValueError, RuntimeError) as exc:
            raise UserError(f"LiteRT cannot load {path}: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}") from None
        self._interp = interp
        self._model_bytes = model_bytes  # the interpreter reads the flatbuffer in place: keep it alive with the runtime
        self._delegation = delegation(before, after) if before is not None and after is not None else None
        self._runner = interp.get_signature_runner(self._signature_key(interp))
        self._check_artifact()

    def _signature_key(self, interp: Any) -> str:
        keys = list(interp.get_signature_list())
        wanted = self.manifest.format_details.get("signature_key")
        if wanted is not None:
            if wanted not in keys:
                raise ManifestError(f"{self.artifact}: signature {wanted!r} named by the manifest is not in the artifact (has {keys})")
            return str(wanted)
        if len(keys) != 1:
            raise ManifestError(f"{self.artifact} has signatures {keys}; the manifest must name one in format_details.signature_key")
        return keys[0]

    def _check_artifact(self) -> None:
        """The signature's inputs and outputs must be the ones the manifest describes (names, shapes, dtypes, quantization)."""
        src = str(self.artifact)
        for side, specs, details in (("input", self.manifest.inputs, self._runner.get_input_details()),
                                     ("output", self.manifest.outputs, self._runner.get_output_details())):
            want = {tensors.artifact_key(s) for s in specs}
            if set(details) != want:
                raise ManifestError(f"{src}: the artifact's signature {side}s are {sorted(details)} but the manifest names {sorted(want)}; re-export it")
            for spec in specs:
                d = details[tensors.artifact_key(spec)]
                scale, zero = d["quantization"]
                quant = Quantization(float(scale), int(zero)) if scale else None
                tensors.check_boundary(spec, [int(x) for x in d["shape_signature"]], np.dtype(d["dtype"]).name, quant, src)

    def run(self, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Run once: float32 logical inputs -> float32 logical outputs (outputs read by signature name)."""
        return tensors.collect_outputs(self.manifest.outputs, self.invoke(tensors.prepare_feed(self.manifest.inputs, inputs)))

    def invoke(self, feed: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """The signature call alone, on a feed already in the artifact's names, layout and dtypes; raw outputs."""
        return self._runner(**feed)

    def info(self) -> dict[str, Any]:
        """What runs: interpreter package and version, delegate actually applied, threads, ops left outside it."""
        d = self._delegation
        applied = d is not None and d["partitions"] > 0
        out: dict[str, Any] = {
            "runtime": self.name,
            "version": self._version,
            "interpreter_package": self._package,
            "delegate": "xnnpack" if applied else ("none" if d is not None else "unknown"),
            "delegate_requested": self.delegate_requested,
            "threads": self.threads,
            "format": self.manifest.format,
            "precision": self.manifest.precision,
            "artifact": self.manifest.artifact_file,
            "artifact_sha256": self.manifest.artifact_sha256,
        }
        if d is None:
            out.update(ops_total="unknown", ops_not_delegated="unknown")
        else:
            # Without a delegate every op runs on the builtin kernels.
            out.update(ops_total=d["ops_total"], ops_not_delegated=d["ops_not_delegated"],
                       delegate_partitions=d["partitions"], not_delegated_by_op=d["not_delegated_by_op"])
        return out


def _ops(interp: Any) -> list[dict[str, Any]] | None:
    """The interpreter's node list (private API: None where the installed interpreter lacks it)."""
    try:
        return interp._get_ops_details()
    except Exception:  # noqa: BLE001 - an older/newer interpreter without the private call: report "unknown"
        return None
