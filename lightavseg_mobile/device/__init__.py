"""Phones over adb: the typed adb wrapper (adb.py), device facts, the runner bundle and its wheels (the emulated arm64 device is tooling: tools/arm64_device)."""
