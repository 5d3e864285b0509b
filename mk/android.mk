# Android demo (android_demo/): JVM core tests and a debug APK built from Debian packages, no Gradle.
# Included from the top Makefile, which defines PY (the venv's python) and STAMP (the venv install stamp).
ANDROID_DIR := android_demo
ANDROID_SH := $(ANDROID_DIR)/tools/android.sh
ANDROID_BUILD ?= $(abspath $(ANDROID_DIR)/build)
ANDROID_ASSETS ?= $(abspath $(ANDROID_DIR)/app/src/main/assets)
HELDOUT_CLIPS ?= 8
MODEL ?=

.PHONY: android-deps android-golden android-core-test android-apk android-assets android-test android-clean

android-deps:  ## Debian packages (apt-get, skipped when installed) + android.jar/dx from Debian 11 into a cache
	$(ANDROID_SH) deps

android-golden: $(STAMP)  ## golden vectors from the Python package for the JVM tests
	$(PY) -m lightavseg_mobile.android_golden --out $(ANDROID_BUILD)/golden

android-core-test: android-golden  ## JUnit tests of android_demo/core on the host JVM
	ANDROID_BUILD=$(ANDROID_BUILD) GOLDEN_DIR=$(ANDROID_BUILD)/golden $(ANDROID_SH) core_test

android-apk:  ## debug APK: aapt + javac (android-23) + dx + zipalign + apksigner, checked with badging/verify
	ANDROID_BUILD=$(ANDROID_BUILD) APP_ASSETS=$(ANDROID_ASSETS) $(ANDROID_SH) apk

android-assets: $(STAMP)  ## copy MODEL=exports/x.tflite (+ manifest) and HELDOUT_CLIPS test clips into the app
	@test -n "$(MODEL)" || { echo "usage: make android-assets MODEL=exports/<name>.tflite [HELDOUT_CLIPS=8]"; exit 2; }
	$(PY) $(ANDROID_DIR)/tools/copy_assets.py --model "$(MODEL)" --assets $(ANDROID_ASSETS) --clips $(HELDOUT_CLIPS)

android-test: android-core-test android-apk

android-clean:
	rm -rf $(ANDROID_BUILD)
