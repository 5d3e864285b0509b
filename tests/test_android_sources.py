"""Android demo: wiring that only a phone or the Gradle build would exercise, pinned in the sources.

LiteRtEngine compiles only with Gradle and the LiteRT AAR (not obtainable here), and MainActivity runs only on
Android; their logic lives in android_demo/core and is tested on the JVM (make android-core-test). These checks
pin the few lines that connect that logic to the platform, so a regression shows without a phone.
"""

from __future__ import annotations

import re
from pathlib import Path

APP = Path(__file__).resolve().parents[1] / "android_demo" / "app"
SRC = APP / "src" / "main" / "java" / "org" / "lightavseg" / "demo"
ENGINE = APP / "src" / "litert" / "java" / "org" / "lightavseg" / "demo" / "litert" / "LiteRtEngine.java"


def _method(text: str, signature: str) -> str:
    """The body of the first method whose declaration contains `signature` (brace-matched)."""
    start = text.index(signature)
    i = text.index("{", start)
    depth = 0
    for j in range(i, len(text)):
        depth += {"{": 1, "}": -1}.get(text[j], 0)
        if depth == 0:
            return text[i:j + 1]
    raise AssertionError(f"unbalanced braces after {signature}")


def test_runtime_version_is_the_pinned_litert_library_not_the_tensorflow_string() -> None:
    gradle = (APP / "build.gradle").read_text()
    (pin,) = re.findall(r"def litertVersion = '([0-9.]+)'", gradle)
    assert "buildConfigField 'String', 'LITERT_VERSION', \"\\\"${litertVersion}\\\"\"" in gradle
    assert "buildConfig true" in gradle
    deps = re.findall(r'"com\.google\.ai\.edge\.litert:(litert[a-z-]*):\$\{litertVersion\}"', gradle)
    assert sorted(deps) == ["litert", "litert-gpu", "litert-gpu-api"], deps
    assert pin
    runtime = _method(ENGINE.read_text(), "public String runtime()")
    assert "BuildConfig.LITERT_VERSION" in runtime and "runtimeVersion" not in runtime


def test_litert_engine_delegates_through_the_accounting() -> None:
    src = ENGINE.read_text()
    assert "DelegateAccounting.choose(requested, backend)" in src
    # The GPU delegate is created inside build(), which DelegateAccounting calls in a try: a native failure falls back.
    assert "new GpuDelegate(" in _method(src, "public int build(String accelerator, boolean xnnpack)")
    assert src.count("new GpuDelegate(") == 1
    # Every CompatibilityList is closed.
    assert src.count("new CompatibilityList()") == src.count("compat.close()") == 2
    assert "setUseNnapiCpu(false)" in src
    # Buffers come from TensorBuffers (allocated once), never allocated per run.
    assert "allocateDirect" not in _method(src, "public Map<String, TensorData> run(")


def test_model_is_mapped_from_the_apk() -> None:
    store = (SRC / "ModelStore.java").read_text()
    assert "assets.openFd(path)" in store and "MappedModel.map(in.getChannel(), fd.getStartOffset()" in store
    assert "allocateDirect" not in store and "read(assets, DIR + \"/\" + m.artifactFile)" not in store
    assert "-0 tflite" in (APP.parent / "tools" / "android.sh").read_text()
    assert "noCompress 'tflite'" in (APP / "build.gradle").read_text()


def test_bench_mode_restarts_keeps_the_screen_on_and_finishes() -> None:
    act = (SRC / "MainActivity.java").read_text()
    assert "protected void onNewIntent(Intent intent)" in act
    assert "startBench(intent)" in _method(act, "protected void onNewIntent(Intent intent)")
    keep = _method(act, "public void keepScreenOn(final boolean on)")
    assert "addFlags(WindowManager.LayoutParams.FLAG_KEEP_SCREEN_ON)" in keep and "clearFlags" in keep
    assert "MainActivity.this.finish()" in _method(act, "public void finish()")
    assert "bench.execute(host)" in act and "BenchReport.writeStarted(out" in act


def test_live_mode_uses_the_tested_core_pieces() -> None:
    act = (SRC / "MainActivity.java").read_text()
    cam = (SRC / "CameraController.java").read_text()
    # One volatile read of the microphone per frame (AudioFeed), never the field twice.
    assert "audio.window(" in _method(act, "public void onFrame(") and "mic." not in act
    # Frame latency from the camera image (acquire time passed in), not from after conversion.
    assert "clock.frameMs(" in act and "SystemClock.elapsedRealtimeNanos()" in cam
    # Geometry: aspect-fit box for preview and mask, display rotation, front mirroring.
    layout = _method(act, "private void layoutPreview()")
    assert "PreviewGeometry.fit(" in layout and "overlay.setBox(box)" in layout and "preview.setTransform(" in layout
    assert "PreviewGeometry.frameTransform(setup.sensorOrientation, displayDegrees, setup.front)" in cam
    # Camera teardown through the gate: frames read only while open; a late onOpened closes the device.
    assert "gate.beginFrame()" in cam and "gate.endFrame()" in cam
    assert "camera.close();  // close() ran while the camera was opening" in cam
    assert "MicLoop" in (SRC / "MicRecorder.java").read_text()
