"""The reference network: presets, names, parameter budget, shapes, inference module, linear interaction cost."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from lightavseg_mobile.errors import UserError
from lightavseg_mobile.model import INFERENCE_MODULES, LightAVSegInference
from lightavseg_mobile.model.cost import module_flops, module_params
from lightavseg_mobile.model.layers import AvgPoolDepthwise, avg_downsample, linear_resize_matrix
from lightavseg_mobile.presets import PRESETS, create_model, get_preset


@pytest.fixture(scope="module")
def large():
    torch.manual_seed(0)
    return create_model("lightavseg").eval()


def test_presets_registered():
    assert {"lightavseg", "lightavseg-base", "lightavseg-tiny"} <= set(PRESETS)
    with pytest.raises(UserError, match="choose one of"):
        get_preset("lightavseg-huge")


def test_top_level_module_names(large):
    names = [n for n, _ in large.named_children()]
    assert names == ["visual", "audio", "reciprocal_encoder", "fusion_decoder", "seg_head", "alignment"]
    inf = large.for_inference()
    assert [n for n, _ in inf.named_children()] == list(INFERENCE_MODULES)
    assert not any("alignment" in k for k in inf.state_dict())


def test_parameter_budget_matches_paper(large):
    # Paper: 20.5 M parameters in total; the issue allows 5 %.
    total = module_params(large)["total"]
    assert abs(total - 20.5e6) / 20.5e6 <= 0.05, total
    # SeaFormer-L backbone is about 14 M in the SeaFormer paper (13.7 M without its head).
    assert 13.0e6 < module_params(large)["visual"] < 14.5e6


@pytest.mark.parametrize("name", list(PRESETS))
@pytest.mark.parametrize("size", [224, 160])
def test_forward_shapes_every_preset(name, size):
    torch.manual_seed(0)
    m = create_model(name).eval()
    with torch.no_grad():
        out = m(torch.randn(2, 3, size, size), torch.randn(2, 1, 96, 64))
    assert out[0].shape == (2, 1, size, size)
    assert len(out) == 4  # mask logits + alignment logits at 3 scales
    assert [o.shape[-1] for o in out[1:]] == [size // 16, size // 8, size // 4]


def test_non_square_multiple_of_32():
    m = create_model("lightavseg-tiny").eval()
    with torch.no_grad():
        out = m.for_inference()(torch.randn(1, 3, 256, 320), torch.randn(1, 1, 96, 64))
    assert out.shape == (1, 1, 256, 320)


def test_for_inference_is_bit_exact_and_detached(large):
    torch.manual_seed(1)
    x, a = torch.randn(2, 3, 224, 224), torch.randn(2, 1, 96, 64)
    inf = large.for_inference()
    assert isinstance(inf, LightAVSegInference) and not inf.training
    with torch.no_grad():
        full = large(x, a)[0]
        deploy = inf(x, a)
    assert torch.equal(full, deploy)
    # A deep copy: editing the deployable module leaves the training model alone.
    with torch.no_grad():
        inf.seg_head.classifier.bias.add_(1.0)
    assert not torch.equal(inf.seg_head.classifier.bias, large.seg_head.classifier.bias)


def test_inference_params_exclude_alignment(large):
    p = module_params(large)
    inf = large.for_inference()
    assert sum(t.numel() for t in inf.parameters()) == p["total"] - p["alignment"]
    assert p["alignment"] > 0


def test_audio_embedding_reaches_the_mask(large):
    # Randomly initialised ReLU6 stacks saturate, so drive the audio embedding directly.
    torch.manual_seed(2)
    x, lm = torch.randn(1, 3, 224, 224), torch.randn(1, 1, 96, 64)
    inf = large.for_inference()
    outs = []
    for seed in (3, 4):
        emb = torch.rand(1, 1024, 1, 1, generator=torch.Generator().manual_seed(seed))
        handle = inf.audio.register_forward_hook(lambda mod, inp, out, e=emb: e)
        with torch.no_grad():
            outs.append(inf(x, lm))
        handle.remove()
    assert not torch.allclose(outs[0], outs[1])


@pytest.mark.slow
def test_interaction_flops_linear_in_pixels(large):
    # The paper's claim: reciprocal encoder + fusion decoder cost grows linearly with H*W.
    per_pixel = []
    for size in (224, 448, 896):
        f = module_flops(large, size)
        per_pixel.append((f["reciprocal_encoder"] + f["fusion_decoder"]) / (size * size))
    assert max(per_pixel) / min(per_pixel) <= 1.10, per_pixel
    assert all(v > 0 for v in per_pixel)


def test_flops_attribution_sums_to_total(large):
    f = module_flops(large, 224)
    assert sum(v for k, v in f.items() if k != "total") == f["total"]
    assert f["visual"] > 0.7 * f["total"]  # the paper: the backbone dominates


@pytest.mark.parametrize("src,dst", [(16, 7), (16, 14), (16, 28), (20, 8), (16, 16), (7, 16)])
def test_positional_resize_matrix_equals_linear_interpolation(src, dst):
    # The exported graph uses one constant matmul in place of F.interpolate's index arithmetic.
    x = torch.randn(2, 5, src)
    want = F.interpolate(x, size=dst, mode="linear", align_corners=False)
    assert torch.allclose(x @ linear_resize_matrix(src, dst), want, atol=1e-5)


def test_depthwise_average_pool_equals_avgpool_and_keeps_checkpoint_keys():
    x = torch.randn(2, 8, 95, 63)  # odd sizes: both floor
    assert torch.allclose(AvgPoolDepthwise(8, 2)(x), nn.AvgPool2d(2)(x), atol=1e-6)
    assert isinstance(avg_downsample(8, 1), nn.Identity)
    # The fixed kernel is not state: PANNs-named checkpoints load with strict key matching.
    keys = create_model("lightavseg-tiny").audio.state_dict().keys()
    assert not [k for k in keys if "pool_kernel" in k]
