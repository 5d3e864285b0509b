"""Importing official SeaFormer and PANNs MobileNetV2 checkpoints.

The checkpoints are fabricated here with the exact key names and shapes the
official code produces. They are enumerated from the official configuration
numbers and construction rules (seaformer-seg backbone, mmseg ConvModule and
LightHead, PANNs MobileNetV2, torchlibrosa front end), never from our modules,
so a naming or shape difference in our model shows up as a failure.
"""

from __future__ import annotations

import argparse
import math
import zipfile

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from lightavseg_mobile.errors import WeightImportError
from lightavseg_mobile.model.audio_encoder import MobileNetV2AudioEncoder
from lightavseg_mobile.model.seaformer import SeaFormerBackbone
from lightavseg_mobile.presets import create_model, get_preset
from lightavseg_mobile.weights import ImportReport, load_panns_mobilenetv2, load_seaformer

Shapes = dict[str, tuple[int, ...]]

# --- official SeaFormer numbers (seaformer-seg/local_configs/seaformer/seaformer_{large,base,tiny}.py) ----------
# Block rows are (kernel, expand, channels, stride). mlp_ratios of Base/Tiny are the backbone default [2, 4];
# attn_ratio is the backbone default 2, the squeeze-axial positional tables have 16 entries, ADE20K has 150 classes.
OFFICIAL_SEAFORMER = {
    "L": {
        "cfgs": [[[3, 3, 32, 1], [3, 4, 64, 2], [3, 4, 64, 1]], [[5, 4, 128, 2], [5, 4, 128, 1]],
                 [[3, 4, 192, 2], [3, 4, 192, 1]], [[5, 4, 256, 2]], [[3, 6, 320, 2]]],
        "channels": [32, 64, 128, 192, 256, 320], "depths": [3, 3, 3], "key_dims": [16, 20, 24],
        "emb_dims": [192, 256, 320], "num_heads": 8, "mlp_ratios": [2, 4, 6],
        "head": {"in_channels": [128, 192, 256, 320], "channels": 192, "embed_dims": [128, 160, 192]},
    },
    "B": {
        "cfgs": [[[3, 1, 16, 1], [3, 4, 32, 2], [3, 3, 32, 1]], [[5, 3, 64, 2], [5, 3, 64, 1]],
                 [[3, 3, 128, 2], [3, 3, 128, 1]], [[5, 4, 192, 2]], [[3, 6, 256, 2]]],
        "channels": [16, 32, 64, 128, 192, 256], "depths": [4, 4], "key_dims": [16, 24],
        "emb_dims": [192, 256], "num_heads": 8, "mlp_ratios": [2, 4],
        "head": {"in_channels": [64, 192, 256], "channels": 160, "embed_dims": [128, 160]},
    },
    "T": {
        "cfgs": [[[3, 1, 16, 1], [3, 4, 16, 2], [3, 3, 16, 1]], [[5, 3, 32, 2], [5, 3, 32, 1]],
                 [[3, 3, 64, 2], [3, 3, 64, 1]], [[5, 3, 128, 2]], [[3, 6, 160, 2]]],
        "channels": [16, 16, 32, 64, 128, 160], "depths": [2, 2], "key_dims": [16, 24],
        "emb_dims": [128, 160], "num_heads": 4, "mlp_ratios": [2, 4],
        "head": {"in_channels": [32, 128, 160], "channels": 96, "embed_dims": [64, 96]},
    },
}
ATTN_RATIO, POS_LEN, ADE_CLASSES, IMAGENET_CLASSES = 2, 16, 150, 1000
PRESET_OF = {"L": "lightavseg", "B": "lightavseg-base", "T": "lightavseg-tiny"}

# --- official PANNs MobileNetV2 numbers (audioset_tagging_cnn pytorch/models.py, 32 kHz training config) ---------
PANNS_SETTING = [(1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 2), (6, 160, 3, 1), (6, 320, 1, 1)]
PANNS_WINDOW, PANNS_MELS, AUDIOSET_CLASSES = 1024, 64, 527


def bn_keys(prefix: str, n: int) -> Shapes:
    """BatchNorm2d (also SyncBN): affine parameters, running statistics and the batch counter."""
    return {f"{prefix}.weight": (n,), f"{prefix}.bias": (n,), f"{prefix}.running_mean": (n,),
            f"{prefix}.running_var": (n,), f"{prefix}.num_batches_tracked": ()}


def conv2d_bn(prefix: str, cin: int, cout: int, k: int = 1, groups: int = 1) -> Shapes:
    """SeaFormer's Conv2d_BN: children `c` (no bias) and `bn`."""
    return {f"{prefix}.c.weight": (cout, cin // groups, k, k), **bn_keys(f"{prefix}.bn", cout)}


def conv_module(prefix: str, cin: int, cout: int, groups: int = 1) -> Shapes:
    """mmcv ConvModule 1x1 with a norm layer: `conv` (bias off because of the norm) and `bn`."""
    return {f"{prefix}.conv.weight": (cout, cin // groups, 1, 1), **bn_keys(f"{prefix}.bn", cout)}


def make_divisible(v: float, divisor: int = 8) -> int:
    """The official channel rounding rule: nearest multiple of 8, never more than 10 % down."""
    new_v = max(divisor, int(v + divisor / 2) // divisor * divisor)
    return new_v + divisor if new_v < 0.9 * v else new_v


def official_seaformer_backbone(c: dict) -> Shapes:
    """Keys and shapes of the official SeaFormer segmentation backbone (no `backbone.` prefix)."""
    keys: Shapes = {}
    for i, rows in enumerate(c["cfgs"]):
        inp = c["channels"][i]
        if i == 0:
            keys |= conv2d_bn("smb1.stem_block.0", 3, inp, 3)
        for j, (k, t, ch, _stride) in enumerate(rows):
            out, hidden, seq = make_divisible(ch), int(round(inp * t)), f"smb{i + 1}.layer{j + 1}.conv"
            idx = 0
            if t != 1:  # pointwise expansion, then an activation at index 1
                keys |= conv2d_bn(f"{seq}.0", inp, hidden)
                idx = 2
            keys |= conv2d_bn(f"{seq}.{idx}", hidden, hidden, k, groups=hidden)
            keys |= conv2d_bn(f"{seq}.{idx + 2}", hidden, out)
            inp = out
    heads = c["num_heads"]
    for i, depth in enumerate(c["depths"]):
        dim, key_dim = c["emb_dims"][i], c["key_dims"][i]
        nh_kd, dh, mlp_hidden = key_dim * heads, int(ATTN_RATIO * key_dim) * heads, int(dim * c["mlp_ratios"][i])
        for j in range(depth):
            a = f"trans{i + 1}.transformer_blocks.{j}.attn"
            keys |= conv2d_bn(f"{a}.to_q", dim, nh_kd) | conv2d_bn(f"{a}.to_k", dim, nh_kd) | conv2d_bn(f"{a}.to_v", dim, dh)
            keys |= conv2d_bn(f"{a}.proj.1", dh, dim)
            keys |= conv2d_bn(f"{a}.proj_encode_row.1", dh, dh)
            keys[f"{a}.pos_emb_rowq.pos_embed"] = (1, nh_kd, POS_LEN)
            keys[f"{a}.pos_emb_rowk.pos_embed"] = (1, nh_kd, POS_LEN)
            keys |= conv2d_bn(f"{a}.proj_encode_column.1", dh, dh)
            keys[f"{a}.pos_emb_columnq.pos_embed"] = (1, nh_kd, POS_LEN)
            keys[f"{a}.pos_emb_columnk.pos_embed"] = (1, nh_kd, POS_LEN)
            keys |= conv2d_bn(f"{a}.dwconv", 2 * dh, 2 * dh, 3, groups=2 * dh)
            keys |= conv2d_bn(f"{a}.pwconv", 2 * dh, dim)
            m = f"trans{i + 1}.transformer_blocks.{j}.mlp"
            keys |= conv2d_bn(f"{m}.fc1", dim, mlp_hidden)
            keys[f"{m}.dwconv.weight"] = (mlp_hidden, 1, 3, 3)
            keys[f"{m}.dwconv.bias"] = (mlp_hidden,)
            keys |= conv2d_bn(f"{m}.fc2", mlp_hidden, dim)
    return keys


def official_light_head(h: dict) -> Shapes:
    """Keys and shapes of the official LightHead decode head (mmseg `decode_head.` prefix)."""
    ch, ins, embeds = h["channels"], h["in_channels"], h["embed_dims"]
    keys: Shapes = {"decode_head.conv_seg.weight": (ADE_CLASSES, ch, 1, 1), "decode_head.conv_seg.bias": (ADE_CLASSES,)}
    keys |= conv_module("decode_head.linear_fuse", ch, ch, groups=ch)  # is_dw=True
    for i, embed in enumerate(embeds):
        local_in = ins[0] if i == 0 else embeds[i - 1]
        keys |= conv_module(f"decode_head.fuse{i + 1}.local_embedding", local_in, embed)
        keys |= conv_module(f"decode_head.fuse{i + 1}.global_act", ins[i + 1], embed)
    return keys


def official_panns_mobilenetv2() -> Shapes:
    """Keys and shapes of PANNs MobileNetV2 as saved by its training script, front end included."""
    bins = PANNS_WINDOW // 2 + 1
    keys: Shapes = {"spectrogram_extractor.stft.conv_real.weight": (bins, 1, PANNS_WINDOW),
                    "spectrogram_extractor.stft.conv_imag.weight": (bins, 1, PANNS_WINDOW),
                    "logmel_extractor.melW": (bins, PANNS_MELS)}
    keys |= bn_keys("bn0", PANNS_MELS)
    keys["features.0.0.weight"] = (32, 1, 3, 3)  # conv, avgpool, bn, relu6
    keys |= bn_keys("features.0.2", 32)
    inp, n = 32, 1
    for t, c, repeats, _s in PANNS_SETTING:
        for _ in range(repeats):
            hidden, p = round(inp * t), f"features.{n}.conv"
            if t == 1:  # dw, pool, bn, relu6, pw, bn
                keys[f"{p}.0.weight"] = (hidden, 1, 3, 3)
                keys |= bn_keys(f"{p}.2", hidden)
                keys[f"{p}.4.weight"] = (c, hidden, 1, 1)
                keys |= bn_keys(f"{p}.5", c)
            else:  # pw, bn, relu6, dw, pool, bn, relu6, pw, bn
                keys[f"{p}.0.weight"] = (hidden, inp, 1, 1)
                keys |= bn_keys(f"{p}.1", hidden)
                keys[f"{p}.3.weight"] = (hidden, 1, 3, 3)
                keys |= bn_keys(f"{p}.5", hidden)
                keys[f"{p}.7.weight"] = (c, hidden, 1, 1)
                keys |= bn_keys(f"{p}.8", c)
            inp, n = c, n + 1
    keys[f"features.{n}.0.weight"] = (1280, inp, 1, 1)
    keys |= bn_keys(f"features.{n}.1", 1280)
    keys |= {"fc1.weight": (1024, 1280), "fc1.bias": (1024,),
             "fc_audioset.weight": (AUDIOSET_CLASSES, 1024), "fc_audioset.bias": (AUDIOSET_CLASSES,)}
    return keys


def fabricate(shapes: Shapes, seed: int) -> dict[str, torch.Tensor]:
    """Distinct random values per tensor, in ranges a trained network has (positive variances, int counters)."""
    g = torch.Generator().manual_seed(seed)
    out: dict[str, torch.Tensor] = {}
    for key, shape in shapes.items():
        if key.endswith("num_batches_tracked"):
            out[key] = torch.tensor(int(torch.randint(1, 10**6, (), generator=g)), dtype=torch.long)
        elif key.endswith("running_var"):
            out[key] = torch.rand(shape, generator=g) + 0.5
        elif key.endswith(("bn.weight", "running_mean")) or ".bias" in key:
            out[key] = 0.1 * torch.randn(shape, generator=g) + (1.0 if key.endswith("weight") else 0.0)
        else:
            fan_in = math.prod(shape[1:]) if len(shape) > 1 else 1
            out[key] = torch.randn(shape, generator=g) * math.sqrt(2.0 / fan_in)
    return out


def seg_checkpoint(variant: str, seed: int = 0) -> dict:
    """An mmseg segmentation checkpoint as mmcv saves it."""
    c = OFFICIAL_SEAFORMER[variant]
    shapes = {f"backbone.{k}": s for k, s in official_seaformer_backbone(c).items()} | official_light_head(c["head"])
    meta = {"mmseg_version": "0.20.2", "config": "model = dict(type='EncoderDecoder', ...)", "CLASSES": ("wall", "building"),
            "PALETTE": [[120, 120, 120], [180, 120, 120]], "epoch": 1, "iter": 160000, "seed": 0}
    return {"meta": meta, "state_dict": fabricate(shapes, seed),
            "optimizer": {"state": {}, "param_groups": [{"lr": 2.5e-4, "params": [0, 1]}]}}


def backbone_of(variant: str) -> SeaFormerBackbone:
    return SeaFormerBackbone(get_preset(PRESET_OF[variant]).visual)


def one_line_error(excinfo: pytest.ExceptionInfo) -> str:
    msg = str(excinfo.value)
    assert "\n" not in msg and "Traceback" not in msg
    return msg


# ---------------------------------------------------------------- architecture agreement


@pytest.mark.parametrize("variant", ["L", "B", "T"])
def test_official_backbone_keys_and_shapes_equal_ours(variant: str) -> None:
    official = official_seaformer_backbone(OFFICIAL_SEAFORMER[variant])
    ours = {k: tuple(v.shape) for k, v in backbone_of(variant).state_dict().items()}
    assert sorted(set(official) - set(ours)) == [] and sorted(set(ours) - set(official)) == []
    assert [k for k in official if official[k] != ours[k]] == []
    n_params = sum(math.prod(s) for k, s in official.items() if not k.rsplit(".", 1)[-1].startswith(("running_", "num_batches")))
    assert n_params == sum(p.numel() for p in backbone_of(variant).parameters())
    # The published ImageNet sizes (1.8 / 8.7 / 14.0 M) include the 1000-class classifier on the last width.
    last = OFFICIAL_SEAFORMER[variant]["channels"][-1]
    published = {"L": 14.0, "B": 8.7, "T": 1.8}[variant]
    assert round((n_params + last * IMAGENET_CLASSES + IMAGENET_CLASSES) / 1e6, 1) == published


@pytest.mark.parametrize("variant", ["L", "B", "T"])
def test_official_head_reads_the_backbone_outputs(variant: str) -> None:
    """Cross-check of the config reading: LightHead's inputs are smb2's output and every transformer stage."""
    c = OFFICIAL_SEAFORMER[variant]
    assert c["head"]["in_channels"] == [make_divisible(c["cfgs"][1][-1][2])] + c["emb_dims"]
    assert c["head"]["embed_dims"][-1] == c["head"]["channels"]


def test_official_panns_keys_and_shapes_equal_ours() -> None:
    ignored = ("spectrogram_extractor.", "logmel_extractor.", "fc_audioset.")
    official = {k: s for k, s in official_panns_mobilenetv2().items() if not k.startswith(ignored)}
    ours = {k: tuple(v.shape) for k, v in MobileNetV2AudioEncoder().state_dict().items()}
    assert official == ours


# ---------------------------------------------------------------- SeaFormer import


@pytest.mark.parametrize("variant", ["L", "B", "T"])
def test_segmentation_checkpoint_file_loads_every_tensor(variant: str, tmp_path) -> None:
    ckpt = seg_checkpoint(variant, seed=ord(variant))
    path = tmp_path / f"seaformer_{variant}_ade20k.pth"
    torch.save(ckpt, path)
    model = create_model(PRESET_OF[variant])
    report = load_seaformer(model.visual, path)
    assert isinstance(report, ImportReport) and report.source == str(path)
    state = model.visual.state_dict()
    fab = ckpt["state_dict"]
    assert report.loaded_keys == len(state) == sum(k.startswith("backbone.") for k in fab)
    assert sorted(report.ignored_keys) == sorted(k for k in fab if k.startswith("decode_head."))
    for key, value in state.items():
        assert torch.equal(value, fab[f"backbone.{key}"]), key
    assert "mmseg" in report.layout and str(report.loaded_keys) in report.summary()


def test_classification_training_checkpoint_prefers_ema_and_ignores_classifier(tmp_path) -> None:
    shapes = official_seaformer_backbone(OFFICIAL_SEAFORMER["T"])
    shapes |= {"linear.weight": (IMAGENET_CLASSES, 160), "linear.bias": (IMAGENET_CLASSES,)}
    raw, ema = fabricate(shapes, seed=1), fabricate(shapes, seed=2)
    # timm's training checkpoint: both weight sets plus plain-data extras (an argparse Namespace, numpy metric).
    ckpt = {"epoch": 599, "arch": "SeaFormer_T", "state_dict": raw, "state_dict_ema": ema,
            "args": argparse.Namespace(lr=1e-3, model="SeaFormer_T"), "metric": np.float64(68.1), "version": 2}
    path = tmp_path / "SeaFormer_T.pth"
    torch.save(ckpt, path)
    backbone = backbone_of("T")
    report = load_seaformer(backbone, path)
    assert sorted(report.ignored_keys) == ["linear.bias", "linear.weight"]
    assert "state_dict_ema" in report.layout
    for key, value in backbone.state_dict().items():
        assert torch.equal(value, ema[key]), key


def test_bare_and_dataparallel_state_dicts_load() -> None:
    shapes = official_seaformer_backbone(OFFICIAL_SEAFORMER["T"])
    fab = fabricate(shapes, seed=3)
    backbone = backbone_of("T")
    report = load_seaformer(backbone, {f"module.{k}": v for k, v in fab.items()})
    assert report.loaded_keys == len(fab) and report.ignored_keys == []
    assert torch.equal(backbone.state_dict()["trans2.transformer_blocks.1.mlp.fc2.c.weight"],
                       fab["trans2.transformer_blocks.1.mlp.fc2.c.weight"])


def test_tiny_checkpoint_into_large_preset_names_keys_and_variant(tmp_path) -> None:
    path = tmp_path / "seaformer_T.pth"
    torch.save(seg_checkpoint("T"), path)
    backbone = backbone_of("L")
    before = {k: v.clone() for k, v in backbone.state_dict().items()}
    with pytest.raises(WeightImportError) as excinfo:
        load_seaformer(backbone, path)
    msg = one_line_error(excinfo)
    large = official_seaformer_backbone(OFFICIAL_SEAFORMER["L"])
    tiny = official_seaformer_backbone(OFFICIAL_SEAFORMER["T"])
    first_missing = next(k for k in large if k not in tiny)
    assert "preset lightavseg " in msg and "missing" in msg and first_missing in msg
    assert "SeaFormer-T" in msg and "lightavseg-tiny" in msg
    # A failed import leaves the backbone as it was.
    assert all(torch.equal(v, before[k]) for k, v in backbone.state_dict().items())


def test_renamed_key_is_named() -> None:
    ckpt = seg_checkpoint("T")
    sd = ckpt["state_dict"]
    old = "backbone.trans1.transformer_blocks.0.attn.to_k.c.weight"
    sd["backbone.trans1.transformer_blocks.0.attn.to_key.c.weight"] = sd.pop(old)
    with pytest.raises(WeightImportError) as excinfo:
        load_seaformer(backbone_of("T"), ckpt)
    msg = one_line_error(excinfo)
    assert "missing 1 keys (trans1.transformer_blocks.0.attn.to_k.c.weight)" in msg
    assert "unexpected 1 keys (trans1.transformer_blocks.0.attn.to_key.c.weight)" in msg
    assert "is it the SeaFormer-T checkpoint?" in msg


def test_wrong_shape_is_named_with_both_shapes() -> None:
    ckpt = seg_checkpoint("T")
    ckpt["state_dict"]["backbone.smb3.layer1.conv.0.c.weight"] = torch.zeros(97, 32, 1, 1)
    with pytest.raises(WeightImportError) as excinfo:
        load_seaformer(backbone_of("T"), ckpt)
    msg = one_line_error(excinfo)
    assert "smb3.layer1.conv.0.c.weight has shape (97, 32, 1, 1), expected (96, 32, 1, 1)" in msg


# ---------------------------------------------------------------- PANNs import


def panns_reference(sd: dict[str, torch.Tensor], logmel: torch.Tensor) -> torch.Tensor:
    """PANNs MobileNetV2 embedding computed directly from its state dict (its forward up to relu(fc1))."""

    def bn(x: torch.Tensor, p: str) -> torch.Tensor:
        return F.batch_norm(x, sd[f"{p}.running_mean"], sd[f"{p}.running_var"], sd[f"{p}.weight"], sd[f"{p}.bias"], False, 0.0, 1e-5)

    def relu6(x: torch.Tensor) -> torch.Tensor:
        return x.clamp(0.0, 6.0)

    x = bn(logmel.transpose(1, 3), "bn0").transpose(1, 3)
    x = relu6(bn(F.avg_pool2d(F.conv2d(x, sd["features.0.0.weight"], padding=1), 2), "features.0.2"))
    inp, n = 32, 1
    for t, c, repeats, s in PANNS_SETTING:
        for r in range(repeats):
            stride, p = (s if r == 0 else 1), f"features.{n}.conv"
            if t == 1:
                dw, bn1, pw, bn2, y = "0", "2", "4", "5", x
            else:
                y = relu6(bn(F.conv2d(x, sd[f"{p}.0.weight"]), f"{p}.1"))
                dw, bn1, pw, bn2 = "3", "5", "7", "8"
            y = F.conv2d(y, sd[f"{p}.{dw}.weight"], padding=1, groups=y.shape[1])
            y = relu6(bn(F.avg_pool2d(y, stride) if stride > 1 else y, f"{p}.{bn1}"))
            y = bn(F.conv2d(y, sd[f"{p}.{pw}.weight"]), f"{p}.{bn2}")
            x = x + y if (stride == 1 and inp == c) else y
            inp, n = c, n + 1
    x = relu6(bn(F.conv2d(x, sd[f"features.{n}.0.weight"]), f"features.{n}.1"))
    x = x.mean(dim=3)
    x = x.max(dim=2).values + x.mean(dim=2)
    return F.relu(F.linear(x, sd["fc1.weight"], sd["fc1.bias"]))


@pytest.mark.slow
def test_panns_checkpoint_file_loads_and_embeds_like_panns(tmp_path) -> None:
    sd = fabricate(official_panns_mobilenetv2(), seed=5)
    # As the PANNs training script saves it: the sampler state holds numpy arrays.
    ckpt = {"iteration": 560000, "model": sd, "sampler": {"indexes": np.arange(6), "pointer": 2}}
    path = tmp_path / "MobileNetV2_mAP=0.383.pth"
    torch.save(ckpt, path)
    encoder = create_model("lightavseg-tiny").audio
    report = load_panns_mobilenetv2(encoder, path)
    expected_ignored = [k for k in sd if k.startswith(("spectrogram_extractor.", "logmel_extractor.", "fc_audioset."))]
    assert sorted(report.ignored_keys) == sorted(expected_ignored) and len(expected_ignored) == 5
    assert report.loaded_keys == len(encoder.state_dict()) == len(sd) - 5
    assert any("n_fft 1024" in note for note in report.notes)
    for key, value in encoder.state_dict().items():
        assert torch.equal(value, sd[key]), key
    logmel = torch.randn(2, 1, 96, 64, generator=torch.Generator().manual_seed(6)) * 2.0 - 4.0
    with torch.no_grad():
        ours = encoder.eval()(logmel)
        ref = panns_reference(sd, logmel)
    assert ours.shape == (2, 1024, 1, 1) and ref.abs().max() > 0.1
    torch.testing.assert_close(ours[:, :, 0, 0], ref, rtol=1e-4, atol=1e-5)


def test_panns_old_checkpoint_without_batch_counters_and_bare_dict() -> None:
    sd = fabricate(official_panns_mobilenetv2(), seed=7)
    bare = {k: v for k, v in sd.items() if not k.endswith("num_batches_tracked")}
    encoder = MobileNetV2AudioEncoder()
    report = load_panns_mobilenetv2(encoder, bare)
    assert report.loaded_keys == len(bare) - 5
    assert torch.equal(encoder.state_dict()["features.18.0.weight"], sd["features.18.0.weight"])


def test_legacy_format_file_from_numpy_1_era_loads(tmp_path) -> None:
    """Pre-2020 checkpoints use torch's legacy (non-zip) format, and numpy 1.x named its module numpy.core."""
    sd = fabricate(official_panns_mobilenetv2(), seed=9)
    path = tmp_path / "MobileNetV2_legacy.pth"
    torch.save({"model": sd, "sampler": {"indexes": np.arange(4)}}, path, _use_new_zipfile_serialization=False)
    raw = path.read_bytes()
    assert b"numpy._core.multiarray" in raw and not zipfile.is_zipfile(path)
    path.write_bytes(raw.replace(b"numpy._core.multiarray", b"numpy.core.multiarray"))
    encoder = MobileNetV2AudioEncoder()
    report = load_panns_mobilenetv2(encoder, path)
    assert report.loaded_keys == len(sd) - 5
    assert torch.equal(encoder.state_dict()["fc1.weight"], sd["fc1.weight"])


def test_panns_wrong_shape_and_wrong_model_are_named() -> None:
    sd = fabricate(official_panns_mobilenetv2(), seed=8)
    sd["fc1.weight"] = torch.zeros(512, 1280)
    with pytest.raises(WeightImportError) as excinfo:
        load_panns_mobilenetv2(MobileNetV2AudioEncoder(), {"model": sd})
    assert "fc1.weight has shape (512, 1280), expected (1024, 1280)" in one_line_error(excinfo)
    cnn = {"conv_block1.conv1.weight": torch.zeros(64, 1, 3, 3), "fc1.weight": torch.zeros(2048, 2048)}
    with pytest.raises(WeightImportError) as excinfo:
        load_panns_mobilenetv2(MobileNetV2AudioEncoder(), {"model": cnn})
    msg = one_line_error(excinfo)
    assert "missing" in msg and "bn0.weight" in msg and "conv_block1.conv1.weight" in msg and "Cnn" in msg


# ---------------------------------------------------------------- unreadable files

RAN: list[str] = []


def _record(tag: str) -> str:
    RAN.append(tag)
    return tag


class Smuggled:
    """An object whose unpickling would run code."""

    def __reduce__(self):
        return (_record, ("executed",))


def test_unreadable_files_are_one_line_errors(tmp_path) -> None:
    missing = tmp_path / "nope.pth"
    with pytest.raises(WeightImportError, match="not found"):
        load_seaformer(backbone_of("T"), missing)
    garbage = tmp_path / "garbage.pth"
    garbage.write_bytes(b"<html>403 Forbidden</html>" * 10)
    with pytest.raises(WeightImportError) as excinfo:
        load_panns_mobilenetv2(MobileNetV2AudioEncoder(), garbage)
    assert "cannot read" in one_line_error(excinfo)
    good = tmp_path / "good.pth"
    torch.save(seg_checkpoint("T"), good)
    truncated = tmp_path / "truncated.pth"
    truncated.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    assert not zipfile.is_zipfile(truncated)
    with pytest.raises(WeightImportError) as excinfo:
        load_seaformer(backbone_of("T"), truncated)
    assert str(truncated) in one_line_error(excinfo)
    not_a_dict = tmp_path / "tensor.pth"
    torch.save(torch.zeros(3), not_a_dict)
    with pytest.raises(WeightImportError, match="not a state dict"):
        load_seaformer(backbone_of("T"), not_a_dict)


def test_code_in_a_checkpoint_is_refused_not_run(tmp_path) -> None:
    path = tmp_path / "smuggled.pth"
    torch.save({"model": {"fc1.bias": torch.zeros(1024)}, "extra": Smuggled()}, path)
    with pytest.raises(WeightImportError) as excinfo:
        load_panns_mobilenetv2(MobileNetV2AudioEncoder(), path)
    assert "_record" in one_line_error(excinfo)
    assert RAN == []
