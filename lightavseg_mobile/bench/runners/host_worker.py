"""The host runner's process side: one worker subprocess per target (bench.worker), runs interleaved across workers."""

from __future__ import annotations

import json
import os
import select
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from ...errors import UserError

_REPO_ROOT = Path(__file__).resolve().parents[3]


class WorkerError(UserError):
    """A benchmark worker could not load or run its target; `detail` is the worker's traceback (shown with --debug)."""

    def __init__(self, message: str, *, exit_code: int | None = None, detail: str | None = None) -> None:
        super().__init__(message, exit_code=exit_code)
        self.detail = f"traceback in the worker process:\n{detail}" if detail else None


class Worker:
    """A target loaded in its own Python process; cold start is process start to first result."""

    def __init__(self, label: str, spec: dict, timeout_s: float = 900.0) -> None:
        self.label = label
        self.spec = spec
        self.timeout_s = timeout_s
        env = dict(os.environ)
        # Each runtime gets exactly the threads asked for; OMP/MKL defaults would add pools of their own.
        threads = str(spec["threads"])
        env.update(OMP_NUM_THREADS=threads, MKL_NUM_THREADS=threads, OPENBLAS_NUM_THREADS=threads)
        env["PYTHONPATH"] = os.pathsep.join([str(_REPO_ROOT)] + ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else []))
        # stderr to a file, not a pipe: a chatty converter must never block the worker on a full pipe.
        self._err = tempfile.TemporaryFile(mode="w+")
        self._t0 = time.perf_counter()
        self._proc = subprocess.Popen([sys.executable, "-m", "lightavseg_mobile.bench.worker", json.dumps(spec)],
                                      stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self._err, text=True, env=env)
        ready = self._read()
        self.cold_start_ms = (time.perf_counter() - self._t0) * 1e3
        if ready.get("event") != "ready":
            self.close(kill=True)
            raise WorkerError(f"{label}: {ready.get('message', 'worker failed')}", exit_code=ready.get("exit_code", 2) or 2,
                              detail=ready.get("traceback"))
        self.ready = ready
        self.info = ready["info"]

    def _read(self) -> dict:
        ready, _, _ = select.select([self._proc.stdout], [], [], self.timeout_s)
        if not ready:
            self._proc.kill()
            return {"event": "error", "message": f"worker gave no answer within {self.timeout_s:.0f} s (killed)", "exit_code": 1}
        line = self._proc.stdout.readline()
        if not line:
            err, text = "", ""
            try:
                self._proc.wait(timeout=5)
                self._err.seek(0)
                text = self._err.read()
                lines = [x for x in text.strip().splitlines() if x.strip()]
                err = lines[-1] if lines else ""
            except (subprocess.TimeoutExpired, OSError, ValueError):
                text = ""
            return {"event": "error", "message": f"worker exited without answering ({err or 'no message'})", "exit_code": 1,
                    "traceback": text[-20000:] or None}
        return json.loads(line)

    def _ask(self, cmd: dict) -> dict:
        self._proc.stdin.write(json.dumps(cmd) + "\n")
        self._proc.stdin.flush()
        reply = self._read()
        if reply.get("event") == "error":
            raise WorkerError(f"{self.label}: {reply.get('message')}", detail=reply.get("traceback"))
        return reply

    def run(self, n: int) -> list[float]:
        """Time `n` consecutive runs inside the worker; latencies in ms."""
        return self._ask({"cmd": "run", "n": n})["times"]

    def boundary(self, n: int) -> list[float]:
        """Time `n` runs of the numpy conversions around a whole model's runtime call; [] if it has none."""
        return self._ask({"cmd": "boundary", "n": n})["times"]

    def end_profile(self) -> str | None:
        """Stop ORT profiling in the worker and return the trace path."""
        return self._ask({"cmd": "profile"})["path"]

    def close(self, kill: bool = False) -> dict:
        """Ask the worker for its peak RSS and let it exit (kill if it does not)."""
        reply: dict = {}
        if not kill and self._proc.poll() is None:
            try:
                reply = self._ask({"cmd": "exit"})
            except (WorkerError, BrokenPipeError, OSError):
                reply = {}
        try:
            self._proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait()
        for stream in (self._proc.stdin, self._proc.stdout, self._err):
            if stream is not None:
                stream.close()
        return reply


def interleave_workers(workers: dict[str, Worker], warmup: int, runs: int, block: int = 1,
                       progress=None) -> dict[str, list[float]]:
    """The protocol of `protocol.interleaved_timing`, across worker processes: warm-up discarded, blocks round-robin.

    Times are measured inside each worker (no pipe latency); only one worker computes at a time.
    """
    labels = list(workers)
    for _ in range(warmup):
        for label in labels:
            workers[label].run(1)
    samples: dict[str, list[float]] = {label: [] for label in labels}
    done = 0
    while done < runs:
        n = min(block, runs - done)
        for label in labels:
            samples[label].extend(workers[label].run(n))
        done += n
        if progress is not None:
            progress(done, runs)
    return samples
