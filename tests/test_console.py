"""Quiet by default: library output goes to the command's log file; our progress, errors and results reach the terminal."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from conftest import OUR_STDERR_LINE

from lightavseg_mobile.console import Parser, log_path

REPO = Path(__file__).resolve().parents[1]
# Our own stderr lines: progress `[  12.3s stage] message`, `[bench] ...`, `error: ...`, `interrupted: ...`.
OURS = OUR_STDERR_LINE

# A command that makes every kind of third-party noise, then one progress line of ours, a result and an error.
NOISY = textwrap.dedent("""
    import logging, os, subprocess, sys, warnings
    from lightavseg_mobile.console import guard, progress_line
    from lightavseg_mobile.errors import UserError

    def main(argv):
        logging.getLogger("somelib").warning("LIB-LOGGING")
        handler = logging.StreamHandler()  # bound to the sys.stderr of this moment, as torch's handler is
        logging.getLogger("torchlike").addHandler(handler)
        logging.getLogger("torchlike").propagate = False
        logging.getLogger("torchlike").warning("LIB-HANDLER")
        warnings.warn("LIB-WARNING")
        os.write(2, b"LIB-FD2 oneDNN banner\\n")
        subprocess.run([sys.executable, "-c", "import sys; sys.stderr.write('LIB-CHILD\\\\n')"], check=True)
        progress_line("stage", "our progress")
        print("RESULT")
        raise UserError("our mistake")

    sys.exit(guard(main, command="lavseg-noisy")(sys.argv[1:]))
""")


def _run(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, XDG_CACHE_HOME=str(tmp_path / "cache"),
               PYTHONPATH=str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    return subprocess.run([sys.executable, "-c", NOISY, *args], capture_output=True, text=True, env=env, timeout=120)


def test_quiet_by_default_sends_library_output_to_the_log(tmp_path):
    r = _run(tmp_path)
    assert r.returncode == 2 and r.stdout == "RESULT\n"
    lines = r.stderr.splitlines()
    assert lines[-1] == "error: our mistake" and all(OURS.match(line) for line in lines), r.stderr
    log = (tmp_path / "cache" / "lightavseg" / "logs" / "lavseg-noisy.log").read_text()
    for noise in ("LIB-LOGGING", "LIB-HANDLER", "LIB-WARNING", "LIB-FD2", "LIB-CHILD"):
        assert noise in log and noise not in r.stderr, noise
    assert "our progress" not in log and "RESULT" not in log


def test_verbose_lets_library_output_through(tmp_path):
    r = _run(tmp_path, "--verbose")
    assert r.returncode == 2 and r.stdout == "RESULT\n"  # --verbose is taken off argv before the command sees it
    for noise in ("LIB-LOGGING", "LIB-HANDLER", "LIB-WARNING", "LIB-FD2", "LIB-CHILD", "our progress", "error: our mistake"):
        assert noise in r.stderr, noise
    assert not (tmp_path / "cache" / "lightavseg" / "logs" / "lavseg-noisy.log").exists()


def test_every_parser_takes_verbose_and_names_the_log(monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert log_path("lavseg-x") == tmp_path / "lightavseg" / "logs" / "lavseg-x.log"
    ap = Parser(prog="lavseg-x")
    assert ap.parse_args(["--verbose"]).verbose
    help_text = ap.format_help()
    assert "lavseg-x.log" in help_text and "XDG_CACHE_HOME" in help_text


@pytest.mark.parametrize("command", ["info", "train", "eval", "data", "demo", "export", "bench"])
def test_every_command_accepts_verbose(command, tmp_path):
    env = dict(os.environ, XDG_CACHE_HOME=str(tmp_path))
    r = subprocess.run([sys.executable, "-m", "lightavseg_mobile", command, "--verbose", "--help"], capture_output=True,
                       text=True, env=env, timeout=120, cwd=REPO)
    assert r.returncode == 0, r.stderr
    if command != "data":  # lavseg-data's own parser (data/cli_data.py) does not list it; the guard still takes it
        assert "--verbose" in r.stdout


@pytest.mark.slow
def test_lavseg_export_stderr_holds_only_our_lines(tiny_ckpt, tmp_path):
    # The ONNX export is the quick one that is still noisy: torch's exporter logs through its own handler
    # ("torchvision is not installed"), ONNX Runtime and onnxsim print.
    env = dict(os.environ, XDG_CACHE_HOME=str(tmp_path / "cache"), OMP_NUM_THREADS="1")
    argv = [sys.executable, "-m", "lightavseg_mobile", "export", str(tiny_ckpt), "--format", "onnx", "--heldout-clips", "1",
            "--threads", "1"]
    r = subprocess.run([*argv, "--out", str(tmp_path / "quiet")], capture_output=True, text=True, env=env, timeout=900, cwd=REPO)
    assert r.returncode == 0, r.stderr
    lines = r.stderr.splitlines()
    assert lines and all(OURS.match(line) for line in lines), r.stderr
    assert "published" in r.stdout
    log = (tmp_path / "cache" / "lightavseg" / "logs" / "lavseg-export.log").read_text()
    assert log.startswith("==== lavseg-export")
    library_lines = [line for line in log.splitlines()[1:] if line.strip()]
    assert library_lines  # what would have been on the terminal is kept for a bug report

    v = subprocess.run([*argv, "--out", str(tmp_path / "verbose"), "--verbose"], capture_output=True, text=True, env=env,
                       timeout=900, cwd=REPO)
    assert v.returncode == 0, v.stderr
    assert any(not OURS.match(line) for line in v.stderr.splitlines()), v.stderr
