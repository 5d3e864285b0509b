"""Phones over adb: the typed adb wrapper (adb.py) and the emulated arm64 device (emulator.py)."""
