"""The `--device arm64` half of lavseg-bench: its flags, and one run per selected device (`--serial all`: in parallel)."""

from __future__ import annotations

import argparse
import json
import re
import sys
import threading
from pathlib import Path
from typing import Any

from ..device import wheels as wh
from ..device.adb import Device, list_devices, select_device
from ..device.errors import DeviceError
from ..errors import UserError
from .device_bench import DEFAULT_STEP_TIMEOUT, RUNNERS, DeviceBenchOptions, resolve_runner, run_device_bench
from .summary import human_summary


def add_device_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the `--device arm64` options to a lavseg-bench parser."""
    g = parser.add_argument_group("device (--device arm64)")
    g.add_argument("--device", choices=("host", "arm64"), default="host",
                   help="host (default) or arm64: run on an adb device (a phone, a board, or the emulated device)")
    g.add_argument("--serial", default=None,
                   help="adb serial of the device, or 'all' for every attached device (one report each); "
                        "default: ANDROID_SERIAL, else the only device")
    g.add_argument("--runner", choices=RUNNERS, default=None,
                   help="python: Python on the device (default); benchmark-model: LiteRT's benchmark_model per .tflite "
                        "(needs --benchmark-binary, the default when it is given); app: the Android demo app's bench mode "
                        "(the app must be installed, or pass --app-apk; name the .tflite copied into it; parity always "
                        "checked on the host; --warmup, --threads, --delegate go to the app, which times every frame "
                        "of its bundled clips)")
    g.add_argument("--benchmark-binary", type=Path, default=None, metavar="PATH",
                   help="LiteRT benchmark_model for the device (e.g. android_aarch64_benchmark_model): run it per "
                        ".tflite instead of Python on the device (--runner benchmark-model)")
    g.add_argument("--app-apk", type=Path, default=None, metavar="PATH",
                   help="--runner app: install this demo APK first (adb install -r), e.g. "
                        "android_demo/build/apk/lightavseg-demo-debug.apk")
    g.add_argument("--allow-fallback", action="store_true",
                   help="run on the CPU path when --delegate is unavailable (recorded in the report) instead of failing")
    g.add_argument("--step-timeout", type=float, default=DEFAULT_STEP_TIMEOUT, metavar="S",
                   help=f"time limit of each device step (push, run, pull; with --runner app: the wait for the app's "
                        f"report), seconds (default {DEFAULT_STEP_TIMEOUT:g})")
    g.add_argument("--device-clips", type=int, default=2, metavar="N",
                   help="held-out clips run on the device for --parity (default 2)")
    g.add_argument("--no-cold-start", action="store_true", help="skip the fresh-process cold start and RSS measurement")
    g.add_argument("--device-wheels", choices=wh.SOURCES, default="bundle",
                   help="where the Python runner's numpy/onnxruntime/ai-edge-litert come from: bundle (default: aarch64 "
                        "wheels for the device's Python, fetched once into ~/.cache/lightavseg/device-wheels and cached "
                        "on the device by content hash) or device (what the device's python3 already has)")


def serial_dirname(serial: str) -> str:
    """A serial as a safe folder name (serials may hold ':' or anything else)."""
    return re.sub(r"[^A-Za-z0-9_.-]", "_", serial)[:80] or "device"


def _options(args: argparse.Namespace) -> dict[str, Any]:
    return dict(delegate=args.delegate, allow_fallback=args.allow_fallback, benchmark_binary=args.benchmark_binary,
                runner=args.runner, app_apk=args.app_apk, step_timeout=float(args.step_timeout), heldout=args.heldout,
                max_clips=int(args.device_clips), cold_start=not args.no_cold_start, device_wheels=args.device_wheels)


def _serials(serial: str | None) -> list[str]:
    """The serials to run on: one (adb.select_device), or every device in state 'device' for 'all'."""
    if serial != "all":
        return [select_device(serial).serial]
    serials = [d.serial for d in list_devices() if d.state == "device"]
    if not serials:
        raise DeviceError("--serial all: no adb device in state 'device' (see `adb devices -l`)")
    return serials


def _run_all(args: argparse.Namespace, serials: list[str]) -> dict[str, Any]:
    """serial -> report or the exception that ended its run; several devices run in parallel threads."""
    kw = dict(warmup=args.warmup, runs=args.runs, block=args.block, threads=args.threads, modules=args.modules,
              parity=args.parity, checkpoint=args.checkpoint)
    results: dict[str, Any] = {}

    def one(serial: str) -> None:
        rdir = args.report / serial_dirname(serial) if (args.report and len(serials) > 1) else args.report
        opts = DeviceBenchOptions(serial=serial, report_dir=rdir, **_options(args))
        try:
            results[serial] = run_device_bench(list(args.artifacts), opts=opts, device=Device(serial), **kw)
        except BaseException as exc:  # noqa: BLE001 - collected and reported per device below
            results[serial] = exc

    if len(serials) == 1:
        one(serials[0])
        return results
    threads = [threading.Thread(target=one, args=(s,), daemon=True) for s in serials]
    for t in threads:
        t.start()
    for t in threads:
        while t.is_alive():
            t.join(0.2)
    return results


def run(args: argparse.Namespace) -> int:
    """Run `lavseg-bench --device arm64` from parsed arguments; return the exit code (errors as one line each)."""
    try:
        # Flag mistakes are reported before any adb traffic.
        resolve_runner(args.runner, args.benchmark_binary, args.app_apk)
        serials = _serials(args.serial)
        results = _run_all(args, serials)
        code = 0
        for serial in serials:
            res = results.get(serial)
            if isinstance(res, KeyboardInterrupt) or (isinstance(res, BaseException) and not isinstance(res, UserError)):
                raise res
            if isinstance(res, UserError):
                prefix = f"{serial}: " if len(serials) > 1 else ""
                print(f"error: {prefix}{res}", file=sys.stderr)
                code = max(code, res.exit_code)
                continue
            print(json.dumps(res, indent=2, sort_keys=True, default=str) if args.json else human_summary(res))
        return code
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        where = f"; partial report in {args.report}" if args.report else ""
        print(f"error: interrupted; device temp dir removed, partial results kept and marked incomplete{where}",
              file=sys.stderr)
        return 130
