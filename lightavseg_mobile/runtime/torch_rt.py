"""The fp32 torch reference behind the same Runtime interface, with a manifest synthesized in memory.

`TorchRuntime.from_module` also runs any module (a sub-model, a fake-quant model) against a
manifest, so export and parity compare every artifact with torch through one code path.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from ..errors import UserError
from ..artifact.manifest import Manifest, TensorSpec
from ..presets import Preset, get_preset
from ..artifact import tensors
from .cores import resolve_threads

LOGMEL_SHAPE = [1, 1, 96, 64]


def preprocessing_of(preset: Preset, audio_input: str = "logmel") -> dict[str, Any]:
    """The preprocessing contract of a preset, in the layout exported manifests record it."""
    from ..audio import VGGISH

    s = preset.image_size
    return {
        "image": {"size": s, "resize": "bilinear (PIL) to size x size", "scale": "x / 255",
                  "mean": list(preset.mean), "std": list(preset.std), "layout": "NCHW", "color": "RGB"},
        "audio_input": audio_input,
        "audio": VGGISH.to_dict(),
        "output": {"name": "mask_logits", "mask": "sigmoid(logit) > 0.5", "size": [s, s]},
    }


def reference_manifest(preset: Preset, checkpoint: Path | None = None, checkpoint_sha256: str = "") -> Manifest:
    """The manifest of the whole fp32 torch model of `preset` (batch 1, NCHW, logmel audio)."""
    s = preset.image_size
    return Manifest(
        artifact_file=checkpoint.name if checkpoint else "",
        artifact_sha256=checkpoint_sha256,
        artifact_size=checkpoint.stat().st_size if checkpoint else 0,
        format="torch",
        precision="fp32",
        preset=preset.name,
        module="model",
        inputs=[TensorSpec("frame", [1, 3, s, s], "float32", "NCHW"), TensorSpec("logmel", list(LOGMEL_SHAPE), "float32", "NCHW")],
        outputs=[TensorSpec("mask_logits", [1, 1, s, s], "float32", "NCHW")],
        preprocessing=preprocessing_of(preset),
        checkpoint_sha256=checkpoint_sha256,
        tools={"torch": torch.__version__},
    )


class TorchRuntime:
    """A torch module run under inference_mode, fed and read through a manifest like the other runtimes."""

    name = "torch"

    def __init__(self, checkpoint: str | os.PathLike[str] | None = None, preset: str | None = None, threads: int | None = None) -> None:
        """Build the inference module from `checkpoint` (default: the shipped one of `preset`, itself default "lightavseg")."""
        from ..checkpoint import load_checkpoint, shipped_checkpoint

        if checkpoint is None:
            get_preset(preset or "lightavseg")  # an unknown name lists the valid ones before the file lookup
            path = shipped_checkpoint(preset or "lightavseg")
        else:
            path = Path(checkpoint)
        ckpt = load_checkpoint(path, expect_preset=preset)
        module = ckpt.build_model().for_inference()
        manifest = reference_manifest(ckpt.preset, path, ckpt.sha256)
        self._setup(module, manifest, threads)

    @classmethod
    def from_module(cls, module: nn.Module, manifest: Manifest, threads: int | None = None) -> "TorchRuntime":
        """Wrap a built module: it takes the manifest's inputs positionally, returns a tensor, a tuple or a dict of outputs.

        Inputs declared int8/uint8 are rounded through their quantization and passed as float,
        so a fake-quant module sees exactly what the integer artifact sees.
        """
        self = cls.__new__(cls)
        self._setup(module, manifest, threads)
        return self

    def _setup(self, module: nn.Module, manifest: Manifest, threads: int | None) -> None:
        tensors.check_specs(manifest.inputs + manifest.outputs, f"manifest of {manifest.artifact_file or 'torch module'}")
        self.manifest = manifest
        self.module = module.eval()
        self.threads = resolve_threads(threads)

    def run(self, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Run once: float32 logical inputs -> float32 logical outputs."""
        feed = tensors.prepare_feed(self.manifest.inputs, inputs, quantized_as_float=True)
        args = [torch.from_numpy(feed[tensors.artifact_key(s)]) for s in self.manifest.inputs]
        previous = torch.get_num_threads()
        torch.set_num_threads(self.threads)
        try:
            with torch.inference_mode():
                out = self.module(*args)
        finally:
            torch.set_num_threads(previous)
        return tensors.collect_outputs(self.manifest.outputs, self._name_outputs(out))

    def _name_outputs(self, out: Any) -> dict[str, np.ndarray]:
        keys = [tensors.artifact_key(s) for s in self.manifest.outputs]
        if isinstance(out, torch.Tensor):
            out = (out,)
        if isinstance(out, dict):
            missing = [k for k in keys if k not in out]
            if missing:
                raise UserError(f"torch module returned outputs {sorted(out)}; the manifest expects {keys}")
            return {k: out[k].detach().float().numpy() for k in keys}
        out = tuple(out)
        if len(out) < len(keys):
            raise UserError(f"torch module returned {len(out)} output(s); the manifest expects {len(keys)}: {keys}")
        # Extra trailing outputs (e.g. the training model's alignment logits) are not part of the contract.
        return {k: t.detach().float().numpy() for k, t in zip(keys, out)}

    def info(self) -> dict[str, Any]:
        """What runs: torch version, threads, the module's class and the manifest identity."""
        return {
            "runtime": self.name,
            "version": torch.__version__,
            "delegate": "none",
            "provider": "cpu",
            "ops_not_delegated": 0,
            "threads": self.threads,
            "module": type(self.module).__name__,
            "format": self.manifest.format,
            "precision": self.manifest.precision,
            "artifact": self.manifest.artifact_file,
            "artifact_sha256": self.manifest.artifact_sha256,
        }
