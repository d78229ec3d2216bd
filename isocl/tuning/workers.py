"""Running trials: one worker optimises the study until it holds exactly N
*complete* trials; ``--jobs K`` spawns K such workers. Pruned and failed
trials do not count (``shared/docs/evaluation.md``: a pruner that cuts one
strategy's trials more than another's must not eat its budget)."""

from __future__ import annotations

import contextlib
import logging
import os
import re
import signal
import socket
import sys
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from isocl.bench.config import Benchmark
from isocl.tuning import samplers
from isocl.tuning.objective import TuneContext, isocl_objective
from isocl.tuning.storage import StorageSpec, StudyLock

MAX_CONSECUTIVE_FAILURES = 3  # a worker whose trials keep raising stops (a bug, not bad luck)
MAX_TRIALS_FACTOR = 5  # a study stops at this many times its target in trials of any state (a pruner cutting
#                        nearly everything would otherwise run for ever: only complete trials count)


class _SurplusTrial(RuntimeError):
    """A trial created after the target was already reached by finished and running trials."""


def _guarded(objective: Callable[[Any], Any], n_target: int, worker: int, seed: int) -> Callable[[Any], Any]:
    """Run a trial only if fewer than ``n_target`` lower-numbered trials are complete or running.

    MaxTrialsCallback stops a worker once the study holds N complete
    trials, but it looks only after each trial: two workers that both start
    while N-1 are done would end with N+1. Trial numbers are handed out
    atomically by the storage, so counting the lower-numbered trials that
    are complete, running or waiting decides without a race which trials
    are surplus; a surplus trial stops its worker and is recorded as FAIL
    (it does not count) without running. A running trial that is later
    pruned or fails leaves the study short: :func:`isocl.tuning.study.tune`
    then starts another round.
    """
    from optuna.trial import TrialState

    counted = (TrialState.COMPLETE, TrialState.RUNNING, TrialState.WAITING)

    def wrapped(trial):
        ahead = sum(1 for t in trial.study.get_trials(deepcopy=False, states=counted) if t.number < trial.number)
        if ahead >= n_target:
            trial.set_user_attr("isocl_surplus", True)
            trial.study.stop()
            raise _SurplusTrial(f"not run: {n_target} trials were already complete or running")
        trial.set_user_attr("seed", seed)
        trial.set_user_attr("worker", f"{socket.gethostname()}:{os.getpid()}:{worker}")
        return objective(trial)

    return wrapped


class _StopAtTrialCap:
    """Stop the worker once the study holds ``limit`` trials that ran (complete, pruned or failed)."""

    def __init__(self, limit: int):
        self.limit, self.tripped = limit, False

    def __call__(self, study, trial) -> None:
        ran = sum(1 for t in study.get_trials(deepcopy=False) if t.state.is_finished()
                  and not t.user_attrs.get("isocl_surplus"))
        if ran >= self.limit:
            self.tripped = True
            study.stop()


class _StopAfterFailures:
    """Stop the worker after ``limit`` failed trials in a row (Optuna has no such callback)."""

    def __init__(self, limit: int):
        self.limit, self.streak, self.tripped = limit, 0, False

    def __call__(self, study, trial) -> None:
        from optuna.trial import TrialState

        if trial.state == TrialState.FAIL and not trial.user_attrs.get("isocl_surplus"):
            self.streak += 1
        elif trial.state in (TrialState.COMPLETE, TrialState.PRUNED):
            self.streak = 0
        if self.streak >= self.limit:
            self.tripped = True
            study.stop()


@dataclass
class WorkerJob:
    bench: Benchmark
    strategy: str
    space: dict[str, dict[str, Any]]
    study_name: str
    storage: StorageSpec
    n_trials: int
    multi: bool
    sampler: str
    sampler_seed: int
    base_seed: int
    population_size: int
    pruner: str
    train_seed: int
    timeout: float | None
    device: str | None
    objective_factory: Callable[[TuneContext], Callable[[Any], Any]] | None
    worker: int = 0
    jobs: int = 1


def run_worker(job: WorkerJob, data: Any = None) -> dict[str, Any]:
    """One worker: load the study and optimise until N complete trials (or timeout)."""
    import optuna
    from optuna.study import MaxTrialsCallback
    from optuna.trial import TrialState

    storage = job.storage.open()
    sampler = samplers.make_sampler(job.sampler, seed=job.sampler_seed, n_trials=job.n_trials,
                                    population_size=job.population_size, base_seed=job.base_seed)
    pruner = samplers.make_pruner(job.pruner, n_trials=job.n_trials,
                                  n_experiences=job.bench.scenario["n_experiences"])
    study = optuna.load_study(study_name=job.study_name, storage=storage, sampler=sampler, pruner=pruner)
    ctx = TuneContext(bench=job.bench, strategy=job.strategy, space=job.space, seed=job.train_seed,
                      multi_objective=job.multi, device=job.device, data=data, worker=job.worker)
    failures = _StopAfterFailures(MAX_CONSECUTIVE_FAILURES)
    cap = _StopAtTrialCap(MAX_TRIALS_FACTOR * job.n_trials)
    before = len(study.get_trials(deepcopy=False))
    complete = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    if len(complete) >= job.n_trials:  # other workers got there while this one started
        return {"worker": job.worker, "trials": 0, "stopped_on_failures": False, "stopped_at_cap": False}
    objective = (job.objective_factory or isocl_objective)(ctx)
    quiet = _QuietSurplus()
    optimize_logger = logging.getLogger("optuna.study._optimize")
    optimize_logger.addFilter(quiet)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            study.optimize(
                _guarded(objective, job.n_trials, job.worker, job.train_seed),
                timeout=job.timeout,
                catch=(Exception,),  # a failing trial is recorded as FAIL and the worker goes on
                callbacks=[MaxTrialsCallback(job.n_trials, states=(TrialState.COMPLETE,)),
                           failures, cap],
                gc_after_trial=False,
            )
    finally:
        optimize_logger.removeFilter(quiet)
    return {"worker": job.worker, "trials": len(study.get_trials(deepcopy=False)) - before,
            "stopped_on_failures": failures.tripped, "stopped_at_cap": cap.tripped}


# Optuna logs every failed trial with its traceback; a surplus trial is not an error
class _QuietSurplus(logging.Filter):
    """One short line instead of Optuna's failure warning and traceback for a surplus trial."""

    _FAILED = re.compile(r"Trial (\d+) failed with ")

    def __init__(self):
        super().__init__()
        self.surplus: set[str] = set()

    def filter(self, record: logging.LogRecord) -> bool:
        msg = record.getMessage()
        m = self._FAILED.match(msg)
        if m is None:
            return True
        if "_SurplusTrial" in msg:
            self.surplus.add(m.group(1))
            record.msg, record.args = f"Trial {m.group(1)} not run: the study has its trials (finished or running)", ()
            record.levelno, record.levelname = logging.INFO, "INFO"
            record.exc_info, record.exc_text = None, None
            return True
        return m.group(1) not in self.surplus  # drop the follow-up "failed with value None"


def _share_cores(jobs: int) -> None:
    """Share the CPU between ``jobs`` workers (read by torch when it is first imported) and install the isocl
    command's warning filters (its --verbose travels in the environment)."""
    threads = str(max(1, (os.cpu_count() or 1) // max(1, jobs)))
    os.environ.setdefault("OMP_NUM_THREADS", threads)
    os.environ.setdefault("MKL_NUM_THREADS", threads)
    from isocl.bench.quiet import install

    install()


def _run_job(job: WorkerJob, data: Any = None) -> int:
    """One worker's share of a study, in a worker process; its exit code (0; 3: stopped on failures;
    4: stopped at the trial cap; 130: interrupted, Optuna has failed its trial)."""
    lock = StudyLock(job.storage.lock_path)
    lock.acquire(exclusive=False)  # keeps other runs from taking this worker's trials for stale ones
    try:
        result = run_worker(job, data=data)
    except KeyboardInterrupt:  # Ctrl-C, or the driver passing on its SIGTERM
        return 130
    finally:
        lock.release()
    return 3 if result["stopped_on_failures"] else 4 if result["stopped_at_cap"] else 0


def _worker_process(job: WorkerJob) -> None:
    """Entry point of a spawned worker process."""
    _share_cores(job.jobs)
    sys.exit(_run_job(job))  # 130 quietly: the driver says "interrupted" once


def _exit_errors(jobs: list[WorkerJob], codes: list[int | None]) -> list[str]:
    errors = []
    for job, code in zip(jobs, codes):
        if code == 4:
            errors.append(f"worker {job.worker} stopped at the cap of {MAX_TRIALS_FACTOR * job.n_trials} trials: "
                          "too few of them complete (pruned or failed ones do not count)")
        elif code == 3:
            errors.append(f"worker {job.worker} stopped after {MAX_CONSECUTIVE_FAILURES} failed trials in a row")
        elif code != 0:
            errors.append(f"worker {job.worker} exited with code {code}")
    return errors


def _interrupt(procs) -> None:
    """Ctrl-C reaches the workers too; a SIGTERM reaches the driver alone: pass it on as SIGINT, so every
    worker fails its trial (it is retried on resume) and exits instead of finishing its share."""
    for p in procs:
        if p.is_alive():
            with contextlib.suppress(ProcessLookupError):
                os.kill(p.pid, signal.SIGINT)
    for p in procs:
        p.join(timeout=30)
        if p.is_alive():
            p.terminate()


def run_parallel(jobs: list[WorkerJob]) -> list[str]:
    """K worker processes (spawn: a clean interpreter each, safe with torch threads and CUDA)."""
    import multiprocessing

    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_worker_process, args=(job,), name=f"isocl-tune-{job.worker}") for job in jobs]
    for p in procs:
        p.start()
    try:
        for p in procs:
            p.join()
    except KeyboardInterrupt:
        _interrupt(procs)
        raise
    return _exit_errors(jobs, [p.exitcode for p in procs])


_POOL_DATA: dict[str, Any] = {}  # a pool worker's CIFAR-10, loaded for its first study and kept


def _pool_worker(index: int, size: int, inbox, results) -> None:
    """A :class:`WorkerPool` process: runs the jobs it is handed, one after another, until told to stop
    (``None``) or interrupted."""
    _share_cores(size)
    while True:
        job = inbox.get()
        if job is None:
            return
        if "data" not in _POOL_DATA and job.objective_factory is None:  # isocl's objective reads CIFAR-10
            from isocl.bench.data import load_cifar10

            _POOL_DATA["data"] = load_cifar10()
        code = _run_job(job, data=_POOL_DATA.get("data"))
        results.put((index, code))
        if code == 130:
            return


class WorkerPool:
    """``size`` spawned worker processes kept from one study to the next (``isocl tune --strategy all``).

    :func:`run_parallel` starts fresh processes for every study: each imports torch and Avalanche and loads
    CIFAR-10 again (about 30 s a worker on a 2-core machine, longer than a quick benchmark's whole trial).
    A pool's workers do that once. Each job of a study goes to its own worker (one inbox each), so a study's
    K jobs run at once as with :func:`run_parallel`; results and exit codes are the same. Written here
    rather than with ``multiprocessing.Pool`` or ``ProcessPoolExecutor``: those may hand two jobs of one study
    to the same worker one after the other, and they lose a task whose worker is interrupted.
    """

    def __init__(self, size: int):
        import multiprocessing

        self._ctx = multiprocessing.get_context("spawn")
        self.size = size
        self._results = self._ctx.Queue()
        self._inboxes: list[Any] = [None] * size
        self._procs: list[Any] = [None] * size
        for i in range(size):
            self._start(i)

    def _start(self, i: int) -> None:
        self._inboxes[i] = self._ctx.Queue()
        self._procs[i] = self._ctx.Process(target=_pool_worker, args=(i, self.size, self._inboxes[i], self._results),
                                           name=f"isocl-tune-{i}")
        self._procs[i].start()

    @property
    def pids(self) -> list[int | None]:
        return [p.pid for p in self._procs]

    def run(self, jobs: list[WorkerJob]) -> list[str]:
        """Run ``jobs`` (at most ``size``) at once, one per worker; the workers' errors, as :func:`run_parallel`."""
        import queue

        if len(jobs) > self.size:
            raise ValueError(f"{len(jobs)} jobs for a pool of {self.size} workers")
        for i, job in enumerate(jobs):
            if not self._procs[i].is_alive():  # killed in an earlier study (e.g. out of memory): a fresh one
                self._start(i)
            self._inboxes[i].put(job)
        codes: dict[int, int | None] = {}
        try:
            while len(codes) < len(jobs):
                try:
                    index, code = self._results.get(timeout=1.0)
                    codes[index] = code
                except queue.Empty:  # a worker killed mid-trial never answers (one that ends cleanly answers first)
                    for i in range(len(jobs)):
                        if i not in codes and not self._procs[i].is_alive() and self._procs[i].exitcode != 0:
                            codes[i] = self._procs[i].exitcode
        except KeyboardInterrupt:
            _interrupt(self._procs)
            raise
        return _exit_errors(jobs, [codes[i] for i in range(len(jobs))])

    def close(self) -> None:
        for inbox, p in zip(self._inboxes, self._procs):
            if p.is_alive():
                inbox.put(None)
        for p in self._procs:
            p.join(timeout=30)
            if p.is_alive():
                p.terminate()

    def __enter__(self) -> "WorkerPool":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


