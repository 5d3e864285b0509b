"""Finding 8: a full disk (or a read-only one) is one error line naming the path, in train, `eval --report` and bench
reports; `--debug` / LAVSEG_DEBUG=1 shows the traceback behind it. The full disk is a 64 KiB tmpfs (needs root)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).parent))
from bench_fixtures import PRESET, build_exports  # noqa: E402

from lightavseg_mobile.bench import cli_bench  # noqa: E402
from lightavseg_mobile.checkpoint import save_checkpoint  # noqa: E402
from lightavseg_mobile.console import guard  # noqa: E402
from lightavseg_mobile.data.synth import write_synthetic  # noqa: E402
from lightavseg_mobile.presets import create_model, get_preset  # noqa: E402

SHIPPED_TINY = Path(__file__).resolve().parents[1] / "lightavseg_mobile" / "assets" / "checkpoints" / "lightavseg-tiny.pt"


@pytest.fixture
def full_disk(tmp_path: Path) -> Iterator[Path]:
    """A 64 KiB tmpfs: every real write fills it."""
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    mnt = tmp_path / "full"
    mnt.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(mnt)], check=True)
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=False)


def lavseg(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    full_env = dict(os.environ, OMP_NUM_THREADS="1", **(env or {}))
    return subprocess.run([sys.executable, "-m", "lightavseg_mobile", *args], capture_output=True, text=True,
                          timeout=600, env=full_env)


def _one_disk_full_line(stderr: str, where: Path) -> None:
    # Progress bars (eval's tqdm) may come before; the error is the one last line.
    lines = [line for line in stderr.replace("\r", "\n").splitlines() if line.strip()]
    assert "Traceback" not in stderr, stderr[-2000:]
    errors = [line for line in lines if line.startswith("error:")]
    assert errors == lines[-1:] and errors[0].startswith("error: cannot write (disk full): "), stderr[-2000:]
    assert str(where) in errors[0]


@pytest.mark.slow
def test_train_on_a_full_disk_is_one_line(full_disk: Path, tmp_path: Path) -> None:
    data = tmp_path / "set"
    write_synthetic(data, videos=4, seed=5, image_size=64, splits={"train": 0.5, "val": 0.25, "test": 0.25})
    r = lavseg("train", "--stage", "audio", "--preset", "lightavseg-tiny", "--data", str(data), "--out",
               str(full_disk / "run"), "--epochs", "1", "--batch-size", "4", "--quiet")
    assert r.returncode == 2
    _one_disk_full_line(r.stderr, full_disk / "run")


@pytest.mark.slow
def test_eval_report_on_a_full_disk_is_one_line_and_debug_shows_the_traceback(full_disk: Path) -> None:
    args = ["eval", str(SHIPPED_TINY), "--preset", "lightavseg-tiny", "--report", str(full_disk / "rep")]
    r = lavseg(*args)
    assert r.returncode == 2
    _one_disk_full_line(r.stderr, full_disk)
    for debug in (["--debug"], []):
        r = lavseg(*args, *debug, env={} if debug else {"LAVSEG_DEBUG": "1"})
        assert r.returncode == 2 and "Traceback" in r.stderr and "No space left on device" in r.stderr
        assert r.stderr.strip().splitlines()[-1].startswith("error: cannot write (disk full): ")


def test_bench_report_on_a_full_disk_is_one_line(full_disk: Path, tmp_path: Path, capsys) -> None:
    torch.manual_seed(0)
    ckpt = tmp_path / "tiny.pt"
    save_checkpoint(ckpt, create_model(PRESET), get_preset(PRESET))
    exports = build_exports(tmp_path / "exports", str(ckpt), split=False)
    code = guard(cli_bench.main)([str(exports), "--runs", "1", "--warmup", "0", "--block", "1", "--threads", "1",
                                  "--no-baseline", "--no-peak", "--report", str(full_disk / "bench")])
    assert code == 2
    _one_disk_full_line(capsys.readouterr().err, full_disk / "bench")


def test_read_only_and_permission_errors_are_one_line(capsys, tmp_path: Path) -> None:
    def fails(argv):  # noqa: ANN001
        raise PermissionError(13, "Permission denied", str(tmp_path / "x.json"))

    assert guard(fails)([]) == 2
    err = capsys.readouterr().err
    assert err == f"error: cannot write (permission denied): {tmp_path / 'x.json'}\n"


def test_other_os_errors_keep_their_traceback(capsys) -> None:
    """Only the errnos a user fixes on the machine become one line: anything else is a bug to see."""
    def fails(argv):  # noqa: ANN001
        raise ConnectionResetError(104, "Connection reset by peer")

    with pytest.raises(ConnectionResetError):
        guard(fails)([])


def test_debug_flag_is_listed_in_help(capsys) -> None:
    from lightavseg_mobile.console import Parser

    text = Parser(prog="lavseg-x").format_help()
    assert "--debug" in text and "LAVSEG_DEBUG" in text
