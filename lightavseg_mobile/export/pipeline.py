"""lavseg-export as a library: checkpoint -> artifacts + manifests, each gated on held-out parity, published atomically.

Everything is built in a private temp folder inside the output folder; an artifact reaches its
published name (or `failed/`) only by a rename after its manifest is complete. An exception or
Ctrl-C anywhere removes the temp folder and leaves published names untouched.
"""

from __future__ import annotations

import errno
import os
import platform
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures.process import BrokenProcessPool
from dataclasses import replace, dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..errors import ParityError, UserError
from ..data.heldout import AUDIO_INPUTS, CALIBRATION_SPLIT, DEFAULT_HELDOUT, HELDOUT_SPLIT, ClipBatch, load_clips
from ..parity import Thresholds, compare, module_sqnr
from ..parity.reference import torch_reference_predictor
from ..model import graphs as graph
from ..hostinfo import cpu_model
from ..artifact.manifest import Manifest, Quantization, TensorSpec, artifact_sha256, manifest_path
from ..data.preprocess import preprocessing_block
from .onnx_export import ConverterError, export_onnx_fp32, quantize_onnx
from .recipes import DEFAULT_RECIPES, Recipe, RecipeError, load_recipe
from .strip_check import alignment_check, count_params
from .tflite_export import SIGNATURE, export_tflite_fp32, export_tflite_pt2e, quantize_tflite_aiq, signature_io

FORMATS = ("onnx", "tflite")
EXT = {"onnx": ".onnx", "tflite": ".tflite"}
_TOOLS = ("torch", "onnx", "onnxruntime", "onnxscript", "onnxsim", "onnxslim", "litert-torch", "ai-edge-litert",
          "ai-edge-quantizer", "torchao", "numpy", "lightavseg-mobile")


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


Progress = Callable[[str, str], None]


_T0 = time.perf_counter()


def _stderr_progress(stage: str, message: str) -> None:
    print(f"[{time.perf_counter() - _T0:6.1f}s {stage}] {message}", file=sys.stderr, flush=True)


def tool_versions() -> dict[str, str]:
    """Installed versions of every tool an artifact depends on."""
    out = {}
    for dist in _TOOLS:
        try:
            out[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            out[dist] = "not installed"
    return out


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


def _check_request(req: ExportRequest, recipes: dict[str, list[Recipe]]) -> None:
    for f in req.formats:
        if f not in FORMATS:
            raise UserError(f"unknown format {f!r}; choose one of: onnx, tflite, all")
    if req.audio_input not in AUDIO_INPUTS:
        raise UserError(f"unknown audio input {req.audio_input!r}; choose one of: {', '.join(AUDIO_INPUTS)}")
    if req.audio_input == "waveform":
        for rs in recipes.values():
            for r in rs:
                # The log-mel front end must stay fp32 (int8 turns log(x + 0.01) into -inf): only ORT can exclude it.
                if r.backend != "ort-static":
                    raise RecipeError(f"recipe {r.name!r}: --audio-input waveform keeps the log-mel front end in fp32, which "
                                      f"backend {r.backend!r} cannot do; use an ONNX recipe or --audio-input logmel")


def _prepare_out(out: Path) -> Path:
    """Create the output folder and a private temp folder in it (same file system: publishing is a rename)."""
    try:
        out.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=".lavseg-export-", dir=out))
    except OSError as exc:
        raise UserError(f"output directory {out} is not writable ({exc.strerror or exc}); pass --out to a folder you can write") from None
    return tmp


def _runtime_predict(path: Path, threads: int):
    """The artifact in the runtime that deploys it (ORT for .onnx, LiteRT+XNNPACK for .tflite), as a predictor."""
    from ..runtime import load_runtime, runtime_predictor

    rt = load_runtime(path, runtime="auto", threads=threads)
    return runtime_predictor(rt), rt.info()


def _specs(names, shapes, layouts) -> list[TensorSpec]:
    return [TensorSpec(name=n, shape=list(s), dtype="float32", layout=l) for n, s, l in zip(names, shapes, layouts)]


def _layout(shape) -> str:
    return "NCHW" if len(shape) == 4 else "-"


def _tflite_specs(path: Path, in_names, out_names, in_shapes, out_shapes) -> tuple[list[TensorSpec], list[TensorSpec]]:
    """Manifest specs of a .tflite: logical names mapped to signature keys (args_i / output_j), dtypes and scales read back."""
    ins, outs = signature_io(path)

    def build(rows, names, shapes, prefix):
        by_key = {r["name"]: r for r in rows}
        specs = []
        for i, (n, s) in enumerate(zip(names, shapes)):
            key = f"{prefix}{i}"
            if key not in by_key:
                raise ConverterError(f"converted .tflite has signature tensors {sorted(by_key)}, expected {key}")
            r = by_key[key]
            q = Quantization(**r["quantization"]) if r["quantization"] and r["dtype"] in ("int8", "uint8", "int16") else None
            specs.append(TensorSpec(name=n, shape=r["shape"], dtype=r["dtype"], layout=_layout(s), quantization=q, artifact_name=key))
        return specs

    return build(ins, in_names, in_shapes, "args_"), build(outs, out_names, out_shapes, "output_")


@dataclass
class _Built:
    """One artifact in the temp folder, before publishing."""

    path: Path
    manifest: Manifest
    passed: bool
    module: str


class Exporter:
    """Runs one ExportRequest."""

    def __init__(self, req: ExportRequest, progress: Progress | None = None) -> None:
        self.req = req
        self.progress = progress or _stderr_progress

    # ------------------------------------------------------------------ setup
    def _load(self) -> None:
        from ..checkpoint import load_checkpoint, shipped_checkpoint

        req = self.req
        path = req.checkpoint if req.checkpoint is not None else shipped_checkpoint(req.preset or "lightavseg")
        self.progress("load", f"checkpoint {path}")
        self.ckpt = load_checkpoint(path, expect_preset=req.preset)
        self.preset = self.ckpt.preset
        train = self.ckpt.build_model()
        self.training_params = count_params(train)
        self.net = train.for_inference()
        self.inference_params = count_params(self.net)
        p = self.preset
        self.size = p.image_size
        self.preprocessing = preprocessing_block(p.image_size, p.mean, p.std, req.audio_input)

    def _whole(self) -> tuple[torch.nn.Module, list[str], tuple[torch.Tensor, ...]]:
        return whole_graph(self.net, self.size, self.req.audio_input)

    # ------------------------------------------------------------------ run
    def run(self) -> dict:
        """Export, verify and publish every artifact; returns the summary (see check_parity for the exit-3 verdict)."""
        req = self.req
        t_start = time.perf_counter()
        recipes = resolve_recipes(req)
        _check_request(req, recipes)
        if req.threads < 0:
            raise UserError(f"--threads must be at least 1 (0 = physical cores), got {req.threads}")
        if req.threads == 0:
            from ..runtime import physical_cores

            req = replace(req, threads=physical_cores())
            self.req = req
        torch.set_num_threads(req.threads)
        self._load()
        tmp = _prepare_out(req.out)
        try:
            self.tmp = tmp
            p = self.preset
            self.progress("data", f"calibration split {CALIBRATION_SPLIT!r} of {req.calibration}, held-out split {HELDOUT_SPLIT!r} of {req.heldout}")
            self.heldout = load_clips(req.heldout, HELDOUT_SPLIT, self.size, p.mean, p.std, req.audio_input, req.max_heldout_clips)
            need_calib = any(rs for rs in recipes.values())
            self.calib = (load_clips(req.calibration, CALIBRATION_SPLIT, self.size, p.mean, p.std, req.audio_input, None)
                          if need_calib else [])
            model, in_names, args = self._whole()
            self.background = _BackgroundPT2E(self._jobs())
            for recipe in recipes.get("tflite", []):
                if recipe.backend == "pt2e":
                    # The child rebuilds the graph from the checkpoint: a module that has been traced is not picklable.
                    self.background.start(recipe.name, checkpoint_graph, (self.ckpt.path, req.audio_input),
                                          self.tmp / self._name("tflite", recipe, None), recipe,
                                          self._calib_samples(recipe.calibration.max_frames))
            self.reference = torch_reference_predictor(model)
            built: list[_Built] = []
            for fmt in req.formats:
                built.append(self._fp32(fmt, model, in_names, args))
                if req.split_modules:
                    built += self._split(fmt, None)
                for recipe in recipes[fmt]:
                    b = self._int8(fmt, recipe, model, in_names, args, self._fp32_path(fmt))
                    built.append(b)
                    if req.split_modules or not b.passed:
                        try:
                            subs = self._split(fmt, recipe)
                        except ConverterError as exc:
                            if req.split_modules:
                                raise
                            # Diagnosis only: a sub-model the converter rejects must not hide the gate's verdict.
                            b.manifest.parity["diagnosis_error"] = str(exc)
                            subs = []
                        if req.split_modules:
                            built += subs
                        worst = min(subs, key=lambda s: s.manifest.parity.get("sqnr_db", float("inf")), default=None)
                        if worst is not None:
                            b.manifest.parity["per_module_sqnr_db"] = {s.module: s.manifest.parity.get("sqnr_db") for s in subs}
                            b.manifest.parity["worst_module"] = worst.module
            total = time.perf_counter() - t_start
            summary = self._publish(built, total)
        finally:
            if getattr(self, "background", None) is not None:
                self.background.close()
            shutil.rmtree(tmp, ignore_errors=True)
        return summary

    def _jobs(self) -> int:
        if self.req.jobs < 0:
            raise UserError(f"--jobs must be at least 1 (0 = automatic), got {self.req.jobs}")
        if self.req.jobs:
            return self.req.jobs
        from ..runtime import physical_cores

        return min(2, physical_cores())

    def _fp32_path(self, fmt: str) -> Path:
        return self.tmp / self._name(fmt, None, None)

    def _name(self, fmt: str, recipe: Recipe | None, module: str | None) -> str:
        base = self.preset.name + ("-waveform" if self.req.audio_input == "waveform" else "")
        prec = "fp32" if recipe is None else recipe.name
        mod = f".{module}" if module else ""
        return f"{base}.{prec}{mod}{EXT[fmt]}"

    # ------------------------------------------------------------------ artifacts
    def _fp32(self, fmt: str, model, in_names, args) -> _Built:
        path = self.tmp / self._name(fmt, None, None)
        t0 = time.perf_counter()
        self.progress("convert", f"{fmt} fp32 -> {path.name}")
        details = (export_onnx_fp32(model, args, in_names, ["mask_logits"], path) if fmt == "onnx"
                   else export_tflite_fp32(model, args, path))
        return self._finish(path, fmt, None, "model", model, in_names, ["mask_logits"], args, details, t0)

    def _calib_frames(self, limit: int | None = None) -> list[tuple[ClipBatch, int]]:
        """(clip, frame index) of the calibration frames; with `limit`, that many spread evenly over every clip."""
        out = [(c, i) for c in self.calib for i in range(len(c.frames))]
        if limit is not None and limit < len(out):
            out = [out[int(k)] for k in np.linspace(0, len(out) - 1, limit).round()]
        return out

    def _calib_samples(self, limit: int | None = None) -> list[tuple[np.ndarray, np.ndarray]]:
        """Calibration inputs of the whole model: (frame, audio) of each frame `_calib_frames` picks."""
        return [(c.frames[i:i + 1], c.audio[i:i + 1]) for c, i in self._calib_frames(limit)]

    def _int8(self, fmt: str, recipe: Recipe, model, in_names, args, fp32_path: Path) -> _Built:
        path = self.tmp / self._name(fmt, recipe, None)
        t0 = time.perf_counter()
        samples = self._calib_samples(recipe.calibration.max_frames)
        self.progress("calibrate", f"{recipe.name}: {len(samples) if recipe.needs_calibration else 0} frames of split {CALIBRATION_SPLIT!r}")
        self.progress("quantize", f"{fmt} {recipe.name} -> {path.name}")
        if recipe.backend == "ort-static":
            feeds = [dict(zip(in_names, s)) for s in samples]
            keep = list(recipe.keep_float) + (["frontend"] if self.req.audio_input == "waveform" else [])
            r = recipe if not keep or list(recipe.keep_float) == keep else _with_keep(recipe, keep)
            details = quantize_onnx(fp32_path, path, r, feeds)
        elif recipe.backend == "pt2e":
            details = self.background.result(recipe.name)
            if details is None:
                details = export_tflite_pt2e(model, args, path, recipe, _as_tensors(samples))
        else:
            feeds = [{f"args_{i}": x for i, x in enumerate(s)} for s in samples] if recipe.needs_calibration else []
            details = quantize_tflite_aiq(fp32_path, path, recipe, feeds)
        return self._finish(path, fmt, recipe, "model", model, in_names, ["mask_logits"], args, details, t0)

    def _finish(self, path: Path, fmt: str, recipe: Recipe | None, module: str, exported, in_names, out_names, args,
                details: dict, t0: float, parity_fn: Callable[[], dict] | None = None) -> _Built:
        """Alignment check, manifest, and (for whole models) the parity gate through the deploying runtime."""
        expected = self.inference_params if module == "model" else count_params(graph.part(self.net, module))
        check = alignment_check(path, fmt, exported, expected, self.training_params)
        with torch.no_grad():
            outs = exported(*args)
        outs = outs if isinstance(outs, tuple) else (outs,)
        in_shapes = [list(a.shape) for a in args]
        out_shapes = [list(o.shape) for o in outs]
        if fmt == "tflite":
            inputs, outputs = _tflite_specs(path, in_names, out_names, in_shapes, out_shapes)
            details = {**details, "signature_key": SIGNATURE}
        else:
            inputs = _specs(in_names, in_shapes, [_layout(s) for s in in_shapes])
            outputs = _specs(out_names, out_shapes, [_layout(s) for s in out_shapes])
        man = Manifest(
            artifact_file=path.name, artifact_sha256=artifact_sha256(path), artifact_size=path.stat().st_size,
            format=fmt, precision="fp32" if recipe is None else recipe.precision, preset=self.preset.name, module=module,
            inputs=inputs, outputs=outputs, preprocessing=self.preprocessing, checkpoint_sha256=self.ckpt.sha256,
            recipe=None if recipe is None else recipe.to_dict(), format_details=details, params=expected,
            alignment_check=check, tools=tool_versions(),
            export={"duration_s": round(time.perf_counter() - t0, 2), "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                    "host": {"machine": platform.machine(), "processor": cpu_model(), "cores": os.cpu_count()},
                    "checkpoint": str(self.ckpt.path)},
        )
        mpath = manifest_path(path)
        mpath.write_text(man.to_json())
        parity = parity_fn() if parity_fn is not None else None  # sub-models: needs the manifest written above
        if module == "model":
            self.progress("verify", f"{path.name}: parity on {len(self.heldout)} held-out clips through the deploying runtime")
            predict, info = _runtime_predict(path, self.req.threads)
            parity = compare(self.reference, predict, self.heldout, "fp32" if recipe is None else "int8", self.req.thresholds)
            parity["runtime"] = info
            parity["split"] = f"{self.req.heldout}:{HELDOUT_SPLIT}"
        man.parity = parity or {}
        passed = bool(man.parity.get("passed", True)) and check["passed"]
        if not check["passed"]:
            man.parity["passed"] = False
            man.parity["reason"] = "alignment-branch check failed"
        man.export["duration_s"] = round(time.perf_counter() - t0, 2)
        mpath.write_text(man.to_json())
        msg = man.parity.get("reason") or "passed"
        if module == "model":
            t = man.parity["tensor"]
            self.progress("verify", f"{path.name}: max abs {t['max_abs']:.3g}, SQNR {t['sqnr_db']:.1f} dB, "
                                    f"mIoU drop {100 * man.parity['miou_drop']:.2f} pt, F drop {100 * man.parity['f_drop']:.2f} pt: {msg}")
        return _Built(path, man, passed, module)

    def _split(self, fmt: str, recipe: Recipe | None) -> list[_Built]:
        """Per-module sub-models in the same format and precision, with per-module SQNR on held-out frames."""
        refs = self._module_refs()
        calib_io = self._module_calib(recipe.calibration.max_frames) if recipe is not None else []
        out = []
        for name in graph.SPLIT_MODULES:
            sub = graph.part(self.net, name)
            in_names, out_names = graph.PART_INPUTS[name], graph.PART_OUTPUTS[name]
            args = tuple(refs[0][n] for n in in_names)
            path = self.tmp / self._name(fmt, recipe, name)
            t0 = time.perf_counter()
            self.progress("convert", f"{fmt} {'fp32' if recipe is None else recipe.name} sub-model {name} -> {path.name}")
            samples = [tuple(io[n].numpy() for n in in_names) for io in calib_io]
            if recipe is None:
                details = (export_onnx_fp32(sub, args, in_names, out_names, path) if fmt == "onnx" else export_tflite_fp32(sub, args, path))
            else:
                fp32 = self.tmp / self._name(fmt, None, name)
                if not fp32.exists() and recipe.backend != "pt2e":
                    fp32 = self.tmp / f".{name}.fp32{EXT[fmt]}"
                    (export_onnx_fp32(sub, args, in_names, out_names, fp32) if fmt == "onnx" else export_tflite_fp32(sub, args, fp32))
                if recipe.backend == "ort-static":
                    details = quantize_onnx(fp32, path, recipe,
                                            [dict(zip(in_names, s)) for s in samples])
                elif recipe.backend == "pt2e":
                    details = export_tflite_pt2e(sub, args, path, recipe, _as_tensors(samples))
                else:
                    details = quantize_tflite_aiq(fp32, path, recipe, [{f"args_{i}": x for i, x in enumerate(s)} for s in samples])
            details = {**details, "boundaries": {"inputs": list(in_names), "outputs": list(out_names),
                                                  "doc": "lightavseg_mobile/export/graph.py"},
                       "boundary_quantization": "calibrated on the whole float model's boundary tensors of the same "
                                                "calibration frames as the whole model, so min/max ranges (and the "
                                                "scale/zero-point of quantized inputs/outputs) match it at the boundaries"}
            built = self._finish(path, fmt, recipe, name, sub, list(in_names), list(out_names), args, details, t0,
                                 parity_fn=lambda p=path, n=name: self._module_parity(p, n, refs))
            out.append(built)
        return out

    def _module_refs(self) -> list[dict[str, torch.Tensor]]:
        if not hasattr(self, "_refs"):
            # First frame of each held-out clip: enough for a per-module SQNR, cheap for five sub-models.
            clips = self.heldout[: 12]
            self._refs = [graph.module_io(self.net, torch.from_numpy(c.frames[:1]), torch.from_numpy(self._logmel(c)[:1])) for c in clips]
        return self._refs

    def _module_calib(self, limit: int | None) -> list[dict[str, torch.Tensor]]:
        # The very frames the whole model calibrates on: a sub-model's boundary observer then sees the tensors the
        # whole model's observer saw there, which is what gives the split the whole model's quantization parameters.
        cache = self.__dict__.setdefault("_calib_io", {})
        if limit not in cache:
            cache[limit] = [graph.module_io(self.net, torch.from_numpy(c.frames[i:i + 1]), torch.from_numpy(self._logmel(c)[i:i + 1]))
                            for c, i in self._calib_frames(limit)]
        return cache[limit]

    def _logmel(self, clip: ClipBatch) -> np.ndarray:
        if clip.audio.ndim == 4:
            return clip.audio
        from ..runtime.predictor import logmel_from_waveform

        return logmel_from_waveform(clip.audio)

    def _module_parity(self, path: Path, name: str, refs) -> dict:
        from ..runtime import load_runtime

        rt = load_runtime(path, runtime="auto", threads=self.req.threads)
        in_names, out_names = graph.PART_INPUTS[name], graph.PART_OUTPUTS[name]
        got = {n: [] for n in out_names}
        for io in refs:
            res = rt.run({n: io[n].numpy() for n in in_names})
            for n in out_names:
                got[n].append(res[n])
        ref = {n: np.concatenate([io[n].numpy() for io in refs]) for n in out_names}
        res = module_sqnr(ref, {n: np.concatenate(v) for n, v in got.items()})
        res.update(frames=len(refs), runtime=rt.info(), passed=True,
                   note="sub-model fed the whole float model's boundary tensors; informational (the gate is on the whole model)")
        return res

    # ------------------------------------------------------------------ publish
    def _publish(self, built: list[_Built], total_s: float) -> dict:
        """Rename artifacts and manifests to their published names (failed ones under failed/ unless allowed)."""
        out = self.req.out
        rows = []
        for b in built:
            whole_failed = not b.passed
            if whole_failed:
                b.manifest.status = "failed-parity"
            dest_dir = out if (not whole_failed or self.req.allow_parity_failure) else out / "failed"
            dest_dir.mkdir(parents=True, exist_ok=True)
            mpath = manifest_path(b.path)
            mpath.write_text(b.manifest.to_json())
            dest = dest_dir / b.path.name
            mdest = manifest_path(dest)
            # Manifest first out, artifact last in: a reader never pairs a new artifact with an old manifest.
            if mdest.exists():
                mdest.unlink()
            # The ONNX node -> torch module map (per-module profiling) travels with its artifact.
            names = b.path.with_suffix(".names.json")
            if names.exists():
                os.replace(names, dest.with_suffix(".names.json"))
            os.replace(b.path, dest)
            os.replace(mpath, mdest)
            p = b.manifest.parity
            rows.append({"file": b.path.name, "path": str(dest), "module": b.module, "format": b.manifest.format,
                         "precision": b.manifest.precision, "recipe": (b.manifest.recipe or {}).get("name"),
                         "size": b.manifest.artifact_size, "sha256": b.manifest.artifact_sha256,
                         "status": b.manifest.status, "passed": b.passed, "reason": p.get("reason", ""),
                         "worst_module": p.get("worst_module"), "parity": p,
                         "alignment_check": b.manifest.alignment_check["passed"], "duration_s": b.manifest.export["duration_s"]})
        return {"preset": self.preset.name, "checkpoint": str(self.ckpt.path), "checkpoint_sha256": self.ckpt.sha256,
                "out": str(out), "total_s": round(total_s, 2), "artifacts": rows}


def whole_graph(net: torch.nn.Module, size: int, audio_input: str) -> tuple[torch.nn.Module, list[str], tuple[torch.Tensor, ...]]:
    """The exported whole-model graph for an inference network: (module, input names, example inputs)."""
    frame = torch.zeros(1, 3, size, size)
    if audio_input == "waveform":
        from ..audio import VGGISH

        return graph.WaveformModel(net).eval(), ["frame", "waveform"], (frame, torch.zeros(1, VGGISH.patch_samples))
    return net, ["frame", "logmel"], (frame, torch.zeros(1, 1, 96, 64))


def checkpoint_graph(checkpoint: Path, audio_input: str) -> tuple[torch.nn.Module, tuple[torch.Tensor, ...]]:
    """The whole-model graph and example inputs of a checkpoint (what a background conversion rebuilds)."""
    from ..checkpoint import load_checkpoint

    ckpt = load_checkpoint(checkpoint)
    module, _, args = whole_graph(ckpt.build_model().for_inference(), ckpt.preset.image_size, audio_input)
    return module, args


def _pt2e_job(builder: Callable[..., tuple[torch.nn.Module, tuple[torch.Tensor, ...]]], builder_args: tuple,
              dest: Path, recipe: Recipe, samples: list[tuple[np.ndarray, ...]]) -> dict:
    """Child-process body: build the graph, then one PT2E conversion on one thread (the parent keeps the other core)."""
    torch.set_num_threads(1)
    module, args = builder(*builder_args)
    return export_tflite_pt2e(module, args, dest, recipe, _as_tensors(samples))


def _as_tensors(samples: list[tuple[np.ndarray, ...]]) -> list[tuple[torch.Tensor, ...]]:
    """Numpy calibration inputs as the torch tensors PT2E calibration feeds (no copy)."""
    return [tuple(torch.from_numpy(x) for x in s) for s in samples]


class _BackgroundPT2E:
    """PT2E int8 conversions started early in a child process, collected when their turn comes.

    With jobs == 1 nothing is started and the caller converts in-process.
    """

    def __init__(self, jobs: int) -> None:
        self.jobs = jobs
        self.pool = None
        self.futures: dict[str, Any] = {}

    def start(self, key: str, builder: Callable[..., tuple[torch.nn.Module, tuple[torch.Tensor, ...]]],
              builder_args: tuple, dest: Path, recipe: Recipe, samples: list[tuple[np.ndarray, ...]]) -> None:
        """Submit one conversion of `builder(*builder_args)` writing `dest` (no-op when running single-job).

        `builder` is a module-level function (it is pickled by name); `samples` are numpy calibration inputs.
        """
        if self.jobs < 2:
            return
        if self.pool is None:
            import multiprocessing
            from concurrent.futures import ProcessPoolExecutor

            # spawn, not fork: a forked child would inherit torch's OpenMP thread pool state.
            self.pool = ProcessPoolExecutor(max_workers=self.jobs - 1, mp_context=multiprocessing.get_context("spawn"))
        self.futures[key] = self.pool.submit(_pt2e_job, builder, builder_args, dest, recipe, samples)

    def result(self, key: str) -> dict | None:
        """The conversion's format details (waits for it), or None if it was not started in the background."""
        fut = self.futures.pop(key, None)
        if fut is None:
            return None
        try:
            return fut.result()
        except BrokenProcessPool as exc:
            raise ConverterError(f"the PT2E conversion process died ({type(exc).__name__}); retry with --jobs 1") from None

    def close(self) -> None:
        """Stop the child process (also on errors and Ctrl-C) so nothing keeps writing into the temp folder."""
        if self.pool is None:
            return
        for fut in self.futures.values():
            fut.cancel()
        procs = list(getattr(self.pool, "_processes", {}).values())
        manager = getattr(self.pool, "_executor_manager_thread", None)
        self.pool.shutdown(wait=False, cancel_futures=True)
        for proc in procs:
            if proc.is_alive():
                proc.kill()  # SIGKILL: libraries in the child may handle SIGTERM slowly; it only writes into tmp
        # The pool's manager thread also reaps the killed child; until it is done, is_alive() can still say True
        # (both threads waitpid the same pid), so wait for it before our own joins.
        if manager is not None:
            manager.join(timeout=30)
        for proc in procs:
            proc.join(timeout=30)
        self.pool = None


def _with_keep(recipe: Recipe, keep) -> Recipe:
    from dataclasses import replace

    return replace(recipe, keep_float=tuple(keep or ()))


def check_parity(summary: dict, allow_failure: bool = False) -> None:
    """Raise ParityError (exit 3) naming the first artifact that failed its gate and its weakest module."""
    failed = [a for a in summary["artifacts"] if not a["passed"]]
    if failed and not allow_failure:
        a = failed[0]
        worst = f"; module with the lowest SQNR: {a['worst_module']}" if a.get("worst_module") else ""
        raise ParityError(f"{a['file']} failed the parity gate ({a['reason']}){worst}; kept only as {a['path']} "
                          f"(--allow-parity-failure publishes it marked failed)")


def _terminate(signum, frame) -> None:  # noqa: ANN001 - signal API
    # SIGTERM unwinds like Ctrl-C, so the temp folder is removed on the way out.
    raise KeyboardInterrupt(f"signal {signum}")


def run_export(req: ExportRequest, progress: Progress | None = None) -> dict:
    """Run an export request; OSError from a full or vanished output disk becomes a one-line UserError."""
    import signal
    import threading

    old = None
    if threading.current_thread() is threading.main_thread():
        old = signal.signal(signal.SIGTERM, _terminate)
    try:
        return Exporter(req, progress).run()
    except OSError as exc:
        if exc.errno in (errno.ENOSPC, errno.EDQUOT):
            raise UserError(f"output directory {req.out} is full ({exc.strerror}); free space or pass --out elsewhere") from None
        if exc.errno in (errno.EACCES, errno.EROFS, errno.EPERM):
            raise UserError(f"cannot write to {req.out} ({exc.strerror}); pass --out to a folder you can write") from None
        raise
    finally:
        if old is not None:
            signal.signal(signal.SIGTERM, old)
