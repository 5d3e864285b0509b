"""lavseg-bench as a library: plan the targets, time them under the protocol, assemble the versioned report."""

from __future__ import annotations

import math
import statistics
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import UserError
from ..artifact.manifest import MANIFEST_SUFFIX, Manifest, load_manifest
from . import modules as mod
from .host import Worker, interleave_workers
from .machine import git_state, machine_info, matmul_peak
from .schema import REPORT_SCHEMA, REPORT_SCHEMA_VERSION, validate_report

RUNTIME_FORMAT = {"torch": "torch", "onnxruntime": "onnx", "litert": "tflite"}
FORMAT_RUNTIME = {v: k for k, v in RUNTIME_FORMAT.items()}
_ARTIFACT_SUFFIXES = (".onnx", ".tflite")
_CHECKPOINT_SUFFIXES = (".pt", ".pth")


@dataclass
class BenchRequest:
    """Everything lavseg-bench was asked to do."""

    paths: list[Path] = field(default_factory=list)
    runtime: str = "auto"
    delegate: str = "auto"
    threads: int | None = None
    warmup: int = 10
    runs: int = 50
    block: int = 5
    modules: bool = False
    parity: bool = False
    parity_clips: int | None = None
    checkpoint: Path | None = None  # torch fp32 baseline; default: the one each manifest was exported from
    baseline: bool = True
    peers: tuple[str, ...] = ()
    peer_dir: Path = Path("exports")
    inputs_npz: Path | None = None
    profile_runs: int = 20
    peak: bool = True
    exports_dir: Path = Path("exports")
    start_timeout_s: float = 1800.0  # load + first run of one target (torch.compile on a busy 2-core host is slow)


@dataclass
class Target:
    """One thing to time in its own worker process."""

    label: str
    kind: str  # runtime | torch | torch-compile | executorch
    path: Path
    format: str
    precision: str
    preset: str | None
    module: str = "model"
    manifest: Manifest | None = None
    runtime: str = "auto"
    peer: bool = False
    whole: str | None = None  # for a split sub-model: label of its whole model
    meta: dict = field(default_factory=dict)


def _check_counts(req: BenchRequest) -> None:
    for name, value, low in (("--runs", req.runs, 1), ("--warmup", req.warmup, 0), ("--block", req.block, 1),
                             ("--profile-runs", req.profile_runs, 1)):
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            raise UserError(f"{name} must be an integer >= {low}, got {value!r}")
    if req.runtime != "auto" and req.runtime not in RUNTIME_FORMAT:
        raise UserError(f"unknown runtime {req.runtime!r}; choose one of: auto, {', '.join(RUNTIME_FORMAT)}")
    if req.threads is not None and (isinstance(req.threads, bool) or req.threads < 1):
        raise UserError(f"--threads must be a positive integer, got {req.threads!r}")
    for p in req.peers:
        from .peers import PEERS

        if p not in PEERS:
            raise UserError(f"unknown peer {p!r}; choose from: {', '.join(PEERS)}")


def _label(man: Manifest, path: Path) -> str:
    return path.name


def _expand(paths: list[Path], runtime: str, want_modules: bool) -> tuple[list[tuple[Manifest, Path]], list[Path]]:
    """(verified artifacts, torch checkpoints) named by the command line; directories give their manifests."""
    artifacts: list[tuple[Manifest, Path]] = []
    checkpoints: list[Path] = []
    for p in paths:
        if not p.exists():
            raise UserError(f"no such artifact, checkpoint or folder: {p}")
        if p.is_dir():
            found = sorted(q for q in p.glob(f"*{MANIFEST_SUFFIX}"))
            if not found:
                raise UserError(f"{p} holds no *{MANIFEST_SUFFIX}; export artifacts there with lavseg-export")
            for q in found:
                man, art = load_manifest(q, verify=True)
                if man.status != "published":
                    continue
                if runtime != "auto" and man.format != RUNTIME_FORMAT[runtime]:
                    continue
                if man.module != "model" and not want_modules:
                    continue
                artifacts.append((man, art))
        elif p.suffix in _CHECKPOINT_SUFFIXES:
            checkpoints.append(p)
        elif p.suffix in _ARTIFACT_SUFFIXES or p.name.endswith(MANIFEST_SUFFIX):
            man, art = load_manifest(p, verify=True)
            if runtime != "auto" and man.format != RUNTIME_FORMAT[runtime]:
                raise UserError(f"runtime {runtime!r} cannot run the {man.format} artifact {art}; "
                                f"it runs {RUNTIME_FORMAT[runtime]} (or pass --runtime auto)")
            artifacts.append((man, art))
        else:
            raise UserError(f"cannot benchmark {p}: expected a folder, *.onnx, *.tflite, *{MANIFEST_SUFFIX} or a *.pt checkpoint")
    # Each artifact once, even if named twice.
    seen: set[Path] = set()
    unique = []
    for man, art in artifacts:
        if art.resolve() not in seen:
            seen.add(art.resolve())
            unique.append((man, art))
    return unique, checkpoints


def _split_siblings(man: Manifest, art: Path) -> list[tuple[Manifest, Path]]:
    """The --split-modules sub-models exported beside a whole-model artifact (same name + `.MODULE`)."""
    out = []
    for m in mod.MODULES:
        sub = art.with_name(f"{art.stem}.{m}{art.suffix}")
        if sub.is_file():
            sman, sart = load_manifest(sub, verify=True)
            out.append((sman, sart))
    return out


def _baseline_checkpoint(req: BenchRequest, preset: str, manifests: list[Manifest], checkpoints: list[Path]) -> Path | None:
    """The torch fp32 checkpoint of `preset`: --checkpoint, a named .pt, the manifests' source, or the shipped one."""
    from ..checkpoint import CheckpointError, load_checkpoint, shipped_checkpoint

    candidates: list[Path] = []
    if req.checkpoint is not None:
        candidates.append(req.checkpoint)
    candidates += checkpoints
    for m in manifests:
        src = (m.export or {}).get("checkpoint")
        if m.preset == preset and src:
            candidates.append(Path(src))
    for c in candidates:
        if not Path(c).is_file():
            continue
        try:
            ck = load_checkpoint(c)
        except CheckpointError:
            continue
        if ck.preset.name == preset:
            return Path(c)
    try:
        return shipped_checkpoint(preset)
    except CheckpointError:
        return None


def plan(req: BenchRequest) -> tuple[list[Target], list[str]]:
    """The targets to time and the reasons the report will be incomplete."""
    _check_counts(req)
    paths = list(req.paths)
    if not paths:
        if not req.exports_dir.is_dir():
            raise UserError(f"no artifact given and {req.exports_dir}/ does not exist; run lavseg-export first or name artifacts")
        paths = [req.exports_dir]
    artifacts, checkpoints = _expand(paths, req.runtime, req.modules)
    if req.modules:
        extra = []
        for man, art in artifacts:
            if man.module == "model":
                extra += _split_siblings(man, art)
        have = {a.resolve() for _, a in artifacts}
        artifacts += [(m, a) for m, a in extra if a.resolve() not in have and not have.add(a.resolve())]
    incomplete: list[str] = []
    targets: list[Target] = []
    presets = []
    for man, art in artifacts:
        if man.preset not in presets:
            presets.append(man.preset)
    for ck in checkpoints:
        from ..checkpoint import load_checkpoint

        name = load_checkpoint(ck).preset.name
        if name not in presets:
            presets.append(name)
    manifests = [m for m, _ in artifacts]
    baselines: dict[str, Path] = {}
    if req.baseline or req.runtime == "torch" or req.peers:
        for preset in presets:
            ck = _baseline_checkpoint(req, preset, manifests, checkpoints)
            if ck is None:
                incomplete.append(f"no torch fp32 checkpoint found for preset {preset} (pass --checkpoint): no baseline, no ratios")
                continue
            baselines[preset] = ck
            if req.runtime in ("auto", "torch"):
                targets.append(Target(f"{preset}.torch-fp32-eager", "torch", ck, "torch", "fp32", preset, runtime="torch",
                                      meta={"baseline": True}))
    by_path = {}
    for man, art in artifacts:
        if req.runtime == "torch":
            continue
        t = Target(_label(man, art), "runtime", art, man.format, man.precision, man.preset, man.module, man,
                   runtime=FORMAT_RUNTIME[man.format])
        by_path[art.resolve()] = t
        targets.append(t)
    for t in targets:
        if t.module != "model" and t.manifest is not None:
            whole = t.path.with_name(t.path.name.replace(f".{t.module}{t.path.suffix}", t.path.suffix))
            w = by_path.get(whole.resolve())
            t.whole = w.label if w is not None else None
    for peer in req.peers:
        for preset, ck in baselines.items():
            if peer == "torch-compile":
                targets.append(Target(f"{preset}.torch-compile", "torch-compile", ck, "torch.compile", "fp32", preset,
                                      runtime="torch", peer=True))
            else:
                from .peers import executorch_version, export_executorch_subprocess

                precision = peer.split("-")[1]
                if executorch_version() is None:
                    incomplete.append(f"peer {peer} skipped: executorch is not installed")
                    continue
                try:
                    pte = export_executorch_subprocess(ck, req.peer_dir, precision)
                except Exception as exc:  # a peer's converter failing is a finding, not a reason to lose our numbers
                    incomplete.append(f"peer {peer} for {preset} not built: {type(exc).__name__}: {str(exc).splitlines()[0][:200] if str(exc) else ''}")
                    continue
                targets.append(Target(f"{preset}.{peer}", "executorch", pte, "pte", precision, preset, runtime="executorch",
                                      peer=True))
    if not targets:
        raise UserError("nothing to benchmark: no artifact matches --runtime and no baseline checkpoint was found")
    return targets, incomplete


def _spec(t: Target, req: BenchRequest, threads: int, profile_dir: str | None = None) -> dict:
    spec = {"kind": t.kind, "path": str(t.path), "threads": threads, "seed": 0,
            "runtime": t.runtime if t.kind == "runtime" else "torch", "delegate": req.delegate if t.kind == "runtime" else "auto"}
    if t.kind == "torch" or t.kind == "torch-compile":
        spec["delegate"] = "auto"
    if req.inputs_npz is not None and t.module == "model" and t.kind in ("runtime", "torch", "torch-compile"):
        spec["inputs_npz"] = str(req.inputs_npz)
    if profile_dir:
        spec["profile_dir"] = profile_dir
    return spec


def _check_inputs_npz(req: BenchRequest, targets: list[Target]) -> None:
    """A user-supplied input file must match every whole model's inputs: fail before starting any worker."""
    if req.inputs_npz is None:
        return
    import numpy as np

    from ..artifact import tensors

    if not req.inputs_npz.is_file():
        raise UserError(f"--inputs {req.inputs_npz} does not exist; pass an .npz of float32 arrays named like the model inputs")
    with np.load(req.inputs_npz) as z:
        given = {k: z[k] for k in z.files}
    for t in targets:
        if t.manifest is not None and t.module == "model":
            tensors.validate_inputs(t.manifest.inputs, given)


def _cost(preset: str, image_size: int | None = None) -> dict:
    """{module: {params, gflops}} plus 'total' for a preset, counted on the meta device."""
    from ..model.cost import module_flops, module_params
    from ..presets import create_model, get_preset

    p = get_preset(preset)
    model = create_model(preset)
    params = module_params(model.for_inference() if hasattr(model, "for_inference") else model)
    flops = module_flops(model, image_size or p.image_size)
    out = {m: {"params": int(params.get(m, 0)), "gflops": flops.get(m, 0) / 1e9} for m in mod.MODULES}
    out["total"] = {"params": int(params["total"]), "gflops": flops["total"] / 1e9}
    return out


def _non_delegated(info: dict) -> int | None:
    v = info.get("ops_not_delegated")
    return int(v) if isinstance(v, int) and not isinstance(v, bool) else None


def _parity(t: Target, req: BenchRequest, threads: int, checkpoint: Path) -> dict:
    """The export parity gate (parity.compare) on the held-out split, through the runtime being benchmarked."""
    from ..checkpoint import load_checkpoint
    from ..export import graph, pipeline
    from ..parity import compare
    from ..runtime import load_runtime, runtime_predictor

    rt = load_runtime(t.path, runtime=t.runtime, threads=threads, delegate=req.delegate)
    predict = runtime_predictor(rt)
    ckpt = load_checkpoint(checkpoint, expect_preset=t.preset)
    net = ckpt.build_model().for_inference()
    p = ckpt.preset
    audio = predict.audio_input
    reference = pipeline.torch_reference_predictor(graph.WaveformModel(net) if audio == "waveform" else net)
    clips = pipeline.load_clips(pipeline.DEFAULT_DATA, pipeline.HELDOUT_SPLIT, p.image_size, p.mean, p.std, audio, req.parity_clips)
    res = compare(reference, predict, clips, "fp32" if t.precision == "fp32" else "int8")
    res["runtime"] = rt.info()
    res["split"] = f"{pipeline.DEFAULT_DATA}:{pipeline.HELDOUT_SPLIT}"
    res["reference_checkpoint"] = str(checkpoint)
    return res


def _ort_profile(t: Target, req: BenchRequest, threads: int) -> dict:
    """Per-module time of an ONNX artifact from ORT's per-node profile, nodes mapped back to torch modules."""
    names, names_file = mod.load_names_map(t.path, t.manifest)
    with tempfile.TemporaryDirectory(prefix="lavseg-ortprof-") as d:
        w = Worker(f"{t.label} (profiled)", _spec(t, req, threads, profile_dir=d))
        try:
            w.run(min(req.warmup, 3))
            w.run(req.profile_runs)
            trace = w.end_profile()
        finally:
            w.close()
        # The ready run and the warm-up runs are in the trace too: skip them.
        producers = mod.output_producers(t.path)
        from ..runtime.onnxruntime_rt import OPTIMIZED_GRAPH

        graph_modules = mod.optimized_graph_modules(Path(d) / OPTIMIZED_GRAPH, names, producers)
        res = mod.parse_ort_profile(trace, names, skip_runs=1 + min(req.warmup, 3), producers=producers,
                                    graph_modules=graph_modules)
    res["names_map"] = str(names_file)
    return res


def run_bench(req: BenchRequest, progress=None) -> dict:
    """Plan, time, profile and check; returns the validated report dict."""
    from ..runtime.cores import resolve_threads

    say = progress or (lambda msg: None)
    targets, incomplete = plan(req)
    _check_inputs_npz(req, targets)
    threads = resolve_threads(req.threads)
    created = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    peak_before = matmul_peak(threads) if req.peak else None
    workers: dict[str, Worker] = {}
    try:
        for t in list(targets):
            say(f"start {t.label}")
            try:
                workers[t.label] = Worker(t.label, _spec(t, req, threads), timeout_s=req.start_timeout_s)
            except UserError as exc:
                if not t.peer:
                    raise
                # A peer that cannot build or start (e.g. torch.compile timing out) is reported, not fatal.
                incomplete.append(f"peer {t.label} not timed: {exc}")
                targets.remove(t)
        say(f"timing {len(workers)} targets: {req.warmup} warm-up + {req.runs} runs each, round-robin blocks of {req.block}")
        samples = interleave_workers(workers, req.warmup, req.runs, req.block)
        boundary: dict[str, list[float]] = {}
        if req.modules:
            split_of = {t.whole for t in targets if t.whole}
            for label in split_of & set(workers):
                boundary[label] = workers[label].boundary(req.runs)
    finally:
        closing = {label: w.close() for label, w in workers.items()}
    peak_after = matmul_peak(threads) if req.peak else None
    from .protocol import summarize

    peak = None
    if peak_before and peak_after:
        peak = dict(peak_before)
        peak["gflops_per_s"] = max(peak_before["gflops_per_s"], peak_after["gflops_per_s"])
        peak["before_after"] = [peak_before["gflops_per_s"], peak_after["gflops_per_s"]]
    costs: dict[str, dict] = {}
    for t in targets:
        if t.preset and t.preset not in costs:
            try:
                costs[t.preset] = _cost(t.preset)
            except Exception as exc:  # FLOP counting is informative; a failure must not lose the timings
                incomplete.append(f"FLOPs of {t.preset} not counted ({type(exc).__name__})")
                costs[t.preset] = {}
    baseline_of = {t.preset: t.label for t in targets if t.meta.get("baseline")}
    rows = []
    stats = {label: summarize(s) for label, s in samples.items()}
    for t in targets:
        w = workers[t.label]
        lat = stats[t.label]
        c = costs.get(t.preset or "", {})
        gflops = (c.get("total") if t.module == "model" else c.get(t.module, None)) or {}
        gf = gflops.get("gflops")
        base = baseline_of.get(t.preset)
        ratio = None
        if base is not None and t.module == "model":
            ratio = lat["p50"] / stats[base]["p50"]
        gps = gf / (lat["p50"] / 1e3) if gf else None
        size = t.path.stat().st_size / 2**20 if t.path.is_file() else None
        rows.append({
            "label": t.label, "file": str(t.path), "sha256": t.manifest.artifact_sha256 if t.manifest else None,
            "format": t.format, "precision": t.precision, "preset": t.preset, "module": t.module,
            "kind": "peer" if t.peer else ("baseline" if t.meta.get("baseline") else "ours"),
            "recipe": (t.manifest.recipe or {}).get("name") if t.manifest else None,
            "size_mb": size, "runtime": {"name": w.info.get("runtime", t.runtime), **w.info},
            "latency_ms": lat, "samples_ms": [round(x, 4) for x in samples[t.label]],
            "cold_start_ms": w.cold_start_ms, "cold_start_breakdown_ms": {k: w.ready[k] for k in ("startup_ms", "load_ms", "first_run_ms")},
            "peak_rss_mb": closing.get(t.label, {}).get("peak_rss_mb"),
            "baseline": base, "ratio_to_baseline": ratio, "gflops": gf, "gflops_per_s": gps,
            "fraction_of_peak": (gps / peak["gflops_per_s"]) if (gps and peak) else None,
            "non_delegated_ops": _non_delegated(w.info),
            "non_delegated_by_op": w.info.get("not_delegated_by_op"),
            "export_parity": _export_parity(t.manifest),
        })
    module_rows: list[dict] = []
    module_sums: list[dict] = []
    extra: dict = {}
    if req.modules:
        for t in targets:
            if t.module != "model":
                continue
            subs = [s for s in targets if s.whole == t.label]
            if subs:
                ms = {s.module: stats[s.label]["p50"] for s in subs}
                module_rows += mod.module_rows(t.label, "split", ms, costs.get(t.preset or ""))
                if len(ms) == len(mod.MODULES):
                    conv = statistics.median(boundary[t.label]) if boundary.get(t.label) else 0.0
                    module_sums.append(mod.split_sum_check(t.label, ms, stats[t.label]["p50"], conv,
                                                           [samples[s.label] for s in subs], samples[t.label], req.block))
                else:
                    incomplete.append(f"{t.label}: split sub-models found for {sorted(ms)} only")
            elif t.kind == "runtime":
                incomplete.append(f"{t.label}: no split sub-models beside it (export with --split-modules)")
            if t.format == "onnx":
                say(f"profile {t.label} (onnxruntime per-node)")
                try:
                    prof = _ort_profile(t, req, threads)
                except UserError as exc:
                    incomplete.append(f"{t.label}: no onnxruntime per-node breakdown ({exc})")
                    continue
                ms = {k: v for k, v in prof["module_ms"].items()}
                module_rows += mod.module_rows(t.label, "ort_profile", ms, costs.get(t.preset or ""))
                module_sums.append(mod.sum_check(t.label, "ort_profile", ms, prof["model_run_ms"]))
                extra.setdefault("ort_profiles", {})[t.label] = {k: v for k, v in prof.items() if k != "module_ms"}
    parity: dict = {}
    if req.parity:
        for t in targets:
            if t.kind != "runtime" or t.module != "model":
                continue
            ck = _baseline_checkpoint(req, t.preset, [t.manifest], [])
            if ck is None:
                incomplete.append(f"{t.label}: parity skipped, no torch fp32 checkpoint for {t.preset}")
                continue
            say(f"parity {t.label} on the held-out split")
            parity[t.label] = _parity(t, req, threads, ck)
    report = {
        "schema": REPORT_SCHEMA, "schema_version": REPORT_SCHEMA_VERSION, "created": created, "git": git_state(),
        "machine": machine_info("host", "native"),
        "protocol": {"warmup": req.warmup, "runs": req.runs, "block": req.block, "threads": threads,
                     "baseline": ", ".join(baseline_of.values()) or None, "interleaved": True,
                     "isolation": "subprocess per artifact (cold start, peak RSS); one worker computes at a time",
                     "delegate": req.delegate, "runtime": req.runtime, "inputs": str(req.inputs_npz) if req.inputs_npz else "seeded normal noise"},
        "matmul_peak": peak, "artifacts": rows, "modules": module_rows, "module_sums": module_sums, "parity": parity,
        "paper_reference": dict(mod.PAPER_REFERENCE), "targets": targets_check(rows, peak), "extra": extra,
        "incomplete": bool(incomplete), "incomplete_reason": "; ".join(incomplete) or None,
    }
    report = finite_json(report)
    validate_report(report)
    return report


def finite_json(obj):
    """Copy of `obj` with numpy scalars made plain and non-finite floats spelled "inf"/"-inf"/"nan" (strict JSON)."""
    if isinstance(obj, dict):
        return {str(k): finite_json(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [finite_json(v) for v in obj]
    if hasattr(obj, "item") and not isinstance(obj, (str, bytes)):
        obj = obj.item()
    if isinstance(obj, float) and not math.isfinite(obj):
        return "nan" if math.isnan(obj) else ("inf" if obj > 0 else "-inf")
    return obj


def _export_parity(man: Manifest | None) -> dict | None:
    """The held-out parity the exporter measured (mIoU, F, SQNR) for the size/latency/mIoU plot."""
    if man is None or man.module != "model" or not man.parity:
        return None
    p = man.parity
    return {"miou": p.get("artifact", {}).get("miou"), "f": p.get("artifact", {}).get("f"),
            "float_miou": p.get("float", {}).get("miou"), "sqnr_db": p.get("tensor", {}).get("sqnr_db"),
            "passed": p.get("passed")}


def targets_check(rows: list[dict], peak: dict | None) -> list[dict]:
    """The issue's targets as measured ratios, per preset; a missed target says by how much."""
    out = []
    whole = [r for r in rows if r["module"] == "model"]
    for preset in sorted({r["preset"] for r in whole if r["preset"]}):
        ours = [r for r in whole if r["preset"] == preset and r["kind"] == "ours"]
        fp32 = [r for r in ours if r["precision"] == "fp32" and r["fraction_of_peak"] is not None]
        if fp32 and peak:
            best = max(fp32, key=lambda r: r["fraction_of_peak"])
            f = best["fraction_of_peak"]
            out.append({"name": "best fp32 artifact >= 50% of matmul peak", "preset": preset, "measured": f, "target": 0.5,
                        "met": f >= 0.5, "detail": f"{best['label']}: {best['gflops_per_s']:.1f} GFLOP/s of "
                                                   f"{peak['gflops_per_s']:.1f} ({100 * f:.1f}%"
                                                   + ("" if f >= 0.5 else f", {100 * (0.5 - f):.1f} points short") + ")"})
        for r in ours:
            if r["precision"] == "fp32":
                continue
            ref = [q for q in ours if q["precision"] == "fp32" and q["format"] == r["format"]]
            if not ref:
                continue
            ratio = r["latency_ms"]["p50"] / ref[0]["latency_ms"]["p50"]
            nd = r["non_delegated_ops"]
            out.append({"name": "int8 no slower than fp32 on the same runtime", "preset": preset, "measured": ratio,
                        "target": 1.0, "met": ratio <= 1.0,
                        "detail": f"{r['label']} p50 {r['latency_ms']['p50']:.2f} ms vs {ref[0]['label']} "
                                  f"{ref[0]['latency_ms']['p50']:.2f} ms (x{ratio:.2f}"
                                  + ("" if ratio <= 1 else f", {100 * (ratio - 1):.0f}% slower") + f"); non-delegated ops: "
                                  + ("n/a" if nd is None else str(nd))})
        peers = [r for r in whole if r["preset"] == preset and r["kind"] == "peer"]
        if ours and peers:
            bo = min(ours, key=lambda r: r["latency_ms"]["p50"])
            bp = min(peers, key=lambda r: r["latency_ms"]["p50"])
            ratio = bo["latency_ms"]["p50"] / bp["latency_ms"]["p50"]
            out.append({"name": "best ours at least as fast as best peer", "preset": preset, "measured": ratio, "target": 1.0,
                        "met": ratio <= 1.0, "detail": f"{bo['label']} {bo['latency_ms']['p50']:.2f} ms vs {bp['label']} "
                                                       f"{bp['latency_ms']['p50']:.2f} ms (x{ratio:.2f}"
                                                       + ("" if ratio <= 1 else f", {100 * (ratio - 1):.0f}% slower") + ")"})
    for r in out:
        if isinstance(r["measured"], float) and not math.isfinite(r["measured"]):
            r["measured"] = None
    return out
