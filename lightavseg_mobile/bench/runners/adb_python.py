"""The adb Python runner: the bundle (device_runner.py, package modules, artifacts, held-out inputs) run by the
device's python3 under the host's protocol; its result.json and held-out outputs pulled back as target records."""

from __future__ import annotations

import json
import math
import re
import tempfile
import time
import tokenize
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ...device import runner_bundle as rb
from ...device import wheels as wh
from ...device.errors import DeviceError
from ...errors import UserError
from ...runtime.predictor import AUDIO_INPUTS
from ..parity import heldout_clips
from ..plan import Target
from .base import RunLog, RunSettings, TargetRecord
from .session import DeviceSession

EXIT_DELEGATE = 3  # device_runner.EXIT_DELEGATE: the asked delegate is unavailable and no fallback was allowed
_MAX_RESULT_BYTES = 16 << 20
_OUTPUT_NAME = re.compile(r"outputs/[A-Za-z0-9_.@+=-]{1,200}\.npy")
_MAX_OUTPUT_BYTES = 1 << 30


def _finite_numbers(value: Any, what: str) -> list[float]:
    if not isinstance(value, list) or not all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in value):
        raise DeviceError(f"device result: {what} is not a list of numbers")
    numbers = [float(x) for x in value]
    if not all(math.isfinite(x) and x >= 0 for x in numbers):
        raise DeviceError(f"device result: {what} holds a negative, NaN or infinite time")
    return numbers


def read_result(text: str | bytes) -> dict[str, Any]:
    """Parse and check the device runner's result.json: device output is untrusted, so every field the host uses is
    type-checked here and any problem is one DeviceError line."""
    if len(text) > _MAX_RESULT_BYTES:
        raise DeviceError(f"device result is {len(text)} bytes, more than a runner writes: refused")
    try:
        doc = json.loads(text)
    except (ValueError, RecursionError) as exc:  # ValueError: bad JSON or bad UTF-8
        raise DeviceError(f"device result is not JSON ({type(exc).__name__})") from None
    if not isinstance(doc, dict):
        raise DeviceError(f"device result is a JSON {type(doc).__name__}, not an object")
    for key, kind in (("artifacts", dict), ("libraries", dict), ("errors", list), ("imports", dict)):
        if doc.get(key) is not None and not isinstance(doc[key], kind):
            raise DeviceError(f"device result: field {key!r} is a {type(doc[key]).__name__}, not a {kind.__name__}")
    if not all(isinstance(e, str) for e in doc.get("errors") or []):
        raise DeviceError("device result: 'errors' holds a non-string")
    if doc.get("phase") is not None and not isinstance(doc["phase"], str):
        raise DeviceError("device result: 'phase' is not a string")
    for label, row in (doc.get("artifacts") or {}).items():
        if not isinstance(row, dict):
            raise DeviceError(f"device result: artifact {label[:60]!r} is not an object")
        if row.get("samples_ms") is not None:
            _finite_numbers(row["samples_ms"], f"{label[:60]!r} samples_ms")
        for key in ("cold_start_ms", "peak_rss_mb", "load_ms", "first_run_ms"):
            v = row.get(key)
            if v is not None and (isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v)):
                raise DeviceError(f"device result: {label[:60]!r} {key} is not a finite number")
        for key in ("runtime", "delegate"):
            if row.get(key) is not None and not isinstance(row[key], dict):
                raise DeviceError(f"device result: {label[:60]!r} {key} is not an object")
        out = row.get("outputs")
        if out is not None and (not isinstance(out, str) or not _OUTPUT_NAME.fullmatch(out) or ".." in out):
            # the host pulls RUN/<outputs>: a path of the device's choosing must stay inside the run dir
            raise DeviceError(f"device result: {label[:60]!r} outputs {str(out)[:60]!r} is not outputs/NAME.npy")
    return doc


def load_outputs_npy(path: Path) -> np.ndarray:
    """A pulled outputs .npy as float32, without pickles (allow_pickle=False); a bad file is one DeviceError line."""
    try:
        if path.stat().st_size > _MAX_OUTPUT_BYTES:
            raise DeviceError(f"{path.name}: pulled outputs larger than {_MAX_OUTPUT_BYTES >> 20} MiB: refused")
        array = np.load(path, allow_pickle=False)
    except DeviceError:
        raise
    # numpy parses the header with ast/tokenize: a damaged one raises SyntaxError or TokenError, not ValueError.
    except (OSError, ValueError, EOFError, TypeError, MemoryError, OverflowError, SyntaxError,
            tokenize.TokenError) as exc:
        first = (str(exc).splitlines() or [""])[0][:120]
        raise DeviceError(f"pulled outputs {path.name} are not a readable .npy ({type(exc).__name__}: {first})") from None
    if not isinstance(array, np.ndarray) or array.dtype.kind not in "fiu":
        raise DeviceError(f"pulled outputs {path.name} hold {getattr(array, 'dtype', type(array).__name__)}, "
                          "not numbers")
    return array.astype(np.float32, copy=False)


def bundle_artifacts(targets: Sequence[Target]) -> list[tuple[str, Path, Any, bool]]:
    """(label, path, manifest, whole) per target, as runner_bundle.build_bundle takes them."""
    return [(t.label, t.path, t.manifest, t.module == "model") for t in targets]


def heldout_inputs(targets: Sequence[Target], root: Path | None, limit: int | None
                   ) -> tuple[dict[str, np.ndarray], dict[str, list[Any]]]:
    """The bundle's inputs (frame + every audio form the whole models take) and the clips per audio form."""
    whole = [t.manifest for t in targets if t.module == "model"]
    if not whole:
        return {}, {}
    kinds = list(dict.fromkeys(s.name for m in whole for s in m.inputs if s.name in AUDIO_INPUTS)) or ["logmel"]
    per_kind = {k: heldout_clips(whole[0], k, root, limit) for k in kinds}
    inputs = {"frame": np.concatenate([c.frames for c in per_kind[kinds[0]]])}
    for k, clips in per_kind.items():
        inputs[k] = np.concatenate([c.audio for c in clips])
    return inputs, per_kind


class AdbPythonRunner:
    """Python + numpy + ONNX Runtime / LiteRT on the device (device_runner.py): the host's protocol, there."""

    name = "python on device"
    isolation = "subprocess per artifact"
    interleaved = True

    def __init__(self, session: DeviceSession, heldout: Path | None = None, max_clips: int | None = 2,
                 cold_start: bool = True, device_wheels: str = "bundle") -> None:
        self.session = session
        self.heldout = heldout
        self.max_clips = max_clips
        self.cold_start = cold_start
        self.device_wheels = device_wheels

    def run(self, targets: Sequence[Target], settings: RunSettings, log: RunLog) -> None:
        """Push bundle and wheels, run the device runner, pull its result and outputs into records."""
        s = self.session
        with tempfile.TemporaryDirectory(prefix="lavseg-devbench-") as tmp:
            staging = Path(tmp)
            inputs, clips = heldout_inputs(targets, self.heldout, self.max_clips)
            first = next(iter(clips.values()), [])
            rows = [{"name": c.name, "frames": int(len(c.frames))} for c in first]
            bundle = rb.build_bundle(bundle_artifacts(targets), inputs, staging / "bundle", rows)
            s.push_bundle(bundle, staging)
            t0 = time.monotonic()
            wheels = wh.prepare(s.device, self.device_wheels, staging / "wheels", s.say)
            s.notes["device_wheels"] = wheels
            s.step("wheels", t0, **{k: wheels[k] for k in ("source", "pushed", "bytes_pushed")})
            s.open_run_dir(staging)
            result: dict[str, Any] = {}
            try:
                self._run_runner(bundle, settings, wheels, result)
            finally:
                self._collect(targets, result, clips, log)
            self._pull_outputs(targets, result, log)

    def _run_runner(self, bundle: rb.Bundle, settings: RunSettings, wheels: dict[str, Any], result: dict[str, Any]) -> None:
        """Start device_runner.py and wait for it; result.json (complete or partial) is pulled into `result`."""
        s = self.session
        plan = {"artifacts": [e.plan() for e in bundle.entries], "warmup": settings.warmup, "runs": settings.runs,
                "block": settings.block, "threads": settings.threads, "delegate": settings.delegate,
                "allow_fallback": settings.allow_fallback, "outputs": True, "cold_start": self.cold_start,
                "cold_timeout_s": s.step_timeout / 2}
        # env PYTHONPATH=SITE python3 -S (pushed wheels) or python3 (the device's own), as argv: no shell string.
        cmd = [*wh.python_command(wheels), f"{bundle.device_dir}/{rb.RUNNER}", "--bundle", bundle.device_dir,
               "--out", s.run_dir, "--plan", json.dumps(plan, sort_keys=True)]
        s.say("run", f"device runner: {len(bundle.entries)} artifacts, {settings.warmup} warm-up + {settings.runs} runs, "
                     f"{settings.threads} threads, delegate {settings.delegate} (step timeout {s.step_timeout:g} s)")
        t0 = time.monotonic()
        s.started(s.run_dir)
        try:
            res = s.device.shell(cmd, timeout=s.step_timeout)
        finally:
            result.update(self._pull_result())
        s.step("run", t0, exit_code=res.exit_code)
        if not res.ok:
            last = (res.stderr.strip() or res.stdout.strip() or "no output").splitlines()[-1]
            if res.exit_code == EXIT_DELEGATE:
                raise UserError(f"on {s.device.serial}: {last.removeprefix('error: ')}")
            raise DeviceError(f"the device runner failed on {s.device.serial} (exit {res.exit_code}): {last}")

    def _pull_result(self) -> dict[str, Any]:
        """Best effort: RUN/result.json (complete or partial), {} when there is none."""
        s = self.session
        try:
            with tempfile.TemporaryDirectory(prefix="lavseg-res-") as d:
                local = Path(d) / "result.json"
                s.device.pull(f"{s.run_dir}/result.json", local, timeout=60.0)
                return read_result(local.read_bytes())
        except (DeviceError, OSError):
            return {}

    def _collect(self, targets: Sequence[Target], result: dict[str, Any], clips: dict[str, list[Any]], log: RunLog) -> None:
        """Records of every artifact the runner timed, and what the run says about itself."""
        log.libraries.update(result.get("libraries") or {})
        self.session.notes.update(runner_phase=result.get("phase"), runner_complete=result.get("complete"),
                                  imports=result.get("imports"))
        if result.get("errors"):
            log.incomplete.append("; ".join(result["errors"]))
        for t in targets:
            r = (result.get("artifacts") or {}).get(t.label)
            if r and r.get("samples_ms"):
                log.records[t.label] = _record(t, r, clips)

    def _pull_outputs(self, targets: Sequence[Target], result: dict[str, Any], log: RunLog) -> None:
        """The held-out mask logits of every whole model, onto its record."""
        s = self.session
        t0 = time.monotonic()
        pulled = 0
        for t in targets:
            row = (result.get("artifacts") or {}).get(t.label) or {}
            if row.get("outputs") and t.label in log.records:
                with tempfile.TemporaryDirectory(prefix="lavseg-out-") as d:
                    local = Path(d) / "out.npy"
                    s.device.pull(f"{s.run_dir}/{row['outputs']}", local, timeout=s.step_timeout)
                    log.records[t.label].outputs = load_outputs_npy(local)
                pulled += 1
        s.step("pull", t0, outputs=pulled)


def _record(t: Target, r: dict[str, Any], clips: dict[str, list[Any]]) -> TargetRecord:
    """A target record from the runner's result.json entry."""
    rt = dict(r.get("runtime") or {})
    rt.setdefault("name", rt.get("runtime", "unknown"))
    outcome = r.get("delegate") or {}
    rt["delegate_outcome"] = outcome or None
    audio = next((s.name for s in t.manifest.inputs if s.name in AUDIO_INPUTS), None) if t.module == "model" else None
    return TargetRecord(
        label=t.label, runtime=rt, samples_ms=[float(x) for x in r["samples_ms"]], cold_start_ms=r.get("cold_start_ms"),
        peak_rss_mb=r.get("peak_rss_mb"), boundary_ms=r.get("boundary_ms"), delegate=outcome.get("used"),
        fallback=outcome.get("fallback"), clips=clips.get(audio) if audio else None,
        details={"load_ms": r.get("load_ms"), "first_run_ms": r.get("first_run_ms")})
