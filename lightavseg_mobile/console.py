"""Console plumbing shared by every command: one-line errors and exit codes, the one-line-error argparse."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable

from .errors import UserError


class Parser(argparse.ArgumentParser):
    """argparse that raises a one-line UserError instead of printing usage and exiting 2 with a usage dump."""

    def error(self, message: str) -> None:  # type: ignore[override]
        raise UserError(f"{self.prog}: {message}")


def guard(fn: Callable[[list[str] | None], int] | None = None, *, interrupt_exit: int = 130):
    """Run a command, mapping typed errors and Ctrl-C to one-line messages and exit codes."""
    if fn is None:
        return lambda f: guard(f, interrupt_exit=interrupt_exit)

    def wrapped(argv: list[str] | None = None) -> int:
        try:
            return fn(argv)
        except UserError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return exc.exit_code
        except KeyboardInterrupt:
            print("interrupted: finished work was kept (checkpoints and reports are written atomically)", file=sys.stderr)
            return interrupt_exit
        except BrokenPipeError:
            return 141

    wrapped.__doc__ = fn.__doc__
    return wrapped
