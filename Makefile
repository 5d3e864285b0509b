# Entry points: `make demo` and `make test` work on a fresh Debian 12 machine with Python 3.11.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml constraints.txt | sha256sum | cut -c1-16)

.PHONY: venv demo test test-fast clean help
.DEFAULT_GOAL := help

help:
	@echo "make demo   - set up .venv, evaluate the shipped model on the shipped held-out clips, print the report path"
	@echo "make test   - set up .venv and run the whole test suite (what CI runs)"
	@echo "make test-fast - the tests not marked slow (no emulated device, exports, APK or packaging): under 3 min"
	@echo "make bench  - host benchmark suite (torch, ONNX Runtime, LiteRT, peers); results in benchmarks/results/"
	@echo "make bench-export - time lavseg-export --format all --int8 and check its quality bars; benchmarks/results/export.*"
	@echo "make arm64-device / arm64-device-stop - start/stop the emulated arm64 adb device (root, apt)"
	@echo "make android-test - JVM tests of the app core and the debug APK (Debian packages, no Gradle)"
	@echo "make android-assets MODEL=exports/x.tflite - copy an exported model into the app"
	@echo "make fuzz  - long fuzz run of every parser of outside data (make test runs a bounded, seeded budget)"

$(STAMP): pyproject.toml constraints.txt
	@command -v $(PYTHON) >/dev/null || { echo "error: $(PYTHON) not found; install Python 3.11 (Debian: apt-get install python3.11 python3.11-venv)"; exit 2; }
	# Debian's python3.11 ships venv separately (python3.11-venv): install it when creating the venv fails (root/CI).
	test -x $(PY) || $(PYTHON) -m venv $(VENV) || { rm -rf $(VENV) && apt-get update -qq && apt-get install -y -qq python3.11-venv && $(PYTHON) -m venv $(VENV); }
	# torch is pinned in the same pip command so nothing pulls a CUDA build.
	$(PY) -m pip install --quiet --disable-pip-version-check -c constraints.txt -e '.[test]'
	rm -f $(VENV)/.installed-* && touch $(STAMP)

venv: $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/lavseg-demo --out reports/demo

test: $(STAMP)
	# The slowest tests are listed at the end, so a run that nears the 20-minute budget shows where the time went.
	$(PY) -m pytest -q --durations=20

# Everything not marked slow (the emulated device, exports, the APK, the packaging test are): under 3 min on 2 cores.
# --durations names the slowest tests, so one that should be marked slow shows up here.
test-fast: $(STAMP)
	$(PY) -m pytest -q -m "not slow" --durations=10

clean:
	rm -rf $(VENV) reports exports .pytest_cache

-include mk/*.mk
