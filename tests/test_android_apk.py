"""Android demo APK: built from Debian packages without Gradle, with a model copied in by `make android-assets`.

The model is a stand-in (random bytes with a real manifest): the APK carries no LiteRT library here, so the
app would refuse to run it and say so; what is checked is the build, the signature, the manifest and the
packaging of the assets.
"""

from __future__ import annotations

import json
import shutil
import zipfile
from pathlib import Path

import pytest
from conftest import run_make

from lightavseg_mobile.android_golden import write_stand_in_export

pytestmark = pytest.mark.slow  # builds and signs an APK from Debian packages

APK_NAME = "lightavseg-demo-debug.apk"


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    tmp = tmp_path_factory.mktemp("android-apk")
    model = write_stand_in_export(tmp / "export")
    assets = tmp / "assets"
    run_make("android-assets", f"MODEL={model}", f"ANDROID_ASSETS={assets}", "HELDOUT_CLIPS=2")
    run_make("android-apk", f"ANDROID_ASSETS={assets}", f"ANDROID_BUILD={tmp / 'build'}")
    return {"tmp": tmp, "assets": assets, "out": tmp / "build" / "apk", "model": model}


def test_apk_is_signed_and_verifies(built: dict[str, Path]) -> None:
    verify = (built["out"] / "apksigner-verify.txt").read_text()
    assert verify.splitlines()[0] == "Verifies"
    assert "Verified using v2 scheme (APK Signature Scheme v2): true" in verify


def test_badging_names_package_sdk_permissions_and_launcher(built: dict[str, Path]) -> None:
    badging = (built["out"] / "badging.txt").read_text()
    assert "package: name='org.lightavseg.demo'" in badging
    assert "sdkVersion:'23'" in badging
    for perm in ("CAMERA", "RECORD_AUDIO"):
        assert f"uses-permission: name='android.permission.{perm}'" in badging
    assert "launchable-activity: name='org.lightavseg.demo.MainActivity'" in badging
    assert "uses-feature-not-required: name='android.hardware.camera'" in badging


def test_apk_holds_app_core_and_assets_but_no_litert_stand_in(built: dict[str, Path]) -> None:
    with zipfile.ZipFile(built["out"] / APK_NAME) as z:
        dex = z.read("classes.dex")
        model = z.getinfo("assets/model/model.tflite")
        index = json.loads(z.read("assets/heldout/index.json"))
        names = set(z.namelist())
    for cls in ("Lorg/lightavseg/core/LogMel;", "Lorg/lightavseg/core/Segmenter;", "Lorg/lightavseg/demo/MainActivity;",
                "Lorg/lightavseg/demo/BenchRunner;", "Lorg/lightavseg/demo/CameraController;"):
        assert cls.encode() in dex, cls
    # No LiteRT here: the engine class is absent and the app carries the message it shows instead.
    assert b"Lorg/lightavseg/demo/litert/LiteRtEngine;" not in dex
    assert b"Lorg/tensorflow/lite/" not in dex
    assert b"built without the LiteRT library" in dex
    assert model.compress_type == zipfile.ZIP_STORED and model.file_size == built["model"].stat().st_size
    assert "assets/model/model.tflite.manifest.json" in names
    assert len(index["clips"]) == 2
    for clip in index["clips"]:
        assert f"assets/heldout/{clip['audio']}" in names
        assert all(f"assets/heldout/{f}" in names for f in clip["frames"]) and len(clip["frames"]) == 5


def test_assets_step_refuses_a_tampered_model(built: dict[str, Path]) -> None:
    bad = built["tmp"] / "bad"
    shutil.copytree(built["model"].parent, bad)
    shutil.copyfile(bad / "tampered.tflite", bad / "model.tflite")
    r = run_make("android-assets", f"MODEL={bad / 'model.tflite'}", f"ANDROID_ASSETS={built['tmp'] / 'assets2'}", check=False)
    assert r.returncode != 0
    assert "does not match its manifest" in r.stderr
    assert not (built["tmp"] / "assets2" / "model").exists()
