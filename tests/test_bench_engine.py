"""The one bench engine without processes or devices: the TargetRunner protocol, one assembler for host and device
records, plots for a device report, one delegate vocabulary, parity from device outputs, and the package layering."""

from __future__ import annotations

import ast
import json
from pathlib import Path

import numpy as np
import pytest

from lightavseg_mobile.artifact.manifest import Manifest, TensorSpec, artifact_sha256, manifest_path
from lightavseg_mobile.bench.assemble import ReportContext, assemble_report
from lightavseg_mobile.bench.machine import device_machine
from lightavseg_mobile.bench.plan import Target
from lightavseg_mobile.bench.report import write_report
from lightavseg_mobile.bench.runners.adb_python import AdbPythonRunner
from lightavseg_mobile.bench.runners.app import AppRunner
from lightavseg_mobile.bench.runners.base import RunLog, RunSettings, TargetRecord, TargetRunner
from lightavseg_mobile.bench.runners.benchmark_model import BenchmarkModelRunner
from lightavseg_mobile.bench.runners.host import HostRunner
from lightavseg_mobile.bench.runners.session import DeviceSession
from lightavseg_mobile.bench.schema import validate_report
from lightavseg_mobile.bench.summary import human_summary
from lightavseg_mobile.errors import UserError
from lightavseg_mobile.runtime.registry import DELEGATES

PKG = Path(__file__).resolve().parents[1] / "lightavseg_mobile"
MODULES = ("visual", "audio", "reciprocal_encoder", "fusion_decoder", "seg_head")
SETTINGS = RunSettings(warmup=1, runs=4, block=1, threads=2, delegate="auto")


def _artifact(folder: Path, name: str, module: str = "model") -> tuple[Manifest, Path]:
    folder.mkdir(parents=True, exist_ok=True)
    art = folder / name
    art.write_bytes(name.encode() * 64)
    man = Manifest(artifact_file=art.name, artifact_sha256=artifact_sha256(art), artifact_size=art.stat().st_size,
                   format="tflite", precision="int8", preset="lightavseg-tiny", module=module,
                   inputs=[TensorSpec("frame", [1, 3, 8, 8], "float32"), TensorSpec("logmel", [1, 1, 96, 64], "float32")],
                   outputs=[TensorSpec("mask_logits", [1, 1, 8, 8], "float32")], preprocessing={},
                   parity={"artifact": {"miou": 0.4, "f": 0.5}, "float": {"miou": 0.45}, "tensor": {"sqnr_db": 30.0},
                           "passed": True} if module == "model" else {})
    manifest_path(art).write_text(man.to_json())
    return man, art


@pytest.fixture()
def targets(tmp_path: Path) -> list[Target]:
    """A whole int8 .tflite and its five split sub-models, linked as the planner links them."""
    man, art = _artifact(tmp_path, "m.int8.tflite")
    out = [Target(art.name, "runtime", art, "tflite", "int8", "lightavseg-tiny", "model", man, runtime="litert")]
    for m in MODULES:
        sman, sart = _artifact(tmp_path, f"m.int8.{m}.tflite", m)
        out.append(Target(sart.name, "runtime", sart, "tflite", "int8", "lightavseg-tiny", m, sman, runtime="litert",
                          whole=art.name))
    return out


def _records(targets: list[Target], with_samples: bool) -> dict[str, TargetRecord]:
    """Records as the host worker (samples) or benchmark_model (its own summary) would return them."""
    out = {}
    for i, t in enumerate(targets):
        times = [10.0 + i, 11.0 + i, 12.0 + i, 13.0 + i] if t.module == "model" else [2.0, 2.1, 2.2, 2.3]
        runtime = {"name": "litert", "runtime": "litert", "delegate": "xnnpack", "threads": 2, "ops_not_delegated": 1,
                   "not_delegated_by_op": {"MEAN": 1}}
        if with_samples:
            out[t.label] = TargetRecord(t.label, runtime, samples_ms=times, cold_start_ms=300.0, peak_rss_mb=90.0,
                                        boundary_ms=0.5, delegate="xnnpack")
        else:
            lat = {"p50": float(np.median(times)), "p90": max(times), "p99": max(times), "mean": float(np.mean(times)),
                   "std": 0.1, "min": min(times), "max": max(times), "runs": 4, "fps": 1000 / float(np.median(times))}
            out[t.label] = TargetRecord(t.label, runtime, latency_ms=lat, cold_start_ms=70.0, peak_rss_mb=20.0,
                                        delegate="xnnpack", details={"op_profile": None})
    return out


class _Runner:
    def __init__(self, name: str, interleaved: bool) -> None:
        self.name, self.isolation, self.interleaved = name, f"{name} isolation", interleaved

    def run(self, targets, settings, log) -> None:  # pragma: no cover - never called here
        raise AssertionError


def _context(machine: dict, runner: _Runner, conclusions: bool = True) -> ReportContext:
    return ReportContext(created="2026-01-01T00:00:00Z", git={"commit": None, "dirty": None}, machine=machine,
                         runner=runner, settings=SETTINGS, modules=True, latency_conclusions=conclusions)


HOST_MACHINE = {"kind": "host", "execution": "native", "label": "host x86_64, CPU, 2 cores", "arch": "x86_64", "os": "Linux",
                "cpu_model": "CPU", "logical_cpus": 2, "physical_cores": 2, "cpu_flags": [], "governor": None,
                "libraries": {"numpy": "2"}}
DEVICE_FACTS = {"serial": "s", "model": "m", "soc_model": "qemu", "cores": 2, "machine": "aarch64", "kernel": "6.1",
                "android_release": "debian-13", "emulated": True}


def test_every_runner_meets_the_target_runner_protocol(tmp_path: Path) -> None:
    session = DeviceSession(None, 10.0)
    runners = [HostRunner(), AdbPythonRunner(session), BenchmarkModelRunner(session, tmp_path / "bm"), AppRunner(session)]
    for r in runners:
        assert isinstance(r, TargetRunner), type(r).__name__
        assert r.name and r.isolation and isinstance(r.interleaved, bool)
    assert len({r.name for r in runners}) == 4


def test_record_latency_from_samples_or_the_runners_summary() -> None:
    assert TargetRecord("a", {"name": "x"}, samples_ms=[1.0, 2.0, 3.0]).latency()["p50"] == 2.0
    assert TargetRecord("a", {"name": "x"}, latency_ms={"p50": 5.0}).latency() == {"p50": 5.0}
    with pytest.raises(UserError, match="neither samples nor a latency summary"):
        TargetRecord("a", {"name": "x"}).latency()


def test_one_assembler_gives_host_and_device_records_the_same_rows(targets: list[Target]) -> None:
    host = assemble_report(targets, RunLog(records=_records(targets, True)), _context(HOST_MACHINE, _Runner("host worker", True)))
    device_machine_block = device_machine(DEVICE_FACTS, {}, {"python": "3.13"})
    device = assemble_report(targets, RunLog(records=_records(targets, False)),
                             _context(device_machine_block, _Runner("benchmark_model", False), conclusions=False))
    for report in (host, device):
        validate_report(report)
        assert [a["label"] for a in report["artifacts"]] == [t.label for t in targets]
    # Same fields, same identity, same derived values, whichever runner measured the row.
    for h, d in zip(host["artifacts"], device["artifacts"]):
        assert set(h) - {"op_profile"} == set(d) - {"op_profile"}
        for key in ("file", "sha256", "format", "precision", "preset", "module", "kind", "size_mb", "delegate",
                    "non_delegated_ops", "non_delegated_by_op", "export_parity", "gflops", "fallback"):
            assert h[key] == d[key], key
        assert h["latency_ms"]["p50"] == pytest.approx(d["latency_ms"]["p50"])
        assert h["non_delegated_ops"] == 1 and h["gflops"] and h["gflops_per_s"] == pytest.approx(
            h["gflops"] / (h["latency_ms"]["p50"] / 1e3))
    assert host["artifacts"][0]["export_parity"]["miou"] == 0.4 and host["artifacts"][1]["export_parity"] is None
    # Module rows and the module-sum check come from the same code; only host samples pair by round.
    for report in (host, device):
        assert {r["module"] for r in report["modules"]} == set(MODULES)
        (check,) = report["module_sums"]
        assert check["sum_ms"] == pytest.approx(5 * 2.15)
    assert host["module_sums"][0]["boundary_ms"] == 0.5 and "paired_rel_diff" in host["module_sums"][0]
    assert "paired_rel_diff" not in device["module_sums"][0]
    assert host["protocol"]["runner"] == "host worker" and device["protocol"]["interleaved"] is False
    # An emulated device: timings but no judged targets.
    assert device["targets"] == [] and "no latency conclusions" in human_summary(device)


def test_untimed_targets_and_missing_splits_make_the_report_incomplete(targets: list[Target]) -> None:
    records = _records(targets, True)
    del records[targets[3].label]
    report = assemble_report(targets, RunLog(records=records, incomplete=["run failed: X"]),
                             _context(HOST_MACHINE, _Runner("host worker", True)))
    assert report["incomplete"] and report["incomplete_reason"].startswith("run failed: X")
    assert f"not timed: {targets[3].label}" in report["incomplete_reason"]
    assert "split sub-models found for" in report["incomplete_reason"] and report["module_sums"] == []
    # A runner that ran one model only (the app) reports that one, and nothing as untimed.
    one = assemble_report(targets, RunLog(records=_records(targets, False), selected=[targets[0].label]),
                          _context(HOST_MACHINE, _Runner("app", False)))
    assert [a["label"] for a in one["artifacts"]] == [targets[0].label]


def test_a_device_report_gets_the_plots_too(targets: list[Target], tmp_path: Path) -> None:
    # One runner with samples (Python on the device), one with only a summary (benchmark_model): both are plotted.
    records = _records(targets, False)
    records[targets[0].label] = _records(targets, True)[targets[0].label]
    report = assemble_report(targets, RunLog(records=records),
                             _context(device_machine(DEVICE_FACTS, {}, {}), _Runner("python on device", True), False))
    written = write_report(report, tmp_path / "r")
    md = written["markdown"].read_text()
    for name in ("bench_latency.png", "bench_modules.png", "bench_size_latency_miou.png"):
        assert (tmp_path / "r" / name).stat().st_size > 1000 and f"]({name})" in md
    assert json.loads(written["json"].read_text())["machine"]["kind"] == "device"


def test_version_1_reports_still_validate() -> None:
    from test_bench_core import _report

    old = _report()
    old["schema_version"] = 1
    for a in old["artifacts"]:
        for key in ("delegate", "fallback", "cold_start_breakdown_ms", "baseline", "non_delegated_by_op", "export_parity"):
            a.pop(key)
    for key in ("interleaved", "isolation", "runner", "delegate", "allow_fallback"):
        old["protocol"].pop(key)
    validate_report(old)
    old["schema_version"] = 2
    with pytest.raises(Exception, match="protocol.interleaved"):
        validate_report(old)


def test_tool_delegate_spellings_are_keyed_by_the_one_vocabulary() -> None:
    from lightavseg_mobile.device import app_runner as app
    from lightavseg_mobile.device import benchmark_model as bm
    from lightavseg_mobile.runtime.registry import tool_delegates

    for mapping in (bm.DELEGATE_FLAGS, bm.PROVIDER_NAMES, app.APP_DELEGATES, app.APP_APPLIED):
        assert set(mapping) <= set(DELEGATES)
    with pytest.raises(ValueError, match="not in the vocabulary"):
        tool_delegates("x", {"npu": "y"})
    assert [bm.requested_delegate(d) for d in ("auto", "none", "cpu", "gpu")] == ["xnnpack", "cpu", "cpu", "gpu"]
    with pytest.raises(UserError, match="does not take delegate 'qnn'; choose one of: cpu, xnnpack, nnapi, gpu"):
        bm.requested_delegate("qnn")
    with pytest.raises(UserError, match="unknown delegate 'npu'"):
        bm.requested_delegate("npu")
    assert app.app_extra("xnnpack") == "cpu" and app.app_extra("auto") == "cpu"
    with pytest.raises(UserError, match="--runner app does not take delegate 'coreml'"):
        app.app_extra("coreml")


def test_device_runner_delegates_come_from_the_registry() -> None:
    from lightavseg_mobile.device import device_runner as dr
    from lightavseg_mobile.runtime.registry import RUNTIMES, our_delegate, resolve_delegate

    assert not hasattr(dr, "_DELEGATE_NAMES") and not hasattr(dr, "_FALLBACK")
    assert dr.runtime_of("onnx") == "onnxruntime" and dr.runtime_of("tflite") == "litert"
    assert our_delegate(RUNTIMES["litert"], "none") == "cpu" and our_delegate(RUNTIMES["onnxruntime"], "cpu") == "cpu"
    assert resolve_delegate(RUNTIMES["litert"], "auto") == "xnnpack"


def test_parity_predictor_from_device_outputs_checks_frame_counts() -> None:
    from lightavseg_mobile.bench.parity import outputs_predictor
    from lightavseg_mobile.data.heldout import ClipBatch

    clips = [ClipBatch(f"c{i}", np.zeros((n, 3, 8, 8), np.float32), np.zeros((n, 1, 96, 64), np.float32),
                       np.zeros((n, 8, 8), np.uint8), np.ones(n, bool)) for i, n in enumerate((2, 3))]
    outputs = np.arange(5, dtype=np.float32).reshape(5, 1, 1, 1)
    predict = outputs_predictor("x", outputs, clips)
    assert predict(clips[0].frames, clips[0].audio).ravel().tolist() == [0.0, 1.0]
    assert predict(clips[1].frames, clips[1].audio).ravel().tolist() == [2.0, 3.0, 4.0]
    with pytest.raises(UserError, match="returned 4 output frames, the held-out clips have 5"):
        outputs_predictor("x", outputs[:4], clips)


# Top to bottom; a package may import only packages below it (the import-linter contract of the restructuring).
LAYERS = ["cli", "bench", "device", "export", "train|report", "parity|evaluate", "runtime", "checkpoint|weights", "presets",
          "model", "data", "audio|metrics", "artifact", "console|errors|io_atomic|hostinfo"]


def _layer(name: str) -> int | None:
    return next((i for i, layer in enumerate(LAYERS) if name in layer.split("|")), None)


def _imports(path: Path) -> set[str]:
    """Top-level lightavseg_mobile packages a module imports (at any depth of the file)."""
    rel = path.relative_to(PKG).parts
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.level:
            base = list(rel[:-1])[: len(rel) - node.level] if node.level > 1 else list(rel[:-1])
            parts = base + (node.module.split(".") if node.module else [])
            found.add(parts[0] if parts else (node.names[0].name))
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("lightavseg_mobile."):
            found.add(node.module.split(".")[1])
        elif isinstance(node, ast.Import):
            found |= {a.name.split(".")[1] for a in node.names if a.name.startswith("lightavseg_mobile.")}
    return found


@pytest.mark.parametrize("package", ["bench", "device"])
def test_bench_and_device_import_only_packages_below_them(package: str) -> None:
    mine = _layer(package)
    bad = []
    for path in sorted((PKG / package).rglob("*.py")):
        for name in _imports(path):
            layer = _layer(name.removesuffix(".py"))
            if name != package and layer is not None and layer <= mine:
                bad.append(f"{path.relative_to(PKG)} imports {name}")
    assert bad == []
