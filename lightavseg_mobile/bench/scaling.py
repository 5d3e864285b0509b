"""The paper's central claim, measured: our audio-visual interaction grows linearly with H*W, dense attention quadratically.

Ours: reciprocal_encoder + fusion_decoder of a preset. Dense: a TPAVI-style cross-modal non-local block
(every visual position attends to every audio-tiled position, an N x N map per scale, N = H*W) at each of
the four scales, same channel widths, followed by the same fusion decoder. Both are fed the boundary
tensors the backbone produces at each input size; time (interleaved, in-process, torch fp32) and FLOPs
(torch's counter on the meta device) are fitted against H*W on log-log axes.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn

SIZES = (224, 320, 448, 640, 896)


class DenseCrossAttention(nn.Module):
    """TPAVI-style block: audio tiled over the map, q from visual, k from audio, v from visual, N x N weights, residual.

    Queries are processed in chunks so memory stays bounded at large N; the arithmetic (and FLOPs) is unchanged.
    """

    def __init__(self, channels: int, audio_dim: int, chunk: int = 2048) -> None:
        super().__init__()
        inner = max(channels // 2, 1)
        self.audio_proj = nn.Conv2d(audio_dim, channels, 1)
        self.theta = nn.Conv2d(channels, inner, 1)
        self.phi = nn.Conv2d(channels, inner, 1)
        self.g = nn.Conv2d(channels, inner, 1)
        self.out = nn.Conv2d(inner, channels, 1)
        self.chunk = chunk

    def forward(self, visual: torch.Tensor, audio: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        b, c, h, w = visual.shape
        a = self.audio_proj(audio)  # [B, C, 1, 1]
        tiled = a.expand(b, c, h, w)
        n = h * w
        q = self.theta(visual).flatten(2).transpose(1, 2)  # [B, N, C']
        k = self.phi(tiled).flatten(2)  # [B, C', N]
        v = self.g(visual).flatten(2).transpose(1, 2)  # [B, N, C']
        parts = []
        for s in range(0, n, self.chunk):
            # "dot" non-local: weights normalised by N, as in the TPAVI design.
            parts.append(torch.bmm(torch.bmm(q[:, s:s + self.chunk], k) / n, v))
        y = torch.cat(parts, dim=1).transpose(1, 2).reshape(b, -1, h, w)
        return visual + self.out(y), a


class DenseInteraction(nn.Module):
    """Four dense cross-attention blocks (one per scale) followed by the preset's own fusion decoder."""

    def __init__(self, net, channels: list[int], audio_dim: int) -> None:
        super().__init__()
        self.blocks = nn.ModuleList(DenseCrossAttention(c, audio_dim) for c in channels)
        self.fusion_decoder = net.fusion_decoder

    def forward(self, v1, v2, v3, v4, audio_embedding):
        es, aus = [], []
        for blk, v in zip(self.blocks, (v1, v2, v3, v4)):
            e, a = blk(v, audio_embedding)
            es.append(e)
            aus.append(a)
        maps, _ = self.fusion_decoder(es, aus, audio_embedding)
        return maps[-1]


class OursInteraction(nn.Module):
    """reciprocal_encoder + fusion_decoder on the backbone's stage outputs (the visual stages are fed outside)."""

    def __init__(self, net) -> None:
        super().__init__()
        self.reciprocal_encoder = net.reciprocal_encoder
        self.fusion_decoder = net.fusion_decoder

    def forward(self, v1, v2, v3, v4, audio_embedding):
        a = audio_embedding
        es, aus = [], []
        for i, v in enumerate((v1, v2, v3, v4)):
            e, a = self.reciprocal_encoder(v, a, i)
            es.append(e)
            aus.append(a)
        maps, _ = self.fusion_decoder(es, aus, audio_embedding)
        return maps[-1]


def _flops(module: nn.Module, args: tuple[torch.Tensor, ...]) -> int:
    from torch.utils.flop_counter import FlopCounterMode

    import copy

    m = copy.deepcopy(module).to("meta")
    counter = FlopCounterMode(display=False)
    with torch.no_grad(), counter:
        m(*[a.to("meta") for a in args])
    return int(counter.get_total_flops())


def _slope(xs: list[float], ys: list[float | None]) -> float | None:
    pts = [(x, y) for x, y in zip(xs, ys) if y is not None and y > 0]
    if len(pts) < 2:
        return None
    lx = np.log([p[0] for p in pts])
    ly = np.log([p[1] for p in pts])
    return float(np.polyfit(lx, ly, 1)[0])


def interaction_scaling(preset: str = "lightavseg", sizes: tuple[int, ...] = SIZES, warmup: int = 1, runs: int = 5,
                        threads: int | None = None, dense_max_size: int | None = None, progress=None) -> dict:
    """Rows {size, ours_ms, ours_gflops, dense_ms, dense_gflops} and log-log slopes against H*W."""
    from ..presets import create_model
    from ..runtime.cores import resolve_threads
    from .protocol import interleaved_timing, summarize

    threads = resolve_threads(threads)
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    net = create_model(preset).for_inference().eval()
    ours = OursInteraction(net).eval()
    probe = _boundaries(net, 64)
    channels = [int(probe[f"v{i}"].shape[1]) for i in range(1, 5)]
    audio_dim = int(probe["audio_embedding"].shape[1])
    dense = DenseInteraction(net, channels, audio_dim).eval()
    rows = []
    for size in sizes:
        args = _boundaries(net, size)
        fargs = tuple(args[k] for k in ("v1", "v2", "v3", "v4", "audio_embedding"))
        row = {"size": size, "pixels": size * size, "ours_gflops": _flops(ours, fargs) / 1e9,
               "dense_gflops": _flops(dense, fargs) / 1e9, "ours_ms": None, "dense_ms": None}
        runners = {"ours": lambda: ours(*fargs)}
        if dense_max_size is None or size <= dense_max_size:
            runners["dense"] = lambda: dense(*fargs)
        with torch.inference_mode():
            samples = interleaved_timing(runners, warmup, runs, block=1)
        for k, s in samples.items():
            st = summarize(s)
            row[f"{k}_ms"] = st["p50"]
            row[f"{k}_latency"] = st
        rows.append(row)
        if progress:
            progress(f"interaction scaling {preset} @ {size}: ours {row['ours_ms']:.2f} ms, dense "
                     f"{row['dense_ms'] if row['dense_ms'] is None else round(row['dense_ms'], 2)} ms")
    px = [r["pixels"] for r in rows]
    slopes = {"ours_time": _slope(px, [r["ours_ms"] for r in rows]), "dense_time": _slope(px, [r["dense_ms"] for r in rows]),
              "ours_flops": _slope(px, [r["ours_gflops"] for r in rows]),
              "dense_flops": _slope(px, [r["dense_gflops"] for r in rows])}
    slopes = {k: v for k, v in slopes.items() if v is not None and math.isfinite(v)}
    return {"preset": preset, "threads": threads, "warmup": warmup, "runs": runs, "rows": rows, "slopes": slopes,
            "dense_design": "TPAVI-style cross-modal non-local block per scale (N x N weights, N = H*W, 'dot' normalisation), "
                            "same channel widths, followed by the same fusion decoder",
            "statistic": "p50 of interleaved runs, in-process torch fp32 eager",
            "x_axis": "pixels H*W of the input frame"}


@torch.no_grad()
def _boundaries(net, size: int) -> dict[str, torch.Tensor]:
    from ..model.graphs import module_io

    g = torch.Generator().manual_seed(size)
    return module_io(net, torch.randn(1, 3, size, size, generator=g), torch.randn(1, 1, 96, 64, generator=g))
