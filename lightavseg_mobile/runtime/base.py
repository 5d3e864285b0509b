"""The one runtime interface that torch, ONNX Runtime and LiteRT implement.

Named float arrays in, named float arrays out. Quantization of inputs,
dequantization of outputs and layout conversion happen inside, driven by the
manifest, so benchmarks and parity never special-case a backend.
Importable without torch.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol, runtime_checkable

import numpy as np

from ..artifact.manifest import Manifest


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


def timed_call(rt: Runtime, feed: dict[str, np.ndarray]) -> tuple[Callable[[], Any], str]:
    """What one timed run calls, and how to describe it: a whole model end to end, a split sub-model at the runtime
    call on prepared inputs.

    A sub-model's boundary tensors never leave the whole graph, so quantizing and re-laying them out in numpy
    is not the module's cost. Host bench and device runner time through this one rule.
    """
    if rt.manifest.module == "model" or not hasattr(rt, "invoke"):
        return (lambda: rt.run(feed)), "end to end"
    from ..artifact.tensors import prepare_feed

    prepared = prepare_feed(rt.manifest.inputs, feed)
    return (lambda: rt.invoke(prepared)), "runtime call on prepared inputs"


def boundary_call(rt: Runtime, feed: dict[str, np.ndarray]) -> Callable[[], Any] | None:
    """The numpy work a whole model's timed run does around the runtime call (inputs quantized and laid out,
    outputs dequantized and laid back); None when `timed_call` times the runtime call alone.

    Sub-models are timed without it, so the sum of module times is compared with the whole model's time
    less this part: like with like.
    """
    if rt.manifest.module != "model" or not hasattr(rt, "invoke"):
        return None
    from ..artifact.tensors import collect_outputs, prepare_feed

    raw = rt.invoke(prepare_feed(rt.manifest.inputs, feed))

    def convert() -> None:
        prepare_feed(rt.manifest.inputs, feed)
        collect_outputs(rt.manifest.outputs, raw)

    return convert
