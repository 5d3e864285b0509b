"""Checkpoint files: round trip, atomic write, and one-line errors for every kind of damage."""

from __future__ import annotations

import subprocess
import sys
import zipfile

import pytest
import torch

from lightavseg_mobile.checkpoint import FORMAT, load_checkpoint, load_state_checked, save_checkpoint
from lightavseg_mobile.errors import CheckpointError
from lightavseg_mobile.presets import create_model, get_preset


@pytest.fixture(scope="module")
def tiny_ckpt(tmp_path_factory):
    torch.manual_seed(0)
    model = create_model("lightavseg-tiny")
    path = tmp_path_factory.mktemp("ckpt") / "tiny.pt"
    save_checkpoint(path, model, get_preset("lightavseg-tiny"), meta={"stage": "seg", "epoch": 3})
    return path, model


def test_round_trip_exact(tiny_ckpt):
    path, model = tiny_ckpt
    ckpt = load_checkpoint(path, expect_preset="lightavseg-tiny")
    assert ckpt.meta == {"stage": "seg", "epoch": 3}
    rebuilt = ckpt.build_model()
    for (k, a), (k2, b) in zip(model.state_dict().items(), rebuilt.state_dict().items()):
        assert k == k2 and torch.equal(a, b), k


def test_half_precision_on_disk(tmp_path):
    model = create_model("lightavseg-tiny")
    save_checkpoint(tmp_path / "h.pt", model, get_preset("lightavseg-tiny"), half=True)
    ckpt = load_checkpoint(tmp_path / "h.pt")
    w = ckpt.state_dict["seg_head.classifier.weight"]
    assert w.dtype == torch.float32  # loaded back as fp32
    assert torch.equal(w, model.state_dict()["seg_head.classifier.weight"].half().float())


def test_missing_and_empty(tmp_path):
    with pytest.raises(CheckpointError, match="not found"):
        load_checkpoint(tmp_path / "nope.pt")
    (tmp_path / "empty.pt").write_bytes(b"")
    with pytest.raises(CheckpointError, match="empty"):
        load_checkpoint(tmp_path / "empty.pt")


def test_truncated(tiny_ckpt, tmp_path):
    data = tiny_ckpt[0].read_bytes()
    bad = tmp_path / "trunc.pt"
    bad.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="truncated|corrupt"):
        load_checkpoint(bad)


def test_corrupt_bytes_inside(tiny_ckpt, tmp_path):
    data = bytearray(tiny_ckpt[0].read_bytes())
    # Flip bytes in the middle of the tensor data: the zip still opens, the content is damaged.
    mid = len(data) // 2
    data[mid : mid + 64] = bytes(64)
    bad = tmp_path / "flip.pt"
    bad.write_bytes(bytes(data))
    with pytest.raises(CheckpointError):
        load_checkpoint(bad)


def test_wrong_preset_and_wrong_version(tiny_ckpt, tmp_path):
    with pytest.raises(CheckpointError, match="holds preset 'lightavseg-tiny', not 'lightavseg'"):
        load_checkpoint(tiny_ckpt[0], expect_preset="lightavseg")
    payload = torch.load(tiny_ckpt[0], weights_only=True)
    payload["format_version"] = 99
    torch.save(payload, tmp_path / "v99.pt")
    with pytest.raises(CheckpointError, match="format version 99"):
        load_checkpoint(tmp_path / "v99.pt")
    payload["format_version"] = 1
    payload["format"] = "something-else"
    torch.save(payload, tmp_path / "other.pt")
    with pytest.raises(CheckpointError, match=f"no '{FORMAT}' header"):
        load_checkpoint(tmp_path / "other.pt")


def test_edited_weights_fail_hash(tiny_ckpt, tmp_path):
    payload = torch.load(tiny_ckpt[0], weights_only=True)
    payload["state_dict"]["seg_head.classifier.bias"] += 1
    torch.save(payload, tmp_path / "edited.pt")
    with pytest.raises(CheckpointError, match="stored hash"):
        load_checkpoint(tmp_path / "edited.pt")


def test_not_a_zip(tmp_path):
    (tmp_path / "junk.pt").write_bytes(b"this is not a checkpoint at all" * 10)
    assert not zipfile.is_zipfile(tmp_path / "junk.pt")
    with pytest.raises(CheckpointError, match="truncated or not a checkpoint"):
        load_checkpoint(tmp_path / "junk.pt")


def test_state_mismatch_names_first_keys():
    model = create_model("lightavseg-tiny")
    state = dict(model.state_dict())
    state.pop("seg_head.classifier.weight")
    state["seg_head.extra"] = torch.zeros(1)
    with pytest.raises(CheckpointError, match=r"missing 1 key\(s\) e\.g\. seg_head\.classifier\.weight; unexpected 1 key\(s\) e\.g\. seg_head\.extra"):
        load_state_checked(model, state, source="x")


def test_cli_reports_one_line_exit_2(tiny_ckpt, tmp_path):
    bad = tmp_path / "trunc.pt"
    bad.write_bytes(tiny_ckpt[0].read_bytes()[:1000])
    r = subprocess.run([sys.executable, "-m", "lightavseg_mobile", "info", "--preset", "lightavseg-tiny", "--checkpoint", str(bad)],
                       capture_output=True, text=True)
    assert r.returncode == 2
    assert r.stderr.count("\n") == 1 and r.stderr.startswith("error: ") and "Traceback" not in r.stderr


@pytest.mark.parametrize("bad", [
    pytest.param(("state_dict", "seg_head.classifier.bias", "not a tensor"), id="str-value"),
    pytest.param(("state_dict", "seg_head.classifier.bias", 3), id="int-value"),
    pytest.param(("state_dict", "seg_head.classifier.bias", [1.0, 2.0]), id="list-value"),
    pytest.param(("state_dict", "seg_head.classifier.bias", {"nested": torch.zeros(2)}), id="dict-value"),
    pytest.param(("state_dict", 7, torch.zeros(1)), id="int-key"),
])
def test_non_tensor_state_entries_are_one_line_errors(tiny_ckpt, tmp_path, bad):
    # weights_only=True loads these fine; hashing them used to raise AttributeError ('str' has no 'detach').
    _, key, value = bad
    payload = torch.load(tiny_ckpt[0], weights_only=True)
    payload["state_dict"][key] = value
    torch.save(payload, tmp_path / "bad.pt")
    with pytest.raises(CheckpointError, match="not a tensor") as err:
        load_checkpoint(tmp_path / "bad.pt")
    assert "\n" not in str(err.value)


def test_non_dict_meta_and_non_string_preset_are_one_line_errors(tiny_ckpt, tmp_path):
    payload = torch.load(tiny_ckpt[0], weights_only=True)
    payload["meta"] = torch.zeros(3)
    torch.save(payload, tmp_path / "meta.pt")
    with pytest.raises(CheckpointError, match="'meta' is a Tensor") as err:
        load_checkpoint(tmp_path / "meta.pt")
    assert "\n" not in str(err.value)
    payload = torch.load(tiny_ckpt[0], weights_only=True)
    payload["preset"] = torch.zeros(2, 2)
    torch.save(payload, tmp_path / "preset.pt")
    with pytest.raises(CheckpointError, match="'preset' is a Tensor") as err:
        load_checkpoint(tmp_path / "preset.pt")
    assert "\n" not in str(err.value)
