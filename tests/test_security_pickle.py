"""Log-mel pickles are untrusted downloads: hostile ones are refused without running anything, real ones load."""

from __future__ import annotations

import io
import os
import pickle
import subprocess
from pathlib import Path

import numpy as np
import pytest
import torch

from lightavseg_mobile.data import avsbench
from lightavseg_mobile.data.avsbench import read_logmel_pkl
from lightavseg_mobile.errors import DataError

SHIPPED = sorted((Path(avsbench.__file__).parents[1] / "assets" / "heldout" / "audio_log_mel").rglob("*.pkl"))


def _call(module: str, name: str, *args: object) -> bytes:
    """A protocol-3 pickle of module.name(*args), written by hand so the callee need not be importable here."""
    body = pickle.dumps(args, protocol=3)[2:-1]  # the argument tuple without PROTO and STOP (protocol 3: raw bytes)
    return b"\x80\x03c" + f"{module}\n{name}\n".encode() + body + b"R."


def _refused(path: Path, data: bytes) -> str:
    path.write_bytes(data)
    with pytest.raises(DataError, match="not a readable log-mel pickle") as info:
        read_logmel_pkl(path)
    message = str(info.value)
    assert "\n" not in message
    return message


def _write_marker_py(marker: Path) -> str:
    return f"open({str(marker)!r}, 'w').write('ran')"


def _shell_touch(marker: Path) -> str:
    return f"touch {marker}"


class _Reduce:
    """Pickles as func(*args): how an attacker builds a gadget pickle."""

    def __init__(self, func: object, *args: object) -> None:
        self.func, self.args = func, args

    def __reduce__(self) -> tuple[object, tuple[object, ...]]:
        return self.func, self.args


def _gadgets(tmp: Path, marker: Path) -> dict[str, bytes]:
    hub = tmp / "hub"
    hub.mkdir()
    (hub / "hubconf.py").write_text(_write_marker_py(marker) + "\n")
    nested = io.BytesIO()
    # What torch.storage._load_from_bytes would hand to torch.load(weights_only=False).
    torch.save(_Reduce(os.system, _shell_touch(marker)), nested, _use_new_zipfile_serialization=False)
    return {
        "os.system": pickle.dumps(_Reduce(os.system, _shell_touch(marker))),
        "subprocess.check_call": pickle.dumps(_Reduce(subprocess.check_call, ["sh", "-c", _shell_touch(marker)])),
        "builtins.eval": _call("builtins", "eval", _write_marker_py(marker)),
        "builtins.exec": _call("builtins", "exec", _write_marker_py(marker)),
        # numpy's exec() helper: the reported exploit under the old "any numpy module" rule.
        "numpy.testing runstring": _call("numpy.testing._private.utils", "runstring", _write_marker_py(marker), {}),
        "numpy.f2py diagnose": _call("numpy.f2py.diagnose", "run"),
        "numpy.distutils exec_command": _call("numpy.distutils.exec_command", "exec_command", _shell_touch(marker)),
        "torch.storage._load_from_bytes nested": _call("torch.storage", "_load_from_bytes", nested.getvalue()),
        "torch.load": _call("torch", "load", str(tmp / "evil.pt")),
        "torch.serialization.load": _call("torch.serialization", "load", str(tmp / "evil.pt")),
        "torch.hub._load_local": _call("torch.hub", "_load_local", str(hub), "model"),
        "torch.hub.load_state_dict_from_url": _call("torch.hub", "load_state_dict_from_url", "http://127.0.0.1:9/x.pt"),
        "torch.utils.collect_env.run": _call("torch.utils.collect_env", "run", _shell_touch(marker)),
        "torch.utils.cpp_extension.load_inline": _call("torch.utils.cpp_extension", "load_inline", "x", ""),
    }


GADGETS = [
    "os.system", "subprocess.check_call", "builtins.eval", "builtins.exec", "numpy.testing runstring",
    "numpy.f2py diagnose", "numpy.distutils exec_command", "torch.storage._load_from_bytes nested", "torch.load",
    "torch.serialization.load", "torch.hub._load_local", "torch.hub.load_state_dict_from_url",
    "torch.utils.collect_env.run", "torch.utils.cpp_extension.load_inline",
]


@pytest.mark.parametrize("gadget", GADGETS)
def test_gadget_pickles_are_refused_and_run_nothing(tmp_path: Path, gadget: str) -> None:
    marker = tmp_path / "marker"
    data = _gadgets(tmp_path, marker)[gadget]
    _refused(tmp_path / "evil.pkl", data)
    assert not marker.exists(), f"{gadget} ran"


def test_torch_storage_form_loads_nested_bytes_weights_only(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # A hostile nested storage pickle must be refused by torch's weights-only loader, never torch.load(weights_only=False).
    calls: list[object] = []
    real_load = torch.load

    def spy(*args: object, **kwargs: object) -> object:
        calls.append(kwargs.get("weights_only"))
        return real_load(*args, **kwargs)

    monkeypatch.setattr(torch, "load", spy)
    path = tmp_path / "t.pkl"
    path.write_bytes(pickle.dumps(torch.randn(5, 1, 96, 64)))
    read_logmel_pkl(path)
    assert calls == [True]


def test_vm_refuses_opcodes_a_tensor_never_needs(tmp_path: Path) -> None:
    fn = avsbench._CALLABLES[("torch._utils", "_rebuild_tensor_v2")]
    before = fn.__defaults__
    # BUILD with slot state on an allowed function would set its attributes for the rest of the process.
    build_on_function = b"\x80\x02ctorch._utils\n_rebuild_tensor_v2\nN}X\x0c\x00\x00\x00__defaults__)s\x86b."
    assert "restoring the state" in _refused(tmp_path / "a.pkl", build_on_function)
    assert fn.__defaults__ == before
    # NEWOBJ would call cls.__new__ on an allowed class.
    assert "opcode" in _refused(tmp_path / "b.pkl", b"\x80\x02ccollections\nOrderedDict\n)\x81.")
    # An allowed global that is a value only (numpy.ndarray) is not callable.
    assert "calling" in _refused(tmp_path / "c.pkl", _call("numpy", "ndarray", (5, 1, 96, 64)))
    # Item assignment on something that is not a plain container.
    assert "adding items" in _refused(tmp_path / "d.pkl", b"\x80\x02cnumpy\nndarray\nK\x01K\x02s.")


def test_object_and_structured_arrays_are_refused(tmp_path: Path) -> None:
    obj = np.empty((5, 1, 96, 64), dtype=object)
    obj[...] = 0.0
    assert "dtype" in _refused(tmp_path / "o.pkl", pickle.dumps(obj))
    rec = np.zeros((5, 1, 96, 64), dtype=[("a", "f4")])
    assert "dtype" in _refused(tmp_path / "r.pkl", pickle.dumps(rec))


def test_tensor_with_backward_hooks_is_refused(tmp_path: Path) -> None:
    t = torch.randn(5, 1, 96, 64)
    data = pickle.dumps(t)
    # Hooks are never serialised for real; a pickle that carries some is hand-made.
    hooked = data.replace(b"collections\x94\x8c\x0bOrderedDict\x94\x93\x94)R\x94",
                          b"collections\x94\x8c\x0bOrderedDict\x94\x93\x94)R\x94K\x01K\x02s")
    assert hooked != data
    assert "_rebuild_tensor_v2" in _refused(tmp_path / "h.pkl", hooked)


def test_non_tensor_payloads_are_refused(tmp_path: Path) -> None:
    assert "list" in _refused(tmp_path / "l.pkl", pickle.dumps([[0.0] * 64] * 96))


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.name)
def test_shipped_pickles_load_with_identical_values(path: Path) -> None:
    with open(path, "rb") as f:
        want = pickle.load(f).numpy()[:, 0]  # our own files: trusted, so the unrestricted loader is the reference
    got = read_logmel_pkl(path)
    assert got.dtype == np.float32
    np.testing.assert_array_equal(got, want)


def test_shipped_pickles_exist() -> None:
    assert len(SHIPPED) >= 8


def _legit() -> dict[str, object]:
    g = torch.Generator().manual_seed(0)
    t = torch.randn(5, 1, 96, 64, generator=g)
    return {
        "tensor": t,
        "tensor_fp16": t.half(),
        "tensor_fp64": t.double(),
        "tensor_noncontiguous": torch.randn(5, 1, 64, 96, generator=g).transpose(2, 3),
        "numpy_f32": t.numpy().copy(),
        "numpy_f64": t.numpy().astype(np.float64),
        "numpy_fortran": np.asfortranarray(t.numpy()),
        "numpy_noncontiguous": np.random.default_rng(0).standard_normal((64, 5, 96, 1), dtype=np.float32).transpose(1, 3, 2, 0),
    }


@pytest.mark.parametrize("protocol", range(0, pickle.HIGHEST_PROTOCOL + 1))
@pytest.mark.parametrize("kind", list(_legit()))
def test_fresh_tensor_and_array_pickles_load(tmp_path: Path, kind: str, protocol: int) -> None:
    obj = _legit()[kind]
    path = tmp_path / "x.pkl"
    path.write_bytes(pickle.dumps(obj, protocol=protocol))
    want = (obj.float().numpy() if isinstance(obj, torch.Tensor) else np.asarray(obj, dtype=np.float32))[:, 0]
    np.testing.assert_array_equal(read_logmel_pkl(path), want)


def test_numpy1_module_names_load(tmp_path: Path) -> None:
    # numpy 1.x wrote numpy.core.multiarray; AVSBench-era pickles of arrays carry that name.
    arr = np.random.default_rng(1).standard_normal((5, 1, 96, 64), dtype=np.float32)
    data = pickle.dumps(arr, protocol=2)
    assert b"numpy._core.multiarray" in data
    path = tmp_path / "old.pkl"
    path.write_bytes(data.replace(b"numpy._core.multiarray", b"numpy.core.multiarray"))
    np.testing.assert_array_equal(read_logmel_pkl(path), arr[:, 0])
