"""The exported torch graphs: sub-model boundaries reproduce the whole network; the waveform graph matches numpy log-mel."""

from __future__ import annotations

import numpy as np
import torch

from lightavseg_mobile.audio import VGGISH, log_mel
from lightavseg_mobile.model import graphs as graph
from lightavseg_mobile.export.strip_check import count_params
from lightavseg_mobile.presets import create_model


def _net():
    torch.manual_seed(0)
    return create_model("lightavseg-tiny").for_inference()


@torch.no_grad()
def test_split_parts_chain_back_to_the_whole_model():
    net = _net()
    frame, logmel = torch.randn(1, 3, 224, 224), torch.randn(1, 1, 96, 64)
    io = graph.module_io(net, frame, logmel)
    want = net(frame, logmel)
    assert torch.equal(io["mask_logits"], want)
    parts = {n: graph.part(net, n) for n in graph.SPLIT_MODULES}
    # Each part maps the float boundary tensors to the next boundary tensors exactly.
    for name, p in parts.items():
        outs = p(*(io[i] for i in graph.PART_INPUTS[name]))
        outs = outs if isinstance(outs, tuple) else (outs,)
        assert len(outs) == len(graph.PART_OUTPUTS[name])
        for o, n in zip(outs, graph.PART_OUTPUTS[name]):
            assert torch.allclose(o, io[n], atol=1e-6), (name, n)
    # Together the parts hold exactly the inference module's parameters (no alignment branch anywhere).
    assert sum(count_params(p) for p in parts.values()) == count_params(net)


@torch.no_grad()
def test_waveform_graph_matches_numpy_logmel():
    net = _net()
    rng = np.random.default_rng(0)
    wave = (0.3 * np.sin(np.arange(VGGISH.patch_samples) * 0.05) + 0.01 * rng.standard_normal(VGGISH.patch_samples)).astype(np.float32)
    frame = torch.randn(1, 3, 224, 224)
    lm = log_mel(wave, VGGISH.sample_rate, num_patches=1)[None].astype(np.float32)  # [1,1,96,64]
    want = net(frame, torch.from_numpy(lm))
    got = graph.WaveformModel(net)(frame, torch.from_numpy(wave[None]))
    assert torch.max(torch.abs(got - want)) < 1e-3
