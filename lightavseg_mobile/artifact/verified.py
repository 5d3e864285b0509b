"""Read an artifact once and check those very bytes against its manifest, so what was hashed is what runs.

Hashing a file and then letting a runtime open it again by path leaves a window in which the file can be
swapped (time of check to time of use). Runtimes that accept a model from memory (ONNX Runtime, LiteRT)
take the bytes returned here instead. Standard library only: this runs on devices.
"""

from __future__ import annotations

import hashlib
import os
import stat
from pathlib import Path

from .manifest import Manifest, ManifestError, check_digest, check_size, load_manifest


def read_verified(path: str | os.PathLike[str]) -> tuple[Manifest, bytes]:
    """The manifest of an artifact (or manifest path) and the artifact's bytes, read once and hash-checked."""
    manifest, _, data = read_verified_at(path)
    return manifest, data


def read_verified_at(path: str | os.PathLike[str]) -> tuple[Manifest, Path, bytes]:
    """Like read_verified, also returning the artifact's path (for messages; never to be opened again)."""
    manifest, artifact = load_manifest(path, verify=False)
    try:
        # O_NONBLOCK: opening a FIFO planted under the artifact's name must not hang; fstat then refuses it.
        fd = os.open(artifact, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0))
        with os.fdopen(fd, "rb") as f:
            info = os.fstat(f.fileno())
            if not stat.S_ISREG(info.st_mode):
                raise ManifestError(f"artifact {artifact} is not a regular file")
            check_size(manifest, artifact, info.st_size)
            # Read at most one byte more than the manifest promises: a file that grew is refused without
            # pulling an arbitrarily large file into memory.
            data = f.read(manifest.artifact_size + 1) if manifest.artifact_size else f.read()
    except FileNotFoundError:
        raise ManifestError(f"artifact {artifact} named by its manifest is missing") from None
    except OSError as exc:
        raise ManifestError(f"cannot read artifact {artifact}: {exc.strerror or exc}") from None
    check_size(manifest, artifact, len(data))
    check_digest(manifest, artifact, hashlib.sha256(data).hexdigest())
    return manifest, artifact, data
