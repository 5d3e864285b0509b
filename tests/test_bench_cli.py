"""lavseg-bench end to end on small ONNX fixtures + a lightavseg-tiny checkpoint, and every bad input as exit 2."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

sys.path.insert(0, str(Path(__file__).parent))
from bench_fixtures import PRESET, build_exports  # noqa: E402

from lightavseg_mobile.bench import cli_bench  # noqa: E402
from lightavseg_mobile.bench.schema import validate_report  # noqa: E402
from lightavseg_mobile.checkpoint import save_checkpoint  # noqa: E402
from lightavseg_mobile.console import guard as _guard  # noqa: E402
from lightavseg_mobile.presets import create_model, get_preset  # noqa: E402

bench = _guard(cli_bench.main)


@pytest.fixture(scope="module")
def exports(tmp_path_factory) -> Path:
    torch.manual_seed(0)
    root = tmp_path_factory.mktemp("bench")
    ckpt = root / "tiny.pt"
    save_checkpoint(ckpt, create_model(PRESET), get_preset(PRESET))
    build_exports(root / "exports", str(ckpt))
    return root / "exports"


@pytest.fixture(scope="module")
def full_run(exports, tmp_path_factory):
    out = tmp_path_factory.mktemp("report")
    code = bench([str(exports), "--runs", "3", "--warmup", "1", "--block", "1", "--threads", "1", "--modules",
                  "--parity", "--parity-clips", "1", "--profile-runs", "3", "--report", str(out)])
    assert code == 0
    return json.loads((out / "bench.json").read_text()), out


@pytest.mark.slow
def test_report_has_baseline_ratios_stats_and_machine(full_run):
    r, _ = full_run
    validate_report(r)
    labels = {a["label"]: a for a in r["artifacts"]}
    base = labels[f"{PRESET}.torch-fp32-eager"]
    whole = labels[f"{PRESET}.fp32.onnx"]
    assert base["ratio_to_baseline"] == pytest.approx(1.0)
    assert whole["ratio_to_baseline"] == pytest.approx(whole["latency_ms"]["p50"] / base["latency_ms"]["p50"])
    assert whole["runtime"]["provider"] == "cpu" and whole["runtime"]["threads"] == 1
    for a in r["artifacts"]:
        assert a["latency_ms"]["runs"] == 3 and len(a["samples_ms"]) == 3
        # Cold start spans a fresh interpreter: it cannot be shorter than the first run itself.
        assert a["cold_start_ms"] > a["cold_start_breakdown_ms"]["first_run_ms"]
        assert a["peak_rss_mb"] > 20
    # torch in its own process holds far more memory than a 1 kB ONNX graph in ORT.
    assert base["peak_rss_mb"] > whole["peak_rss_mb"]
    assert r["matmul_peak"]["gflops_per_s"] > 0 and whole["fraction_of_peak"] == pytest.approx(
        whole["gflops_per_s"] / r["matmul_peak"]["gflops_per_s"])
    m = r["machine"]
    assert m["kind"] == "host" and m["execution"] == "native" and m["cpu_model"] and "numpy" in m["libraries"]


@pytest.mark.slow
def test_modules_from_split_and_ort_profile_with_sum_check(full_run):
    r, _ = full_run
    sources = {(x["source"], x["module"]) for x in r["modules"]}
    for m in ("visual", "audio", "reciprocal_encoder", "fusion_decoder", "seg_head"):
        assert ("split", m) in sources
    # The fixture's names map puts its nodes in visual, audio, fusion_decoder and seg_head.
    assert {("ort_profile", m) for m in ("visual", "audio", "fusion_decoder", "seg_head")} <= sources
    sums = {s["source"]: s for s in r["module_sums"]}
    assert set(sums) == {"split", "ort_profile"}
    split_ms = sum(x["time_ms"] for x in r["modules"] if x["source"] == "split")
    assert sums["split"]["sum_ms"] == pytest.approx(split_ms)
    split = sums["split"]
    # The whole ONNX model's input/output conversion is measured in its worker, not assumed.
    assert split["boundary_ms"] > 0 and sums["ort_profile"]["boundary_ms"] == 0
    assert split["rel_diff"] == pytest.approx((split["sum_ms"] + split["boundary_ms"] - split["whole_ms"]) / split["whole_ms"])
    # Split sub-models ran in the same interleaved run as their whole model: the check judges the paired difference.
    assert "paired_rel_diff" not in sums["ort_profile"]
    assert split["within_tolerance"] == (abs(split["paired_rel_diff"]) <= 0.15)
    assert r["paper_reference"]["modules_ms"]["visual"] == 139.4


def test_worker_start_up_runs_no_inference_before_the_timed_first_run(exports, monkeypatch):
    # The cold start's first_run_ms is the worker's first inference: building the target (load_ms) must not run
    # the model, not even for the whole model's input/output conversion timing, which is built when asked.
    from lightavseg_mobile.bench import worker
    from lightavseg_mobile.runtime.onnxruntime_rt import OnnxRuntime

    calls = []
    real = OnnxRuntime.invoke
    monkeypatch.setattr(OnnxRuntime, "invoke", lambda self, feed: calls.append(1) or real(self, feed))
    fn, _, _, make_boundary = worker.build_target({"kind": "runtime", "threads": 1, "path": str(exports / f"{PRESET}.fp32.onnx")})
    assert calls == []
    fn()
    assert len(calls) == 1
    convert = make_boundary()
    assert convert is not None and len(calls) == 2  # the conversion is made from one real run's outputs
    convert()
    assert len(calls) == 2  # and timing it runs no model


@pytest.mark.slow
def test_parity_through_the_benchmarked_runtime(full_run):
    r, _ = full_run
    p = r["parity"][f"{PRESET}.fp32.onnx"]
    assert p["frames"] == 5 and p["runtime"]["runtime"] == "onnxruntime"
    # The fixture is not the network: the gate must fail it.
    assert p["passed"] is False and p["tensor"]["max_abs"] > 1e-3


@pytest.mark.slow
def test_markdown_links_plots(full_run):
    _, out = full_run
    md = (out / "bench.md").read_text()
    for png in ("bench_latency.png", "bench_modules.png", "bench_size_latency_miou.png"):
        assert (out / png).is_file() and f"]({png})" in md
    assert "within 15%" in md and "published numbers, not measured here" in md


def _one_line_error(capsys, code: int, needle: str) -> None:
    # Progress lines ([bench] ...) may precede it; the failure itself is one line, no traceback.
    err = [x for x in capsys.readouterr().err.strip().splitlines() if not x.startswith("[bench]")]
    assert code == 2
    assert len(err) == 1 and err[0].startswith("error:") and needle in err[0], err


def test_missing_artifact(capsys, tmp_path):
    _one_line_error(capsys, bench([str(tmp_path / "nope.onnx"), "--no-baseline"]), "no such artifact")


def test_tampered_artifact(capsys, exports, tmp_path):
    d = tmp_path / "t"
    shutil.copytree(exports, d)
    art = d / f"{PRESET}.fp32.onnx"
    data = bytearray(art.read_bytes())
    data[-1] ^= 0xFF  # same size, different bytes: only the hash can tell
    art.write_bytes(bytes(data))
    _one_line_error(capsys, bench([str(art), "--no-baseline"]), "does not match its manifest")


def test_newer_manifest_schema(capsys, exports, tmp_path):
    d = tmp_path / "n"
    shutil.copytree(exports, d)
    mpath = d / f"{PRESET}.fp32.onnx.manifest.json"
    man = json.loads(mpath.read_text())
    man["schema_version"] = 99
    mpath.write_text(json.dumps(man))
    _one_line_error(capsys, bench([str(d / f"{PRESET}.fp32.onnx"), "--no-baseline"]), "schema version 99")


def test_wrong_input_shape(capsys, exports, tmp_path):
    npz = tmp_path / "in.npz"
    np.savez(npz, frame=np.zeros((1, 3, 100, 100), np.float32), logmel=np.zeros((1, 1, 96, 64), np.float32))
    _one_line_error(capsys, bench([str(exports / f"{PRESET}.fp32.onnx"), "--no-baseline", "--inputs", str(npz)]), "shape")


def test_runs_zero(capsys, exports):
    _one_line_error(capsys, bench([str(exports), "--runs", "0"]), "--runs")


def test_unknown_runtime(capsys, exports):
    _one_line_error(capsys, bench([str(exports), "--runtime", "tensorrt"]), "unknown runtime 'tensorrt'")


def test_unavailable_provider_is_an_error_not_a_fallback(capsys, exports):
    code = bench([str(exports / f"{PRESET}.fp32.onnx"), "--no-baseline", "--no-peak", "--delegate", "qnn", "--runs", "1"])
    _one_line_error(capsys, code, "qnn")
