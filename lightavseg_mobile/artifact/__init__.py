"""The artifact contract, torch-free: manifest, tensor specs, quantization parameters, hashing, open + verify.

Everything that produces or consumes an exported artifact (export, runtimes, benchmarks, the device
runner bundle, the Android golden vectors) reads the contract from here and nowhere else. Numpy and
the standard library only: this package runs on devices.
"""

from __future__ import annotations

from .hashing import file_sha256
from .manifest import (MANIFEST_SUFFIX, SCHEMA_VERSION, Manifest, ManifestError, Quantization, TensorSpec,
                       artifact_sha256, load_manifest, manifest_path)
from .tensors import open_artifact

__all__ = ["MANIFEST_SUFFIX", "SCHEMA_VERSION", "Manifest", "ManifestError", "Quantization", "TensorSpec",
           "artifact_sha256", "file_sha256", "load_manifest", "manifest_path", "open_artifact"]
