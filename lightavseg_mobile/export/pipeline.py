"""lavseg-export as a library: checkpoint -> artifacts + manifests, each gated on held-out parity, published atomically.

Everything is built in a private temp folder inside the output folder; an artifact reaches its
published name (or `failed/`) only by a rename after its manifest is complete. An exception or
Ctrl-C anywhere removes the temp folder and leaves published names untouched.

`Exporter.run` is a short list of numbered steps; each delegates to a module with one job:
`request` (what was asked), `backends` (quantization backends as data), `background` (slow
quantizations in a child process), `formats` (fp32 conversion and tensor specs per format),
`calibration` and `split` (feeds of the whole model and of sub-models), `manifests`, `publish`.
"""

from __future__ import annotations

import errno
import shutil
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import torch

from ..artifact.manifest import manifest_path
from ..console import progress_line
from ..data.heldout import CALIBRATION_SPLIT, HELDOUT_SPLIT, load_clips
from ..data.preprocess import preprocessing_block
from ..errors import UserError
from ..model import graphs as graph
from ..parity import compare
from ..parity.reference import torch_reference_predictor
from .background import BackgroundQuantizer
from .backends import FP32_ARTIFACT, FRONTEND, Samples, Source
from .calibration import whole_model_feeds
from .errors import ConverterError
from .formats import convert_fp32, format_details, tensor_specs
from .manifests import new_manifest, tool_versions
from .publish import Built, check_parity, prepare_out, publish_one, summary_row
from .recipes import Recipe
from .request import EXT, FORMATS, ExportRequest, artifact_name, check_request, jobs, resolve_recipes, with_threads
from .split import BOUNDARY_NOTE, ModuleData, attach_diagnosis, module_parity
from .strip_check import alignment_check, count_params

__all__ = ["EXT", "FORMATS", "ExportRequest", "Exporter", "check_parity", "checkpoint_graph", "run_export",
           "tool_versions", "whole_graph"]

Progress = Callable[[str, str], None]
WHOLE = "model"  # the manifest `module` of a whole-model artifact


class Exporter:
    """Runs one ExportRequest."""

    def __init__(self, req: ExportRequest, progress: Progress | None = None) -> None:
        self.req = req
        self.progress = progress or progress_line

    # ------------------------------------------------------------------ run
    def run(self) -> dict:
        """Export, verify and publish every artifact; returns the summary (see check_parity for the exit-3 verdict)."""
        t_start = time.perf_counter()
        recipes = self._check()                           # 1. recipes resolved, request checked, threads chosen
        self._load()                                      # 2. checkpoint -> inference network
        self.tmp = prepare_out(self.req.out)
        self.background = BackgroundQuantizer(jobs(self.req))
        try:
            self._load_data(recipes)                      # 3. held-out clips; calibration clips if any recipe
            model, in_names, args = self._whole()
            self._start_background(recipes, in_names)     # 4. slow quantizations start in a child process
            self.reference = torch_reference_predictor(model)  # 5. what every artifact is gated against
            built: list[Built] = []
            for fmt in self.req.formats:                  # 6. per format: fp32, sub-models, int8 (+ diagnosis)
                built.append(self._artifact(fmt, None, model, in_names, args))
                built += self._split(fmt, None) if self.req.split_modules else []
                for recipe in recipes[fmt]:
                    built += self._int8(fmt, recipe, model, in_names, args)
            return self._publish(built, time.perf_counter() - t_start)  # 7. rename into place
        finally:
            self.background.close()
            shutil.rmtree(self.tmp, ignore_errors=True)

    def _check(self) -> dict[str, list[Recipe]]:
        recipes = resolve_recipes(self.req)
        check_request(self.req, recipes)
        self.req = with_threads(self.req)
        torch.set_num_threads(self.req.threads)
        return recipes

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
        self.preprocessing = preprocessing_block(p.image_size, p.mean, p.std, req.audio_input)

    def _load_data(self, recipes: dict[str, list[Recipe]]) -> None:
        req, p = self.req, self.preset
        self.progress("data", f"calibration split {CALIBRATION_SPLIT!r} of {req.calibration}, held-out split {HELDOUT_SPLIT!r} of {req.heldout}")
        self.heldout = load_clips(req.heldout, HELDOUT_SPLIT, p.image_size, p.mean, p.std, req.audio_input, req.max_heldout_clips)
        need_calib = any(rs for rs in recipes.values())
        self.calib = (load_clips(req.calibration, CALIBRATION_SPLIT, p.image_size, p.mean, p.std, req.audio_input, None)
                      if need_calib else [])
        self.modules = ModuleData(self.net, self.heldout, self.calib)

    def _whole(self) -> tuple[torch.nn.Module, list[str], tuple[torch.Tensor, ...]]:
        return whole_graph(self.net, self.preset.image_size, self.req.audio_input)

    def _start_background(self, recipes: dict[str, list[Recipe]], in_names: list[str]) -> None:
        """Submit every whole-model quantization whose backend runs in the background (skipped with --jobs 1)."""
        for fmt, rs in recipes.items():
            for recipe in rs:
                if recipe.backend_spec.background:
                    # The child rebuilds the graph from the checkpoint: a module that has been traced is not picklable.
                    self.background.start(recipe.name, checkpoint_graph, (self.ckpt.path, self.req.audio_input),
                                          self.tmp / self._name(fmt, recipe, None), recipe,
                                          self._feeds(recipe, in_names))

    def _name(self, fmt: str, recipe: Recipe | None, module: str | None) -> str:
        return artifact_name(self.preset.name, self.req, fmt, recipe, module)

    def _feeds(self, recipe: Recipe, in_names: Sequence[str]) -> list[dict]:
        """Whole-model calibration feeds of a recipe (none for schemes without activation ranges)."""
        return whole_model_feeds(self.calib, in_names, recipe.calibration.max_frames) if recipe.needs_calibration else []

    # ------------------------------------------------------------------ artifacts
    def _artifact(self, fmt: str, recipe: Recipe | None, model: torch.nn.Module, in_names: list[str],
                  args: tuple[torch.Tensor, ...]) -> Built:
        """One whole-model artifact, fp32 or quantized by `recipe`, with its manifest and parity verdict."""
        path = self.tmp / self._name(fmt, recipe, None)
        t0 = time.perf_counter()
        if recipe is None:
            self.progress("convert", f"{fmt} fp32 -> {path.name}")
            details = convert_fp32(fmt, model, args, in_names, ["mask_logits"], path)
        else:
            feeds = self._feeds(recipe, in_names)
            self.progress("calibrate", f"{recipe.name}: {len(feeds)} frames of split {CALIBRATION_SPLIT!r}")
            self.progress("quantize", f"{fmt} {recipe.name} -> {path.name}")
            keep = tuple(recipe.keep_float) + ((FRONTEND,) if self.req.audio_input == "waveform" else ())
            details = self.background.result(recipe.name)
            if details is None:
                details = self._quantize(fmt, recipe, None, model, in_names, ["mask_logits"], args, feeds, path, keep)
        built = self._describe(path, fmt, recipe, WHOLE, model, in_names, ["mask_logits"], args, details, t0)
        return self._gate(built, recipe, t0)

    def _quantize(self, fmt: str, recipe: Recipe, part: str | None, module: torch.nn.Module, in_names: Sequence[str],
                  out_names: Sequence[str], args: tuple[torch.Tensor, ...], feeds: Samples, dest: Path,
                  keep: tuple[str, ...]) -> dict:
        """Quantize the whole model (`part` None) or a sub-model through the recipe's backend, converting the fp32
        artifact first if the backend quantizes one and it was not built already."""
        backend = recipe.backend_spec
        fp32 = None
        if backend.source == FP32_ARTIFACT:
            fp32 = self.tmp / self._name(fmt, None, part)
            if not fp32.exists():  # a sub-model whose fp32 artifact was not asked for: a hidden one
                fp32 = self.tmp / f".{part}.fp32{EXT[fmt]}"
                convert_fp32(fmt, module, args, in_names, out_names, fp32)
        source = Source(input_names=tuple(in_names), fp32_path=fp32, module=module, args=args, fp32_modules=keep)
        return backend.quantize(source, dest, recipe, feeds)

    def _int8(self, fmt: str, recipe: Recipe, model: torch.nn.Module, in_names: list[str],
              args: tuple[torch.Tensor, ...]) -> list[Built]:
        """The int8 artifact of a recipe; its sub-models when asked, or as a diagnosis when it fails the gate."""
        b = self._artifact(fmt, recipe, model, in_names, args)
        if not (self.req.split_modules or not b.passed):
            return [b]
        try:
            subs = self._split(fmt, recipe)
        except ConverterError as exc:
            if self.req.split_modules:
                raise
            # Diagnosis only: a sub-model the converter rejects must not hide the gate's verdict.
            b.manifest.parity["diagnosis_error"] = str(exc)
            subs = []
        attach_diagnosis(b.manifest.parity, subs)
        return [b] + (subs if self.req.split_modules else [])

    def _split(self, fmt: str, recipe: Recipe | None) -> list[Built]:
        """Per-module sub-models in the same format and precision, with per-module SQNR on held-out frames."""
        refs = self.modules.references()
        out = []
        for name in graph.SPLIT_MODULES:
            sub = graph.part(self.net, name)
            in_names, out_names = graph.PART_INPUTS[name], graph.PART_OUTPUTS[name]
            args = tuple(refs[0][n] for n in in_names)
            path = self.tmp / self._name(fmt, recipe, name)
            t0 = time.perf_counter()
            self.progress("convert", f"{fmt} {'fp32' if recipe is None else recipe.name} sub-model {name} -> {path.name}")
            if recipe is None:
                details = convert_fp32(fmt, sub, args, in_names, out_names, path)
            else:
                feeds = self.modules.calibration_feeds(name, recipe.calibration.max_frames) if recipe.needs_calibration else []
                details = self._quantize(fmt, recipe, name, sub, in_names, out_names, args, feeds, path, tuple(recipe.keep_float))
            details = {**details, "boundaries": {"inputs": list(in_names), "outputs": list(out_names),
                                                  "doc": "lightavseg_mobile/model/graphs.py"},
                       "boundary_quantization": BOUNDARY_NOTE}
            built = self._describe(path, fmt, recipe, name, sub, list(in_names), list(out_names), args, details, t0)
            # Sub-models: informational SQNR through the runtime (needs the manifest written by _describe).
            built.manifest.parity = module_parity(path, name, refs, self.req.threads)
            out.append(self._settle(built, t0))
        return out

    # ------------------------------------------------------------------ manifest and gate
    def _describe(self, path: Path, fmt: str, recipe: Recipe | None, module: str, exported: torch.nn.Module,
                  in_names: list[str], out_names: list[str], args: tuple[torch.Tensor, ...], details: dict, t0: float) -> Built:
        """Alignment check and manifest (written next to the artifact); parity still empty."""
        expected = self.inference_params if module == WHOLE else count_params(graph.part(self.net, module))
        check = alignment_check(path, fmt, exported, expected, self.training_params)
        with torch.no_grad():
            outs = exported(*args)
        outs = outs if isinstance(outs, tuple) else (outs,)
        tensors = tensor_specs(fmt, path, in_names, out_names, [list(a.shape) for a in args], [list(o.shape) for o in outs])
        man = new_manifest(path, fmt, recipe, self.preset.name, module, tensors, self.preprocessing,
                           (str(self.ckpt.path), self.ckpt.sha256), format_details(fmt, details), expected, check, t0)
        manifest_path(path).write_text(man.to_json())
        return Built(path, man, check["passed"], module)

    def _gate(self, built: Built, recipe: Recipe | None, t0: float) -> Built:
        """The whole model's parity gate through the runtime that deploys it (ORT for .onnx, LiteRT+XNNPACK for .tflite)."""
        from ..runtime import load_runtime, runtime_predictor

        path = built.path
        self.progress("verify", f"{path.name}: parity on {len(self.heldout)} held-out clips through the deploying runtime")
        rt = load_runtime(path, runtime="auto", threads=self.req.threads)
        parity = compare(self.reference, runtime_predictor(rt), self.heldout, "fp32" if recipe is None else "int8",
                         self.req.thresholds)
        parity["runtime"] = rt.info()
        parity["split"] = f"{self.req.heldout}:{HELDOUT_SPLIT}"
        built.manifest.parity = parity
        built = self._settle(built, t0)
        p = built.manifest.parity
        t = p["tensor"]
        self.progress("verify", f"{path.name}: max abs {t['max_abs']:.3g}, SQNR {t['sqnr_db']:.1f} dB, "
                                f"mIoU drop {100 * p['miou_drop']:.2f} pt, F drop {100 * p['f_drop']:.2f} pt: "
                                f"{p.get('reason') or 'passed'}")
        return built

    def _settle(self, built: Built, t0: float) -> Built:
        """Combine the parity verdict with the alignment check, stamp the duration, rewrite the manifest."""
        man = built.manifest
        aligned = man.alignment_check["passed"]
        built.passed = bool(man.parity.get("passed", True)) and aligned
        if not aligned:
            man.parity["passed"] = False
            man.parity["reason"] = "alignment-branch check failed"
        man.export["duration_s"] = round(time.perf_counter() - t0, 2)
        manifest_path(built.path).write_text(man.to_json())
        return built

    # ------------------------------------------------------------------ publish
    def _publish(self, built: list[Built], total_s: float) -> dict:
        """Rename artifacts and manifests to their published names (failed ones under failed/ unless allowed)."""
        rows = [summary_row(b, publish_one(b, self.req.out, self.req.allow_parity_failure)) for b in built]
        return {"preset": self.preset.name, "checkpoint": str(self.ckpt.path), "checkpoint_sha256": self.ckpt.sha256,
                "out": str(self.req.out), "total_s": round(total_s, 2), "artifacts": rows}


def whole_graph(net: torch.nn.Module, size: int, audio_input: str) -> tuple[torch.nn.Module, list[str], tuple[torch.Tensor, ...]]:
    """The exported whole-model graph for an inference network: (module, input names, example inputs)."""
    frame = torch.zeros(1, 3, size, size)
    if audio_input == "waveform":
        from ..audio import VGGISH

        return graph.WaveformModel(net).eval(), ["frame", "waveform"], (frame, torch.zeros(1, VGGISH.patch_samples))
    return net, ["frame", "logmel"], (frame, torch.zeros(1, 1, 96, 64))


def checkpoint_graph(checkpoint: Path, audio_input: str) -> tuple[torch.nn.Module, list[str], tuple[torch.Tensor, ...]]:
    """The whole-model graph, input names and example inputs of a checkpoint (what a background conversion rebuilds)."""
    from ..checkpoint import load_checkpoint

    ckpt = load_checkpoint(checkpoint)
    return whole_graph(ckpt.build_model().for_inference(), ckpt.preset.image_size, audio_input)


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
