"""Typed errors for talking to a device over adb and for running the emulated one."""

from __future__ import annotations

from lightavseg_mobile.errors import UserError


class DeviceError(UserError):
    """A device is missing, unusable, or a command on it failed."""


class DeviceTimeoutError(DeviceError):
    """A command or transfer on the device did not finish within its time limit."""

    # Process group of the timed-out device command, when known (so it can be killed).
    remote_pid: int | None = None


class EmulatorError(DeviceError):
    """The host could not build, start or stop the emulated arm64 device."""
