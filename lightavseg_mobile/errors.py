"""Typed errors that the command line turns into one-line messages and exit codes."""

from __future__ import annotations


class UserError(Exception):
    """A mistake the user can fix: printed as one line, never as a traceback."""

    exit_code = 2

    def __init__(self, message: str, *, exit_code: int | None = None) -> None:
        super().__init__(message)
        if exit_code is not None:
            self.exit_code = exit_code


class CheckpointError(UserError):
    """A checkpoint file is missing, truncated, corrupt or of the wrong preset/version."""


class DataError(UserError):
    """A dataset folder does not have the expected layout or content."""


class WeightImportError(UserError):
    """An external state dict does not match the expected keys or shapes."""


class ParityError(UserError):
    """An exported artifact failed the parity gate."""

    exit_code = 3
