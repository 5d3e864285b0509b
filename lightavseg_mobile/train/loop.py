"""Training loops: audio-encoder pre-training and the main segmentation stage; resumable and atomic."""

from __future__ import annotations

import json
import math
import signal
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from torch import nn

from ..checkpoint import load_checkpoint, save_checkpoint
from ..data.clip import Clip
from ..data.heldout import load_split
from ..errors import CheckpointError, UserError
from ..evaluate import ImageContract, evaluate, torch_predictor
from ..io_atomic import write_text_atomic
from ..presets import create_model, get_preset
from .config import TrainConfig, config_differences
from .frames import FrameBank
from .losses import total_loss

LAST = "last.pt"
FINAL = "model.pt"
HISTORY = "history.json"
AUDIO_LAST = "audio_last.pt"
AUDIO_HISTORY = "audio_history.json"


def _check_resume_config(last: Path, stored: object, cfg: TrainConfig, force: bool) -> None:
    """Refuse to resume with different hyper-parameters: the run would silently mix two configurations."""
    diffs = config_differences(stored, cfg)
    if diffs and not force:
        raise UserError(f"{last} was trained with another config ({'; '.join(diffs)}): use the same options, "
                        "another --out, or --force-config to resume anyway")
    if diffs:
        print(f"resuming with a changed config (--force-config): {'; '.join(diffs)}", flush=True)


def _resume_history(ckpt_meta: dict, out: Path, name: str, default: dict) -> dict:
    """The history saved inside the checkpoint (always in step with it); the side file only for older checkpoints."""
    stored = ckpt_meta.get("history")
    if isinstance(stored, dict) and isinstance(stored.get("epochs"), list):
        return stored
    path = out / name
    try:
        loaded = json.loads(path.read_text()) if path.exists() else default
    except (OSError, ValueError):
        return default
    return loaded if isinstance(loaded, dict) and isinstance(loaded.get("epochs"), list) else default


class _Interrupt:
    """Turns SIGINT/SIGTERM into a flag so the loop can checkpoint before leaving."""

    def __init__(self) -> None:
        self.hit = False
        self._old: dict[int, object] = {}

    def __enter__(self) -> "_Interrupt":
        for sig in (signal.SIGINT, signal.SIGTERM):
            self._old[sig] = signal.signal(sig, self._handler)
        return self

    def _handler(self, signum, frame) -> None:  # noqa: ANN001 - signal API
        self.hit = True

    def __exit__(self, *exc) -> None:
        for sig, old in self._old.items():
            signal.signal(sig, old)


def _lr_at(cfg: TrainConfig, step: int, total: int) -> float:
    if cfg.warmup_steps and step < cfg.warmup_steps:
        return cfg.lr * (step + 1) / cfg.warmup_steps
    if cfg.cosine and total > 0:
        t = min(1.0, (step - cfg.warmup_steps) / max(1, total - cfg.warmup_steps))
        return cfg.lr * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * t)))
    return cfg.lr


def _set_frozen_audio(model: nn.Module, frozen: bool) -> None:
    for p in model.audio.parameters():
        p.requires_grad_(not frozen)
    if frozen:
        model.audio.eval()  # frozen encoder keeps its BatchNorm statistics too


def init_audio_encoder(model: nn.Module, source: str | Path) -> str:
    """Load the audio encoder from a stage-audio checkpoint of ours or an official PANNs MobileNetV2 file."""
    source = Path(source)
    try:
        ckpt = load_checkpoint(source)
    except CheckpointError as ours:
        from ..weights import load_panns_mobilenetv2

        try:
            load_panns_mobilenetv2(model.audio, source)
        except UserError:
            raise ours from None
        return "panns"
    state = {k[len("audio."):]: v for k, v in ckpt.state_dict.items() if k.startswith("audio.")}
    model.audio.load_state_dict(state, strict=True)
    return "lightavseg-audio-stage"


def train_segmentation(
    cfg: TrainConfig,
    data_dir: str | Path,
    out_dir: str | Path,
    subset: str | None = None,
    audio_init: str | Path | None = None,
    init: str | Path | None = None,
    progress: bool = True,
    val_clips: int = 24,
    force_config: bool = False,
) -> Path:
    """Main stage: Dice + BCE + w * L_msa, AdamW; resumes from OUT/last.pt (same config unless `force_config`)."""
    from tqdm import tqdm

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    preset = get_preset(cfg.preset)
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    torch.manual_seed(cfg.seed)
    model = create_model(cfg.preset)
    train_clips = load_split(data_dir, "train", cfg.image_size, subset)
    try:
        val = load_split(data_dir, "val", preset.image_size, subset)[:val_clips]
    except UserError:
        val = []
    bank = FrameBank(train_clips, preset.mean, preset.std)
    del train_clips
    steps_per_epoch = max(1, len(bank) // cfg.batch_size)
    total_steps = steps_per_epoch * cfg.epochs

    history: dict = {"config": cfg.to_dict(), "epochs": []}
    start_epoch = 0
    opt_state = None
    last = out / LAST
    if last.exists():
        ckpt = load_checkpoint(last, expect_preset=cfg.preset)
        if ckpt.meta.get("stage") != "seg":
            raise CheckpointError(f"{last} is not a segmentation-stage checkpoint; use another --out")
        _check_resume_config(last, ckpt.meta.get("config"), cfg, force_config)
        model.load_state_dict(ckpt.state_dict)
        opt_state = ckpt.optimizer
        start_epoch = int(ckpt.meta["epoch"])
        history = _resume_history(ckpt.meta, out, HISTORY, history)
        history["config"] = cfg.to_dict()
        del history["epochs"][start_epoch:]  # rows a crash wrote past the checkpoint (older runs) are not resumed
        write_text_atomic(out / HISTORY, json.dumps(history, indent=1))
        print(f"resuming from {last} at epoch {start_epoch}", flush=True)
    else:
        if init is not None:
            src = load_checkpoint(init, expect_preset=cfg.preset)
            model.load_state_dict(src.state_dict)
        if audio_init is not None:
            history["audio_init"] = init_audio_encoder(model, audio_init)
        elif init is None and cfg.freeze_audio:
            raise UserError("the audio encoder is frozen but untrained: pass --audio-init (a `--stage audio` checkpoint "
                            "or PANNs MobileNetV2 weights), --init, or --train-audio")

    model.train()
    _set_frozen_audio(model, cfg.freeze_audio)
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    if opt_state is not None:
        opt.load_state_dict(opt_state)
    gen = torch.Generator().manual_seed(cfg.seed)
    contract = ImageContract(preset.image_size, preset.mean, preset.std)
    t_start = time.time() - float(history.get("elapsed_s", 0.0))
    stopped_early = False

    def checkpoint(epoch: int) -> None:
        history["elapsed_s"] = time.time() - t_start
        # The history travels inside the checkpoint: a kill between the two writes leaves history.json one epoch
        # behind at worst, and a resume rebuilds it from the checkpoint.
        save_checkpoint(last, model, preset, meta={"stage": "seg", "epoch": epoch, "config": cfg.to_dict(),
                                                   "history": history}, optimizer=opt)
        write_text_atomic(out / HISTORY, json.dumps(history, indent=1))

    with _Interrupt() as interrupt:
        for epoch in range(start_epoch, cfg.epochs):
            # Per-epoch generator state makes a resumed run draw the same batches as an uninterrupted one.
            gen.manual_seed(cfg.seed * 1000 + epoch)
            perm = torch.randperm(len(bank), generator=gen)
            flips = torch.rand(len(bank), generator=gen) < 0.5
            bar = tqdm(range(steps_per_epoch), desc=f"epoch {epoch + 1}/{cfg.epochs}", unit="step", disable=not progress, leave=False)
            sums: dict[str, float] = {}
            for s in bar:
                step = epoch * steps_per_epoch + s
                for g in opt.param_groups:
                    g["lr"] = _lr_at(cfg, step, total_steps)
                idx = perm[s * cfg.batch_size : (s + 1) * cfg.batch_size]
                x, lm, m = bank.batch(idx, flips[idx])
                outputs = model(x, lm)
                loss, parts = total_loss(outputs, m, cfg.msa_weight)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                for k, v in parts.items():
                    sums[k] = sums.get(k, 0.0) + v
                bar.set_postfix(loss=f"{parts['loss']:.3f}")
                if interrupt.hit:
                    break
            if interrupt.hit:
                # Keep the last finished epoch: a partial epoch would make the resume point ambiguous.
                raise KeyboardInterrupt
            row = {"epoch": epoch + 1, **{k: v / steps_per_epoch for k, v in sums.items()}, "minutes": (time.time() - t_start) / 60}
            if val:
                model.eval()
                row.update({f"val_{k}": v for k, v in evaluate(torch_predictor(model), val, contract).items()})
                model.train()
                _set_frozen_audio(model, cfg.freeze_audio)
            history["epochs"].append(row)
            checkpoint(epoch + 1)
            if progress:
                print(json.dumps(row))
            if cfg.max_minutes and (time.time() - t_start) / 60 >= cfg.max_minutes and epoch + 1 < cfg.epochs:
                stopped_early = True
                break
    history["stopped_early_by_time_budget"] = stopped_early
    write_text_atomic(out / HISTORY, json.dumps(history, indent=1))
    final = out / FINAL
    model.eval()
    save_checkpoint(final, model, preset, meta={"stage": "seg", "epoch": len(history["epochs"]), "config": cfg.to_dict()}, half=True)
    return final


def train_audio(
    cfg: TrainConfig,
    data_dir: str | Path,
    out_dir: str | Path,
    labels: dict[str, Sequence[Sequence[int]]],
    class_names: Sequence[str],
    progress: bool = True,
    force_config: bool = False,
) -> Path:
    """Stage audio: pre-train the MobileNetV2 encoder as a multi-label sound classifier, per 0.96 s patch.

    Checkpoints OUT/audio_last.pt after every epoch and resumes from it (same config unless `force_config`)."""
    from tqdm import tqdm

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    preset = get_preset(cfg.preset)
    torch.manual_seed(cfg.seed)
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    clips = load_split(data_dir, "train", 32)  # frames unused here: load them small
    xs, ys = [], []
    k = len(class_names)
    for clip in clips:
        per_second = labels.get(clip.name)
        if per_second is None:
            continue
        for t in range(clip.num_frames):
            y = np.zeros(k, np.float32)
            y[list(per_second[t])] = 1.0
            xs.append(clip.logmel[t])
            ys.append(y)
    if not xs:
        raise UserError(f"no audio labels matched the clips in {data_dir}; stage audio needs synth_meta.json or S4 categories")
    x_all = torch.from_numpy(np.stack(xs))[:, None]
    y_all = torch.from_numpy(np.stack(ys))
    model = create_model(cfg.preset)
    encoder = model.audio
    head = nn.Linear(preset.audio.embed_dim, k)
    encoder.train()
    opt = torch.optim.AdamW(list(encoder.parameters()) + list(head.parameters()), lr=cfg.lr, weight_decay=cfg.weight_decay)
    gen = torch.Generator().manual_seed(cfg.seed)
    steps = max(1, len(x_all) // cfg.batch_size)
    history: dict = {"config": cfg.to_dict(), "epochs": []}
    start_epoch = 0
    last = out / AUDIO_LAST
    if last.exists():
        ckpt = load_checkpoint(last, expect_preset=cfg.preset)
        if ckpt.meta.get("stage") != "audio-partial" or len(ckpt.meta.get("classes") or []) != k:
            raise CheckpointError(f"{last} is not an audio-stage resume point for these {k} classes; use another --out")
        _check_resume_config(last, ckpt.meta.get("config"), cfg, force_config)
        model.load_state_dict(ckpt.state_dict)
        head.weight.data.copy_(ckpt.meta["classifier_weight"])
        head.bias.data.copy_(ckpt.meta["classifier_bias"])
        if ckpt.optimizer is not None:
            opt.load_state_dict(ckpt.optimizer)
        start_epoch = int(ckpt.meta["epoch"])
        history = _resume_history(ckpt.meta, out, AUDIO_HISTORY, history)
        history["config"] = cfg.to_dict()
        del history["epochs"][start_epoch:]
        print(f"resuming from {last} at epoch {start_epoch}", flush=True)
    t_start = time.time() - float(history.get("elapsed_s", 0.0))

    def checkpoint(epoch: int) -> None:
        history["elapsed_s"] = time.time() - t_start
        meta = {"stage": "audio-partial", "epoch": epoch, "classes": list(class_names), "config": cfg.to_dict(),
                "history": history, "classifier_weight": head.weight.detach().clone(),
                "classifier_bias": head.bias.detach().clone()}
        save_checkpoint(last, model, preset, meta=meta, optimizer=opt)
        write_text_atomic(out / AUDIO_HISTORY, json.dumps(history, indent=1))

    with _Interrupt() as interrupt:
        for epoch in range(start_epoch, cfg.epochs):
            # Per-epoch generator state: a resumed run draws the same batches as an uninterrupted one.
            gen.manual_seed(cfg.seed * 1000 + epoch)
            perm = torch.randperm(len(x_all), generator=gen)
            total, correct = 0.0, 0
            for s in tqdm(range(steps), desc=f"audio {epoch + 1}/{cfg.epochs}", disable=not progress, leave=False):
                idx = perm[s * cfg.batch_size : (s + 1) * cfg.batch_size]
                logits = head(encoder(x_all[idx])[:, :, 0, 0])
                loss = nn.functional.binary_cross_entropy_with_logits(logits, y_all[idx])
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                total += float(loss.detach())
                correct += int(((logits > 0).float() == y_all[idx]).all(1).sum())
                if interrupt.hit:
                    raise KeyboardInterrupt  # the last finished epoch is in audio_last.pt
            row = {"epoch": epoch + 1, "loss": total / steps, "exact_match": correct / (steps * cfg.batch_size)}
            history["epochs"].append(row)
            checkpoint(epoch + 1)
            if progress:
                print(json.dumps(row))
    history["elapsed_s"] = time.time() - t_start
    model.eval()
    path = out / "audio.pt"
    meta = {"stage": "audio", "classes": list(class_names), "config": cfg.to_dict(),
            "classifier_weight": head.weight.detach().clone(), "classifier_bias": head.bias.detach().clone()}
    save_checkpoint(path, model, preset, meta=meta)
    write_text_atomic(out / AUDIO_HISTORY, json.dumps(history, indent=1))
    return path
