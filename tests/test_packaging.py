"""The built wheel works on its own: installed non-editable into a fresh venv, lavseg-export and lavseg-bench run
from an unrelated folder, and nothing they read comes from the repository.

The wheel is built from a copy of what packaging needs (pyproject.toml, README.md, lightavseg_mobile/), so a file
that only exists at the repository root cannot leak in. Dependencies are not downloaded again: a .pth line puts
the repository venv's site-packages after the fresh venv's own. That site dir also holds the editable install of
lightavseg_mobile, but its `__editable__*.pth` finder is not run for a directory added by a .pth line, and the
test checks that the package imported is the installed copy. An audit hook (also loaded by a .pth line, so it runs
in every python of the fresh venv, child processes included) logs each file opened; the test requires that no file
of the repository outside its venv was opened, and that the recipe came from the installed package.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest
from conftest import OUR_STDERR_LINE, REPO

pytestmark = pytest.mark.slow  # a 70 MB wheel, a venv, an int8 TFLite export and a bench: minutes on 2 cores

DEPS_SITE = Path(sysconfig.get_paths()["purelib"])  # the repository venv's site-packages
REPO_VENV = Path(sys.prefix)
# One line of a .pth file (site runs lines starting with `import`): append every opened path to $LAVSEG_OPEN_LOG.
# The log's fd is opened once, before the hook exists, and written with os.write: neither raises an audit event.
AUDIT_PTH = ("import os, sys; _p = os.environ.get('LAVSEG_OPEN_LOG'); _p and (lambda fd: sys.addaudithook("
             "lambda ev, a: ev == 'open' and isinstance(a[0], (str, bytes, os.PathLike)) and "
             "os.write(fd, os.fsencode(a[0]) + b'\\n')))(os.open(_p, os.O_WRONLY | os.O_APPEND | os.O_CREAT))\n")


def _run(cmd: list[str], cwd: Path, env: dict[str, str], timeout: float, what: str) -> subprocess.CompletedProcess[str]:
    """Run `cmd`; fail the test with the tail of its output when it does not exit 0."""
    res = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout,
                         stdin=subprocess.DEVNULL)
    assert res.returncode == 0, f"{what} failed (exit {res.returncode}):\n{res.stdout[-3000:]}\n{res.stderr[-3000:]}"
    return res


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A fresh venv with the project's wheel installed (no deps, non-editable); returns its paths."""
    tmp = tmp_path_factory.mktemp("packaging")
    src = tmp / "src"
    src.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(REPO / name, src / name)
    shutil.copytree(REPO / "lightavseg_mobile", src / "lightavseg_mobile",
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    env = dict(os.environ, PIP_DISABLE_PIP_VERSION_CHECK="1")
    _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index", "-w",
          str(tmp / "dist"), str(src)], tmp, env, 900, "pip wheel")
    wheels = sorted((tmp / "dist").glob("lightavseg_mobile-*.whl"))
    assert len(wheels) == 1, wheels
    venv = tmp / "venv"
    _run([sys._base_executable, "-m", "venv", "--without-pip", str(venv)], tmp, env, 300, "python -m venv")
    python = venv / "bin" / "python"
    _run([sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps", "--no-index", str(wheels[0])],
         tmp, env, 900, "pip install of the wheel")
    site = Path(_run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], tmp, env, 60,
                     "locating the fresh site-packages").stdout.strip())
    (site / "zz_repo_deps.pth").write_text(f"{DEPS_SITE}\n")  # after the fresh site dir, so the wheel's copy wins
    (site / "zz_open_log.pth").write_text(AUDIT_PTH)
    return {"tmp": tmp, "venv": venv, "python": python, "site": site, "wheel": wheels[0]}


def test_wheel_holds_the_package_and_not_the_tooling(installed: dict[str, Path]) -> None:
    import zipfile

    names = zipfile.ZipFile(installed["wheel"]).namelist()
    assert "lightavseg_mobile/cli.py" in names and any(n.startswith("lightavseg_mobile/assets/") for n in names)
    assert not [n for n in names if n.startswith(("tools/", "tests/"))]


def test_installed_package_is_imported_not_the_editable_one(installed: dict[str, Path]) -> None:
    out = _run([str(installed["python"]), "-c", "import lightavseg_mobile, numpy; print(lightavseg_mobile.__file__); "
                "print(numpy.__file__)"], installed["tmp"], dict(os.environ), 120, "import").stdout.split()
    assert Path(out[0]).is_relative_to(installed["site"]), f"lightavseg_mobile imported from {out[0]}, not the wheel"
    assert Path(out[1]).is_relative_to(DEPS_SITE)  # dependencies come from the repository venv, not a download


def test_export_and_bench_run_from_the_installed_package(installed: dict[str, Path]) -> None:
    from lightavseg_mobile.export.recipes import DEFAULT_RECIPES

    work = installed["tmp"] / "work"
    work.mkdir()
    log = installed["tmp"] / "opened.txt"
    bin_dir = installed["venv"] / "bin"
    env = {"PATH": f"{bin_dir}:/usr/bin:/bin", "HOME": os.environ.get("HOME", "/root"), "OMP_NUM_THREADS": "2",
           "XDG_CACHE_HOME": str(installed["tmp"] / "cache"), "LAVSEG_OPEN_LOG": str(log)}
    res = _run([str(bin_dir / "lavseg-export"), "--preset", "lightavseg-tiny", "--format", "tflite", "--int8", "--out",
                "OUT", "--threads", "2"], work, env, 1800, "lavseg-export")
    # The issue's own check: a plain `lavseg-export --format tflite --int8` prints only our own lines on stderr.
    noise = [line for line in res.stderr.splitlines() if not OUR_STDERR_LINE.match(line)]
    assert res.stderr and not noise, noise[:10]
    out = work / "OUT"
    artifacts = sorted(out.glob("*.tflite"))
    assert len(artifacts) >= 2, sorted(p.name for p in out.iterdir())  # fp32 and the default int8 recipe
    manifests = {a: a.with_name(a.name + ".manifest.json") for a in artifacts}
    assert all(m.is_file() for m in manifests.values()), manifests
    recipes = {(json.loads(m.read_text()).get("recipe") or {}).get("name") for m in manifests.values()}
    assert DEFAULT_RECIPES["tflite"] in recipes, recipes

    _run([str(bin_dir / "lavseg-bench"), "OUT", "--runs", "3", "--warmup", "1", "--no-peak", "--report", "REPORT"],
         work, env, 1800, "lavseg-bench")
    assert (work / "REPORT" / "bench.json").is_file()

    opened = set(log.read_text().splitlines())
    from_repo = sorted(p for p in opened if Path(p).is_absolute() and Path(p).is_relative_to(REPO)
                       and not Path(p).is_relative_to(REPO_VENV))  # the repository venv holds the deps
    assert not from_repo, f"the installed tools read files of the repository: {from_repo[:10]}"
    recipe_files = [p for p in opened if p.endswith(f"/{DEFAULT_RECIPES['tflite']}.json")]
    assert recipe_files and all(Path(p).is_relative_to(installed["site"]) for p in recipe_files), recipe_files
