"""The one runtime interface that torch, ONNX Runtime and LiteRT implement.

Named float arrays in, named float arrays out. Quantization of inputs,
dequantization of outputs and layout conversion happen inside, driven by the
manifest, so benchmarks and parity never special-case a backend.
Importable without torch.
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

import numpy as np

from ..export.manifest import Manifest


# Keys every Runtime.info() carries, so reports can cite any backend the same way.
COMMON_INFO_KEYS = ("runtime", "version", "delegate", "threads", "ops_not_delegated", "format", "precision",
                    "artifact", "artifact_sha256")


@runtime_checkable
class Runtime(Protocol):
    """A loaded artifact ready to run."""

    name: str  # torch | onnxruntime | litert
    manifest: Manifest

    def run(self, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Run once: float32 inputs in the logical layout (NCHW frames) -> float32 outputs."""
        ...

    def info(self) -> dict[str, Any]:
        """What actually ran: runtime + version, delegate/provider, threads, non-delegated op count if known."""
        ...
