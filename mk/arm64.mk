# Emulated arm64 device reachable over adb (qemu-user + adbd; needs root).
# Included from the top Makefile, which defines PY (the venv's python). The tooling lives in
# tools/arm64_device (not installed with the package); make runs it from the repository root.
ARM64_EMU := $(PY) -m tools.arm64_device.emulator

.PHONY: arm64-deps arm64-build arm64-device arm64-device-stop arm64-device-status

arm64-deps:  ## install host packages (apt) and enable qemu-aarch64 binfmt
	$(ARM64_EMU) deps

arm64-build: arm64-deps  ## build (or reuse) the cached arm64 Debian root with the device wheels
	$(ARM64_EMU) build

arm64-device: arm64-build  ## start the emulated device at 127.0.0.1:15555 (idempotent)
	$(ARM64_EMU) start

arm64-device-stop:  ## stop the emulated device and clean up (idempotent)
	$(ARM64_EMU) stop

arm64-device-status:
	$(ARM64_EMU) status
