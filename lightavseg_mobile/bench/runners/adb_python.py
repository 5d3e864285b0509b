"""The adb Python runner: the bundle (device_runner.py, package modules, artifacts, held-out inputs) run by the
device's python3 under the host's protocol; its result.json and held-out outputs pulled back as target records."""

from __future__ import annotations

import json
import tempfile
import time
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
                return json.loads(local.read_text())
        except (DeviceError, OSError, ValueError):
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
                    log.records[t.label].outputs = np.load(local)
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
