"""lavseg-train / lavseg-eval / lavseg-info end to end on a tiny synthetic set: stages, resume, interrupt, errors."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from lightavseg_mobile.checkpoint import load_checkpoint
from lightavseg_mobile.data.synth import write_synthetic

PRESET = "lightavseg-tiny"


def lavseg(*args: str, timeout: float = 600) -> subprocess.CompletedProcess:
    env = dict(os.environ, OMP_NUM_THREADS="1")
    return subprocess.run([sys.executable, "-m", "lightavseg_mobile", *args], capture_output=True, text=True, timeout=timeout, env=env)


def seg_args(data, audio_ckpt, run) -> list[str]:
    """`lavseg-train` seg-stage arguments on the tiny set (epochs added by each test)."""
    return ["train", "--preset", PRESET, "--data", str(data), "--out", str(run), "--image-size", "64", "--batch-size", "4",
            "--audio-init", str(audio_ckpt), "--quiet"]


@pytest.fixture(scope="module")
def tiny_set(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("synth") / "set"
    write_synthetic(root, videos=10, seed=5, image_size=64, splits={"train": 0.6, "val": 0.2, "test": 0.2})
    return root


@pytest.fixture(scope="module")
def audio_ckpt(tiny_set, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("audio")
    r = lavseg("train", "--stage", "audio", "--preset", PRESET, "--data", str(tiny_set), "--out", str(out), "--epochs", "1",
               "--batch-size", "4", "--quiet")
    assert r.returncode == 0, r.stderr
    return out / "audio.pt"


def test_audio_stage_writes_classifier(audio_ckpt):
    ckpt = load_checkpoint(audio_ckpt)
    assert ckpt.meta["stage"] == "audio" and len(ckpt.meta["classes"]) == 8
    assert tuple(ckpt.meta["classifier_weight"].shape) == (8, 1024)


def test_seg_stage_needs_audio_encoder(tiny_set, tmp_path):
    r = lavseg("train", "--preset", PRESET, "--data", str(tiny_set), "--out", str(tmp_path / "run"), "--epochs", "1", "--image-size", "64")
    assert r.returncode == 2 and r.stderr.startswith("error: the audio encoder is frozen but untrained")
    assert "Traceback" not in r.stderr


def test_seg_stage_trains_resumes_and_freezes_audio(tiny_set, audio_ckpt, tmp_path):
    run = tmp_path / "run"
    base = seg_args(tiny_set, audio_ckpt, run)
    r = lavseg(*base, "--epochs", "1")
    assert r.returncode == 0, r.stderr
    first = load_checkpoint(run / "last.pt")
    assert first.meta["epoch"] == 1 and first.optimizer is not None
    audio_before = {k: v for k, v in first.state_dict.items() if k.startswith("audio.")}
    imported = {k: v for k, v in load_checkpoint(audio_ckpt).state_dict.items() if k.startswith("audio.")}
    assert all((audio_before[k] == imported[k]).all() for k in imported)  # frozen: untouched by training
    # Asking for more epochs continues from last.pt instead of starting over.
    r = lavseg(*base, "--epochs", "2")
    assert r.returncode == 0, r.stderr
    assert "resuming from" in r.stdout
    hist = json.loads((run / "history.json").read_text())
    assert [e["epoch"] for e in hist["epochs"]] == [1, 2]
    final = load_checkpoint(run / "model.pt")
    assert final.meta["epoch"] == 2
    assert not any(p.name.endswith(".part") for p in run.iterdir())


def test_interrupt_keeps_last_finished_epoch(tiny_set, audio_ckpt, tmp_path):
    run = tmp_path / "run"
    env = dict(os.environ, OMP_NUM_THREADS="1")
    proc = subprocess.Popen([sys.executable, "-m", "lightavseg_mobile", "train", "--preset", PRESET, "--data", str(tiny_set),
                             "--out", str(run), "--image-size", "64", "--batch-size", "2", "--epochs", "200",
                             "--audio-init", str(audio_ckpt), "--quiet"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    deadline = time.time() + 300
    while not (run / "last.pt").exists() and time.time() < deadline:
        time.sleep(0.5)
    assert (run / "last.pt").exists()
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert err.strip().startswith("interrupted:") and "Traceback" not in err
    ckpt = load_checkpoint(run / "last.pt")  # intact, loadable
    hist = json.loads((run / "history.json").read_text())
    assert ckpt.meta["epoch"] == len(hist["epochs"]) >= 1
    assert not (run / "model.pt").exists()


def test_eval_and_info_json(tiny_set, audio_ckpt, tmp_path):
    r = lavseg("eval", str(audio_ckpt), "--data", str(tiny_set), "--split", "test", "--json", "--report", str(tmp_path / "rep"))
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert 0.0 <= out["miou"] <= 1.0 and 0.0 <= out["f"] <= 1.0 and out["clips"] >= 1
    assert (tmp_path / "rep" / "report.md").is_file()
    r = lavseg("info", "--preset", PRESET, "--json")
    info = json.loads(r.stdout)
    assert set(info["flops"]) == {"visual", "audio", "reciprocal_encoder", "fusion_decoder", "seg_head", "total"}
    assert info["params"]["total"] == info["inference_params"] + info["params"]["alignment"]


@pytest.mark.parametrize(
    "args, message",
    [
        (["train", "--data", "/nonexistent", "--out", "x"], "is not a folder"),
        (["train", "--data", ".", "--out", "x", "--image-size", "100"], "not a positive multiple of 32"),
        (["train", "--data", ".", "--out", "x", "--preset", "nope"], "unknown preset"),
        (["info", "--image-size", "33"], "not a positive multiple of 32"),
        (["eval", "/nonexistent.pt"], "checkpoint not found"),
        # argparse mistakes too (console.Parser): one line, not a usage dump.
        (["train", "--data", ".", "--out", "x", "--epochs", "many"], "invalid int value"),
        (["info", "--frobnicate"], "unrecognized arguments"),
    ],
)
def test_user_mistakes_are_one_line(args, message):
    r = lavseg(*args)
    assert r.returncode == 2, (r.stdout, r.stderr)
    assert message in r.stderr and r.stderr.count("\n") == 1 and "Traceback" not in r.stderr


@pytest.mark.slow
def test_resume_refuses_a_changed_config_unless_forced(tiny_set, audio_ckpt, tmp_path):
    run = tmp_path / "run"
    base = seg_args(tiny_set, audio_ckpt, run)
    assert lavseg(*base, "--epochs", "1").returncode == 0
    r = lavseg(*base, "--epochs", "2", "--lr", "0.01")
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "Traceback" not in r.stderr
    assert "trained with another config (lr: 0.0001 -> 0.01)" in r.stderr and "--force-config" in r.stderr
    assert load_checkpoint(run / "last.pt").meta["epoch"] == 1  # nothing was trained
    r = lavseg(*base, "--epochs", "2", "--lr", "0.01", "--force-config")
    assert r.returncode == 0, r.stderr
    assert "changed config" in r.stdout and load_checkpoint(run / "last.pt").meta["config"]["lr"] == 0.01


@pytest.mark.slow
def test_kill_between_checkpoint_and_history_loses_no_epoch(tiny_set, audio_ckpt, tmp_path):
    """A kill after last.pt was published but before history.json was: the resume rebuilds history from last.pt."""
    run = tmp_path / "run"
    base = seg_args(tiny_set, audio_ckpt, run)
    assert lavseg(*base, "--epochs", "1").returncode == 0
    stale = json.loads((run / "history.json").read_text())
    stale["epochs"] = []  # history.json as it was before epoch 1's write
    (run / "history.json").write_text(json.dumps(stale))
    assert lavseg(*base, "--epochs", "2").returncode == 0
    hist = json.loads((run / "history.json").read_text())
    assert [e["epoch"] for e in hist["epochs"]] == [1, 2]
    assert load_checkpoint(run / "last.pt").meta["history"]["epochs"] == hist["epochs"]


@pytest.mark.slow
def test_audio_stage_checkpoints_every_epoch_and_resumes(tiny_set, tmp_path):
    out = tmp_path / "audio"
    base = ["train", "--stage", "audio", "--preset", PRESET, "--data", str(tiny_set), "--out", str(out), "--batch-size", "4",
            "--quiet"]
    assert lavseg(*base, "--epochs", "1").returncode == 0
    mid = load_checkpoint(out / "audio_last.pt")
    assert mid.meta["stage"] == "audio-partial" and mid.meta["epoch"] == 1 and mid.optimizer is not None
    r = lavseg(*base, "--epochs", "2")
    assert r.returncode == 0, r.stderr
    assert "resuming from" in r.stdout and "at epoch 1" in r.stdout
    hist = json.loads((out / "audio_history.json").read_text())
    assert [e["epoch"] for e in hist["epochs"]] == [1, 2]
    assert load_checkpoint(out / "audio.pt").meta["stage"] == "audio"
    r = lavseg(*base, "--epochs", "3", "--seed", "7")
    assert r.returncode == 2 and "seed: 0 -> 7" in r.stderr
