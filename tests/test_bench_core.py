"""lavseg-bench pieces without processes: timing protocol, statistics, schema, ORT profile mapping, targets, report."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from lightavseg_mobile.bench import modules as mod
from lightavseg_mobile.bench.protocol import interleaved_timing, paired_sum_ratio, summarize
from lightavseg_mobile.bench.report import markdown, write_report
from lightavseg_mobile.bench.targets import targets_check
from lightavseg_mobile.bench.schema import REPORT_SCHEMA, REPORT_SCHEMA_VERSION, ReportSchemaError, validate_report
from lightavseg_mobile.errors import UserError


def test_interleaving_round_robin_in_blocks_and_warmup_discarded():
    calls: list[str] = []
    runners = {k: (lambda k=k: calls.append(k)) for k in ("a", "b", "c")}
    out = interleaved_timing(runners, warmup=2, runs=5, block=2)
    # Warm-up: one call per label per round; then blocks of 2, the last block short.
    assert calls[:6] == ["a", "b", "c", "a", "b", "c"]
    assert calls[6:] == ["a", "a", "b", "b", "c", "c"] * 2 + ["a", "b", "c"]
    assert {k: len(v) for k, v in out.items()} == {"a": 5, "b": 5, "c": 5}
    assert all(x >= 0 for v in out.values() for x in v)


def test_timing_measures_the_callable():
    import time

    out = interleaved_timing({"slow": lambda: time.sleep(0.004), "fast": lambda: None}, warmup=0, runs=5)
    assert min(out["slow"]) >= 3.5  # ms
    # Median, not max: this host stalls single calls by a scheduler tick (4 ms), which could hit a no-op too.
    assert sorted(out["fast"])[2] < min(out["slow"])


@pytest.mark.parametrize("kw", [dict(warmup=0, runs=0), dict(warmup=-1, runs=2), dict(warmup=0, runs=2, block=0)])
def test_timing_rejects_bad_counts(kw):
    with pytest.raises(UserError):
        interleaved_timing({"a": lambda: None}, **kw)


def test_summarize_statistics():
    s = summarize([float(x) for x in range(1, 101)])
    assert s["p50"] == pytest.approx(50.5)
    assert s["p90"] == pytest.approx(90.1)
    assert s["p99"] == pytest.approx(99.01)
    assert s["mean"] == pytest.approx(50.5)
    assert s["std"] == pytest.approx(np.std(np.arange(1, 101), ddof=1))
    assert (s["min"], s["max"], s["runs"]) == (1.0, 100.0, 100)
    assert s["fps"] == pytest.approx(1000 / 50.5)
    assert summarize([4.0])["std"] == 0.0
    with pytest.raises(UserError):
        summarize([])


def test_peak_rss_grows_with_allocation():
    # A fresh process: in this one the high-water mark may already sit above anything a test allocates.
    code = (
        "import numpy as np\n"
        "from lightavseg_mobile.bench.protocol import process_peak_rss_mb\n"
        "before = process_peak_rss_mb()\n"
        "block = np.ones(64 * 2**20 // 8)\n"
        "print(before, process_peak_rss_mb())\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    before, after = (float(x) for x in out.split())
    assert before > 1 and after >= before + 50


def _report() -> dict:
    lat = summarize([10.0, 11.0, 12.0])
    art = {"label": "x.fp32.onnx", "file": "x.fp32.onnx", "sha256": "ab", "format": "onnx", "precision": "fp32",
           "preset": "lightavseg-tiny", "module": "model", "kind": "ours", "size_mb": 1.0,
           "runtime": {"name": "onnxruntime", "runtime": "onnxruntime", "threads": 2}, "latency_ms": lat,
           "samples_ms": [10.0, 11.0, 12.0], "cold_start_ms": 500.0, "peak_rss_mb": 80.0, "ratio_to_baseline": 0.5,
           "gflops": 1.0, "gflops_per_s": 90.9, "fraction_of_peak": 0.3, "non_delegated_ops": 0,
           "delegate": "cpu", "fallback": None, "cold_start_breakdown_ms": None, "baseline": None,
           "non_delegated_by_op": None, "export_parity": None}
    int8 = dict(art, label="x.int8.onnx", precision="int8", latency_ms=summarize([14.0, 15.0, 16.0]), non_delegated_ops=3)
    peer = dict(art, label="x.executorch", kind="peer", format="pte", latency_ms=summarize([8.0, 9.0, 10.0]))
    rows = [art, int8, peer]
    peak = {"gflops_per_s": 300.0, "size": 1024, "threads": 2}
    return {"schema": REPORT_SCHEMA, "schema_version": REPORT_SCHEMA_VERSION, "created": "2026-01-01T00:00:00Z",
            "git": {"commit": None, "dirty": None},
            "machine": {"kind": "host", "execution": "native", "label": "host x86_64, CPU, 2 cores", "arch": "x86_64",
                        "os": "Linux", "cpu_model": "CPU", "logical_cpus": 2, "physical_cores": 2, "cpu_flags": ["avx2"],
                        "governor": None, "libraries": {"numpy": "2"}},
            "protocol": {"warmup": 1, "runs": 3, "block": 1, "threads": 2, "baseline": None, "interleaved": True,
                         "isolation": "subprocess per artifact", "runner": "host worker", "delegate": "auto",
                         "allow_fallback": False},
            "matmul_peak": peak, "artifacts": rows,
            "modules": mod.module_rows("x.fp32.onnx", "split", {"visual": 8.0, "audio": 1.0, "reciprocal_encoder": 0.5,
                                                                 "fusion_decoder": 0.5, "seg_head": 1.0}, None),
            "module_sums": [mod.sum_check("x.fp32.onnx", "split", {"visual": 8.0, "audio": 1.0, "reciprocal_encoder": 0.5,
                                                                    "fusion_decoder": 0.5, "seg_head": 1.0}, 11.0)],
            "parity": {}, "paper_reference": dict(mod.PAPER_REFERENCE), "targets": targets_check(rows, peak), "extra": {},
            "incomplete": False, "incomplete_reason": None}


def test_valid_report_passes_and_bad_fields_are_named():
    r = _report()
    validate_report(r)
    bad = json.loads(json.dumps(r))
    del bad["artifacts"][1]["latency_ms"]["p99"]
    with pytest.raises(ReportSchemaError, match=r"artifacts\[1\]\.latency_ms\.p99"):
        validate_report(bad)
    bad = json.loads(json.dumps(r))
    bad["machine"]["execution"] = "emulated"
    with pytest.raises(ReportSchemaError, match="execution"):
        validate_report(bad)
    bad = json.loads(json.dumps(r))
    bad["schema_version"] = REPORT_SCHEMA_VERSION + 1
    with pytest.raises(ReportSchemaError, match="newer"):
        validate_report(bad)
    bad = json.loads(json.dumps(r))
    bad["incomplete"] = True
    with pytest.raises(ReportSchemaError, match="incomplete_reason"):
        validate_report(bad)


def test_targets_say_by_how_much():
    t = {(x["name"].split()[0], x["met"]) for x in _report()["targets"]}
    assert ("best", False) in t  # 30 % of peak < 50 %; best ours 11 ms vs peer 9 ms
    rows = {x["name"]: x for x in _report()["targets"]}
    assert "20.0 points short" in rows["best fp32 artifact >= 50% of matmul peak"]["detail"]
    int8 = rows["int8 no slower than fp32 on the same runtime"]
    assert not int8["met"] and int8["measured"] == pytest.approx(15 / 11) and "non-delegated ops: 3" in int8["detail"]
    peer = rows["best ours at least as fast as best peer"]
    assert not peer["met"] and peer["measured"] == pytest.approx(11 / 9)


def test_module_sum_check_and_paper_shares():
    ok = mod.sum_check("m", "split", {"visual": 9.0, "audio": 1.0}, 11.0)
    assert ok["within_tolerance"] and ok["rel_diff"] == pytest.approx(-1 / 11)
    off = mod.sum_check("m", "split", {"visual": 5.0}, 10.0)
    assert not off["within_tolerance"]
    # The whole model's numpy conversion is added to the sum and kept visible in the row.
    conv = mod.sum_check("m", "split", {"visual": 7.0}, 10.0, boundary_ms=2.5)
    assert conv["boundary_ms"] == 2.5 and conv["sum_ms"] == 7.0 and conv["rel_diff"] == pytest.approx(-0.05)
    assert conv["within_tolerance"]
    # Given a paired difference, the tolerance judges it; the p50 difference stays in the row.
    paired = mod.sum_check("m", "split", {"visual": 5.0}, 10.0, paired_rel_diff=0.04)
    assert paired["within_tolerance"] and paired["rel_diff"] == pytest.approx(-0.5) and paired["paired_rel_diff"] == 0.04
    assert not mod.sum_check("m", "split", {"visual": 10.0}, 10.0, paired_rel_diff=-0.2)["within_tolerance"]
    assert "paired by round -20.0%" in mod.sum_summary(mod.sum_check("m", "split", {"visual": 10.0}, 10.0, paired_rel_diff=-0.2))
    # Split sub-models timed in the whole model's interleaved run are judged paired; without samples, by p50s.
    split = mod.split_sum_check("m", {"visual": 5.0}, 10.0, 1.0, [[5.0, 5.0]], [6.0, 6.0], block=1)
    assert split["source"] == "split" and split["paired_rel_diff"] == pytest.approx(0.0) and split["within_tolerance"]
    assert split["rel_diff"] == pytest.approx(-0.4)
    unpaired = mod.split_sum_check("m", {"visual": 5.0}, 10.0, 1.0, None, [6.0, 6.0], block=1)
    assert "paired_rel_diff" not in unpaired and not unpaired["within_tolerance"]
    shares = mod.paper_shares()
    assert shares["visual"] == pytest.approx(139.4 / 163.5) and sum(shares.values()) == pytest.approx(1.0)


def test_paired_sum_ratio_cancels_drift_and_stalls_that_move_p50s_apart():
    # A slow stretch (x2) hits the whole model in rounds 1, 2 and 4 but its parts only in round 2 (they ran
    # a moment earlier): the overall p50s then disagree by 50 %, the median of per-round ratios does not.
    whole_speed = [1.0, 2.0, 2.0, 1.0, 2.0]
    part_speed = [1.0, 1.0, 2.0, 1.0, 1.0]
    part_a = [4.0 * k for k in part_speed]
    part_b = [1.0 * k for k in part_speed]
    whole = [5.0 * k for k in whole_speed]
    p50_ratio = (float(np.median(part_a)) + float(np.median(part_b))) / float(np.median(whole))
    assert p50_ratio == pytest.approx(0.5)
    assert paired_sum_ratio([part_a, part_b], whole, block=1) == pytest.approx(1.0)
    # The conversion time is added in every round: rounds give 2, 1, 1.5, 2, 1.
    assert paired_sum_ratio([part_a, part_b], whole, block=1, extra_ms=5.0) == pytest.approx(1.5)
    # Blocks of 3: a stall (+4 ms, a scheduler tick) in two of a part's three runs leaves the round's answer alone,
    # and a round where the whole model itself ran slow throughout is one round of five.
    runs_a, runs_w = [4.0, 8.0, 8.0] * 5, [5.0, 5.0, 5.0] * 4 + [9.0, 9.0, 9.0]
    assert paired_sum_ratio([runs_a, [1.0] * 15], runs_w, block=3) == pytest.approx(1.0)
    # A real gap survives the pairing: parts that miss 20 % of the whole in every round.
    assert paired_sum_ratio([[0.8 * w for w in whole]], whole, block=2) == pytest.approx(0.8)
    # Sample lists that do not line up in rounds give no paired answer rather than a wrong one.
    assert paired_sum_ratio([part_a[:-1]], whole, block=2) is None
    with pytest.raises(UserError):
        paired_sum_ratio([part_a], whole, block=0)


def test_ort_profile_maps_nodes_to_modules(tmp_path):
    names = {"conv_1": "visual.stages.0.conv", "gemm_2": "audio.fc", "add_3": "net.fusion_decoder.steps.0"}
    producers = {"v_out": "conv_1"}
    # One node at a time (sequential executor); the gaps between kernels are dispatch, charged to the next node.
    ev = [{"cat": "Session", "name": "model_run", "ts": 0, "dur": 1000},  # warm-up, skipped
          {"cat": "Node", "name": "conv_1_kernel_time", "ts": 10, "dur": 900, "args": {"op_name": "Conv"}},
          {"cat": "Session", "name": "model_run", "ts": 2000, "dur": 1000},
          {"cat": "Node", "name": "v_out_nchwc_kernel_time", "ts": 2010, "dur": 490, "args": {"op_name": "Conv"}},
          {"cat": "Node", "name": "gemm_2_kernel_time", "ts": 2550, "dur": 150, "args": {"op_name": "Gemm"}},
          {"cat": "Node", "name": "add_3_fused_kernel_time", "ts": 2750, "dur": 50, "args": {"op_name": "Add"}},
          {"cat": "Node", "name": "ReorderOutput_kernel_time", "ts": 2850, "dur": 50, "args": {"op_name": "ReorderOutput"}}]
    trace = tmp_path / "p.json"
    trace.write_text(json.dumps(ev))
    res = mod.parse_ort_profile(trace, names, skip_runs=1, producers=producers)
    assert res["runs"] == 1 and res["model_run_ms"] == pytest.approx(1.0)
    assert res["module_ms"] == pytest.approx({"visual": 0.5, "audio": 0.2, "fusion_decoder": 0.1, "other": 0.1})
    assert res["module_kernel_ms"] == pytest.approx({"visual": 0.49, "audio": 0.15, "fusion_decoder": 0.05, "other": 0.05})
    assert res["span_ms"] == pytest.approx(0.9) and res["kernel_ms"] == pytest.approx(0.74)
    assert res["mapped_fraction"] == pytest.approx(0.8 / 0.9)
    assert res["unmapped_by_op_ms"] == pytest.approx({"ReorderOutput": 0.1})


def test_layout_nodes_ort_inserts_belong_to_the_module_they_feed(tmp_path):
    import onnx
    from onnx import TensorProto, helper

    # ORT's optimized graph: a reorder it inserted before a visual conv, one after the audio gemm.
    nodes = [helper.make_node("Relu", ["x"], ["r"], name="relu_0"),
             helper.make_node("Identity", ["r"], ["r_nchwc"], name="ReorderInput_7"),
             helper.make_node("Relu", ["r_nchwc"], ["v"], name="conv_1"),
             helper.make_node("Relu", ["v"], ["a"], name="gemm_2"),
             helper.make_node("Identity", ["a"], ["y"], name="ReorderOutput_9")]
    vi = [helper.make_tensor_value_info(n, TensorProto.FLOAT, [1]) for n in ("x", "y")]
    path = tmp_path / "optimized.onnx"
    onnx.save(helper.make_model(helper.make_graph(nodes, "g", vi[:1], vi[1:])), str(path))
    names = {"conv_1": "visual.stem", "gemm_2": "audio.fc1"}
    got = mod.optimized_graph_modules(path, names)
    # Consumers first: the input reorder serves the conv; the trailing one has no consumer, so its producer.
    assert got == {"conv_1": "visual.stem", "gemm_2": "audio.fc1", "ReorderInput_7": "visual.stem",
                   "relu_0": "visual.stem", "ReorderOutput_9": "audio.fc1"}
    trace = tmp_path / "p.json"
    trace.write_text(json.dumps([{"cat": "Session", "name": "model_run", "ts": 0, "dur": 1000},
                                 {"cat": "Node", "name": "ReorderInput_7_kernel_time", "ts": 0, "dur": 300, "args": {"op_name": "ReorderInput"}}]))
    res = mod.parse_ort_profile(trace, names, graph_modules=got)
    assert res["module_ms"] == pytest.approx({"visual": 0.3}) and res["mapped_fraction"] == 1.0
    assert mod.optimized_graph_modules(tmp_path / "missing.onnx", names) == {}


def test_markdown_and_plots_written(tmp_path):
    r = _report()
    written = write_report(r, tmp_path)
    md = written["markdown"].read_text()
    for name in ("bench_latency.png", "bench_modules.png", "bench_size_latency_miou.png"):
        assert (tmp_path / name).stat().st_size > 1000
        assert f"]({name})" in md
    assert "not measured here" in md and "x.int8.onnx" in md and "**no**" in md
    assert json.loads(written["json"].read_text())["schema"] == REPORT_SCHEMA
    assert "| 85.3%" in markdown(r)


def test_interaction_scaling_ours_linear_dense_quadratic_in_flops():
    from lightavseg_mobile.bench.scaling import interaction_scaling

    res = interaction_scaling("lightavseg-tiny", sizes=(64, 128, 256), warmup=0, runs=1, threads=1)
    assert [r["size"] for r in res["rows"]] == [64, 128, 256]
    assert all(r["ours_ms"] > 0 and r["dense_ms"] > 0 for r in res["rows"])
    # FLOPs are exact counts: ours grows with H*W, dense with (H*W)^2 once attention dominates.
    assert 0.8 < res["slopes"]["ours_flops"] < 1.2
    assert res["slopes"]["dense_flops"] > 1.5
    assert res["rows"][-1]["dense_gflops"] > 3 * res["rows"][-1]["ours_gflops"]
