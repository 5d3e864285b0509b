"""Device facts: the constant probe scripts run on the device and the pure parsers of their output."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

# One round trip: every process start costs tens of ms under emulation and over slow USB.
# Constant text, never built from user input. Missing files/commands just leave a section empty.
PROBE_SCRIPT = r"""
echo '@@props'; getprop 2>/dev/null
echo '@@uname_r'; uname -r 2>/dev/null
echo '@@uname_m'; uname -m 2>/dev/null
echo '@@cores'; nproc 2>/dev/null || grep -c '^processor' /proc/cpuinfo 2>/dev/null
echo '@@freq'
for f in /sys/devices/system/cpu/cpu[0-9]*/cpufreq/cpuinfo_max_freq; do
  [ -r "$f" ] && echo "$f $(cat "$f" 2>/dev/null)"
done
echo '@@thermal'
for z in /sys/class/thermal/thermal_zone[0-9]*; do
  [ -r "$z/temp" ] && echo "$(cat "$z/temp" 2>/dev/null) $(cat "$z/type" 2>/dev/null)"
done
echo '@@hardware'; grep -m1 '^Hardware' /proc/cpuinfo 2>/dev/null
echo '@@end'
"""

# Facts the bench report wants that PROBE_SCRIPT does not read (one round trip, constant text).
EXTRA_PROBE = r"""
echo "@@features"; grep -m1 -i '^Features' /proc/cpuinfo 2>/dev/null
echo "@@governor"; cat /sys/devices/system/cpu/cpu0/cpufreq/scaling_governor 2>/dev/null
echo "@@python"; command -v python3 2>/dev/null
echo "@@end"
"""

PROPS = {
    "model": "ro.product.model",
    "manufacturer": "ro.product.manufacturer",
    "soc_model": "ro.soc.model",
    "soc_manufacturer": "ro.soc.manufacturer",
    "board_platform": "ro.board.platform",
    "cpu_abi": "ro.product.cpu.abi",
    "android_release": "ro.build.version.release",
    "android_sdk": "ro.build.version.sdk",
    "hardware": "ro.hardware",
}
# ro.hardware values of Android emulators and virtual devices.
_EMULATOR_HARDWARE = {"qemu", "ranchu", "goldfish", "cutf_cvm", "vbox86", "ttvm"}
_PROP_LINE = re.compile(r"^\[(?P<key>[^\]]*)\]: \[(?P<value>.*)\]$")
_CPU_FREQ = re.compile(r"/cpu(?P<cpu>\d+)/cpufreq/cpuinfo_max_freq (?P<khz>\d+)$")


def split_sections(text: str) -> dict[str, list[str]]:
    """Split probe output into its '@@name' sections."""
    sections: dict[str, list[str]] = {}
    current: list[str] | None = None
    for line in text.splitlines():
        if line.startswith("@@"):
            current = sections.setdefault(line[2:].strip(), [])
        elif current is not None:
            current.append(line)
    return sections


def parse_getprop(lines: list[str] | str) -> dict[str, str]:
    """Parse `getprop` output lines ("[key]: [value]") into a dict."""
    if isinstance(lines, str):
        lines = lines.splitlines()
    props = {}
    for line in lines:
        match = _PROP_LINE.match(line.strip())
        if match:
            props[match["key"]] = match["value"]
    return props


def emulation_evidence(props: Mapping[str, str], hardware_line: str = "") -> list[str]:
    """Return why the device looks emulated (empty list: looks like real hardware)."""
    evidence = []
    for key in ("ro.kernel.qemu", "ro.boot.qemu", "ro.lavseg.emulated"):
        if props.get(key) == "1":
            evidence.append(f"{key}=1")
    hardware = props.get("ro.hardware", "")
    if hardware in _EMULATOR_HARDWARE:
        evidence.append(f"ro.hardware={hardware}")
    model = props.get("ro.product.model", "")
    if "emulat" in model.lower() or model.startswith("sdk_gphone"):
        evidence.append(f"ro.product.model={model}")
    if "qemu" in hardware_line.lower():
        evidence.append("cpuinfo Hardware mentions QEMU")
    return evidence


def _first(lines: list[str]) -> str:
    """Return the first non-empty stripped line or ''."""
    return next((line.strip() for line in lines if line.strip()), "")


def parse_facts(text: str) -> dict[str, Any]:
    """Turn the probe script's output into the facts dict (pure, testable without a device)."""
    sec = split_sections(text)
    if "end" not in sec:
        raise ValueError("device probe output is truncated (no @@end marker)")
    props = parse_getprop(sec.get("props", []))
    facts: dict[str, Any] = {name: props.get(key) or None for name, key in PROPS.items()}
    facts["kernel"] = _first(sec.get("uname_r", [])) or None
    facts["machine"] = _first(sec.get("uname_m", [])) or None
    cores = _first(sec.get("cores", []))
    facts["cores"] = int(cores) if cores.isdigit() else None
    freqs = {}
    for line in sec.get("freq", []):
        match = _CPU_FREQ.search(line.strip())
        if match:
            freqs[int(match["cpu"])] = int(match["khz"])
    facts["cpu_max_freq_khz"] = [freqs[cpu] for cpu in sorted(freqs)] or None
    zones = []
    for line in sec.get("thermal", []):
        temp, _, kind = line.strip().partition(" ")
        if temp.lstrip("-").isdigit():
            zones.append({"type": kind or "unknown", "temp_millicelsius": int(temp)})
    facts["thermal_zones"] = zones or None
    evidence = emulation_evidence(props, _first(sec.get("hardware", [])))
    facts["emulated"] = bool(evidence)
    facts["emulation_evidence"] = evidence
    return facts


def parse_extra_facts(text: str) -> dict[str, Any]:
    """EXTRA_PROBE's output as {cpu_flags, governor, python} (None or [] where unreadable)."""
    sec = split_sections(text)
    feats = " ".join(sec.get("features", [])).partition(":")[2].split()
    return {"cpu_flags": feats, "governor": _first(sec.get("governor", [])) or None,
            "python": _first(sec.get("python", [])) or None}


def extra_facts(device: Any) -> dict[str, Any]:
    """CPU feature flags, cpufreq governor and the device python of an `adb.Device` (None where unreadable)."""
    return parse_extra_facts(device.shell(["sh", "-c", EXTRA_PROBE], timeout=60.0).stdout)
