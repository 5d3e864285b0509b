"""Durable writes (finding 7): data fsynced before the rename, the directory after it; a crash between the steps keeps
the previous file; the umask is never flipped while writing (threads); the device runner's results are durable too."""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path

import pytest
import torch

from lightavseg_mobile import io_atomic
from lightavseg_mobile.checkpoint import load_checkpoint, save_checkpoint
from lightavseg_mobile.device import device_runner
from lightavseg_mobile.presets import create_model, get_preset


def _record(monkeypatch) -> list[tuple[str, str]]:
    """Record fsync (of which path) and replace calls in order."""
    events: list[tuple[str, str]] = []
    real_fsync, real_replace, real_open = os.fsync, os.replace, os.open
    paths: dict[int, str] = {}

    def opened(path, flags, *a, **k):  # noqa: ANN001, ANN002, ANN003
        fd = real_open(path, flags, *a, **k)
        paths[fd] = str(path)
        return fd

    def fsync(fd):  # noqa: ANN001
        name = paths.get(fd) if isinstance(fd, int) else None
        if name is None:
            name = os.readlink(f"/proc/self/fd/{fd}")
        events.append(("fsync", name))
        return real_fsync(fd)

    def replace(src, dst):  # noqa: ANN001
        events.append(("replace", str(dst)))
        return real_replace(src, dst)

    monkeypatch.setattr(os, "open", opened)
    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(os, "replace", replace)
    return events


def _assert_durable_order(events: list[tuple[str, str]], dest: Path) -> None:
    i = events.index(("replace", str(dest)))
    before = [p for kind, p in events[:i] if kind == "fsync"]
    after = [p for kind, p in events[i + 1:] if kind == "fsync"]
    assert any(Path(p).name.startswith(f"{dest.name}") or Path(p).name.startswith(f".{dest.name}.") for p in before), \
        f"the data was not fsynced before the rename: {events}"
    assert str(dest.parent) in after, f"the directory was not fsynced after the rename: {events}"


def test_atomic_write_fsyncs_file_then_renames_then_fsyncs_dir(tmp_path: Path, monkeypatch) -> None:
    events = _record(monkeypatch)
    dest = tmp_path / "report.json"
    io_atomic.write_text_atomic(dest, "{}")
    _assert_durable_order(events, dest)


def test_checkpoint_save_is_durable(tmp_path: Path, monkeypatch) -> None:
    model = create_model("lightavseg-tiny")
    events = _record(monkeypatch)
    dest = tmp_path / "last.pt"
    save_checkpoint(dest, model, get_preset("lightavseg-tiny"), meta={"epoch": 1})
    _assert_durable_order(events, dest)


def test_device_runner_result_is_durable(tmp_path: Path, monkeypatch) -> None:
    events = _record(monkeypatch)
    dest = tmp_path / device_runner.RESULT_FILE
    device_runner._write_json(dest, {"phase": "time"})
    _assert_durable_order(events, dest)
    assert json.loads(dest.read_text()) == {"phase": "time"}


def test_crash_before_the_rename_keeps_the_previous_checkpoint(tmp_path: Path, monkeypatch) -> None:
    """Power loss between writing the temp file and renaming it: the old last.pt is whole, no temp file remains."""
    preset = get_preset("lightavseg-tiny")
    model = create_model(preset.name)
    dest = tmp_path / "last.pt"
    save_checkpoint(dest, model, preset, meta={"epoch": 1})
    before = dest.read_bytes()

    def crash(src, dst):  # noqa: ANN001
        raise OSError(5, "simulated crash before rename", str(src))

    monkeypatch.setattr(os, "replace", crash)
    with torch.no_grad():
        next(model.parameters()).add_(1.0)
    with pytest.raises(OSError):
        save_checkpoint(dest, model, preset, meta={"epoch": 2})
    assert dest.read_bytes() == before and load_checkpoint(dest).meta["epoch"] == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["last.pt"]


def test_fsync_failure_is_not_published(tmp_path: Path, monkeypatch) -> None:
    """EIO on fsync (the data never reached the disk): the old file stays, the error names the published path."""
    dest = tmp_path / "history.json"
    io_atomic.write_text_atomic(dest, "old")

    def broken(fd):  # noqa: ANN001
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(os, "fsync", broken)
    with pytest.raises(OSError) as err:
        io_atomic.write_text_atomic(dest, "new")
    assert err.value.filename == str(dest)
    assert dest.read_text() == "old" and sorted(p.name for p in tmp_path.iterdir()) == ["history.json"]


def test_writes_never_touch_the_process_umask(tmp_path: Path, monkeypatch) -> None:
    """os.umask is process-wide: flipping it per write races with other threads (`--serial all`) creating files."""
    def forbidden(mask):  # noqa: ANN001
        raise AssertionError("os.umask called while writing")

    monkeypatch.setattr(os, "umask", forbidden)
    errors: list[BaseException] = []

    def writer(i: int) -> None:
        try:
            for j in range(20):
                io_atomic.write_text_atomic(tmp_path / f"t{i}" / f"{j}.txt", "x")
        except BaseException as exc:  # noqa: BLE001 - collected for the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors[0]
    mode = (tmp_path / "t0" / "0.txt").stat().st_mode & 0o777
    assert mode == 0o666 & ~io_atomic._UMASK
