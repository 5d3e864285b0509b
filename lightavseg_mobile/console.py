"""Console plumbing shared by every command: one-line errors and exit codes, the one-line-error argparse, quiet output.

Quiet by default: while a command runs, third-party output goes to a log file (`log_path(command)`), not the terminal:
C/C++ writes to file descriptor 2 (absl, oneDNN, MLIR diagnostics), everything child processes print, Python
warnings and `logging` records (this package logs nothing through `logging`, so every record is a library's).
Our own progress lines, `error: ...` lines and results still reach the terminal. `--verbose` turns this off.
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import io
import os
import sys
import time
import traceback
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TextIO

from .errors import UserError

VERBOSE_FLAG = "--verbose"
DEBUG_FLAG = "--debug"
DEBUG_ENV = "LAVSEG_DEBUG"
# OSErrors the user fixes by freeing space or fixing permissions: one line naming the path, never a traceback.
_DISK_ERRNOS = {errno.ENOSPC: "disk full", errno.EDQUOT: "disk quota exceeded", errno.EROFS: "read-only file system",
                errno.EACCES: "permission denied", errno.EPERM: "permission denied"}
_MAX_LOG_BYTES = 5_000_000  # a log past this size starts over: it records recent runs, not history
# Modules whose writes to sys.stderr are library output: handlers keep the sys.stderr of the moment they were made
# (torch's is made at `import torch`), so re-pointing handlers cannot catch them all; their writes can be.
_LIBRARY_WRITERS = frozenset({"logging", "warnings"})

_T0 = time.perf_counter()
_log: TextIO | None = None  # the open log while a command runs quietly
_verbose = False
_debug = False


def log_path(command: str) -> Path:
    """Where a command's third-party output goes: $XDG_CACHE_HOME (default ~/.cache)/lightavseg/logs/COMMAND.log."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "lightavseg" / "logs" / f"{command}.log"


class Parser(argparse.ArgumentParser):
    """argparse that raises a one-line UserError instead of printing usage and exiting 2; every command gets --verbose."""

    def __init__(self, *args, **kwargs) -> None:  # noqa: ANN002, ANN003 - argparse's own signature
        super().__init__(*args, **kwargs)
        path = str(log_path(self.prog)).replace(str(Path.home()), "~", 1)
        self.add_argument(VERBOSE_FLAG, action="store_true",
                          help=f"show library warnings and converter output on stderr (default: they go to {path}; "
                               f"$XDG_CACHE_HOME moves it)")
        self.add_argument(DEBUG_FLAG, action="store_true",
                          help=f"print the traceback behind a one-line error (same as {DEBUG_ENV}=1)")

    def error(self, message: str) -> None:  # type: ignore[override]
        raise UserError(f"{self.prog}: {message}")


class _Router(io.TextIOBase):
    """sys.stderr during a quiet command: writes from the logging and warnings machinery go to the log, the rest
    (our progress and error lines, progress bars) to the terminal."""

    def __init__(self, terminal: TextIO, log: TextIO) -> None:
        super().__init__()
        self.terminal = terminal
        self.log = log

    def write(self, text: str) -> int:  # type: ignore[override]
        caller = sys._getframe(1).f_globals.get("__name__", "")
        return (self.log if caller in _LIBRARY_WRITERS else self.terminal).write(text)

    def flush(self) -> None:
        self.terminal.flush()
        self.log.flush()

    def isatty(self) -> bool:
        return self.terminal.isatty()

    def fileno(self) -> int:
        return self.terminal.fileno()

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return getattr(self.terminal, "encoding", None) or "utf-8"


def _open_log(command: str) -> TextIO:
    path = log_path(command)
    path.parent.mkdir(parents=True, exist_ok=True)
    mode = "w" if path.is_file() and path.stat().st_size > _MAX_LOG_BYTES else "a"
    log = open(path, mode, buffering=1, encoding="utf-8", errors="backslashreplace")  # noqa: SIM115 - closed by quiet()
    log.write(f"==== {command} {' '.join(sys.argv[1:])} (pid {os.getpid()}, {time.strftime('%Y-%m-%d %H:%M:%S')})\n")
    return log


def _writes_fd2(stream: TextIO) -> bool:
    try:
        return stream.fileno() == 2
    except (AttributeError, OSError, ValueError):  # pytest's capture objects and StringIO have no descriptor
        return False


@contextlib.contextmanager
def quiet(command: str) -> Iterator[Path | None]:
    """Send third-party output to `log_path(command)` for the duration; yields the log path (None if it cannot open)."""
    global _log
    try:
        log = _open_log(command)
        saved_fd2 = os.dup(2)
    except OSError:
        yield None  # no writable cache or no fd 2: run unquieted rather than fail the command
        return
    old_stderr = sys.stderr
    old_stderr.flush()
    # Our own lines need the terminal after fd 2 points at the log: a private copy of the descriptor when sys.stderr
    # writes to fd 2, else the stream itself (a test's capture object).
    terminal = (open(os.dup(saved_fd2), "w", buffering=1, encoding=getattr(old_stderr, "encoding", None) or "utf-8",
                     errors="backslashreplace") if _writes_fd2(old_stderr) else old_stderr)
    os.dup2(log.fileno(), 2)  # C/C++ writes and every child process (they inherit fd 2) land in the log
    sys.stderr = _Router(terminal, log)
    _log = log
    try:
        yield log_path(command)
    finally:
        _log = None
        sys.stderr = old_stderr
        with contextlib.suppress(OSError, ValueError):
            terminal.flush()
        os.dup2(saved_fd2, 2)
        os.close(saved_fd2)
        if terminal is not old_stderr:
            terminal.close()
        log.close()


def library_stream() -> TextIO:
    """Where a converter's own prints should go: the log when quiet, stderr with --verbose, nowhere in library use."""
    if _log is not None:
        return _log
    return sys.stderr if _verbose else io.StringIO()


@contextlib.contextmanager
def library_output() -> Iterator[None]:
    """Redirect Python-level stdout and stderr of a library call to `library_stream()` (stdout carries our results)."""
    stream = library_stream()
    with contextlib.redirect_stdout(stream), contextlib.redirect_stderr(stream):
        yield


def progress_line(stage: str, message: str) -> None:
    """One progress line on stderr, `[  12.3s stage] message` (seconds since the command started)."""
    print(f"[{time.perf_counter() - _T0:6.1f}s {stage}] {message}", file=sys.stderr, flush=True)


def _split_verbose(argv: list[str] | None) -> tuple[list[str], bool]:
    args = list(sys.argv[1:] if argv is None else argv)
    # Handled here, before the command imports anything noisy; removed so a parser that does not declare it accepts it.
    return [a for a in args if a != VERBOSE_FLAG], VERBOSE_FLAG in args


def _split_debug(args: list[str]) -> tuple[list[str], bool]:
    env = os.environ.get(DEBUG_ENV, "").strip().lower() not in ("", "0", "false", "no")
    return [a for a in args if a != DEBUG_FLAG], env or DEBUG_FLAG in args


def debug_enabled() -> bool:
    """True while a command runs with --debug or LAVSEG_DEBUG=1 (callers pass tracebacks through then)."""
    return _debug


def disk_error_message(exc: OSError) -> str | None:
    """`... (disk full / read-only / permission): PATH` for the OSErrors a user fixes on the machine, else None."""
    what = _DISK_ERRNOS.get(exc.errno or -1)
    if what is None:
        return None
    where = exc.filename if exc.filename is not None else "(path unknown)"
    return f"cannot write ({what}): {where}"


def guard(fn: Callable[[list[str] | None], int] | None = None, *, interrupt_exit: int = 130, command: str = "lavseg"):
    """Run a command quietly (unless --verbose), mapping typed errors and Ctrl-C to one-line messages and exit codes."""
    if fn is None:
        return lambda f: guard(f, interrupt_exit=interrupt_exit, command=command)

    def wrapped(argv: list[str] | None = None) -> int:
        global _verbose, _debug
        args, verbose = _split_verbose(argv)
        args, debug = _split_debug(args)
        _verbose, _debug = verbose, debug
        try:
            with contextlib.nullcontext() if verbose else quiet(command):
                return _run(fn, args, interrupt_exit)
        finally:
            _verbose = _debug = False

    wrapped.__doc__ = fn.__doc__
    return wrapped


def _run(fn: Callable[[list[str] | None], int], args: list[str], interrupt_exit: int) -> int:
    try:
        return fn(args)
    except UserError as exc:
        _show_traceback(exc)
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    except BrokenPipeError:
        return 141
    except OSError as exc:
        message = disk_error_message(exc)
        if message is None:
            raise  # not a disk/permission problem: a bug or an unexpected failure keeps its traceback
        _show_traceback(exc)
        print(f"error: {message}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted: finished work was kept (checkpoints and reports are written atomically)", file=sys.stderr)
        return interrupt_exit


def _show_traceback(exc: BaseException) -> None:
    """With --debug, the traceback (with its chained causes) before the one-line error."""
    if _debug:
        traceback.print_exception(exc, file=sys.stderr)
        detail = getattr(exc, "detail", None)  # a traceback from another process (the bench worker, the device)
        if detail:
            print(detail.rstrip("\n"), file=sys.stderr)
