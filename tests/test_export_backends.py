"""Quantization backends are data: every recipe names a registered backend, dispatch is a lookup, capabilities are enforced."""

from __future__ import annotations

import importlib
import re
from pathlib import Path

import numpy as np
import pytest

from lightavseg_mobile.errors import UserError
from lightavseg_mobile.export import backends
from lightavseg_mobile.export.backends import BACKENDS, FP32_ARTIFACT, FRONTEND, TORCH_GRAPH, Source, get_backend
from lightavseg_mobile.export.recipes import available_recipes, load_recipe, parse_recipe
from lightavseg_mobile.export.request import ExportRequest, check_request, resolve_recipes

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("backend", list(BACKENDS.values()), ids=list(BACKENDS))
def test_every_backend_resolves_and_its_schemes_parse(backend):
    module, _, func = backend.implementation.partition(":")
    assert callable(getattr(importlib.import_module(module), func))
    assert backend.source in (FP32_ARTIFACT, TORCH_GRAPH) and backend.format in ("onnx", "tflite")
    for scheme in backend.schemes:
        method = "minmax" if scheme.calibrated else "none"
        r = parse_recipe({"name": "x", "backend": backend.name, "scheme": scheme.name, "calibration": {"method": method}})
        assert r.format == backend.format and r.precision == scheme.precision and r.needs_calibration == scheme.calibrated


def test_recipe_validation_reads_the_backend_spec():
    # What a recipe may ask follows the spec: only backends that keep modules fp32 accept keep_float, only the
    # calibration methods and activation dtypes a backend lists are accepted.
    for b in BACKENDS.values():
        scheme = next(s for s in b.schemes if s.calibrated)
        base = {"name": "x", "backend": b.name, "scheme": scheme.name}
        if b.keeps_modules_fp32:
            assert parse_recipe({**base, "keep_float": ["seg_head"]}).precision == "mixed"
        else:
            with pytest.raises(UserError, match="keep_float"):
                parse_recipe({**base, "keep_float": ["seg_head"]})
        for method in ("percentile", "entropy"):
            if method in b.calibration_methods:
                parse_recipe({**base, "calibration": {"method": method}})
            else:
                with pytest.raises(UserError, match="calibration.method"):
                    parse_recipe({**base, "calibration": {"method": method}})


def test_quantize_is_one_lookup_and_checks_capabilities(monkeypatch, tmp_path):
    calls = []

    def fake(source, dest, recipe, calibration):
        calls.append((source, dest, recipe.name, [dict(s) for s in calibration]))
        return {"converter": "fake"}

    fake_module = type(importlib)("fake_backend_impl")
    fake_module.quantize = fake
    monkeypatch.setitem(__import__("sys").modules, "fake_backend_impl", fake_module)
    spec = backends.Backend(name="fake", format="onnx", schemes=(backends.Scheme("w8a8", True, "int8"),),
                            source=FP32_ARTIFACT, implementation="fake_backend_impl:quantize")
    monkeypatch.setitem(BACKENDS, "fake", spec)
    recipe = parse_recipe({"name": "f", "backend": "fake", "scheme": "w8a8"})
    feeds = iter([{"frame": np.zeros(2, np.float32)}])  # an iterator is enough
    src = Source(input_names=("frame",), fp32_path=tmp_path / "m.onnx")
    assert get_backend("fake").quantize(src, tmp_path / "q.onnx", recipe, feeds) == {"converter": "fake"}
    assert calls[0][2] == "f" and list(calls[0][3][0]) == ["frame"]
    # Capabilities the spec does not declare are refused, not silently ignored.
    with pytest.raises(UserError, match="cannot keep"):
        spec.quantize(Source(("frame",), fp32_path=src.fp32_path, fp32_modules=(FRONTEND,)), tmp_path / "q", recipe, [])
    with pytest.raises(ValueError, match="fp32_path"):
        spec.quantize(Source(("frame",)), tmp_path / "q", recipe, [])
    with pytest.raises(UserError, match="unknown quantization backend 'nope'"):
        get_backend("nope")


def test_waveform_needs_a_backend_that_keeps_the_front_end_fp32():
    keeps = {b.name for b in BACKENDS.values() if b.keeps_frontend_fp32}
    for name in available_recipes():
        r = load_recipe(name)
        req = ExportRequest(formats=(r.format,), recipes=(name,), audio_input="waveform")
        if r.backend in keeps:
            check_request(req, resolve_recipes(req))
        else:
            with pytest.raises(UserError, match="waveform"):
                check_request(req, resolve_recipes(req))


def test_shipped_recipes_are_package_data_and_documented():
    # Shipped recipes live inside the package (installed with the wheel), not at the repository root.
    pkg = REPO / "lightavseg_mobile" / "assets" / "recipes"
    assert sorted(p.stem for p in pkg.glob("*.json")) == available_recipes()
    assert not list((REPO / "export" / "recipes").glob("*.json"))
    # Every shipped recipe is a row of the README's "Shipped recipes" table, and every row is shipped.
    readme = (REPO / "export" / "recipes" / "README.md").read_text()
    table = readme.split("## Shipped recipes", 1)[1].split("\n## ", 1)[0]
    rows = set(re.findall(r"^\| `([^`]+)` \|", table, flags=re.M))
    assert rows == set(available_recipes())
    # Every registered backend is documented there too.
    assert all(f"`{name}`" in readme for name in BACKENDS)
