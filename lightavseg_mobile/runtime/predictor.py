"""A Runtime seen as an evaluate.Predictor: batches in, mask logits out, audio in the form the artifact takes.

Whole-model artifacts take a frame plus one audio input: a log-mel patch `logmel` [B,1,96,64]
or the raw 16 kHz window `waveform` [B,15600] (when the log-mel front end is in the graph).
A predictor accepts either form as its second argument (told apart by rank) and feeds what
the manifest asks for: waveform is turned into log-mel with the numpy reference when needed;
log-mel cannot be turned back into audio, so a waveform artifact given log-mel is an error.
Numpy only.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import UserError
from ..artifact.manifest import Manifest
from .base import Runtime

AUDIO_INPUTS = ("logmel", "waveform")
OUTPUT = "mask_logits"


def audio_input(manifest: Manifest) -> str:
    """Which audio input a whole-model artifact takes: "logmel" or "waveform"."""
    names = [s.name for s in manifest.inputs]
    kinds = [n for n in names if n in AUDIO_INPUTS]
    if "frame" not in names or len(kinds) != 1:
        raise UserError(f"{manifest.artifact_file or 'this model'} (module {manifest.module!r}) is not a whole LightAVSeg model "
                        f"(inputs {names}); a predictor needs frame plus logmel or waveform")
    return kinds[0]


def logmel_from_waveform(waveform: np.ndarray) -> np.ndarray:
    """[B,15600] 16 kHz windows -> VGGish log-mel patches [B,1,96,64] (the numpy reference)."""
    from ..audio import VGGISH, log_mel

    return np.stack([log_mel(w, VGGISH.sample_rate, num_patches=1) for w in waveform]).astype(np.float32)


@dataclass(frozen=True)
class ModelInputs:
    """One batch for a whole-model artifact: frames [B,3,H,W] plus audio as logmel [B,1,96,64] and/or waveform [B,N]."""

    frame: np.ndarray
    logmel: np.ndarray | None = None
    waveform: np.ndarray | None = None

    @staticmethod
    def from_audio(frame: np.ndarray, audio: np.ndarray) -> "ModelInputs":
        """Tell the audio form by rank: 4-D is log-mel, 2-D is waveform."""
        audio = np.asarray(audio)
        if audio.ndim == 4:
            return ModelInputs(frame, logmel=audio)
        if audio.ndim == 2:
            return ModelInputs(frame, waveform=audio)
        raise UserError(f"audio has shape {audio.shape}; pass log-mel [B,1,96,64] or waveform [B,samples]")

    def feed(self, manifest: Manifest) -> dict[str, np.ndarray]:
        """The run() inputs for `manifest`: frame plus the audio form the artifact takes."""
        kind = audio_input(manifest)
        if kind == "logmel":
            audio = self.logmel if self.logmel is not None else (logmel_from_waveform(self.waveform) if self.waveform is not None else None)
        else:
            audio = self.waveform
        if audio is None:
            spec = manifest.input(kind)
            hint = ": log-mel cannot be turned back into audio, pass waveform windows (audio.waveform_patches)" if kind == "waveform" else ""
            raise UserError(f"{manifest.artifact_file or 'this model'} takes {kind} {spec.shape}; none was given{hint}")
        return {"frame": self.frame, kind: audio}


class RuntimePredictor:
    """evaluate.Predictor over a Runtime: (frame [B,3,H,W], audio) -> mask logits [B,1,H,W] float32."""

    def __init__(self, rt: Runtime) -> None:
        self.runtime = rt
        self.audio_input = audio_input(rt.manifest)  # what the artifact consumes; callers may read it
        outs = [s.name for s in rt.manifest.outputs]
        if OUTPUT not in outs and len(outs) != 1:
            raise UserError(f"{rt.manifest.artifact_file}: no {OUTPUT!r} output among {outs}")
        self._output = OUTPUT if OUTPUT in outs else outs[0]
        batch = int(rt.manifest.input("frame").shape[0])
        self.batch = batch if batch > 0 else None  # None: the artifact takes any batch

    def __call__(self, frame: np.ndarray, audio: np.ndarray) -> np.ndarray:
        """Run every item of the batch (in chunks of the artifact's batch size)."""
        feed = ModelInputs.from_audio(frame, audio).feed(self.runtime.manifest)
        total = len(feed["frame"])
        if any(len(v) != total for v in feed.values()):
            raise UserError(f"batch sizes differ: {{{', '.join(f'{k}: {len(v)}' for k, v in feed.items())}}}")
        step = self.batch or max(total, 1)
        outs = []
        for start in range(0, total, step):
            chunk = {k: v[start:start + step] for k, v in feed.items()}
            short = step - len(next(iter(chunk.values())))
            if short:
                # A fixed-batch artifact needs a full batch: repeat the last item, drop its outputs.
                chunk = {k: np.concatenate([v, np.repeat(v[-1:], short, axis=0)]) for k, v in chunk.items()}
            out = self.runtime.run(chunk)[self._output]
            outs.append(out[: step - short])
        return np.concatenate(outs) if outs else np.zeros((0,), np.float32)


def runtime_predictor(rt: Runtime) -> RuntimePredictor:
    """Adapt a Runtime to evaluate.Predictor (looping over the batch when the artifact's batch is 1)."""
    return RuntimePredictor(rt)
