"""Property-based fuzzing of every parser of outside data: for any input each one returns a valid object or raises its
one-line error type (UserError subclasses, BenchmarkOutputError for benchmark_model text), never another exception,
never hangs, never writes a file (inside or outside its folder).

CI runs a bounded, derandomized budget (profile "ci", the default); `make fuzz` runs HYPOTHESIS_PROFILE=long.
Inputs are mutations of a valid sample (truncate, flip, insert, splice) or raw random bytes/text.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import pickle
import signal
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from lightavseg_mobile.artifact.manifest import (Manifest, ManifestError, Quantization, TensorSpec, artifact_sha256,
                                                 load_manifest, manifest_path)
from lightavseg_mobile.audio import logmel_numpy
from lightavseg_mobile.bench.runners.adb_python import load_outputs_npy, read_result
from lightavseg_mobile.checkpoint import FORMAT, Checkpoint, load_checkpoint
from lightavseg_mobile.data import avsbench
from lightavseg_mobile.device import benchmark_model as bm
from lightavseg_mobile.device.errors import DeviceError
from lightavseg_mobile.errors import CheckpointError, DataError, UserError
from lightavseg_mobile.export.recipes import Recipe, RecipeError, load_recipe

REPO = Path(__file__).resolve().parents[1]
FIXTURES = REPO / "tests" / "fixtures" / "benchmark_model"
RECIPES = REPO / "lightavseg_mobile" / "assets" / "recipes"
HANG_S = 20.0  # wall-clock limit of one example: a parser stuck in a loop fails the test instead of stalling CI

# Examples per parser: CI (derandomized: the same inputs every run) and the long run (`make fuzz`).
BUDGET = {"ci": 40, "long": 2000}
settings.register_profile("ci", max_examples=BUDGET["ci"], derandomize=True, deadline=5000, print_blob=True,
                          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
settings.register_profile("long", max_examples=BUDGET["long"], deadline=10000, print_blob=True,
                          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


# ---------------------------------------------------------------- harness

class Hang(Exception):
    """Raised by the alarm when one example runs past HANG_S."""


@contextlib.contextmanager
def sandbox() -> Iterator[Path]:
    """A fresh folder for one example; afterwards nothing new may exist next to it, in it (beyond its input) or in
    the working directory, and the example must have finished within HANG_S."""
    with tempfile.TemporaryDirectory(prefix="lavseg-fuzz-") as root:
        work = Path(root) / "in"
        work.mkdir()
        cwd_before = set(os.listdir("."))

        def alarm(signum, frame):  # noqa: ANN001 - signal API
            raise Hang(f"parser still running after {HANG_S:g} s")

        old = signal.signal(signal.SIGALRM, alarm)
        signal.setitimer(signal.ITIMER_REAL, HANG_S)
        try:
            yield work
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, old)
        assert os.listdir(root) == ["in"], f"written outside the input folder: {os.listdir(root)}"
        assert set(os.listdir(".")) == cwd_before, "written into the working directory"


def snapshot(folder: Path) -> dict[str, int]:
    """Names and sizes of every file under `folder`."""
    return {str(p.relative_to(folder)): p.stat().st_size for p in folder.rglob("*") if p.is_file()}


def check(parse: Callable[[], object], errors: tuple[type[BaseException], ...], valid: Callable[[object], bool],
          folder: Path) -> None:
    """`parse()` returns something `valid` or raises one of `errors` with a one-line message; writes nothing."""
    before = snapshot(folder)
    try:
        result = parse()
    except errors as exc:
        message = str(exc)
        assert message and "\n" not in message, f"{type(exc).__name__} message is not one line: {message!r}"
    else:
        assert valid(result), f"returned an invalid object: {type(result).__name__}"
    assert snapshot(folder) == before, "the parser wrote or changed files in its folder"


@st.composite
def mutated(draw: st.DrawFn, seed: bytes) -> bytes:
    """`seed` with a few random edits: truncation, byte flips, insertions, a duplicated or removed slice."""
    data = bytearray(seed)
    for _ in range(draw(st.integers(0, 4))):
        op = draw(st.sampled_from(["truncate", "flip", "insert", "splice", "delete"]))
        at = draw(st.integers(0, max(0, len(data))))
        if op == "truncate":
            del data[at:]
        elif op == "flip" and data:
            i = min(at, len(data) - 1)
            data[i] ^= draw(st.integers(1, 255))
        elif op == "insert":
            data[at:at] = draw(st.binary(max_size=16))
        elif op == "splice" and data:
            n = draw(st.integers(1, 64))
            data[at:at] = data[at:at + n]
        elif op == "delete":
            del data[at:at + draw(st.integers(1, 64))]
    return bytes(data)


def inputs(seed: bytes) -> st.SearchStrategy[bytes]:
    """Mostly mutations of a valid sample (deep paths), sometimes raw random bytes (shallow ones)."""
    return st.one_of(mutated(seed), mutated(seed), st.binary(max_size=512))


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-2**70, 2**70) | st.floats(allow_nan=True) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4),
    max_leaves=12)


@st.composite
def json_edits(draw: st.DrawFn, doc: dict) -> bytes:
    """A valid JSON document with one to three fields replaced by random JSON values, deleted or added (nested too)."""
    doc = json.loads(json.dumps(doc))
    for _ in range(draw(st.integers(1, 3))):
        target = doc
        while isinstance(target, dict) and target and draw(st.booleans()):
            key = draw(st.sampled_from(sorted(target)))
            if not isinstance(target[key], (dict, list)):
                break
            nxt = target[key]
            if isinstance(nxt, list):
                if not nxt or not isinstance(nxt[0], dict):
                    break
                nxt = nxt[draw(st.integers(0, len(nxt) - 1))]
            target = nxt
        if not isinstance(target, dict):
            continue
        op = draw(st.sampled_from(["replace", "delete", "add"]))
        if op == "add" or not target:
            target[draw(st.text(max_size=10))] = draw(json_values)
        elif op == "delete":
            del target[draw(st.sampled_from(sorted(target)))]
        else:
            target[draw(st.sampled_from(sorted(target)))] = draw(json_values)
    return json.dumps(doc).encode()


def json_inputs(doc: dict) -> st.SearchStrategy[bytes]:
    return st.one_of(json_edits(doc), json_edits(doc), mutated(json.dumps(doc, indent=1).encode()),
                     st.binary(max_size=256))


# ---------------------------------------------------------------- samples

def _manifest_sample(folder: Path) -> tuple[bytes, bytes]:
    data = b"model bytes " * 16
    art = folder / "model.tflite"
    art.write_bytes(data)
    man = Manifest(
        artifact_file="model.tflite", artifact_sha256=artifact_sha256(art), artifact_size=len(data), format="tflite",
        precision="int8", preset="lightavseg-tiny", module="model",
        inputs=[TensorSpec("frame", [1, 3, 32, 32], "int8", "NCHW", Quantization(0.02, -3), "args_0"),
                TensorSpec("logmel", [1, 1, 96, 64], "float32", "-", None, "args_1")],
        outputs=[TensorSpec("mask_logits", [1, 1, 32, 32], "float32", "NCHW")],
        preprocessing={"image_size": 32}, recipe={"name": "r"}, tools={"torch": "2.13"})
    return man.to_json().encode(), data


with tempfile.TemporaryDirectory() as _d:
    MANIFEST_JSON, ARTIFACT_BYTES = _manifest_sample(Path(_d))
MANIFEST_DOC = json.loads(MANIFEST_JSON)
RECIPE_DOC = json.loads((RECIPES / "onnx-ort-w8a8-minmax-keep-seg_head.json").read_text())


def _checkpoint_bytes(payload: object) -> bytes:
    buf = io.BytesIO()
    torch.save(payload, buf)
    return buf.getvalue()


CKPT_SEED = _checkpoint_bytes({"format": FORMAT, "format_version": 1, "package_version": "0", "preset": "lightavseg-tiny",
                               "preset_config": {}, "state_dict": {"w": torch.zeros(2)}, "state_dict_sha256": "0",
                               "meta": {}})
PKL_SEED = pickle.dumps(torch.zeros(2, 1, 96, 64) + 0.5, protocol=2)


def _npy_bytes(array: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, array)
    return buf.getvalue()


NPY_SEED = _npy_bytes(np.arange(24, dtype=np.float32).reshape(2, 3, 4))


def _wav_bytes() -> bytes:
    import soundfile

    buf = io.BytesIO()
    soundfile.write(buf, (np.sin(np.arange(800) / 9) * 0.3).astype(np.float32), 16000, format="WAV", subtype="PCM_16")
    return buf.getvalue()


WAV_SEED = _wav_bytes()
CSV_SEED = {"ms3": b"video_id,fid,split\nabc,1,train\ndef,2,test\n",
            "s4": b"name,category,split\nabc,dog,train\ndef,cat,test\n"}
RESULT_SEED = {"phase": "done", "complete": True, "errors": [], "libraries": {"numpy": "2.4.6"}, "imports": {},
               "artifacts": {"a": {"samples_ms": [1.0, 2.0], "cold_start_ms": 3.0, "peak_rss_mb": 40.0,
                                   "outputs": "outputs/a.npy", "runtime": {"name": "onnxruntime"},
                                   "delegate": {"used": "cpu"}}}}
BM_LOG_SEED = (FIXTURES / "xnnpack_full.log").read_text(encoding="utf-8", errors="replace")
BM_CSV_SEED = (FIXTURES / "op_profile.csv").read_text(encoding="utf-8", errors="replace")


def _is_array(x: object) -> bool:
    return isinstance(x, np.ndarray)


# ---------------------------------------------------------------- one property per parser

@settings(suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(manifest=json_inputs(MANIFEST_DOC), artifact=st.sampled_from([ARTIFACT_BYTES, b"", b"other"]))
def test_fuzz_manifest(manifest: bytes, artifact: bytes) -> None:
    with sandbox() as d:
        art = d / "model.tflite"
        art.write_bytes(artifact)
        manifest_path(art).write_bytes(manifest)
        check(lambda: load_manifest(art, verify=True), (ManifestError,),
              lambda r: isinstance(r[0], Manifest) and r[1].parent == d, d)


@given(data=json_inputs(RECIPE_DOC))
def test_fuzz_recipe(data: bytes) -> None:
    with sandbox() as d:
        path = d / "recipe.json"
        path.write_bytes(data)
        check(lambda: load_recipe(str(path)), (RecipeError,), lambda r: isinstance(r, Recipe), d)


@given(data=inputs(CKPT_SEED) | st.builds(_checkpoint_bytes, st.dictionaries(
    st.sampled_from(["format", "format_version", "preset", "preset_config", "state_dict", "state_dict_sha256",
                     "meta", "optimizer"]), json_values, max_size=8)))
@example(data=CKPT_SEED.replace(b"lightavseg-tiny", b"mightavseg-tiny"))  # found by the long run: unknown preset
def test_fuzz_checkpoint(data: bytes) -> None:
    with sandbox() as d:
        path = d / "x.pt"
        path.write_bytes(data)
        check(lambda: load_checkpoint(path), (CheckpointError,), lambda r: isinstance(r, Checkpoint), d)


@given(data=inputs(PKL_SEED))
def test_fuzz_logmel_pickle(data: bytes) -> None:
    with sandbox() as d:
        path = d / "x.pkl"
        path.write_bytes(data)
        check(lambda: avsbench.read_logmel_pkl(path), (DataError,),
              lambda r: _is_array(r) and r.dtype == np.float32 and r.shape[1:] == (96, 64), d)


@given(data=inputs(NPY_SEED))
@example(data=NPY_SEED.replace(b"(2, 3, 4)", b"(2, 3, 4("))  # found by the long run: tokenize.TokenError
def test_fuzz_device_outputs_npy(data: bytes) -> None:
    with sandbox() as d:
        path = d / "out.npy"
        path.write_bytes(data)
        check(lambda: load_outputs_npy(path), (DeviceError,), lambda r: _is_array(r) and r.dtype == np.float32, d)


@given(data=inputs(WAV_SEED), reader=st.sampled_from(["logmel_numpy", "avsbench"]))
def test_fuzz_wav(data: bytes, reader: str) -> None:
    read = logmel_numpy.read_wav if reader == "logmel_numpy" else avsbench.read_wav
    with sandbox() as d:
        path = d / "x.wav"
        path.write_bytes(data)
        check(lambda: read(path), (DataError,),
              lambda r: _is_array(r[0]) and isinstance(r[1], int), d)


# Found by this fuzzer: read_meta let UnicodeDecodeError escape on a non-UTF-8 csv (now a DataError).
@given(subset=st.sampled_from(["ms3", "s4"]), data=st.data())
def test_fuzz_avsbench_meta_csv(subset: str, data: st.DataObject) -> None:
    raw = data.draw(inputs(CSV_SEED[subset]) | st.text(max_size=200).map(str.encode))
    with sandbox() as d:
        path = d / f"{subset}_meta_data.csv"
        path.write_bytes(raw)
        check(lambda: avsbench.read_meta(path, subset), (DataError,),
              lambda r: isinstance(r, list) and all(isinstance(v, avsbench.VideoRecord) for v in r), d)


@given(text=inputs(BM_LOG_SEED.encode()).map(lambda b: b.decode("utf-8", "replace")))
def test_fuzz_benchmark_model_log(text: str) -> None:
    with sandbox() as d:
        check(lambda: bm.parse_log(text), (bm.BenchmarkOutputError,), lambda r: isinstance(r, dict), d)


# Found by this fuzzer: the "Summary by node type" rows converted numbers outside the try that maps ValueError to
# BenchmarkOutputError (now inside it).
@given(text=inputs(BM_CSV_SEED.encode()).map(lambda b: b.decode("utf-8", "replace")))
def test_fuzz_benchmark_model_op_profile_csv(text: str) -> None:
    with sandbox() as d:
        check(lambda: bm.parse_op_profile_csv(text), (bm.BenchmarkOutputError,), lambda r: isinstance(r, dict), d)


@given(data=json_inputs(RESULT_SEED))
def test_fuzz_device_result_json(data: bytes) -> None:
    with sandbox() as d:
        check(lambda: read_result(data), (DeviceError,), lambda r: isinstance(r, dict), d)


def test_error_types_are_one_line_user_errors() -> None:
    """Every error type the fuzz tests accept is a UserError (or benchmark_model's documented ValueError)."""
    for kind in (ManifestError, RecipeError, CheckpointError, DataError, DeviceError):
        assert issubclass(kind, UserError)
    assert issubclass(bm.BenchmarkOutputError, ValueError)


def test_budget_profiles_exist() -> None:
    assert settings.get_profile("ci").max_examples == BUDGET["ci"]
    assert settings.get_profile("ci").derandomize is True
    assert settings.get_profile("long").max_examples == BUDGET["long"]


pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")
