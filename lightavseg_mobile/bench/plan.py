"""What to benchmark: the request, its checks, and the targets (artifacts, split sub-models, baselines, peers)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ..artifact.manifest import MANIFEST_SUFFIX, Manifest, load_manifest
from ..errors import UserError
from ..runtime.registry import RUNTIMES, check_delegate
from ..runtime.timing import check_count
from .baseline import baseline_checkpoint
from .modules import MODULES

# From the runtime registry: a new runtime is one RuntimeSpec, not another table here.
RUNTIME_FORMAT = {name: spec.format for name, spec in RUNTIMES.items()}
FORMAT_RUNTIME = {v: k for k, v in RUNTIME_FORMAT.items()}
_ARTIFACT_SUFFIXES = (".onnx", ".tflite")
_CHECKPOINT_SUFFIXES = (".pt", ".pth")


@dataclass
class BenchRequest:
    """Everything lavseg-bench was asked to do on the host."""

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
    heldout: Path | None = None  # held-out clips for parity (default: the shipped set)
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
    """One thing to time: an artifact, a split sub-model, the torch baseline or a peer."""

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


def check_counts(warmup: int, runs: int, block: int, threads: int | None = None, delegate: str = "auto") -> None:
    """The protocol flags every runner shares, as one-line errors naming the flag."""
    for name, value, low in (("--runs", runs, 1), ("--warmup", warmup, 0), ("--block", block, 1)):
        check_count(name, value, low)
    if threads is not None and (isinstance(threads, bool) or not isinstance(threads, int) or threads < 1):
        raise UserError(f"--threads must be a positive integer, got {threads!r}")
    check_delegate(delegate)


def check_request(req: BenchRequest) -> None:
    """The host request's flags as one-line errors, before anything is loaded."""
    check_counts(req.warmup, req.runs, req.block, req.threads, req.delegate)
    check_count("--profile-runs", req.profile_runs, 1)
    if req.runtime != "auto" and req.runtime not in RUNTIME_FORMAT:
        raise UserError(f"unknown runtime {req.runtime!r}; choose one of: auto, {', '.join(RUNTIME_FORMAT)}")
    from .peers import PEERS

    for p in req.peers:
        if p not in PEERS:
            raise UserError(f"unknown peer {p!r}; choose from: {', '.join(PEERS)}")


def _folder_artifacts(folder: Path, runtime: str, want_modules: bool) -> list[tuple[Manifest, Path]]:
    """Published artifacts of a folder that the runtime runs (sub-models only with --modules)."""
    found = sorted(folder.glob(f"*{MANIFEST_SUFFIX}"))
    if not found:
        raise UserError(f"{folder} holds no *{MANIFEST_SUFFIX}; export artifacts there with lavseg-export")
    out = []
    for q in found:
        man, art = load_manifest(q, verify=True)
        if man.status != "published" or (runtime != "auto" and man.format != RUNTIME_FORMAT[runtime]):
            continue
        if man.module != "model" and not want_modules:
            continue
        out.append((man, art))
    return out


def expand(paths: list[Path], runtime: str, want_modules: bool) -> tuple[list[tuple[Manifest, Path]], list[Path]]:
    """(verified artifacts, torch checkpoints) named by the command line; directories give their manifests."""
    artifacts: list[tuple[Manifest, Path]] = []
    checkpoints: list[Path] = []
    for p in paths:
        if not p.exists():
            raise UserError(f"no such artifact, checkpoint or folder: {p}")
        if p.is_dir():
            artifacts += _folder_artifacts(p, runtime, want_modules)
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
    return _unique(artifacts), checkpoints


def _unique(artifacts: list[tuple[Manifest, Path]]) -> list[tuple[Manifest, Path]]:
    """Each artifact once, even if named twice."""
    seen: set[Path] = set()
    out = []
    for man, art in artifacts:
        if art.resolve() not in seen:
            seen.add(art.resolve())
            out.append((man, art))
    return out


def split_siblings(art: Path) -> list[tuple[Manifest, Path]]:
    """The --split-modules sub-models exported beside a whole-model artifact (same name + `.MODULE`)."""
    out = []
    for m in MODULES:
        sub = art.with_name(f"{art.stem}.{m}{art.suffix}")
        if sub.is_file():
            out.append(load_manifest(sub, verify=True))
    return out


def _presets(artifacts: list[tuple[Manifest, Path]], checkpoints: list[Path]) -> list[str]:
    """Presets named by the artifacts and checkpoints, in order of appearance."""
    from ..checkpoint import load_checkpoint

    names = [man.preset for man, _ in artifacts] + [load_checkpoint(ck).preset.name for ck in checkpoints]
    return list(dict.fromkeys(n for n in names if n))


def artifact_targets(artifacts: list[tuple[Manifest, Path]]) -> list[Target]:
    """One runtime target per artifact; split sub-models linked to their whole model's label."""
    targets = [Target(art.name, "runtime", art, man.format, man.precision, man.preset, man.module, man,
                      runtime=FORMAT_RUNTIME[man.format]) for man, art in artifacts]
    by_path = {t.path.resolve(): t for t in targets}
    for t in targets:
        if t.module != "model":
            whole = t.path.with_name(t.path.name.replace(f".{t.module}{t.path.suffix}", t.path.suffix))
            w = by_path.get(whole.resolve())
            t.whole = w.label if w is not None else None
    return targets


def _peer_targets(req: BenchRequest, baselines: dict[str, Path], incomplete: list[str]) -> list[Target]:
    """torch.compile and ExecuTorch peers of every preset with a baseline; a peer that cannot be built is a reason."""
    out = []
    for peer in req.peers:
        for preset, ck in baselines.items():
            if peer == "torch-compile":
                out.append(Target(f"{preset}.torch-compile", "torch-compile", ck, "torch.compile", "fp32", preset,
                                  runtime="torch", peer=True))
                continue
            from .peers import executorch_version, export_executorch_subprocess

            precision = peer.split("-")[1]
            if executorch_version() is None:
                incomplete.append(f"peer {peer} skipped: executorch is not installed")
                continue
            try:
                pte = export_executorch_subprocess(ck, req.peer_dir, precision)
            except Exception as exc:  # a peer's converter failing is a finding, not a reason to lose our numbers
                first = str(exc).splitlines()[0][:200] if str(exc) else ""
                incomplete.append(f"peer {peer} for {preset} not built: {type(exc).__name__}: {first}")
                continue
            out.append(Target(f"{preset}.{peer}", "executorch", pte, "pte", precision, preset, runtime="executorch", peer=True))
    return out


def plan(req: BenchRequest) -> tuple[list[Target], list[str]]:
    """The targets to time and the reasons the report will be incomplete."""
    check_request(req)
    paths = list(req.paths)
    if not paths:
        if not req.exports_dir.is_dir():
            raise UserError(f"no artifact given and {req.exports_dir}/ does not exist; run lavseg-export first or name artifacts")
        paths = [req.exports_dir]
    artifacts, checkpoints = expand(paths, req.runtime, req.modules)
    if req.modules:
        artifacts = _unique(artifacts + [s for man, art in artifacts if man.module == "model" for s in split_siblings(art)])
    incomplete: list[str] = []
    targets: list[Target] = []
    baselines: dict[str, Path] = {}
    if req.baseline or req.runtime == "torch" or req.peers:
        manifests = [m for m, _ in artifacts]
        for preset in _presets(artifacts, checkpoints):
            ck = baseline_checkpoint(preset, manifests, checkpoints, req.checkpoint)
            if ck is None:
                incomplete.append(f"no torch fp32 checkpoint found for preset {preset} (pass --checkpoint): no baseline, no ratios")
                continue
            baselines[preset] = ck
            if req.runtime in ("auto", "torch"):
                targets.append(Target(f"{preset}.torch-fp32-eager", "torch", ck, "torch", "fp32", preset, runtime="torch",
                                      meta={"baseline": True}))
    if req.runtime != "torch":
        targets += artifact_targets(artifacts)
    targets += _peer_targets(req, baselines, incomplete)
    if not targets:
        raise UserError("nothing to benchmark: no artifact matches --runtime and no baseline checkpoint was found")
    return targets, incomplete


def check_inputs_npz(inputs_npz: Path | None, targets: list[Target]) -> None:
    """A user-supplied input file must match every whole model's inputs: fail before starting any worker."""
    if inputs_npz is None:
        return
    import numpy as np

    from ..artifact import tensors

    if not inputs_npz.is_file():
        raise UserError(f"--inputs {inputs_npz} does not exist; pass an .npz of float32 arrays named like the model inputs")
    with np.load(inputs_npz) as z:
        given = {k: z[k] for k in z.files}
    for t in targets:
        if t.manifest is not None and t.module == "model":
            tensors.validate_inputs(t.manifest.inputs, given)
