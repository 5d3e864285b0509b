"""Device-free tests of the device bench: benchmark_model parsers on fixtures, command lines, bundles, delegates."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from lightavseg_mobile.bench.cli_device import serial_dirname
from lightavseg_mobile.bench.machine import device_machine
from lightavseg_mobile.device import benchmark_model as bm
from lightavseg_mobile.device import runner_bundle as rb

FIX = Path(__file__).parent / "fixtures" / "benchmark_model"


def read(name: str) -> str:
    return (FIX / name).read_text()


# --- benchmark_model log ------------------------------------------------------------------------

def test_recent_log_with_percentiles_and_full_xnnpack() -> None:
    p = bm.parse_log(read("xnnpack_full.log"))
    assert p["init_us"] == 41207 and p["first_inference_us"] == 31544 and p["inference_avg_us"] == 24080.6
    assert p["runs"]["count"] == 5 and p["runs"]["median"] == 23877 and p["runs"]["p95"] == 24890
    assert p["warmup"]["count"] == 1
    assert p["memory_delta_mb"] == {"init": 9.42188, "overall": 14.0391} and p["peak_memory_mb"] == 19.5703
    assert p["init_session_ms"] == 41.207
    d = p["delegation"]
    assert d["applied"] == {"XNNPACK": "complete"}
    assert d["replaced"] == [{"kernel": "TfLiteXNNPackDelegate", "delegate": "xnnpack", "nodes_delegated": 412,
                              "nodes_total": 412, "partitions": 1}]
    assert bm.delegate_outcome("xnnpack", d) == {"used": "xnnpack", "coverage": "412/412 nodes", "fallback_reason": None}
    lat = bm.latency_ms(p)
    assert lat["p50"] == pytest.approx(23.877) and lat["p90"] == pytest.approx(24.890) and lat["p99"] == pytest.approx(24.890)
    assert lat["min"] == pytest.approx(23.650) and lat["mean"] == pytest.approx(24.0806) and lat["runs"] == 5
    assert lat["fps"] == pytest.approx(1000 / 23.877) and "upper bounds" in lat["note"]


def test_nnapi_that_takes_no_node_is_a_fallback() -> None:
    p = bm.parse_log(read("nnapi_fallback.log"))
    assert p["delegation"]["applied"] == {"NNAPI": "none"}
    out = bm.delegate_outcome("nnapi", p["delegation"])
    assert out["used"] == "cpu" and "took no node" in out["fallback_reason"]
    assert p["peak_memory_mb"] is None and p["runs"]["count"] == 3
    # Asking for GPU against the same log: the tool never mentioned a GPU delegate.
    assert "no GPU delegate" in bm.delegate_outcome("gpu", p["delegation"])["fallback_reason"]


def test_old_build_without_prefix_or_percentiles() -> None:
    p = bm.parse_log(read("cpu_old.log"))
    assert p["runs"] == {"count": 4.0, "first": 4002.0, "curr": 3991.0, "min": 3970.0, "max": 4060.0,
                         "avg": 4005.75, "std": 34.0}
    assert p["warmup"]["count"] == 12 and p["memory_delta_mb"] is None
    lat = bm.latency_ms(p)
    assert lat["p50"] == pytest.approx(4.00575) and lat["p90"] == pytest.approx(4.060)  # mean and max: no percentiles
    assert "no median printed" in lat["note"]
    assert bm.delegate_outcome("cpu", p["delegation"]) == {"used": "cpu", "coverage": None, "fallback_reason": None}


def test_failed_run_raises_with_the_tools_last_line() -> None:
    with pytest.raises(bm.BenchmarkOutputError, match="Benchmarking failed"):
        bm.parse_log(read("failed.log"))


def test_cpu_request_honoured_only_without_xnnpack_partitions() -> None:
    d = bm.parse_delegation(read("xnnpack_full.log"))
    assert bm.delegate_outcome("cpu", d)["used"] == "xnnpack"
    assert "although --use_xnnpack=false" in bm.delegate_outcome("cpu", d)["fallback_reason"]


# --- op profile CSV -----------------------------------------------------------------------------

def test_op_profile_csv_sections_rows_and_names() -> None:
    p = bm.parse_op_profile_csv(read("op_profile.csv"))
    assert [r["node_type"] for r in p["init"]] == ["AllocateTensors"]
    run = p["run"]
    assert [r["node_type"] for r in run] == ["QUANTIZE", "CONV_2D", "DEPTHWISE_CONV_2D", "HARD_SWISH",
                                             "FULLY_CONNECTED", "LOGISTIC", "DEQUANTIZE"]
    conv = run[1]
    assert conv["avg_ms"] == 1.497 and conv["first_ms"] == 1.512 and conv["percent"] == 37.4
    assert conv["cdf_percent"] == 39.85 and conv["times_called"] == 1
    assert conv["name"] == "[visual/stem/conv,bn,relu]:1"  # tabs in the CSV stand for commas in the name
    assert sum(r["avg_ms"] for r in run) == pytest.approx(4.002, abs=1e-3)
    assert p["by_type"]["CONV_2D"]["count"] == 1 and p["by_type"]["QUANTIZE"]["avg_ms"] == 0.098
    assert p["run_timings_us"]["count"] == 5 and p["run_timings_us"]["avg"] == 4002


def test_op_profile_without_run_rows_or_with_a_bad_row_is_an_error() -> None:
    text = read("op_profile.csv")
    init_only = text.split("Operator-wise")[0]
    with pytest.raises(bm.BenchmarkOutputError, match="no 'Run Order' rows"):
        bm.parse_op_profile_csv(init_only)
    with pytest.raises(bm.BenchmarkOutputError, match="not numeric"):
        bm.parse_op_profile_csv(text.replace("CONV_2D, 1.512", "CONV_2D, n/a"))


# --- command line -------------------------------------------------------------------------------

@pytest.mark.parametrize("delegate,flags", [
    ("cpu", ("--use_xnnpack=false", "--use_nnapi=false", "--use_gpu=false")),
    ("xnnpack", ("--use_xnnpack=true", "--use_nnapi=false", "--use_gpu=false")),
    ("nnapi", ("--use_xnnpack=false", "--use_nnapi=true", "--use_gpu=false")),
    ("gpu", ("--use_xnnpack=false", "--use_nnapi=false", "--use_gpu=true")),
])
def test_build_command_sets_exactly_one_delegate(delegate: str, flags: tuple[str, ...]) -> None:
    cmd = bm.build_command("/d/bin", "/d/x; rm -rf /.tflite", threads=3, warmup=2, runs=7, delegate=delegate,
                           profile_csv="/d/run/p.csv")
    assert cmd[0] == "/d/bin" and "--graph=/d/x; rm -rf /.tflite" in cmd  # one argv word, quoted by adb.quote_command
    for f in flags:
        assert f in cmd
    for f in ("--num_threads=3", "--warmup_runs=2", "--num_runs=7", "--enable_op_profiling=true",
              "--op_profiling_output_mode=csv", "--op_profiling_output_file=/d/run/p.csv"):
        assert f in cmd
    with pytest.raises(ValueError, match="unknown delegate"):
        bm.build_command("/b", "/g", threads=1, warmup=1, runs=1, delegate="npu")


# --- bundle -------------------------------------------------------------------------------------

def _fake_artifact(folder: Path, name: str, payload: bytes) -> tuple[str, Path, object, bool]:
    from lightavseg_mobile.artifact.manifest import Manifest, TensorSpec, artifact_sha256, manifest_path

    folder.mkdir(parents=True, exist_ok=True)
    art = folder / name
    art.write_bytes(payload)
    man = Manifest(artifact_file=art.name, artifact_sha256=artifact_sha256(art), artifact_size=len(payload),
                   format="tflite", precision="int8", preset="lightavseg-tiny", module="model",
                   inputs=[TensorSpec("frame", [1, 3, 8, 8], "float32")], outputs=[TensorSpec("mask_logits", [1, 1, 8, 8], "float32")],
                   preprocessing={})
    manifest_path(art).write_text(man.to_json())
    return (art.name, art, man, True)


def test_bundle_digest_is_content_addressed_and_names_are_safe(tmp_path: Path) -> None:
    evil_dir = tmp_path / "d; rm -rf ~"
    a = _fake_artifact(evil_dir, "m; rm -rf x.tflite", b"model-bytes")
    inputs = {"frame": np.ones((2, 3, 8, 8), np.float32)}
    b1 = rb.build_bundle([a], inputs, tmp_path / "s1", [{"name": "c", "frames": 2}])
    b2 = rb.build_bundle([a], inputs, tmp_path / "s2", [{"name": "c", "frames": 2}])
    assert b1.digest == b2.digest and len(b1.digest) == 24
    rels = [f.rel for f in b1.files]
    assert "artifacts/a00.tflite" in rels and "device_runner.py" in rels and "lightavseg_mobile/runtime/timing.py" in rels
    assert not any(";" in r or " " in r for r in rels)
    assert not any("torch" in r for r in rels)
    # The device runner needs nothing above runtime/: the bench engine stays on the host.
    assert not any(r.startswith(("lightavseg_mobile/bench/", "lightavseg_mobile/export/")) for r in rels)
    staged = json.loads((tmp_path / "s1" / "artifacts" / "a00.manifest.json").read_text())
    assert staged["artifact_file"] == "a00.tflite" and staged["artifact_sha256"] == a[2].artifact_sha256
    assert b1.device_dir == f"{rb.CACHE_DIR}/{b1.digest}"
    sums = (tmp_path / "s1" / rb.SUMS_FILE).read_text().splitlines()
    assert len(sums) == len(b1.files) and all(len(line.split("  ")[0]) == 64 for line in sums)
    # Any change of content changes the digest.
    b3 = rb.build_bundle([a], {"frame": np.zeros((2, 3, 8, 8), np.float32)}, tmp_path / "s3")
    a2 = _fake_artifact(tmp_path / "other", "m.tflite", b"model-bytes-2")
    b4 = rb.build_bundle([a2], inputs, tmp_path / "s4", [{"name": "c", "frames": 2}])
    assert len({b1.digest, b3.digest, b4.digest}) == 3


def test_device_modules_import_without_torch(tmp_path: Path) -> None:
    import subprocess
    import sys

    code = ("import sys; sys.modules['torch'] = None\n"
            "import lightavseg_mobile.device.device_runner as r, lightavseg_mobile.runtime, lightavseg_mobile.runtime.timing\n"
            "import lightavseg_mobile.bench.protocol\n"
            "print('ok')")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert res.returncode == 0 and res.stdout.strip() == "ok", res.stderr


def test_serial_folder_names_are_inert() -> None:
    assert serial_dirname("127.0.0.1:15555; rm -rf /") == "127.0.0.1_15555__rm_-rf__"
    assert serial_dirname("../..") == ".._.."
    assert "/" not in serial_dirname("a/b") and serial_dirname("") == "device"


def test_machine_block_labels_emulated_devices() -> None:
    facts = {"serial": "s", "model": "m", "soc_model": "qemu-neoverse-n1", "cores": 2, "machine": "aarch64",
             "kernel": "6.1", "android_release": "debian-13", "emulated": True}
    m = device_machine(facts, {"cpu_flags": ["asimd"], "governor": None}, {"python": "3.13"})
    assert m["kind"] == "device" and m["execution"] == "emulated (qemu)" and "emulated (qemu)" in m["label"]
    assert m["device"] is facts and m["cpu_flags"] == ["asimd"]
    assert device_machine({**facts, "emulated": False, "android_release": "15", "android_sdk": "35"}, {}, {})["execution"] == "native"
