"""The package's import layers (pyproject.toml [tool.importlinter]) hold, and each cycle it once had would break them.

Each historic cycle is replayed on a copy of the package (without its assets) with one import line appended,
and lint-imports, run with the repository's own contracts, must name that exact import as the violation.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import REPO

LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")
# (file that gets the line, the appended import, contract expected to break, "importer -> imported" it reports).
CYCLES = [
    ("runtime/registry.py", "import lightavseg_mobile.export.pipeline", "layers",
     "lightavseg_mobile.runtime.registry -> lightavseg_mobile.export.pipeline"),
    ("device/adb.py", "import lightavseg_mobile.bench.run", "layers",
     "lightavseg_mobile.device.adb -> lightavseg_mobile.bench.run"),
    ("device/adb.py", "import lightavseg_mobile.bench.protocol", "layers",
     "lightavseg_mobile.device.adb -> lightavseg_mobile.bench.protocol"),
    ("export/pipeline.py", "import lightavseg_mobile.cli", "layers",
     "lightavseg_mobile.export.pipeline -> lightavseg_mobile.cli"),
    ("bench/run.py", "import lightavseg_mobile.cli", "layers",
     "lightavseg_mobile.bench.run -> lightavseg_mobile.cli"),
    # The other two contracts: torch in the torch-free contract, the package reaching into the tooling.
    ("artifact/manifest.py", "import torch", "torch-free", "lightavseg_mobile.artifact.manifest -> torch"),
    # External packages are reported by their top-level name.
    ("device/wheels.py", "import tools.arm64_device.recipe", "no-tooling", "lightavseg_mobile.device.wheels -> tools"),
]


def lint_imports(cwd: Path, *contracts: str) -> subprocess.CompletedProcess[str]:
    """Run lint-imports with `cwd`'s pyproject.toml and the package found first in `cwd`."""
    if not LINT_IMPORTS.exists():
        pytest.fail(f"{LINT_IMPORTS} is missing: install the test extra (make venv)", pytrace=False)
    args = [a for c in contracts for a in ("--contract", c)]
    # PYTHONPATH first: grimp finds the package by import, ahead of the editable install's finder.
    return subprocess.run([str(LINT_IMPORTS), "--no-cache", "--config", "pyproject.toml", *args], cwd=cwd,
                          env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(cwd)}, capture_output=True, text=True,
                          timeout=120, stdin=subprocess.DEVNULL)


def test_the_package_keeps_its_layers() -> None:
    res = lint_imports(REPO)
    assert res.returncode == 0, res.stdout[-6000:] + res.stderr[-2000:]
    assert "0 broken" in res.stdout and "Analyzed" in res.stdout


@pytest.fixture(scope="module")
def package_copy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the package (no assets, no caches) next to the repository's pyproject.toml."""
    root = tmp_path_factory.mktemp("layers")
    shutil.copytree(REPO / "lightavseg_mobile", root / "lightavseg_mobile",
                    ignore=shutil.ignore_patterns("assets", "__pycache__"))
    shutil.copy2(REPO / "pyproject.toml", root / "pyproject.toml")
    return root


@pytest.mark.parametrize("target, line, contract, chain", CYCLES,
                         ids=[chain.replace("lightavseg_mobile.", "").replace(" -> ", "->") for *_, chain in CYCLES])
def test_a_historic_cycle_breaks_the_contract(package_copy: Path, target: str, line: str, contract: str,
                                              chain: str) -> None:
    path = package_copy / "lightavseg_mobile" / target
    original = path.read_text()
    lineno = original.count("\n") + 1 + (not original.endswith("\n"))
    path.write_text(original + ("" if original.endswith("\n") else "\n") + line + "\n")
    try:
        res = lint_imports(package_copy, contract)
    finally:
        path.write_text(original)
    out = " ".join(res.stdout.split())  # lint-imports wraps long lines
    assert res.returncode == 1, res.stdout[-4000:] + res.stderr[-2000:]
    assert f"- {chain} (l.{lineno})" in out, res.stdout[-4000:]
