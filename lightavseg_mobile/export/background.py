"""Slow quantizations (backends registered with background=True) started early in a child process, collected later."""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable, Mapping
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path

import numpy as np
import torch

from .backends import Source, get_backend
from .errors import ConverterError
from .recipes import Recipe

# Rebuilds (module, input names, example inputs) in the child: a module that has been traced is not picklable.
GraphBuilder = Callable[..., tuple[torch.nn.Module, list[str], tuple[torch.Tensor, ...]]]


def _job(builder: GraphBuilder, builder_args: tuple, dest: Path, recipe: Recipe,
         samples: list[Mapping[str, np.ndarray]]) -> dict:
    """Child-process body: build the graph, then one quantization on one thread (the parent keeps the other core)."""
    torch.set_num_threads(1)
    module, in_names, args = builder(*builder_args)
    source = Source(input_names=tuple(in_names), module=module, args=args)
    return get_backend(recipe.backend).quantize(source, dest, recipe, samples)


class BackgroundQuantizer:
    """Quantizations started early in a child process, collected when their turn comes.

    With jobs == 1 nothing is started and the caller quantizes in-process.
    """

    def __init__(self, jobs: int) -> None:
        self.jobs = jobs
        self.pool: ProcessPoolExecutor | None = None
        self.futures: dict[str, Future] = {}

    def start(self, key: str, builder: GraphBuilder, builder_args: tuple, dest: Path, recipe: Recipe,
              samples: list[Mapping[str, np.ndarray]]) -> None:
        """Submit one quantization of `builder(*builder_args)` writing `dest` (no-op when running single-job).

        `builder` is a module-level function (it is pickled by name); `samples` are `{input_name: array}` feeds.
        """
        if self.jobs < 2:
            return
        if self.pool is None:
            # spawn, not fork: a forked child would inherit torch's OpenMP thread pool state.
            self.pool = ProcessPoolExecutor(max_workers=self.jobs - 1, mp_context=multiprocessing.get_context("spawn"))
        self.futures[key] = self.pool.submit(_job, builder, builder_args, dest, recipe, samples)

    def result(self, key: str) -> dict | None:
        """The quantization's format details (waits for it), or None if it was not started in the background."""
        fut = self.futures.pop(key, None)
        if fut is None:
            return None
        try:
            return fut.result()
        except BrokenProcessPool as exc:
            raise ConverterError(f"the background conversion process died ({type(exc).__name__}); retry with --jobs 1") from None

    def close(self) -> None:
        """Stop the child process (also on errors and Ctrl-C) so nothing keeps writing into the temp folder."""
        if self.pool is None:
            return
        pool, self.pool = self.pool, None
        if all(f.done() for f in self.futures.values()):
            # Nothing left to stop: an orderly shutdown lets the pool release its queue's semaphore, which a
            # killed child leaves to the resource tracker ("leaked semaphore objects" at exit).
            pool.shutdown(wait=True)
            return
        for fut in self.futures.values():
            fut.cancel()
        procs = list(getattr(pool, "_processes", {}).values())
        manager = getattr(pool, "_executor_manager_thread", None)
        pool.shutdown(wait=False, cancel_futures=True)
        for proc in procs:
            if proc.is_alive():
                proc.kill()  # SIGKILL: libraries in the child may handle SIGTERM slowly; it only writes into tmp
        # The pool's manager thread also reaps the killed child; until it is done, is_alive() can still say True
        # (both threads waitpid the same pid), so wait for it before our own joins.
        if manager is not None:
            manager.join(timeout=30)
        for proc in procs:
            proc.join(timeout=30)
