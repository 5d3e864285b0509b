"""numpy and the runtimes pushed as aarch64 wheels (device/wheels.py): host cache, digest, pip command, device cache.

The emulated device's root has the same wheels preinstalled; the runner starts with `python3 -S`, so its
own site-packages are out of reach and the reported import paths prove the pushed copies were used.
Under qemu the first import byte-compiles (numpy about 16 s): the device runs here are kept few.
"""

from __future__ import annotations

import subprocess
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import EMULATED_SERIAL as SERIAL
from conftest import IN_CI, emulated_device_up
from test_device_bench_emulated import _make_model, _opts

from lightavseg_mobile.bench import device_bench as bd
from lightavseg_mobile.device import adb
from lightavseg_mobile.device import runner_bundle as rb
from lightavseg_mobile.device import wheel_set as ws
from lightavseg_mobile.device import wheels as wh
from lightavseg_mobile.device.errors import DeviceError
from lightavseg_mobile.errors import UserError
from tools.arm64_device import recipe as rc

PINS = dict(pin.split("==") for pin in ws.DEVICE_WHEELS)


def _fake_wheel(folder: Path, name: str, body: str = "x = 1\n") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr(name.split("-")[0] + "/__init__.py", body)
    return path


# --- host side, no network ------------------------------------------------------------------------

def test_digest_covers_names_and_contents_not_order(tmp_path: Path) -> None:
    a = _fake_wheel(tmp_path / "w", "aa-1.0-py3-none-any.whl")
    b = _fake_wheel(tmp_path / "w", "bb-2.0-py3-none-any.whl")
    house = wh.wheelhouse("3.13", [a, b])
    assert house.digest == wh.wheelhouse("3.13", [b, a]).digest and len(house.digest) == 24
    assert [f.rel for f in house.files] == ["wheels/aa-1.0-py3-none-any.whl", "wheels/bb-2.0-py3-none-any.whl"]
    assert house.device_dir == f"{rb.CACHE_DIR}/site-{house.digest}" and house.unpacked_size == 2 * len("x = 1\n")
    changed = _fake_wheel(tmp_path / "v", "bb-2.0-py3-none-any.whl", "x = 2\n")
    renamed = _fake_wheel(tmp_path / "u", "bb-2.1-py3-none-any.whl")
    others = {wh.wheelhouse("3.13", [a, changed]).digest, wh.wheelhouse("3.13", [a, renamed]).digest}
    assert len({house.digest, *others}) == 3
    odd = tmp_path / "w" / "cc-1.0-py3-none-any.whl"
    with zipfile.ZipFile(odd, "w") as zf:
        zf.writestr("cc-1.0.data/purelib/cc.py", "")
    with pytest.raises(DeviceError, match="cannot be unpacked"):
        wh.wheelhouse("3.13", [odd])


def test_pip_command_targets_the_device_python_and_is_shared_with_the_root_build(tmp_path: Path) -> None:
    cmd = wh.download_command("3.12", tmp_path / "d")
    at = cmd.index("download")
    assert cmd[1:at] == ["-m", "pip", "--disable-pip-version-check"]
    args = cmd[at + 1:]
    assert args[:3] == ["-q", "--no-deps", "--only-binary=:all:"]
    assert args[args.index("--implementation") + 1] == "cp" and args[args.index("--python-version") + 1] == "3.12"
    assert [args[i + 1] for i, a in enumerate(args) if a == "--platform"] == list(ws.WHEEL_PLATFORMS)
    assert args[args.index("-d") + 1] == str(tmp_path / "d") and args[-len(ws.DEVICE_WHEELS):] == list(ws.DEVICE_WHEELS)
    assert ws.pip_target_args("3.12") == args[2:args.index("-d")]  # one definition, also used by rootfs.py
    # The emulated root (tools/arm64_device) installs the package's wheel set itself, not a copy of it.
    assert rc.pip_target_args is ws.pip_target_args
    assert rc.Recipe().wheels is ws.DEVICE_WHEELS and rc.Recipe().platforms is ws.WHEEL_PLATFORMS
    assert wh.host_cache("3.12", tmp_path) == tmp_path / "device-wheels" / "cp312-aarch64"


def test_cached_wheels_need_no_pip_and_missing_ones_name_the_command(tmp_path: Path, monkeypatch) -> None:
    dest = wh.host_cache("3.13", tmp_path)
    for pin in ws.DEVICE_WHEELS:
        name, version = pin.split("==")
        dist = name.replace(".", "_").replace("-", "_")
        _fake_wheel(dest, f"{dist}-{version}-cp313-cp313-manylinux_2_28_aarch64.whl")
    _fake_wheel(dest, "numpy-2.0.0-cp313-cp313-manylinux_2_28_aarch64.whl")  # an older pin: ignored
    # The cache is trusted by content only: a lock naming these (fake) wheels' sha256s.
    lock = {w.name: wh.artifact_sha256(w) for w in dest.glob("*.whl") if "2.0.0" not in w.name}
    monkeypatch.setattr(wh.subprocess, "run", lambda *a, **k: pytest.fail("pip must not run when the cache is full"))
    house = wh.fetch("3.13", tmp_path, lock=lock)
    assert len(house.files) == len(ws.DEVICE_WHEELS) and not any("2.0.0" in f.rel for f in house.files)

    offline = subprocess.CompletedProcess([], 1, "", "ERROR: Could not find a version that satisfies the requirement "
                                          "numpy==2.4.6 (network is unreachable)\n")
    monkeypatch.setattr(wh.subprocess, "run", lambda *a, **k: offline)
    with pytest.raises(DeviceError) as err:
        wh.fetch("3.12", tmp_path)
    msg = str(err.value)
    assert "\n" not in msg and "network is unreachable" in msg and str(wh.host_cache("3.12", tmp_path)) in msg
    assert "pip --disable-pip-version-check download" in msg and "--python-version 3.12" in msg


def test_tampered_cached_wheel_is_not_trusted_by_its_name(tmp_path: Path, monkeypatch) -> None:
    """A cached wheel with a locked file name but other content is deleted and fetched again with --require-hashes."""
    lock = ws.locked_wheels("3.13")
    assert lock is not None and len(lock) == len(ws.DEVICE_WHEELS)
    dest = wh.host_cache("3.13", tmp_path)
    numpy_name = next(n for n in lock if n.startswith("numpy-"))
    evil = _fake_wheel(dest, numpy_name, "import os; os.system('id')\n")  # right name, attacker's content
    calls: list[list[str]] = []

    def pip(cmd, **kwargs):  # noqa: ANN001, ANN003 - subprocess.run's signature
        calls.append(cmd)
        assert not evil.exists(), "the tampered wheel must be gone before pip runs"
        _fake_wheel(dest, numpy_name, "still wrong\n")  # a mirror serving bad bytes is refused too
        return subprocess.CompletedProcess(cmd, 1, "", "ERROR: THESE PACKAGES DO NOT MATCH THE HASHES\n")

    monkeypatch.setattr(wh.subprocess, "run", pip)
    with pytest.raises(DeviceError) as err:
        wh.fetch("3.13", tmp_path)
    assert "\n" not in str(err.value) and "locked sha256" in str(err.value) and "numpy==2.4.6" in str(err.value)
    cmd = calls[0]
    assert "--require-hashes" in cmd and cmd[cmd.index("-r") + 1].endswith(".lock-3.13.txt")
    requirements = Path(cmd[cmd.index("-r") + 1]).read_text()
    assert f"numpy==2.4.6 --hash=sha256:{lock[numpy_name]}" in requirements
    assert all(f"{pin} --hash=sha256:" in requirements for pin in ws.DEVICE_WHEELS)
    assert not (dest / numpy_name).exists()  # the second bad copy is deleted as well


def test_every_locked_python_covers_every_pin() -> None:
    for python, lock in ws.DEVICE_WHEEL_SHA256.items():
        assert all(any(wh._matches(w, *pin.split("==")) for w in lock) for pin in ws.DEVICE_WHEELS), python
        assert all(len(h) == 64 and int(h, 16) >= 0 for h in lock.values())
    assert {"3.11", "3.13"} <= set(ws.DEVICE_WHEEL_SHA256)
    with pytest.raises(DeviceError, match="no hash lock"):
        wh.fetch("3.9", Path("/nonexistent"))


def test_glibc_tags_and_runner_command() -> None:
    assert wh.glibc_needed("numpy-2.4.6-cp313-cp313-manylinux_2_27_aarch64.manylinux_2_28_aarch64.whl") == (2, 27)
    assert wh.glibc_needed("protobuf-7.36.2-cp310-abi3-manylinux2014_aarch64.whl") == (2, 17)
    assert wh.glibc_needed("tqdm-4.70.1-py3-none-any.whl") is None
    assert wh.python_command({"source": "bundle", "path": "/data/local/tmp/lavseg-cache/site-ab"}) == [
        "env", "PYTHONPATH=/data/local/tmp/lavseg-cache/site-ab", "python3", "-S"]
    assert wh.python_command({"source": "device"}) == wh.python_command(None) == ["python3"]
    with pytest.raises(UserError, match="choose one of: bundle, device"):
        wh.prepare(None, "pip", Path("."))  # type: ignore[arg-type]


class _FakeDevice:
    """Answers the python probe with a fixed result."""

    serial = "fake:1"

    def __init__(self, code: int, out: str, err: str = "") -> None:
        self.result = adb.ShellResult(code, out, err)

    def shell(self, args, timeout=60.0, env=None) -> adb.ShellResult:
        assert args[:3] == ["python3", "-S", "-c"]
        return self.result


@pytest.mark.parametrize("code, out, err, match", [
    (127, "", "sh: python3: not found", r"has no working python3 \(sh: python3: not found\)"),
    (0, '{"python": "3.12", "machine": "armv7l", "libc": "glibc 2.36"}', "", r"'armv7l'.*--device-wheels device"),
    (0, '{"python": "3.12", "machine": "aarch64", "libc": ""}', "", r"not linked against glibc.*--device-wheels device"),
])
def test_probe_refuses_devices_the_wheels_cannot_serve(code: int, out: str, err: str, match: str) -> None:
    with pytest.raises(DeviceError, match=match) as exc:
        wh.probe_python(_FakeDevice(code, out, err))  # type: ignore[arg-type]
    assert "\n" not in str(exc.value)
    ok = wh.probe_python(_FakeDevice(0, '{"python": "3.13", "machine": "aarch64", "libc": "glibc 2.41"}'))  # type: ignore[arg-type]
    assert ok == wh.DevicePython("3.13", "aarch64", (2, 41))


# --- the emulated device --------------------------------------------------------------------------

@pytest.fixture(scope="module")
def device() -> Iterator[adb.Device]:
    """The emulated device, started through its CLI (left running if it already was)."""
    with emulated_device_up():
        yield adb.select_device(SERIAL)


@pytest.fixture(scope="module")
def house(device: adb.Device) -> wh.Wheelhouse:
    """The real wheels for the device's Python (downloaded into the host cache once)."""
    python = wh.probe_python(device)
    try:
        return wh.fetch(python.version)
    except DeviceError as exc:
        message = f"the device wheels are needed and could not be fetched: {exc}"
        if IN_CI:
            pytest.fail(message, pytrace=False)
        pytest.skip(message)


def _cache_listing(device: adb.Device) -> list[str]:
    return device.shell(["sh", "-c", 'ls -A "$1" 2>/dev/null; true', "sh", rb.CACHE_DIR], timeout=30).stdout.split()


@pytest.mark.slow
def test_first_run_pushes_the_wheels_and_imports_them_second_run_pushes_nothing(
        device: adb.Device, house: wh.Wheelhouse, tmp_path: Path) -> None:
    device.shell(["sh", "-c", 'rm -rf "$1"/site-* "$1"/.incoming-site-*', "sh", rb.CACHE_DIR], timeout=120)
    toy = _make_model(tmp_path / "toy")
    first = bd.run_device_bench([toy], runs=1, warmup=0, opts=_opts(tmp_path), device=device)
    dw = first["extra"]["device"]["device_wheels"]
    site = f"{rb.CACHE_DIR}/site-{house.digest}"
    assert dw["source"] == "bundle" and dw["digest"] == house.digest and dw["path"] == site
    assert dw["pushed"] is True and dw["bytes_pushed"] == house.size and first["incomplete"] is False
    for module, dist in (("numpy", "numpy"), ("onnxruntime", "onnxruntime"), ("ai_edge_litert", "ai-edge-litert")):
        got = dw["imports"][module]
        assert got["path"].startswith(site + "/"), got
        assert got["version"] == PINS[dist], got
    assert dw["imports"]["numpy"]["imported"] and dw["imports"]["onnxruntime"]["imported"]
    assert first["machine"]["libraries"]["numpy"] == PINS["numpy"]
    # The toy is ONNX, so LiteRT was only located: load its interpreter from the site dir too.
    code = "from ai_edge_litert import interpreter; print(interpreter.__file__)"
    res = device.shell([*wh.python_command(dw), "-c", code], timeout=300).check("importing ai_edge_litert")
    assert res.stdout.strip().startswith(site + "/")
    assert not [n for n in _cache_listing(device) if n.startswith(".incoming")]

    second = bd.run_device_bench([toy], runs=1, warmup=0, opts=_opts(tmp_path), device=device)
    again = second["extra"]["device"]["device_wheels"]
    assert again["pushed"] is False and again["bytes_pushed"] == 0 and again["digest"] == house.digest
    assert again["imports"]["numpy"]["path"].startswith(site + "/") and second["incomplete"] is False
    steps = {s["step"]: s["seconds"] for s in first["extra"]["device"]["steps"]}
    again_steps = {s["step"]: s["seconds"] for s in second["extra"]["device"]["steps"]}
    print(f"\nwheels: {house.size / 1e6:.1f} MB pushed, {house.unpacked_size / 1e6:.0f} MB unpacked; wheels step "
          f"{steps['wheels']:.1f} s first, {again_steps['wheels']:.1f} s second; run step {steps['run']:.1f} s first, "
          f"{again_steps['run']:.1f} s second")


@pytest.mark.slow
def test_device_wheels_device_uses_the_device_python_packages(device: adb.Device, tmp_path: Path) -> None:
    toy = _make_model(tmp_path / "toy")
    report = bd.run_device_bench([toy], runs=1, warmup=0, opts=_opts(tmp_path, device_wheels="device"), device=device)
    dw = report["extra"]["device"]["device_wheels"]
    assert dw["source"] == "device" and dw["pushed"] is False and dw["digest"] is None
    assert dw["imports"]["numpy"]["path"].startswith("/" + rc.SITE_PACKAGES + "/") and report["incomplete"] is False


@pytest.mark.slow
def test_interrupted_push_leaves_no_site_dir(device: adb.Device, house: wh.Wheelhouse, tmp_path: Path,
                                             monkeypatch) -> None:
    # A small wheelhouse of pure-Python pins: its own digest, seconds to push, the real site dir untouched.
    small = wh.wheelhouse(house.python, [f.source for f in house.files if wh.glibc_needed(f.source.name) is None])
    device.remove_tree(small.device_dir)
    real_push = device.push
    calls: list[str] = []

    def push_then_fail(local, remote, timeout=None):
        if calls:
            raise DeviceError("cable pulled mid-push")
        calls.append(remote)
        return real_push(local, remote, timeout)

    monkeypatch.setattr(device, "push", push_then_fail)
    with pytest.raises(DeviceError, match="cable pulled"):
        wh.ensure_site(device, small, tmp_path / "s1")
    assert len(calls) == 1
    listing = _cache_listing(device)
    assert f"site-{small.digest}" not in listing and not [n for n in listing if n.startswith(".incoming")], listing
    monkeypatch.undo()

    done = wh.ensure_site(device, small, tmp_path / "s2")
    assert done["pushed"] is True and done["bytes_pushed"] == small.size
    assert device.shell(["test", "-f", f"{small.device_dir}/typing_extensions.py"], timeout=30).ok
    assert wh.ensure_site(device, small, tmp_path / "s3")["bytes_pushed"] == 0
    device.remove_tree(small.device_dir)
