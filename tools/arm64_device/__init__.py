"""The emulated arm64 device (qemu-user + adbd, needs root): `python -m tools.arm64_device.emulator`.

Tooling, not installed: it may import lightavseg_mobile (the device wheel set, the cache dir, adb),
the package never imports it (the `no-tooling` import-linter contract in pyproject.toml).
"""
