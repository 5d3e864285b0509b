"""ONNX Runtime backend: one InferenceSession with explicit threading, optional per-node profiling.

Numpy and onnxruntime only (no torch): this module also runs on a device.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import UserError
from ..artifact.manifest import Manifest, ManifestError
from ..artifact import tensors
from .cores import resolve_threads

# Short names accepted for execution providers; full ORT names are accepted too.
PROVIDERS = {
    "cpu": "CPUExecutionProvider",
    "xnnpack": "XnnpackExecutionProvider",
    "nnapi": "NnapiExecutionProvider",
    "qnn": "QNNExecutionProvider",
    "coreml": "CoreMLExecutionProvider",
    "cuda": "CUDAExecutionProvider",
    "openvino": "OpenVINOExecutionProvider",
}
_SHORT = {v: k for k, v in PROVIDERS.items()}

# ORT tensor type strings -> manifest dtypes.
_ORT_DTYPES = {"tensor(float)": "float32", "tensor(float16)": "float16", "tensor(int8)": "int8",
               "tensor(uint8)": "uint8", "tensor(int16)": "int16"}


def resolve_provider(provider: str, available: list[str]) -> str:
    """The ORT provider name for `provider` (short or full); an unavailable one lists what is available."""
    full = PROVIDERS.get(provider.lower(), provider) if isinstance(provider, str) else str(provider)
    if full not in available:
        listed = ", ".join(f"{_SHORT.get(p, p)} ({p})" for p in available)
        raise UserError(f"onnxruntime provider {provider!r} is not available in this onnxruntime build; available: {listed}")
    return full


OPTIMIZED_GRAPH = "optimized.onnx"  # written into profile_dir when profiling


class OnnxRuntime:
    """An ONNX artifact loaded into ONNX Runtime, fed and read through its manifest."""

    name = "onnxruntime"

    def __init__(
        self,
        artifact: str | os.PathLike[str],
        threads: int | None = None,
        provider: str = "cpu",
        profile_dir: str | os.PathLike[str] | None = None,
    ) -> None:
        # The session is built from the bytes that were hashed, never from the path again (no swap in between).
        manifest, path, model_bytes = tensors.open_verified(artifact, "onnx", self.name)
        import onnxruntime as ort

        self.manifest: Manifest = manifest
        self.artifact = path
        self.threads = resolve_threads(threads)
        self._ort = ort
        self._provider = resolve_provider(provider, ort.get_available_providers())
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = self.threads
        opts.inter_op_num_threads = 1
        opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        opts.log_severity_level = 3  # errors only: warnings about unused initializers are noise here
        # The intra-op threads still spin inside a run (fast hand-offs between nodes) but stop when it returns.
        # Left spinning, they burn a core between frames on a phone, and in an interleaved benchmark they slowed
        # whatever ran next: measured on the 2-core host, lightavseg.fp32.onnx p50 130 ms in one process beside the
        # five sub-model sessions vs 22 ms with this set (22 ms alone either way).
        opts.add_session_config_entry("session.force_spinning_stop", "1")
        self._profiling = profile_dir is not None
        if profile_dir is not None:
            Path(profile_dir).mkdir(parents=True, exist_ok=True)
            opts.enable_profiling = True
            opts.profile_file_prefix = str(Path(profile_dir) / Path(manifest.artifact_file).stem)
            # The graph ORT actually runs (fused nodes, inserted layout nodes): lets a profile attribute
            # the nodes ORT added to the module whose nodes they feed.
            opts.optimized_model_filepath = str(Path(profile_dir) / OPTIMIZED_GRAPH)
        options: dict[str, str] = {}
        if self._provider == "XnnpackExecutionProvider":
            # XNNPACK keeps its own thread pool; ORT's intra-op pool would compete with it.
            options = {"intra_op_num_threads": str(self.threads)}
        try:
            self._session = ort.InferenceSession(model_bytes, sess_options=opts, providers=[(self._provider, options)])
        except Exception as exc:  # ORT raises several internal types for bad models
            raise UserError(f"onnxruntime cannot load {path}: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}") from None
        # ORT may quietly drop a provider it failed to initialise: refuse instead of reporting a lie.
        got = self._session.get_providers()
        if not got or got[0] != self._provider:
            raise UserError(f"onnxruntime did not start provider {self._provider} for {path} (session has {got})")
        self._check_artifact()
        self._out_keys = [tensors.artifact_key(s) for s in manifest.outputs]

    def _check_artifact(self) -> None:
        """The session's inputs and outputs must be the ones the manifest describes."""
        src = str(self.artifact)
        for side, specs, nodes in (("input", self.manifest.inputs, self._session.get_inputs()),
                                   ("output", self.manifest.outputs, self._session.get_outputs())):
            by_name = {n.name: n for n in nodes}
            want = {tensors.artifact_key(s) for s in specs}
            if set(by_name) != want:
                raise ManifestError(f"{src}: the artifact's {side}s are {sorted(by_name)} but the manifest names {sorted(want)}; re-export it")
            for spec in specs:
                node = by_name[tensors.artifact_key(spec)]
                dtype = _ORT_DTYPES.get(node.type, node.type)
                tensors.check_boundary(spec, node.shape, dtype, None, src)

    def run(self, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Run once: float32 logical inputs -> float32 logical outputs."""
        return tensors.collect_outputs(self.manifest.outputs, self.invoke(tensors.prepare_feed(self.manifest.inputs, inputs)))

    def invoke(self, feed: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """The session call alone, on a feed already in the artifact's names, layout and dtypes; raw outputs."""
        return dict(zip(self._out_keys, self._session.run(self._out_keys, feed)))

    def end_profile(self) -> Path:
        """Stop profiling and return the per-node JSON trace ORT wrote."""
        if not self._profiling:
            raise UserError("profiling is off for this session: create OnnxRuntime with profile_dir=...")
        self._profiling = False
        return Path(self._session.end_profiling())

    def info(self) -> dict[str, Any]:
        """What runs: ORT version, provider, threads, artifact identity."""
        providers = self._session.get_providers()
        return {
            "runtime": self.name,
            "version": self._ort.__version__,
            "provider": _SHORT.get(self._provider, self._provider),
            "providers": providers,
            "delegate": _SHORT.get(self._provider, self._provider),
            # With the CPU provider alone every node runs on it; other providers hand unsupported
            # nodes to the CPU provider and ORT does not say how many from Python.
            "ops_not_delegated": 0 if providers == ["CPUExecutionProvider"] else "unknown",
            "threads": self.threads,
            "inter_op_threads": 1,
            "execution_mode": "sequential",
            "graph_optimization": "all",
            "profiling": self._profiling,
            "format": self.manifest.format,
            "precision": self.manifest.precision,
            "artifact": self.manifest.artifact_file,
            "artifact_sha256": self.manifest.artifact_sha256,
        }
