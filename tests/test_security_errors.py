"""Finding 9: broad excepts no longer hide our own bugs. Converter wrappers keep the cause (`from exc`, shown with
--debug) and let our TypeError/AttributeError/NameError through; an onnxsim failure is recorded in the format
details; a failed FLOP count names its reason in the report; the bench worker's traceback reaches the parent."""

from __future__ import annotations

import sys

import pytest
import torch

from lightavseg_mobile.bench import cost
from lightavseg_mobile.bench.runners.host_worker import Worker, WorkerError
from lightavseg_mobile.console import guard
from lightavseg_mobile.export import onnx_export
from lightavseg_mobile.export.errors import ConverterError, first_line


class Tiny(torch.nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * 2


def _export(tmp_path):
    return onnx_export.export_onnx_fp32(Tiny(), (torch.zeros(1, 3),), ["x"], ["y"], tmp_path / "m.onnx")


def test_converter_failure_is_one_line_with_its_cause_kept(tmp_path, monkeypatch) -> None:
    def exporter_rejects(*args, **kwargs):  # noqa: ANN002, ANN003 - stands in for torch.onnx.export
        raise RuntimeError("unsupported op aten::frobnicate\nlong exporter report")

    monkeypatch.setattr(torch.onnx, "export", exporter_rejects)
    with pytest.raises(ConverterError) as err:
        _export(tmp_path)
    assert "\n" not in str(err.value) and "aten::frobnicate" in str(err.value)
    assert isinstance(err.value.__cause__, RuntimeError)  # --debug prints it as "direct cause"


def test_our_own_type_error_is_not_turned_into_a_converter_error(tmp_path, monkeypatch) -> None:
    # A call with arguments our code gets wrong: the TypeError's innermost frame is ours (export_onnx_fp32).
    monkeypatch.setattr(torch.onnx, "export", first_line)
    with pytest.raises(TypeError):
        _export(tmp_path)


def test_debug_shows_the_cause_of_a_one_line_error(capsys, monkeypatch) -> None:
    def command(argv):  # noqa: ANN001
        try:
            raise RuntimeError("converter internals")
        except RuntimeError as exc:
            raise ConverterError("litert-torch rejected the model: RuntimeError: converter internals") from exc

    assert guard(command)([]) == 2
    quiet = capsys.readouterr().err
    assert quiet == "error: litert-torch rejected the model: RuntimeError: converter internals\n"
    assert guard(command)(["--debug"]) == 2
    loud = capsys.readouterr().err
    assert "Traceback" in loud and "direct cause" in loud and loud.rstrip().splitlines()[-1].startswith("error: ")
    monkeypatch.setenv("LAVSEG_DEBUG", "1")
    assert guard(command)([]) == 2 and "Traceback" in capsys.readouterr().err


def test_onnxsim_failure_is_recorded_not_silent(tmp_path, monkeypatch) -> None:
    onnxsim = pytest.importorskip("onnxsim")

    def broken(model):  # noqa: ANN001
        raise RuntimeError("onnxsim crashed on this graph")

    monkeypatch.setattr(onnxsim, "simplify", broken)
    details = _export(tmp_path)
    assert details["simplifier"] in ("onnxslim", "none")
    assert details["simplifier_errors"][0] == "onnxsim: RuntimeError: onnxsim crashed on this graph"


def test_failed_flop_count_names_its_reason(monkeypatch) -> None:
    def broken(preset, image_size=None):  # noqa: ANN001
        raise RuntimeError("meta tensor cannot run op x")

    monkeypatch.setattr(cost, "preset_cost", broken)
    costs, reasons = cost.costs_for(["lightavseg-tiny"])
    assert costs == {"lightavseg-tiny": {}}
    assert reasons == ["FLOPs of lightavseg-tiny not counted (RuntimeError: meta tensor cannot run op x)"]


def test_bench_worker_traceback_reaches_the_parent_and_debug_shows_it(capsys) -> None:
    with pytest.raises(WorkerError) as err:
        Worker("bad", {"kind": "runtime", "threads": "one"}, timeout_s=120)
    assert "\n" not in str(err.value) and "ValueError" in str(err.value)
    assert "Traceback" in err.value.detail and "build_target" in err.value.detail

    def command(argv):  # noqa: ANN001
        raise err.value

    assert guard(command)(["--debug"]) == err.value.exit_code
    shown = capsys.readouterr().err
    assert "traceback in the worker process" in shown and "build_target" in shown
    assert guard(command)([]) == err.value.exit_code
    assert "build_target" not in capsys.readouterr().err


pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX worker processes")
