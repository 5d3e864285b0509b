"""What lavseg-export was asked to do, checked before any work: formats, recipes, audio input, threads and jobs."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

from ..data.heldout import AUDIO_INPUTS, DEFAULT_HELDOUT
from ..errors import UserError
from ..parity import Thresholds
from ..runtime.registry import spec_for_format
from .recipes import DEFAULT_RECIPES, Recipe, RecipeError, load_recipe

FORMATS = ("onnx", "tflite")
# File suffix of each format, from the runtime that deploys it (one table: runtime/registry.py).
EXT = {fmt: spec_for_format(fmt).suffixes[0] for fmt in FORMATS}


@dataclass
class ExportRequest:
    """Everything lavseg-export was asked to do."""

    checkpoint: Path | None = None
    preset: str | None = None
    formats: tuple[str, ...] = FORMATS
    int8: bool = False
    recipes: tuple[str, ...] = ()  # names or paths; implies int8
    audio_input: str = "logmel"
    calibration: Path = DEFAULT_HELDOUT
    heldout: Path = DEFAULT_HELDOUT
    split_modules: bool = False
    out: Path = Path("exports")
    allow_parity_failure: bool = False
    thresholds: Thresholds = field(default_factory=Thresholds)
    max_heldout_clips: int | None = None  # None: the whole split
    # Threads for torch and the runtimes (0 = physical cores). On a host shared with other busy processes, 2 busy-waiting
    # OpenMP threads ran the torch reference 16x slower than 1 thread: pass threads=1 there.
    threads: int = 0
    # Conversions run at once (0 = physical cores, capped at 2): the PT2E int8 TFLite conversion is mostly
    # single-threaded Python/MLIR, so it runs in a second process while the other artifacts are built.
    jobs: int = 0


def resolve_recipes(req: ExportRequest) -> dict[str, list[Recipe]]:
    """format -> int8 recipes to run (defaults per format when --int8 alone); unknown or mismatched recipes fail early."""
    out: dict[str, list[Recipe]] = {f: [] for f in req.formats}
    if req.recipes:
        for spec in req.recipes:
            r = load_recipe(spec)
            if r.format not in req.formats:
                raise RecipeError(f"recipe {r.name!r} makes {r.format} artifacts but --format is {'/'.join(req.formats)}")
            out[r.format].append(r)
        return out
    if req.int8:
        for f in req.formats:
            out[f].append(load_recipe(DEFAULT_RECIPES[f]))
    return out


def check_request(req: ExportRequest, recipes: dict[str, list[Recipe]]) -> None:
    """Formats, audio input and the recipes' backends agree; a mistake is a one-line UserError."""
    for f in req.formats:
        if f not in FORMATS:
            raise UserError(f"unknown format {f!r}; choose one of: onnx, tflite, all")
    if req.audio_input not in AUDIO_INPUTS:
        raise UserError(f"unknown audio input {req.audio_input!r}; choose one of: {', '.join(AUDIO_INPUTS)}")
    if req.audio_input == "waveform":
        for rs in recipes.values():
            for r in rs:
                # The log-mel front end must stay fp32 (int8 turns log(x + 0.01) into -inf).
                if not r.backend_spec.keeps_frontend_fp32:
                    raise RecipeError(f"recipe {r.name!r}: --audio-input waveform keeps the log-mel front end in fp32, which "
                                      f"backend {r.backend!r} cannot do; use an ONNX recipe or --audio-input logmel")
    if req.threads < 0:
        raise UserError(f"--threads must be at least 1 (0 = physical cores), got {req.threads}")
    if req.jobs < 0:
        raise UserError(f"--jobs must be at least 1 (0 = automatic), got {req.jobs}")


def with_threads(req: ExportRequest) -> ExportRequest:
    """The request with threads = 0 replaced by the number of physical cores."""
    if req.threads:
        return req
    from ..runtime import physical_cores

    return replace(req, threads=physical_cores())


def jobs(req: ExportRequest) -> int:
    """Conversions to run at once: --jobs, or the physical cores capped at 2."""
    if req.jobs:
        return req.jobs
    from ..runtime import physical_cores

    return min(2, physical_cores())


def artifact_name(preset: str, req: ExportRequest, fmt: str, recipe: Recipe | None, module: str | None) -> str:
    """`{preset}[-waveform].{fp32|recipe}[.{module}].{ext}`: every artifact of one run has its own name."""
    base = preset + ("-waveform" if req.audio_input == "waveform" else "")
    prec = "fp32" if recipe is None else recipe.name
    mod = f".{module}" if module else ""
    return f"{base}.{prec}{mod}{EXT[fmt]}"
