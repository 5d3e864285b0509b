"""The benchmark_model runner: LiteRT's benchmark_model binary per .tflite on the device, log and op profile parsed
into target records (its own summary: no samples, random inputs, so no outputs for parity)."""

from __future__ import annotations

import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ...device import benchmark_model as bm
from ...device import runner_bundle as rb
from ...device.errors import DeviceError
from ...errors import UserError
from ..plan import Target
from .adb_python import bundle_artifacts
from .base import RunLog, RunSettings, TargetRecord
from .session import DeviceSession


class BenchmarkModelRunner:
    """benchmark_model per artifact, one process each, with its op-profile CSV."""

    name = "benchmark_model"
    isolation = "one benchmark_model process per artifact"
    interleaved = False

    def __init__(self, session: DeviceSession, binary: Path) -> None:
        self.session = session
        self.binary = Path(binary)

    def _push_binary(self) -> str:
        """The binary on the device, cached by content hash; its device path."""
        s = self.session
        digest = rb.artifact_sha256(self.binary)[:24]
        remote = f"{rb.CACHE_DIR}/bin-{digest}/benchmark_model"
        t0 = time.monotonic()
        if not s.device.shell(["test", "-x", remote], timeout=30.0).ok:
            rb.check_space(s.device, self.binary.stat().st_size)
            s.device.push(self.binary, remote)
            s.device.shell(["chmod", "755", remote], timeout=30.0).check("chmod benchmark_model")
        s.step("push_binary", t0)
        return remote

    def run(self, targets: Sequence[Target], settings: RunSettings, log: RunLog) -> None:
        """Push the artifacts and the binary, then run the binary once per artifact."""
        s = self.session
        log.libraries["benchmark_model"] = f"{self.binary.name} sha256:{rb.artifact_sha256(self.binary)[:16]}"
        delegate = bm.requested_delegate(settings.delegate)
        with tempfile.TemporaryDirectory(prefix="lavseg-devbench-") as tmp:
            staging = Path(tmp)
            bundle = rb.build_bundle(bundle_artifacts(targets), {}, staging / "bundle")
            s.push_bundle(bundle, staging)
            s.open_run_dir(staging)
            remote = self._push_binary()
            s.started(s.run_dir)
            for i, e in enumerate(bundle.entries):
                target = next(t for t in targets if t.label == e.label)
                log.records[e.label] = self._one(target, bundle, e, i, remote, delegate, settings)

    def _one(self, t: Target, bundle: rb.Bundle, entry: rb.BundleEntry, i: int, remote: str, delegate: str,
             settings: RunSettings) -> TargetRecord:
        """Run the binary on one artifact; a delegate it did not apply is an error unless a fallback is allowed."""
        s = self.session
        csv_remote = f"{s.run_dir}/profile{i:02d}.csv"
        graph = f"{bundle.device_dir}/{entry.manifest_rel.replace('.manifest.json', '.tflite')}"
        cmd = bm.build_command(remote, graph, threads=settings.threads, warmup=max(settings.warmup, 1), runs=settings.runs,
                               delegate=delegate, profile_csv=csv_remote)
        s.say("run", f"benchmark_model {t.label} ({delegate}, {settings.threads} threads)")
        t0 = time.monotonic()
        res = s.device.shell(cmd, timeout=s.step_timeout)
        if not res.ok:
            last = (res.stderr.strip() or res.stdout.strip() or "no output").splitlines()[-1]
            raise DeviceError(f"benchmark_model failed on {t.label} (exit {res.exit_code}): {last}")
        parsed = bm.parse_log(res.stdout + "\n" + res.stderr)
        outcome = bm.delegate_outcome(delegate, parsed["delegation"])
        if outcome["fallback_reason"] and not settings.allow_fallback and settings.delegate != "auto":
            raise UserError(f"delegate {delegate!r} did not run {t.label} on {s.device.serial} "
                            f"({outcome['fallback_reason']}); pass --allow-fallback to accept the CPU path")
        details: dict[str, Any] = {"benchmark_model": {k: parsed[k] for k in ("init_us", "first_inference_us", "warmup_avg_us",
                                                                             "inference_avg_us", "memory_delta_mb",
                                                                             "peak_memory_mb")},
                                   "op_profile": None, "op_profile_error": None}
        with tempfile.TemporaryDirectory(prefix="lavseg-csv-") as d:
            local = Path(d) / "p.csv"
            try:
                s.device.pull(csv_remote, local, timeout=120.0)
                details["op_profile"] = bm.parse_op_profile_csv(local.read_text(errors="replace"))
            except (DeviceError, bm.BenchmarkOutputError) as exc:
                details["op_profile_error"] = str(exc)
        s.step(f"benchmark_model {t.label}", t0)
        return _record(t, parsed, outcome, settings, details)


def _record(t: Target, parsed: dict[str, Any], outcome: dict[str, Any], settings: RunSettings,
            details: dict[str, Any]) -> TargetRecord:
    """A target record from benchmark_model's parsed log and delegate outcome."""
    used = outcome["used"]
    taken = [r for r in parsed["delegation"]["replaced"] if r["delegate"] == used and r["nodes_delegated"] > 0]
    runtime = {"name": "litert", "tool": "benchmark_model", "delegate": used, "threads": settings.threads,
               "delegate_outcome": outcome,
               # The tool's own count of nodes its delegate left to the builtin kernels (None: it said nothing).
               "ops_not_delegated": (max(r["nodes_total"] for r in taken) - sum(r["nodes_delegated"] for r in taken))
               if taken else None}
    return TargetRecord(
        label=t.label, runtime=runtime, latency_ms=bm.latency_ms(parsed), delegate=used,
        fallback=({"from": settings.delegate, "to": used, "reason": outcome["fallback_reason"]}
                  if outcome["fallback_reason"] else None),
        cold_start_ms=(parsed["init_us"] + parsed["first_inference_us"]) / 1e3, peak_rss_mb=parsed.get("peak_memory_mb"),
        details=details)
