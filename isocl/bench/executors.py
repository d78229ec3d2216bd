"""Where units run: in this process, or in worker processes on this machine (``--jobs N``).

The runner submits unit jobs to a :class:`concurrent.futures.Executor` and
writes every result itself, so any executor with that interface (a process
pool, a Ray cluster's futures) shares one scheduling path.
"""

from __future__ import annotations

import multiprocessing
import os
from concurrent.futures import Executor, Future, ProcessPoolExecutor
from typing import Any

import torch

__all__ = ["InlineExecutor", "make_executor", "prepare_worker", "set_worker_data", "stop_executor", "worker_data", "worker_threads"]

# This process's data for unit jobs: the driver's (a sequential run), a pool worker's copy from
# start-up, or CIFAR-10 loaded on first use. Owned here; the runner reads it through worker_data().
_worker_data: Any = None


class InlineExecutor(Executor):
    """Runs each job at submission, in this process (the sequential run).

    ``concurrent.futures`` has no synchronous executor; this one lets the
    sequential run take the same scheduling path as the pools. Exceptions
    land in the future; ``BaseException`` (KeyboardInterrupt) propagates.
    """

    def submit(self, fn, /, *args, **kwargs) -> Future:
        future: Future = Future()
        try:
            future.set_result(fn(*args, **kwargs))
        except Exception as exc:  # noqa: BLE001 - delivered through the future, like a pool's
            future.set_exception(exc)
        return future


def worker_threads(jobs: int, threads: int | None) -> int:
    """Torch threads per worker: ``threads`` if given, else the cores shared out over the jobs."""
    if threads is not None:
        return threads
    return max(1, (os.cpu_count() or 1) // max(1, jobs))


def prepare_worker(threads: int, data: Any, verbose: bool = False) -> None:
    """Set up a worker process (a ``--jobs`` pool process, or a Ray worker before each task): the
    driver's warning filters (a new interpreter starts with Python's), its torch thread count and,
    if given, the data its units use (else each worker loads CIFAR-10 itself, once, and keeps it)."""
    from isocl.bench.quiet import install

    install(verbose)
    torch.set_num_threads(threads)
    if data is not None:
        set_worker_data(data)


def set_worker_data(data: Any) -> None:
    """The data this process's unit jobs use (``None``: load CIFAR-10 on first use)."""
    global _worker_data
    _worker_data = data


def worker_data() -> Any:
    """This process's data for unit jobs: what :func:`set_worker_data` gave, else CIFAR-10, loaded once."""
    global _worker_data
    if _worker_data is None:
        from isocl.bench.data import load_cifar10

        _worker_data = load_cifar10()
    return _worker_data


def _pool_worker(threads: int, data: Any, verbose: bool) -> None:
    """A ``--jobs`` pool process's set-up: :func:`prepare_worker`, and Ctrl-C ignored. Ctrl-C reaches every
    process of the terminal's group; the driver alone handles it (it stops the workers and says how far
    the run got), a worker that handled it too would print its own traceback."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    prepare_worker(threads, data, verbose)
    signal.signal(signal.SIGTERM, _worker_stop)  # after the set-up: a worker stopped while starting just ends


def _worker_stop(signum, frame) -> None:
    """SIGTERM in a pool worker (:func:`stop_executor`): leave through Python's exit, so that the worker's
    multiprocessing objects are released (a plain kill leaves multiprocessing's resource tracker warning
    about leaked semaphores)."""
    raise SystemExit(128 + signum)


def make_executor(jobs: int, threads: int | None = None, data: Any = None) -> Executor:
    """``jobs == 1``: this process; else a pool of ``jobs`` spawned processes, each with its own
    torch thread count (spawned, not forked: a forked torch with live OpenMP threads can hang)."""
    if jobs == 1:
        return InlineExecutor()
    ctx = multiprocessing.get_context("spawn")
    from isocl.bench.quiet import is_verbose

    return ProcessPoolExecutor(max_workers=jobs, mp_context=ctx, initializer=_pool_worker,
                               initargs=(worker_threads(jobs, threads), data, is_verbose()))


def stop_executor(executor: Executor, timeout: float = 10.0) -> None:
    """Stop ``executor`` at once (an interrupted run): pending jobs cancelled, a process pool's workers
    terminated (their running units are lost, none is half-written: only the driver writes), a Ray
    executor's tasks cancelled."""
    processes = list((getattr(executor, "_processes", None) or {}).values())
    for p in processes:  # ProcessPoolExecutor has no public way to stop running jobs (terminate_workers is 3.14)
        try:
            p.terminate()
        except (OSError, ValueError, AttributeError):
            pass
    for p in processes:
        try:
            p.join(timeout)
            if p.is_alive():  # stuck in native code past the timeout
                p.kill()
                p.join(timeout)
        except (OSError, ValueError, AttributeError, AssertionError):
            pass
    # with its workers gone the pool's manager thread finds it broken and closes its queues: waiting for that
    # (quick) keeps multiprocessing's resource tracker from warning about leaked semaphores at exit
    executor.shutdown(wait=bool(processes), cancel_futures=True)
