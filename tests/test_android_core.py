"""Android demo, JVM core: JUnit suite on the host JVM against golden vectors from the Python package.

Runs `make android-core-test` (it installs its Debian packages itself when missing), then reads back
what the Java side wrote with the Python side.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
from conftest import run_make

from lightavseg_mobile.android_golden import quantize_reference, resize_nearest_reference
from lightavseg_mobile.artifact.manifest import ManifestError, load_manifest
from lightavseg_mobile.metrics.task import logits_to_mask

pytestmark = pytest.mark.slow  # compiles and runs the JUnit suite on the host JVM


@pytest.fixture(scope="module")
def core_build(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    build = tmp_path_factory.mktemp("android-build")
    r = run_make("android-core-test", f"ANDROID_BUILD={build}")
    return build, r.stdout


def test_junit_suite_passes(core_build: tuple[Path, str]) -> None:
    _, out = core_build
    m = re.search(r"^OK \((\d+) tests\)$", out, re.MULTILINE)
    assert m, out[-2000:]
    assert int(m.group(1)) >= 20


def test_bench_report_from_java_reads_on_the_host(core_build: tuple[Path, str]) -> None:
    build, _ = core_build
    bench = build / "core-test" / "bench"
    report = json.loads((bench / "bench_report.json").read_text())
    assert report["schema"] == "lightavseg-bench-report" and report["schema_version"] == 2
    assert report["runtime"]["name"] == "litert-android"
    # The host's checks accept what the Java core writes, including the delegate accounting.
    from lightavseg_mobile.device import app_runner as app

    app.check_report(report)
    outcome = app.delegate_outcome(report)
    assert outcome is not None and outcome["fallback"] is True and outcome["applied"] == "xnnpack"
    assert outcome["nodes_delegated_min"] == 38 and (bench / app.STARTED_FILE).is_file()
    assert set(report["latency_ms"]) >= {"p50", "p90", "p99", "mean", "std", "min", "runs", "warmup"}
    assert report["latency_ms"]["p50"] == 3.0 and report["latency_ms"]["runs"] == 5
    assert report["artifact"]["sha256"] == json.loads((build / "golden" / "golden.json").read_text())["manifest"]["sha256"]
    (out,) = report["outputs"]
    logits = np.load(bench / out["file"])
    assert logits.dtype == np.float32 and list(logits.shape) == out["shape"] == [2, 1, 4, 4]
    np.testing.assert_array_equal(logits.ravel(), np.arange(32, dtype=np.float32) - np.float32(10.5))


def test_golden_manifest_is_a_real_manifest(core_build: tuple[Path, str]) -> None:
    build, _ = core_build
    man, _ = load_manifest(build / "golden" / "manifest" / "model.tflite", verify=True)
    assert man.input("frame").quantization is not None
    tampered = build / "golden" / "manifest" / "tampered.tflite"
    (build / "golden" / "manifest" / "tampered.tflite.manifest.json").write_text(
        (build / "golden" / "manifest" / "model.tflite.manifest.json").read_text().replace('"model.tflite"', '"tampered.tflite"'))
    with pytest.raises(ManifestError, match="does not match its manifest"):
        load_manifest(tampered, verify=True)


def test_quantize_contract_rounds_half_away_from_zero_and_saturates() -> None:
    s = 0.1
    x = np.array([0.05, -0.05, 0.15, -0.15, 0.0, 100.0, -100.0], dtype=np.float32)
    # float32(0.05) / float32(0.1) is exactly 0.5: half away from zero gives +-1 (numpy's round would give 0).
    np.testing.assert_array_equal(quantize_reference(x, s, 0, True), [1, -1, 2, -2, 0, 127, -128])
    np.testing.assert_array_equal(quantize_reference(np.array([0.25, -1.0], np.float32), 0.5, 128, False), [129, 126])


def test_nearest_resize_reference_samples_pixel_centres() -> None:
    m = np.arange(6, dtype=np.uint8).reshape(2, 3)
    np.testing.assert_array_equal(resize_nearest_reference(m, 2, 3), m)
    np.testing.assert_array_equal(resize_nearest_reference(m, 4, 6), np.repeat(np.repeat(m, 2, 0), 2, 1))
    np.testing.assert_array_equal(resize_nearest_reference(np.arange(4, dtype=np.uint8)[None], 1, 2), [[1, 3]])


def test_mask_contract_is_the_float32_sigmoid_not_the_sign() -> None:
    # What the Java Masks.threshold reproduces: tiny positive logits round to sigmoid 0.5 exactly.
    np.testing.assert_array_equal(logits_to_mask(np.array([1e-9, 1e-7, 0.0, -1e-7], np.float32)),
                                  [False, True, False, False])
