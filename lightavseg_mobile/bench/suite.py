"""The `make bench` host suite: export each preset, benchmark it with peers, run the interaction-scaling study.

`python -m lightavseg_mobile.bench.suite benchmarks/suite.json --out benchmarks/results` writes
`host_<preset>.{json,md}` + PNGs per preset and `host_interaction_scaling.{json,md,png}`.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

from ..errors import UserError
from ..io_atomic import write_text_atomic

SUITE_SCHEMA = "lightavseg-bench-suite"
_EXPORT_PARITY_FAILED = 3


def load_suite(path: Path) -> dict:
    """Read and check a suite definition."""
    try:
        suite = json.loads(Path(path).read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise UserError(f"cannot read suite {path}: {exc}") from None
    if suite.get("schema") != SUITE_SCHEMA or suite.get("schema_version") != 1:
        raise UserError(f"{path} is not a {SUITE_SCHEMA} v1 file")
    for key in ("presets", "export", "bench"):
        if key not in suite:
            raise UserError(f"suite {path} has no {key!r}")
    return suite


def _say(msg: str) -> None:
    print(f"[suite] {msg}", file=sys.stderr, flush=True)


def export_preset(preset: str, checkpoint: Path, out: Path, spec: dict) -> dict:
    """lavseg-export of one format into `out`; without split sub-models if the split export itself fails."""
    info = _export_once(preset, checkpoint, out, spec, spec.get("split_modules", False))
    if "error" in info and spec.get("split_modules"):
        retry = _export_once(preset, checkpoint, out, spec, False)
        retry["split_modules_error"] = info["error"]
        return retry
    return info


def _export_once(preset: str, checkpoint: Path, out: Path, spec: dict, split: bool) -> dict:
    """Run lavseg-export in its own process (fresh memory); exit 3 (an int8 artifact failed its gate) is recorded, not fatal."""
    cmd = [sys.executable, "-m", "lightavseg_mobile.export.cli_export", str(checkpoint), "--preset", preset,
           "--format", spec.get("format", "all"), "--out", str(out), "--json"]
    if spec.get("int8"):
        cmd.append("--int8")
    if split:
        cmd.append("--split-modules")
    t0 = time.perf_counter()
    res = subprocess.run(cmd, capture_output=True, text=True)
    info = {"command": " ".join(cmd[1:]), "exit_code": res.returncode, "seconds": round(time.perf_counter() - t0, 1)}
    if res.returncode not in (0, _EXPORT_PARITY_FAILED):
        err = [x for x in res.stderr.strip().splitlines() if x.startswith("error:")]
        info["error"] = err[-1] if err else (res.stderr.strip().splitlines() or ["?"])[-1]
    elif res.returncode == _EXPORT_PARITY_FAILED:
        info["note"] = "an int8 artifact failed the parity gate and was kept under failed/ (not benchmarked)"
    return info


def ensure_names_maps(exports: Path, checkpoint: Path) -> list[str]:
    """Node -> module maps for fp32 ONNX artifacts that lack one, rebuilt from a raw export of the same module.

    The dynamo exporter names nodes deterministically, so the raw re-export's names match the published
    (simplified) graph; a map that covers fewer than half of the published nodes is discarded.
    """
    import contextlib
    import io
    import tempfile

    import onnx
    import torch

    from ..checkpoint import load_checkpoint
    from ..model import graphs as graph
    from ..artifact.manifest import load_manifest
    from ..export.onnx_export import node_module_map

    notes = []
    ckpt = load_checkpoint(checkpoint)
    net = ckpt.build_model().for_inference().eval()
    for mpath in sorted(exports.glob("*.fp32*.manifest.json")):
        man, art = load_manifest(mpath, verify=True)
        if man.format != "onnx" or art.with_suffix(".names.json").is_file():
            continue
        if man.module == "model":
            module, in_names, out_names = net, ["frame", "logmel"], ["mask_logits"]
            s = ckpt.preset.image_size
            args = (torch.zeros(1, 3, s, s), torch.zeros(1, 1, 96, 64))
        else:
            module = graph.part(net, man.module)
            in_names, out_names = list(graph.PART_INPUTS[man.module]), list(graph.PART_OUTPUTS[man.module])
            io_ = graph.module_io(net, torch.zeros(1, 3, ckpt.preset.image_size, ckpt.preset.image_size), torch.zeros(1, 1, 96, 64))
            args = tuple(io_[n] for n in in_names)
        with tempfile.TemporaryDirectory() as d:
            raw = Path(d) / "raw.onnx"
            with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
                torch.onnx.export(module, args, str(raw), input_names=in_names, output_names=out_names, opset_version=18,
                                  dynamo=True, external_data=False, verbose=False)
            names = node_module_map(onnx.load(str(raw)))
        published = [n.name for n in onnx.load(str(art)).graph.node]
        cover = sum(n in names for n in published) / max(len(published), 1)
        if cover >= 0.5:
            write_text_atomic(art.with_suffix(".names.json"), json.dumps(names, indent=0, sort_keys=True))
            notes.append(f"{art.name}: node->module map rebuilt from a raw re-export ({100 * cover:.0f}% of nodes covered)")
        else:
            notes.append(f"{art.name}: rebuilt node->module map covers only {100 * cover:.0f}% of nodes; not used")
    return notes


def run_suite(suite_path: Path, out: Path, exports_root: Path, checkpoints: dict[str, Path], presets: list[str] | None,
              skip_export: bool = False, skip_scaling: bool = False, peers: tuple[str, ...] | None = None) -> list[Path]:
    """Run the whole suite; returns the report files written."""
    from ..checkpoint import shipped_checkpoint
    from .report import write_report
    from .run import BenchRequest, run_bench

    suite = load_suite(suite_path)
    written: list[Path] = []
    b = suite["bench"]
    for preset in presets or suite["presets"]:
        ck = checkpoints.get(preset) or shipped_checkpoint(preset)
        # One folder per format: fp32 ONNX and fp32 TFLite would otherwise share one NAME.fp32.manifest.json.
        formats = suite["export"].get("formats", ["onnx", "tflite"])
        dirs = [exports_root / preset / f for f in formats]
        export_info: dict = {}
        names_notes: list[str] = []
        for fmt, d in zip(formats, dirs):
            if skip_export:
                export_info[fmt] = {"skipped": True}
            else:
                _say(f"export {preset} {fmt} from {ck} -> {d}")
                export_info[fmt] = export_preset(preset, ck, d, {**suite["export"], "format": fmt})
                if "error" in export_info[fmt]:
                    _say(f"export of {preset} {fmt} failed: {export_info[fmt]['error']}")
            if d.is_dir() and fmt == "onnx":
                names_notes += ensure_names_maps(d, ck)
        dirs = [d for d in dirs if d.is_dir() and any(d.glob("*.manifest.json"))]
        _say(f"bench {preset}")
        req = BenchRequest(paths=dirs or [ck], checkpoint=ck, warmup=b["warmup"], runs=b["runs"],
                           block=b["block"], modules=b.get("modules", False), parity=b.get("parity", False),
                           parity_clips=b.get("parity_clips"), peers=tuple(b.get("peers", ())) if peers is None else peers, peer_dir=exports_root / "peers",
                           profile_runs=b.get("profile_runs", 20), start_timeout_s=float(b.get("start_timeout_s", 1800)))
        report = run_bench(req, progress=lambda m: _say(m))
        report["extra"]["suite"] = {"definition": str(suite_path), "preset": preset, "checkpoint": str(ck),
                                    "peers": list(req.peers),
                                    "export": export_info, "names_maps": names_notes}
        problems = [f"{fmt} export: {i['error']}" for fmt, i in export_info.items() if "error" in i]
        problems += [f"{fmt} split sub-models not exported: {i['split_modules_error']}" for fmt, i in export_info.items()
                     if "split_modules_error" in i]
        if problems:
            report["incomplete"] = True
            report["incomplete_reason"] = "; ".join(filter(None, [report["incomplete_reason"], *problems]))
        files = write_report(report, out, prefix=f"host_{preset}")
        written += list(files.values())
    sc = suite.get("scaling")
    if sc and not skip_scaling:
        written += run_scaling(sc, out)
    return written


def run_scaling(sc: dict, out: Path) -> list[Path]:
    """The interaction-scaling study as its own small report."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from ..io_atomic import atomic_path
    from .machine import git_state, machine_info
    from .scaling import interaction_scaling

    res = interaction_scaling(sc["preset"], tuple(sc["sizes"]), warmup=sc.get("warmup", 1), runs=sc.get("runs", 3),
                              progress=_say)
    doc = {"created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "git": git_state(),
           "machine": machine_info("host", "native"), "interaction_scaling": res}
    out.mkdir(parents=True, exist_ok=True)
    jpath = out / "host_interaction_scaling.json"
    write_text_atomic(jpath, json.dumps(doc, indent=2, sort_keys=True, allow_nan=False))
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.5))
    px = [r["pixels"] for r in res["rows"]]
    sl = res["slopes"]
    for ax, key, unit in ((axes[0], "ms", "time per inference, ms"), (axes[1], "gflops", "GFLOPs per inference")):
        for who, label in (("ours", "ours: reciprocal encoder + fusion decoder"), ("dense", "dense cross-attention (TPAVI-style) + same decoder")):
            ys = [r[f"{who}_{key}"] for r in res["rows"]]
            slope = sl.get(f"{who}_{'time' if key == 'ms' else 'flops'}")
            ax.plot(px, ys, "o-", label=f"{label}: slope {slope:.2f}" if slope is not None else label)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("pixels H*W (224..896 px frames, log)")
        ax.set_ylabel(unit + " (log)")
        ax.legend(fontsize=7)
    fig.suptitle(f"Audio-visual interaction scaling, {res['preset']}, {doc['machine']['label']}", fontsize=9)
    ppath = out / "host_interaction_scaling.png"
    with atomic_path(ppath) as tmp:
        fig.savefig(tmp, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    lines = [f"# Interaction scaling: {res['preset']} on {doc['machine']['label']}", "",
             f"Dense baseline: {res['dense_design']}. Time: {res['statistic']}, {res['runs']} runs, {res['threads']} threads. "
             "Slopes are fitted on log(time or FLOPs) against log(H*W): 1 means linear, 2 quadratic.", "",
             "| frame | ours ms | ours GFLOPs | dense ms | dense GFLOPs | dense / ours time |", "|---|---|---|---|---|---|"]
    for r in res["rows"]:
        ratio = r["dense_ms"] / r["ours_ms"] if r["dense_ms"] and r["ours_ms"] else None
        lines.append(f"| {r['size']}x{r['size']} | {r['ours_ms']:.2f} | {r['ours_gflops']:.3f} | "
                     f"{r['dense_ms']:.2f} | {r['dense_gflops']:.3f} | {ratio:.1f}x |" if ratio else
                     f"| {r['size']}x{r['size']} | {r['ours_ms']} | {r['ours_gflops']:.3f} | {r['dense_ms']} | {r['dense_gflops']:.3f} | n/a |")
    lines += ["", "Fitted slopes: " + ", ".join(f"{k} {v:.2f}" for k, v in sl.items()), "",
              "![interaction scaling](host_interaction_scaling.png)", ""]
    mpath = out / "host_interaction_scaling.md"
    write_text_atomic(mpath, "\n".join(lines))
    return [jpath, mpath, ppath]


def main(argv: list[str] | None = None) -> int:
    """`make bench`: run the suite definition; --preset limits it, --checkpoint PRESET=PATH overrides a shipped one."""
    ap = argparse.ArgumentParser(prog="lavseg-bench-suite", description="Run the host benchmark suite.")
    ap.add_argument("suite", type=Path, nargs="?", default=Path("benchmarks/suite.json"),
                    help="suite file: presets, export formats, timing protocol, peers, scaling sizes, targets "
                         "(default: benchmarks/suite.json)")
    ap.add_argument("--out", type=Path, default=Path("benchmarks/results"),
                    help="where the JSON, Markdown and PNG results go (default: benchmarks/results)")
    ap.add_argument("--exports", type=Path, default=Path("exports/suite"),
                    help="where the suite's artifacts are exported to and read from (default: exports/suite)")
    ap.add_argument("--preset", action="append", default=None,
                    help="run only this preset of the suite; repeat for several (default: all the suite lists)")
    ap.add_argument("--checkpoint", action="append", default=[], metavar="PRESET=PATH",
                    help="use this checkpoint for PRESET instead of the shipped one; repeatable")
    ap.add_argument("--skip-export", action="store_true", help="benchmark what is already in --exports")
    ap.add_argument("--skip-scaling", action="store_true", help="do not run the interaction-scaling study")
    ap.add_argument("--peers", default=None, help="override the suite's peer list (comma separated; empty for none)")
    ap.add_argument("--scaling-only", action="store_true", help="run only the interaction-scaling study")
    args = ap.parse_args(argv)
    cks = {}
    for item in args.checkpoint:
        if "=" not in item:
            raise UserError(f"--checkpoint wants PRESET=PATH, got {item!r}")
        k, v = item.split("=", 1)
        cks[k] = Path(v)
    if args.scaling_only:
        files = run_scaling(load_suite(args.suite)["scaling"], args.out)
    else:
        peers = None if args.peers is None else tuple(p.strip() for p in args.peers.split(",") if p.strip())
        files = run_suite(args.suite, args.out, args.exports, cks, args.preset, args.skip_export, args.skip_scaling, peers)
    for f in files:
        print(f)
    return 0


if __name__ == "__main__":  # pragma: no cover
    from ..console import guard as _guard

    sys.exit(_guard(main, command="lavseg-bench-suite")(sys.argv[1:]))
