"""The versioned JSON benchmark report: its name, version and a validator (stdlib only).

The field-by-field description lives in SCHEMA.md next to this file. Bump
REPORT_SCHEMA_VERSION on any incompatible change; readers refuse newer versions.
"""

from __future__ import annotations

from typing import Any

from ..errors import UserError

__all__ = ["REPORT_SCHEMA", "REPORT_SCHEMA_VERSION", "ReportSchemaError", "validate_report",
           "MACHINE_KINDS", "EXECUTIONS", "MODULE_NAMES", "MODULE_SOURCES"]

REPORT_SCHEMA = "lightavseg-bench-report"
REPORT_SCHEMA_VERSION = 2
# Version 2: host and device rows carry the same fields (one assembler); protocol.delegate is the asked delegate for
# every runner (device reports of version 1 called it protocol.delegate_requested). See SCHEMA.md.

MACHINE_KINDS = ("host", "device")
EXECUTIONS = ("native", "emulated (qemu)")
MODULE_NAMES = ("visual", "audio", "reciprocal_encoder", "fusion_decoder", "seg_head")
MODULE_SOURCES = ("split", "ort_profile")
LATENCY_KEYS = ("p50", "p90", "p99", "mean", "std", "min", "max", "runs", "fps")


class ReportSchemaError(UserError):
    """A benchmark report does not follow the schema (or is of a newer version)."""


_NUM = (int, float)
_OPT_NUM = (int, float, type(None))
_OPT_STR = (str, type(None))
_OPT_INT = (int, type(None))


def _type_name(types: tuple[type, ...]) -> str:
    return " or ".join("null" if t is type(None) else t.__name__ for t in types)


def _check(d: dict[str, Any], key: str, types: type | tuple[type, ...], where: str) -> Any:
    """Return d[key] after checking it exists and has one of `types` (bool never passes as a number)."""
    path = f"{where}.{key}" if where else key
    if key not in d:
        raise ReportSchemaError(f"bench report: missing field {path!r}")
    value = d[key]
    types = types if isinstance(types, tuple) else (types,)
    is_bool_as_number = isinstance(value, bool) and bool not in types
    if is_bool_as_number or not isinstance(value, types):
        raise ReportSchemaError(f"bench report: field {path!r} must be {_type_name(types)}, got {type(value).__name__}")
    return value


def _check_choice(d: dict[str, Any], key: str, choices: tuple[str, ...], where: str) -> None:
    value = _check(d, key, str, where)
    if value not in choices:
        raise ReportSchemaError(f"bench report: field {where}.{key!r} is {value!r}; expected one of {', '.join(choices)}")


def _check_latency(d: dict[str, Any], where: str) -> None:
    lat = _check(d, "latency_ms", dict, where)
    for k in LATENCY_KEYS:
        _check(lat, k, int if k == "runs" else _NUM, f"{where}.latency_ms")
    if lat["runs"] < 1:
        raise ReportSchemaError(f"bench report: field {where}.latency_ms.runs must be >= 1, got {lat['runs']}")


def _check_fields(d: dict[str, Any], fields: tuple[tuple[str, Any], ...], where: str) -> None:
    for key, types in fields:
        _check(d, key, types, where)


_MACHINE_FIELDS = (("label", str), ("arch", str), ("os", str), ("cpu_model", str), ("logical_cpus", int),
                   ("physical_cores", int), ("cpu_flags", list), ("governor", _OPT_STR), ("libraries", dict))
_ARTIFACT_FIELDS = (("label", str), ("file", str), ("sha256", _OPT_STR), ("format", str), ("precision", str),
                    ("preset", _OPT_STR), ("module", str), ("size_mb", _OPT_NUM))
_ARTIFACT_MEASURES = (("cold_start_ms", _OPT_NUM), ("peak_rss_mb", _OPT_NUM), ("ratio_to_baseline", _OPT_NUM),
                      ("gflops", _OPT_NUM), ("gflops_per_s", _OPT_NUM), ("fraction_of_peak", _OPT_NUM),
                      ("non_delegated_ops", _OPT_INT))
# Fields every row has since version 2, whichever runner measured it.
_ARTIFACT_FIELDS_V2 = (("kind", str), ("delegate", _OPT_STR), ("fallback", (dict, type(None))),
                       ("samples_ms", (list, type(None))), ("cold_start_breakdown_ms", (dict, type(None))),
                       ("baseline", _OPT_STR), ("non_delegated_by_op", (dict, type(None))),
                       ("export_parity", (dict, type(None))))
_PROTOCOL_FIELDS_V2 = (("interleaved", bool), ("isolation", str), ("runner", str), ("delegate", str),
                       ("allow_fallback", bool))
_MODULE_ROW_FIELDS = (("time_ms", _NUM), ("share", _NUM), ("params", _OPT_INT), ("gflops", _OPT_NUM))


def _check_machine(m: dict[str, Any]) -> None:
    _check_choice(m, "kind", MACHINE_KINDS, "machine")
    _check_choice(m, "execution", EXECUTIONS, "machine")
    _check_fields(m, _MACHINE_FIELDS, "machine")


def _check_artifact(a: dict[str, Any], where: str, version: int) -> None:
    _check_fields(a, _ARTIFACT_FIELDS, where)
    rt = _check(a, "runtime", dict, where)
    _check(rt, "name", str, f"{where}.runtime")
    _check_latency(a, where)
    _check_fields(a, _ARTIFACT_MEASURES, where)
    if version >= 2:
        _check_fields(a, _ARTIFACT_FIELDS_V2, where)


def _check_module_row(r: dict[str, Any], where: str) -> None:
    _check(r, "artifact", str, where)
    _check_choice(r, "module", MODULE_NAMES + ("other",), where)
    _check_choice(r, "source", MODULE_SOURCES, where)
    _check_fields(r, _MODULE_ROW_FIELDS, where)


def _check_module_sum(r: dict[str, Any], where: str) -> None:
    _check(r, "artifact", str, where)
    _check_choice(r, "source", MODULE_SOURCES, where)
    _check(r, "sum_ms", _NUM, where)
    _check(r, "whole_ms", _NUM, where)
    if "boundary_ms" in r:  # added within version 1; older reports lack it (read as 0)
        _check(r, "boundary_ms", _NUM, where)
    if "paired_rel_diff" in r:  # added within version 1; present when the split run was interleaved with its whole
        _check(r, "paired_rel_diff", _NUM, where)
    _check(r, "rel_diff", _NUM, where)
    _check(r, "tolerance", _NUM, where)
    _check(r, "within_tolerance", bool, where)


def validate_report(d: dict) -> None:
    """Raise ReportSchemaError naming the first field that does not follow the schema; return None if valid."""
    if not isinstance(d, dict):
        raise ReportSchemaError(f"bench report must be a JSON object, got {type(d).__name__}")
    if d.get("schema") != REPORT_SCHEMA:
        raise ReportSchemaError(f"bench report: field 'schema' is {d.get('schema')!r}; expected {REPORT_SCHEMA!r}")
    version = _check(d, "schema_version", int, "")
    if version > REPORT_SCHEMA_VERSION:
        raise ReportSchemaError(f"bench report schema_version {version} is newer than this tool reads "
                                f"({REPORT_SCHEMA_VERSION}); upgrade lightavseg-mobile")
    if version < 1:
        raise ReportSchemaError(f"bench report: field 'schema_version' must be >= 1, got {version}")
    _check(d, "created", str, "")
    git = _check(d, "git", dict, "")
    _check(git, "commit", _OPT_STR, "git")
    _check(git, "dirty", (bool, type(None)), "git")
    _check_machine(_check(d, "machine", dict, ""))
    proto = _check(d, "protocol", dict, "")
    for k in ("warmup", "runs", "block", "threads"):
        _check(proto, k, int, "protocol")
    _check(proto, "baseline", _OPT_STR, "protocol")
    if version >= 2:
        _check_fields(proto, _PROTOCOL_FIELDS_V2, "protocol")
    peak = _check(d, "matmul_peak", (dict, type(None)), "")
    if peak is not None:
        _check(peak, "gflops_per_s", _NUM, "matmul_peak")
        _check(peak, "size", int, "matmul_peak")
        _check(peak, "threads", int, "matmul_peak")
    artifacts = _check(d, "artifacts", list, "")
    for i, a in enumerate(artifacts):
        if not isinstance(a, dict):
            raise ReportSchemaError(f"bench report: field 'artifacts[{i}]' must be dict, got {type(a).__name__}")
        _check_artifact(a, f"artifacts[{i}]", version)
    for key, check in (("modules", _check_module_row), ("module_sums", _check_module_sum)):
        rows = _check(d, key, list, "")
        for i, r in enumerate(rows):
            if not isinstance(r, dict):
                raise ReportSchemaError(f"bench report: field '{key}[{i}]' must be dict, got {type(r).__name__}")
            check(r, f"{key}[{i}]")
    _check(d, "parity", dict, "")
    paper = _check(d, "paper_reference", dict, "")
    _check(paper, "source", str, "paper_reference")
    _check(paper, "device", str, "paper_reference")
    _check(paper, "total_ms", _NUM, "paper_reference")
    _check(paper, "modules_ms", dict, "paper_reference")
    _check(d, "targets", list, "")
    incomplete = _check(d, "incomplete", bool, "")
    reason = _check(d, "incomplete_reason", _OPT_STR, "")
    if incomplete and not reason:
        raise ReportSchemaError("bench report: field 'incomplete_reason' must say why when 'incomplete' is true")
