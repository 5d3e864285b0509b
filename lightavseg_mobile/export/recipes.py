"""Quantization recipes: JSON data files parsed into frozen, self-validating dataclasses.

A recipe names one backend (`export.backends`) and everything that backend needs: scheme,
calibration method and per-module overrides; what a backend accepts is read from its spec.
Shipped recipes are package data, `lightavseg_mobile/assets/recipes/*.json` (the naming
scheme is explained in the repository's `export/recipes/README.md`); `--recipe PATH` reads a
user's own file. Every mistake is one line naming the file and the bad key.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from ..errors import UserError
from ..model import INFERENCE_MODULES
from .backends import BACKENDS, Backend

SCHEMA = "lightavseg-recipe"
# Package data (installed with the wheel), not the repository's export/recipes/ (documentation only).
RECIPE_DIR = ("assets", "recipes")  # inside the lightavseg_mobile package
CALIBRATION_METHODS = ("minmax", "percentile", "entropy", "none")
ACTIVATION_DTYPES = ("int8", "uint8")
# Default recipe per format when --int8 is given without --recipe.
DEFAULT_RECIPES = {"onnx": "onnx-ort-w8a8-minmax", "tflite": "tflite-pt2e-w8a8"}

_TOP_KEYS = ("schema", "name", "description", "backend", "scheme", "calibration", "per_channel", "activation_dtype",
             "keep_float", "finding")
_CALIB_KEYS = ("method", "percentile", "max_frames")


class RecipeError(UserError):
    """A recipe file is missing, malformed or names an unknown value."""


@dataclass(frozen=True)
class Calibration:
    """How activation ranges are collected on the calibration split."""

    method: str = "minmax"
    percentile: float = 99.999  # only for method "percentile"
    max_frames: int = 80  # calibration frames (16 clips x 5 frames in the shipped split)


@dataclass(frozen=True)
class Recipe:
    """One int8 export recipe."""

    name: str
    backend: str
    scheme: str
    calibration: Calibration
    per_channel: bool = True
    activation_dtype: str = "int8"
    keep_float: tuple[str, ...] = ()  # top-level modules left in fp32 (mixed precision)
    description: str = ""
    finding: str = ""

    @property
    def backend_spec(self) -> Backend:
        """The registered backend this recipe runs on."""
        return BACKENDS[self.backend]

    @property
    def format(self) -> str:
        """Artifact format this recipe produces (onnx or tflite)."""
        return self.backend_spec.format

    @property
    def precision(self) -> str:
        """Manifest precision label."""
        precision = self.backend_spec.scheme(self.scheme).precision
        return "mixed" if self.keep_float and precision == "int8" else precision

    @property
    def needs_calibration(self) -> bool:
        """Whether activation ranges must be collected."""
        return self.calibration.method != "none"

    def to_dict(self) -> dict[str, Any]:
        """JSON form (stored in manifests and next to artifacts)."""
        d = asdict(self)
        d["keep_float"] = list(self.keep_float)
        d["schema"] = SCHEMA
        return d


def _fail(source: str, key: str, msg: str) -> RecipeError:
    return RecipeError(f"recipe {source}: key {key!r} {msg}")


def _choice(source: str, key: str, value: Any, choices: tuple[str, ...]) -> str:
    if not isinstance(value, str) or value not in choices:
        raise _fail(source, key, f"is {value!r}; choose one of: {', '.join(choices)}")
    return value


def parse_recipe(data: Any, source: str = "<dict>") -> Recipe:
    """Validate a recipe dict (unknown keys, wrong types, incompatible values) and freeze it."""
    if not isinstance(data, dict):
        raise RecipeError(f"recipe {source}: must be a JSON object, got {type(data).__name__}")
    for key in data:
        if key not in _TOP_KEYS:
            raise _fail(source, key, f"is unknown; valid keys: {', '.join(_TOP_KEYS)}")
    if data.get("schema", SCHEMA) != SCHEMA:
        raise _fail(source, "schema", f"is {data.get('schema')!r}, expected {SCHEMA!r}")
    for key in ("name", "backend", "scheme"):
        if key not in data:
            raise _fail(source, key, "is missing")
    name = data["name"]
    if not isinstance(name, str) or not name or "/" in name:
        raise _fail(source, "name", f"is {name!r}; use a non-empty file-name-safe string")
    backend = BACKENDS[_choice(source, "backend", data["backend"], tuple(BACKENDS))]
    scheme = backend.scheme(_choice(source, "scheme", data["scheme"], tuple(s.name for s in backend.schemes)))
    calibration = _calibration(source, data.get("calibration", {}), backend, scheme.name, scheme.calibrated)
    per_channel = data.get("per_channel", True)
    if not isinstance(per_channel, bool):
        raise _fail(source, "per_channel", f"is {per_channel!r}; use true or false")
    act = _choice(source, "activation_dtype", data.get("activation_dtype", "int8"), ACTIVATION_DTYPES)
    if act not in backend.activation_dtypes:
        raise _fail(source, "activation_dtype", f"is {act!r}; backend {backend.name!r} supports only "
                                                f"{', '.join(backend.activation_dtypes)}")
    keep = _keep_float(source, data.get("keep_float", []), backend)
    for key in ("description", "finding"):
        if not isinstance(data.get(key, ""), str):
            raise _fail(source, key, "must be a string")
    return Recipe(
        name=name, backend=backend.name, scheme=scheme.name, calibration=calibration,
        per_channel=per_channel, activation_dtype=act, keep_float=keep,
        description=data.get("description", ""), finding=data.get("finding", ""),
    )


def _calibration(source: str, calib_raw: Any, backend: Backend, scheme: str, needs: bool) -> Calibration:
    """The validated `calibration` object of a recipe."""
    if not isinstance(calib_raw, dict):
        raise _fail(source, "calibration", "must be an object with keys " + ", ".join(_CALIB_KEYS))
    for key in calib_raw:
        if key not in _CALIB_KEYS:
            raise _fail(source, f"calibration.{key}", f"is unknown; valid keys: {', '.join(_CALIB_KEYS)}")
    method = _choice(source, "calibration.method", calib_raw.get("method", "minmax" if needs else "none"), CALIBRATION_METHODS)
    if needs and method == "none":
        raise _fail(source, "calibration.method", f"is 'none' but scheme {scheme!r} quantizes activations: pick minmax, percentile or entropy")
    if not needs and method != "none":
        raise _fail(source, "calibration.method", f"is {method!r} but scheme {scheme!r} has no activation ranges: use 'none'")
    if needs and method not in backend.calibration_methods:
        raise _fail(source, "calibration.method", f"is {method!r}; backend {backend.name!r} supports only "
                                                  f"{', '.join(backend.calibration_methods)}")
    percentile = calib_raw.get("percentile", 99.999)
    if isinstance(percentile, bool) or not isinstance(percentile, (int, float)) or not 90.0 <= float(percentile) < 100.0:
        raise _fail(source, "calibration.percentile", f"is {percentile!r}; use a number in [90, 100)")
    max_frames = calib_raw.get("max_frames", 80)
    if isinstance(max_frames, bool) or not isinstance(max_frames, int) or max_frames < 1:
        raise _fail(source, "calibration.max_frames", f"is {max_frames!r}; use a positive integer")
    return Calibration(method=method, percentile=float(percentile), max_frames=max_frames)


def _keep_float(source: str, keep: Any, backend: Backend) -> tuple[str, ...]:
    """The validated `keep_float` list of a recipe."""
    if not isinstance(keep, list) or not all(isinstance(k, str) for k in keep):
        raise _fail(source, "keep_float", "must be a list of module names")
    for k in keep:
        if k not in INFERENCE_MODULES:
            raise _fail(source, "keep_float", f"names unknown module {k!r}; modules: {', '.join(INFERENCE_MODULES)}")
    if keep and not backend.keeps_modules_fp32:
        # PT2E asserts on a None config for a submodule (field notes 3b.3); ai-edge-quantizer selects ops by
        # tensor-name regex, and litert-torch tensor names do not carry module paths reliably: refuse, don't ignore.
        able = [b.name for b in BACKENDS.values() if b.keeps_modules_fp32]
        raise _fail(source, "keep_float", f"is not supported by backend {backend.name!r}; use backend "
                                          f"{' or '.join(repr(b) for b in able)} for mixed precision")
    return tuple(keep)


def _shipped():
    """The shipped recipe files (a Traversable: works from a wheel, a zip or a source tree)."""
    return resources.files("lightavseg_mobile").joinpath(*RECIPE_DIR)


def available_recipes() -> list[str]:
    """Names of the shipped recipes."""
    return sorted(p.name[: -len(".json")] for p in _shipped().iterdir() if p.name.endswith(".json"))


def load_recipe(name_or_path: str) -> Recipe:
    """A shipped recipe by name, or a recipe file by path."""
    p = Path(name_or_path)
    if p.suffix == ".json" or p.exists() or "/" in name_or_path:
        if not p.is_file():
            raise RecipeError(f"recipe file {p} not found; shipped recipes: {', '.join(available_recipes())}")
        source = str(p)
    else:
        p = _shipped() / f"{name_or_path}.json"
        if not p.is_file():
            raise RecipeError(f"unknown recipe {name_or_path!r}; shipped recipes: {', '.join(available_recipes())} (or pass a .json path)")
        source = p.name
    try:
        data = json.loads(p.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise RecipeError(f"cannot read recipe {source}: {exc}") from None
    except json.JSONDecodeError as exc:
        raise RecipeError(f"recipe {source} is not valid JSON (line {exc.lineno}: {exc.msg})") from None
    return parse_recipe(data, source)
