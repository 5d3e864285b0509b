"""Publishing: a private temp folder in the output folder, then one rename per file; the exit-3 parity verdict."""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

from ..artifact.manifest import Manifest, manifest_path
from ..errors import ParityError, UserError


@dataclass
class Built:
    """One artifact in the temp folder, before publishing."""

    path: Path
    manifest: Manifest
    passed: bool
    module: str


def prepare_out(out: Path) -> Path:
    """Create the output folder and a private temp folder in it (same file system: publishing is a rename)."""
    try:
        out.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=".lavseg-export-", dir=out))
    except OSError as exc:
        raise UserError(f"output directory {out} is not writable ({exc.strerror or exc}); pass --out to a folder you can write") from None
    return tmp


def publish_one(b: Built, out: Path, allow_parity_failure: bool) -> Path:
    """Rename one artifact and its manifest to their published names (under failed/ if it failed, unless allowed)."""
    if not b.passed:
        b.manifest.status = "failed-parity"
    dest_dir = out if (b.passed or allow_parity_failure) else out / "failed"
    dest_dir.mkdir(parents=True, exist_ok=True)
    mpath = manifest_path(b.path)
    mpath.write_text(b.manifest.to_json())
    dest = dest_dir / b.path.name
    mdest = manifest_path(dest)
    # Manifest first out, artifact last in: a reader never pairs a new artifact with an old manifest.
    if mdest.exists():
        mdest.unlink()
    # The ONNX node -> torch module map (per-module profiling) travels with its artifact.
    names = b.path.with_suffix(".names.json")
    if names.exists():
        os.replace(names, dest.with_suffix(".names.json"))
    os.replace(b.path, dest)
    os.replace(mpath, mdest)
    return dest


def summary_row(b: Built, dest: Path) -> dict:
    """The summary line of one published artifact."""
    m, p = b.manifest, b.manifest.parity
    return {"file": b.path.name, "path": str(dest), "module": b.module, "format": m.format, "precision": m.precision,
            "recipe": (m.recipe or {}).get("name"), "size": m.artifact_size, "sha256": m.artifact_sha256,
            "status": m.status, "passed": b.passed, "reason": p.get("reason", ""), "worst_module": p.get("worst_module"),
            "parity": p, "alignment_check": m.alignment_check["passed"], "duration_s": m.export["duration_s"]}


def check_parity(summary: dict, allow_failure: bool = False) -> None:
    """Raise ParityError (exit 3) naming the first artifact that failed its gate and its weakest module."""
    failed = [a for a in summary["artifacts"] if not a["passed"]]
    if failed and not allow_failure:
        a = failed[0]
        worst = f"; module with the lowest SQNR: {a['worst_module']}" if a.get("worst_module") else ""
        raise ParityError(f"{a['file']} failed the parity gate ({a['reason']}){worst}; kept only as {a['path']} "
                          f"(--allow-parity-failure publishes it marked failed)")
