"""Atomic, durable file writes: a reader never sees a half-written file at a published name, and after a power loss
the published name holds either the old or the new content (file fsynced before the rename, directory after it)."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path


def _read_umask() -> int:
    # os.umask can only be read by setting it; done once here, at import, before any thread (`--serial all`) runs:
    # flipping it per write would race with other threads creating files.
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


_UMASK = _read_umask()


def fsync_dir(path: str | os.PathLike[str]) -> None:
    """fsync a directory so a rename or create inside it survives a power loss (no-op where unsupported)."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        return  # e.g. Windows cannot open directories; the rename is still atomic
    try:
        os.fsync(fd)
    except OSError:
        pass  # some filesystems (tmpfs on old kernels, network mounts) refuse fsync on a directory
    finally:
        os.close(fd)


def fsync_file(path: str | os.PathLike[str]) -> None:
    """Flush a file's data to stable storage."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _named(exc: OSError, dest: Path, tmp: Path | None = None) -> OSError:
    """The same OSError naming the published path, not the hidden temp file (the path a user can act on)."""
    ours = exc.filename is None or (tmp is not None and str(exc.filename) == str(tmp)) or tmp is None
    if exc.errno is None or not ours or type(exc).__module__ != "builtins":
        return exc  # someone else's error (a device transfer, a subclass with its own fields): left as it is
    return type(exc)(exc.errno, exc.strerror or os.strerror(exc.errno), str(dest))


@contextlib.contextmanager
def atomic_path(dest: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temp path next to `dest`; fsync it and rename it onto `dest` only if the block succeeds."""
    dest = Path(dest)
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".part", dir=dest.parent)
    except OSError as exc:
        raise _named(exc, dest) from exc
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        # mkstemp creates 0600; published files get the usual umask-derived mode.
        os.chmod(tmp_path, 0o666 & ~_UMASK)
        try:
            yield tmp_path
            # Data before name: without this fsync a power loss after the rename can leave `dest` empty while the
            # previous version is already gone.
            fsync_file(tmp_path)
            os.replace(tmp_path, dest)
        except OSError as exc:
            named = _named(exc, dest, tmp_path)
            if named is exc:
                raise
            raise named from exc
        fsync_dir(dest.parent)  # the rename itself
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


def write_bytes_atomic(dest: str | os.PathLike[str], data: bytes) -> None:
    """Write `data` to `dest` atomically and durably."""
    with atomic_path(dest) as tmp:
        tmp.write_bytes(data)


def write_text_atomic(dest: str | os.PathLike[str], text: str) -> None:
    """Write `text` (UTF-8) to `dest` atomically and durably."""
    write_bytes_atomic(dest, text.encode("utf-8"))
