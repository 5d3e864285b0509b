"""Peers a user could pick instead of our artifacts: ExecuTorch + XNNPACK (fp32, int8) and torch.compile.

ExecuTorch programs (.pte) are built here from the same checkpoint and inference module, cached by
checkpoint hash, with a small JSON sidecar carrying their provenance (no manifest: they are not ours).
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from ..errors import UserError

PEERS = ("torch-compile", "executorch-fp32", "executorch-int8")


def executorch_version() -> str | None:
    """Installed executorch version, None if absent."""
    from importlib import metadata

    try:
        return metadata.version("executorch")
    except metadata.PackageNotFoundError:
        return None


def _calibration_inputs(preset, limit: int = 16):
    """Real frames + log-mel of the calibration ('val') split: int8 ranges from data, not noise."""
    import numpy as np
    import torch

    from ..data.avsbench import AVSBenchDataset, detect_subset
    from ..data.preprocess import frames_to_input
    from ..data.heldout import DEFAULT_HELDOUT as DEFAULT_DATA

    ds = AVSBenchDataset(DEFAULT_DATA, subset=detect_subset(DEFAULT_DATA), split="val", image_size=preset.image_size)
    out = []
    for i in range(len(ds)):
        c = ds[i]
        frames = frames_to_input(c.frames, preset.mean, preset.std, preset.image_size)
        for t in range(len(frames)):
            out.append((torch.from_numpy(frames[t:t + 1]), torch.from_numpy(c.logmel[t:t + 1, None].astype(np.float32))))
            if len(out) >= limit:
                return out
    return out


def export_executorch(checkpoint: str | Path, out_dir: str | Path, precision: str) -> Path:
    """Lower the checkpoint's inference module to an ExecuTorch program with the XNNPACK partitioner (cached)."""
    if executorch_version() is None:
        raise UserError("executorch is not installed: pip install executorch==1.5.1 torch==2.13.0 (one command, torch pinned)")
    if precision not in ("fp32", "int8"):
        raise UserError(f"unknown ExecuTorch precision {precision!r}; choose fp32 or int8")
    import torch
    from executorch.backends.xnnpack.partition.xnnpack_partitioner import XnnpackPartitioner
    from executorch.exir import to_edge_transform_and_lower

    from ..checkpoint import load_checkpoint

    ckpt = load_checkpoint(checkpoint)
    out_dir = Path(out_dir)
    dest = out_dir / f"{ckpt.preset.name}.executorch-xnnpack-{precision}.pte"
    sidecar = dest.with_suffix(".json")
    if dest.is_file() and sidecar.is_file():
        meta = json.loads(sidecar.read_text())
        if meta.get("checkpoint_sha256") == ckpt.sha256 and meta.get("executorch") == executorch_version():
            return dest
    t0 = time.perf_counter()
    net = ckpt.build_model().for_inference().eval()
    s = ckpt.preset.image_size
    args = (torch.zeros(1, 3, s, s), torch.zeros(1, 1, 96, 64))
    with torch.no_grad():
        if precision == "int8":
            from executorch.backends.xnnpack.quantizer.xnnpack_quantizer import (XNNPACKQuantizer,
                                                                               get_symmetric_quantization_config)
            from torchao.quantization.pt2e.quantize_pt2e import convert_pt2e, prepare_pt2e

            quantizer = XNNPACKQuantizer().set_global(get_symmetric_quantization_config(is_per_channel=True))
            # strict export keeps the source metadata the annotators match on (see field notes 3b.1).
            from ..model.graphs import conv_weight_buffers_as_parameters

            graph = conv_weight_buffers_as_parameters(torch.export.export(net, args, strict=True).module())
            prepared = prepare_pt2e(graph, quantizer)
            for a in _calibration_inputs(ckpt.preset):
                prepared(*a)
            net = convert_pt2e(prepared)
        ep = torch.export.export(net, args, strict=precision == "int8")
        program = to_edge_transform_and_lower(ep, partitioner=[XnnpackPartitioner()]).to_executorch()
    out_dir.mkdir(parents=True, exist_ok=True)
    from ..io_atomic import write_bytes_atomic, write_text_atomic

    write_bytes_atomic(dest, program.buffer)
    write_text_atomic(sidecar, json.dumps({"checkpoint": str(checkpoint), "checkpoint_sha256": ckpt.sha256,
                                           "preset": ckpt.preset.name, "precision": precision,
                                           "executorch": executorch_version(), "torch": torch.__version__,
                                           "partitioner": "XnnpackPartitioner",
                                           "quantizer": "XNNPACKQuantizer symmetric per-channel (PT2E)" if precision == "int8" else None,
                                           "inputs": {"frame": [1, 3, s, s], "logmel": [1, 1, 96, 64]},
                                           "export_s": round(time.perf_counter() - t0, 1)}, indent=2))
    return dest


def executorch_runner(path: str | Path, threads: int, seed: int = 0):
    """(one-inference callable, info) for an ExecuTorch program on its XNNPACK threadpool."""
    import numpy as np
    import torch
    from executorch.extension.pybindings import portable_lib
    from executorch.runtime import Runtime

    meta_path = Path(path).with_suffix(".json")
    meta = json.loads(meta_path.read_text()) if meta_path.is_file() else {}
    portable_lib._unsafe_reset_threadpool(int(threads))
    rt = Runtime.get()
    program = rt.load_program(str(path))
    method = program.load_method("forward")
    shapes = meta.get("inputs") or {"frame": [1, 3, 224, 224], "logmel": [1, 1, 96, 64]}
    rng = np.random.default_rng(seed)
    inputs = [torch.from_numpy(rng.standard_normal(shapes[k]).astype(np.float32)) for k in ("frame", "logmel")]
    info = {"runtime": "executorch", "version": executorch_version(), "delegate": "xnnpack", "threads": int(threads),
            "threadpool_threads": int(portable_lib._threadpool_get_thread_count()),
            "precision": meta.get("precision"), "artifact": Path(path).name, "ops_not_delegated": None}
    return (lambda: method.execute(inputs)), info


def export_executorch_subprocess(checkpoint: str | Path, out_dir: str | Path, precision: str, timeout_s: float = 1500.0) -> Path:
    """export_executorch in its own process with a time limit: a converter that stalls must not stall the benchmark."""
    import subprocess
    import sys

    cmd = [sys.executable, "-m", "lightavseg_mobile.bench.peers", str(checkpoint), str(out_dir), precision]
    try:
        res = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout_s)
    except subprocess.TimeoutExpired:
        raise UserError(f"ExecuTorch {precision} export did not finish within {timeout_s:.0f} s") from None
    lines = [x for x in res.stdout.strip().splitlines() if x.strip()]
    if res.returncode != 0 or not lines:
        err = [x for x in res.stderr.strip().splitlines() if x.strip()]
        raise UserError(f"ExecuTorch {precision} export failed: {err[-1] if err else 'exit ' + str(res.returncode)}")
    return Path(lines[-1])


if __name__ == "__main__":  # pragma: no cover
    import sys

    print(export_executorch(sys.argv[1], sys.argv[2], sys.argv[3]))
