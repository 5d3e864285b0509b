"""The app runner: the Android demo app's bench mode (device/app_runner.py does the adb side) as a target record.

The app times every frame of the held-out clips bundled in it and returns their mask logits, which the
engine checks on the host like any device output.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ...device import app_runner as app
from ...errors import UserError
from ...runtime.predictor import audio_input
from ..parity import heldout_clips
from ..plan import Target
from .base import RunLog, RunSettings, TargetRecord
from .session import DeviceSession


def delegate_fields(report: dict[str, Any], settings: RunSettings, label: str,
                    serial: str) -> tuple[str | None, dict[str, Any] | None, dict[str, Any]]:
    """(what ran in our vocabulary, the fallback record or None, the app's delegate accounting) from the report's
    runtime.delegate_outcome, never from its text; a refused accelerator without --allow-fallback is a UserError."""
    outcome = app.delegate_outcome(report)
    if outcome is None:
        # Schema 1 says nothing checkable about what ran: not guessed from its label.
        if settings.delegate in ("nnapi", "gpu") and not settings.allow_fallback:
            raise UserError(f"the app on {serial} writes report schema 1, which does not say whether {settings.delegate!r} "
                            "ran: rebuild and reinstall the app from this checkout (or pass --allow-fallback)")
        return None, None, {"source": "app report schema 1: no delegate accounting"}
    used = app.APP_APPLIED[outcome["applied"]]
    delegation = {"source": "runtime.delegate_outcome (execution-plan counts from the app)", **outcome}
    if not outcome["fallback"]:
        return used, None, delegation
    if settings.delegate in ("nnapi", "gpu") and not settings.allow_fallback:
        raise UserError(f"delegate {settings.delegate!r} did not run {label} in the app on {serial} "
                        f"({outcome['reason']}); pass --allow-fallback to accept the CPU path")
    return used, {"from": settings.delegate, "to": used, "reason": outcome["reason"]}, delegation


class AppRunner:
    """The demo app's bench mode: one model (the one bundled in the app), its clips, its own timing."""

    name = "app"
    isolation = "the demo app's process, one model, its bundled held-out clips"
    interleaved = False

    def __init__(self, session: DeviceSession, apk: Path | None = None, heldout: Path | None = None,
                 threads_given: bool = False) -> None:
        self.session = session
        self.apk = apk
        self.heldout = heldout
        self.threads_given = threads_given  # --threads given: passed to the app, else the app's default

    def _start(self, settings: RunSettings) -> app.AppResult:
        """Install (if asked), start bench mode, wait for the report and pull it with the outputs."""
        s = self.session
        t0 = time.monotonic()
        apk_path = app.ensure_installed(s.device, self.apk, s.step_timeout)
        s.notes["app"] = {"package": app.PACKAGE, "apk": apk_path, "bench_dir": app.BENCH_DIR}
        s.step("install" if self.apk is not None else "app_installed", t0, apk=apk_path)
        app.clear_previous(s.device)
        extras = ["--es", "delegate", app.app_extra(settings.delegate), "--ei", "warmup", str(settings.warmup)]
        if self.threads_given:
            extras += ["--ei", "threads", str(settings.threads)]
        s.say("run", f"app {app.PACKAGE} bench mode (step timeout {s.step_timeout:g} s)")
        t0 = time.monotonic()
        app.start_bench(s.device, extras, s.step_timeout)
        s.started(app.BENCH_DIR)
        waited = app.wait_for_report(s.device, s.step_timeout)
        s.step("run", t0, waited_s=round(waited, 3))
        t0 = time.monotonic()
        with tempfile.TemporaryDirectory(prefix="lavseg-app-") as d:
            result = app.pull_results(s.device, Path(d), s.step_timeout)
        s.step("pull", t0, outputs=len(result.outputs))
        return result

    def run(self, targets: Sequence[Target], settings: RunSettings, log: RunLog) -> None:
        """Run bench mode; the target whose sha256 the app reports gets the record, and only it is reported."""
        s = self.session
        result = self._start(settings)
        report = result.report
        sha = report["artifact"]["sha256"]
        target = next((t for t in targets if t.manifest is not None and t.manifest.artifact_sha256 == sha), None)
        if target is None:
            given = ", ".join(f"{t.path.name} ({t.manifest.artifact_sha256[:12]})" for t in targets)
            raise UserError(f"the app on {s.device.serial} runs {report['artifact'].get('file')} (sha256 {sha[:12]}), "
                            f"which matches none of the artifacts given: {given}; pass the .tflite copied into the app")
        log.selected = [target.label]
        rt = dict(report["runtime"])
        log.libraries[str(rt["name"])] = str(rt.get("version") or "unknown")
        used, fallback, delegation = delegate_fields(report, settings, target.label, s.device.serial)
        lat = report["latency_ms"]
        # What the app actually did, not what was asked (it times every frame of its clips).
        log.settings_used = RunSettings(int(lat["warmup"]), int(lat["runs"]), 1,
                                        rt["threads"] if isinstance(rt.get("threads"), int) else settings.threads,
                                        settings.delegate, settings.allow_fallback)
        log.records[target.label] = self._record(target, result, rt, used, fallback, delegation)

    def _record(self, t: Target, result: app.AppResult, rt: dict[str, Any], used: str | None,
                fallback: dict[str, Any] | None, delegation: dict[str, Any]) -> TargetRecord:
        """The app's latency summary and its outputs matched to the host's held-out clips."""
        manifest = t.manifest
        spec = next((o for o in manifest.outputs if o.name == "mask_logits"), None)
        if spec is None:
            raise UserError(f"{t.label}: its manifest lists no mask_logits output; re-export it with lavseg-export")
        clips = heldout_clips(manifest, audio_input(manifest), self.heldout)
        picked, outputs = app.match_clips(result, clips, (int(spec.shape[-2]), int(spec.shape[-1])),
                                          str(self.heldout or "the shipped held-out set"))
        lat = result.report["latency_ms"]
        return TargetRecord(
            label=t.label, runtime=rt, latency_ms=app.latency_block(lat), delegate=used,
            fallback=fallback, outputs=outputs, clips=picked,
            details={"latency_scope": lat.get("scope"), "latency_std": "population (ddof 0), from the app",
                     "delegation": delegation,
                     "app_report": {k: result.report.get(k) for k in ("created", "producer", "device", "artifact")}})
