"""``isocl tune``: validate everything, open or resume the study, run the
missing trials, write the outputs.

What one trial is: the strategy trained once (one seed: the benchmark's
first, or ``--seed``) through every experience, scored on the validation
stream (see :mod:`isocl.tuning.objective`). ``--trials N`` is the target
number of *complete* trials: pruned and failed trials are kept (as PRUNED
and FAIL) but do not count, so that every study of an equal-budget
comparison ends with the same number of complete trials whatever the pruner
cut; rerunning the same command resumes the study.
"""

from __future__ import annotations

import math
import re
import time
import warnings
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from isocl.bench.config import Benchmark, ConfigError
from isocl.bench.results import check_output_folder, claim_output_folder, first_missing, undo_new_folder
from isocl.tuning import samplers, storage as storages, workers
from isocl.tuning.objective import DIRECTIONS_MULTI, DIRECTIONS_SINGLE, OBJECTIVE_NAMES, TuneContext
from isocl.tuning.outputs import write_outputs
from isocl.tuning.space import default_space, is_int, is_num, space_to_toml, validate_space


@dataclass
class TuneResult:
    """What :func:`tune` did and left behind."""

    study_name: str
    storage: str
    out_dir: Path
    n_target: int
    n_complete: int
    n_pruned: int
    n_failed: int  # FAIL trials that ran (exceptions, killed workers); surplus ones are n_surplus
    new_trials: int
    stale_failed: list[int]
    space: dict[str, dict[str, Any]]
    best_value: Any = None
    best_params: dict[str, Any] = field(default_factory=dict)
    best_trial: int | None = None
    best_toml: Path | None = None
    pareto_tomls: list[Path] = field(default_factory=list)
    plots: list[Path] = field(default_factory=list)
    wall_time_s: float = 0.0
    worker_errors: list[str] = field(default_factory=list)
    n_surplus: int = 0
    trial_seconds: float = 0.0  # the summed run time of every trial the study holds (all states, all runs)
    n_valid: int | None = None  # validation images the objective read (single objective)
    edges: list[str] = field(default_factory=list)  # tuned parameters at an edge of their range

    @property
    def objective_se(self) -> float | None:
        """Binomial standard error of the best validation accuracy: sqrt(p (1 - p) / n_valid)."""
        if self.n_valid and isinstance(self.best_value, float):
            p = min(max(self.best_value, 0.0), 1.0)
            return math.sqrt(p * (1 - p) / self.n_valid)
        return None

    @property
    def ok(self) -> bool:
        return not self.worker_errors and self.best_toml is not None

    def summary(self) -> str:
        done = self.n_complete
        lines = [f"study {self.study_name!r} ({self.storage}): {done}/{self.n_target} complete trials "
                 f"({self.n_pruned} pruned and {self.n_failed} failed, which do not count)"
                 + (f", {self.n_surplus} surplus (never ran)" if self.n_surplus else "") + "; "
                 f"{self.new_trials} new this run, {self.wall_time_s:.0f} s"]
        if self.stale_failed:
            lines.append(f"trials left RUNNING by a dead worker, marked FAIL and retried: {self.stale_failed}")
        if done < self.n_target:
            lines.append("the study is short of the target: rerun the same command to resume it")
        if self.best_toml is not None:
            value = (", ".join(f"{n} {_fmt(v)}" for n, v in zip(OBJECTIVE_NAMES, self.best_value))
                     if isinstance(self.best_value, (list, tuple)) else f"valid accuracy {self.best_value:.4f}")
            se = self.objective_se
            lines.append(f"best: trial {self.best_trial}: {value}"
                         + (f" (standard error {se:.4f} over {self.n_valid} validation images)" if se else ""))
            lines += [f"  {k} = {_fmt(v)}" + ("   <- at the edge of its range: the optimum may lie outside"
                                              if k in self.edges else "") for k, v in self.best_params.items()]
            if self.pareto_tomls:
                lines.append(f"Pareto front: {len(self.pareto_tomls)} trials in {self.pareto_tomls[0].parent}/")
            lines.append(f"best configuration: {self.best_toml}")
            if self.plots:
                lines.append("plots: " + ", ".join(str(p) for p in self.plots))
            lines.append(f"test-set evaluation: isocl evaluate {self.best_toml} --seeds 0,1,2")
        else:
            lines.append("no complete trial yet: no best.toml")
        lines += [f"error: {e}" for e in self.worker_errors]
        return "\n".join(lines)


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.4g}"
    return str(v)


def _safe_name(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("._") or "study"


def _pos_int(name: str, v: Any, minimum: int = 1) -> int:
    if not is_int(v) or v < minimum:
        raise ConfigError(f"{name} {v!r}: expected an int >= {minimum}")
    return v


@dataclass
class _Plan:
    """Everything :func:`tune` validated before it creates or changes a study."""

    bench: Benchmark
    strategy: str
    n_trials: int
    jobs: int
    space: dict[str, dict[str, Any]]
    declared: bool  # the space came from the benchmark's [search.STRATEGY] table
    train_seed: int
    name: str
    out_dir: Path
    spec: storages.StorageSpec
    storage: Any  # the opened Optuna storage
    migrate_from: storages.StorageSpec | None  # a one-worker SQLite study to copy into the journal
    source: Any  # its opened storage, when it holds the study
    exists: bool
    multi: bool
    sampler: str
    pruner: str
    out_state: str = "resume"  # check_output_folder's answer before the study was opened
    out_created: Path | None = None  # the folder creating out_dir created (removed again on bad input)


def check_study_arguments(strategy: Any, n_trials: Any, jobs: Any, timeout: Any, epochs: Any, seed: Any,
                          device: Any) -> None:
    """Refuse a bad ``isocl tune`` argument with one line (exit code 2) before anything is written."""
    _pos_int("--trials", n_trials)
    _pos_int("--jobs", jobs)
    if timeout is not None and (not is_num(timeout) or not math.isfinite(timeout) or timeout <= 0):
        raise ConfigError(f"--timeout {timeout!r}: expected a finite number of seconds > 0")
    if epochs is not None:
        _pos_int("--epochs", epochs)
    if seed is not None:
        _pos_int("--seed", seed, 0)
    if not isinstance(strategy, str) or not strategy or ":" in strategy:
        raise ConfigError(f"--strategy {strategy!r}: expected a registered strategy name (twins are not tuned)")
    if device is not None and not (device == "cpu" or device.startswith("cuda")):
        raise ConfigError(f"--device {device!r}: expected 'cpu' or 'cuda[:N]'")


def check_study_benchmark(bench: Benchmark, strategy: str, where: str) -> None:
    """Refuse a strategy that ``bench`` cannot run (unknown, wrong setting or model kind) before a study starts."""
    from isocl.bench.registry import UnknownStrategy
    from isocl.bench.units import check_benchmark

    try:
        check_benchmark(bench, [strategy])
    except UnknownStrategy as exc:
        raise ConfigError(f"{where}: --strategy {strategy}: {exc}") from None
    if not bench.scenario["validation_fraction"] > 0:
        raise ConfigError(
            f"{where}: scenario.validation_fraction = {bench.scenario['validation_fraction']}: tuning scores trials on "
            "a validation split of the training data and never on the test set; expected a number in (0, 1), e.g. 0.1"
        )


def _plan(bench: Benchmark, strategy: str, n_trials: int, *, storage: str | None, study_name: str | None,
          jobs: int, out: str | Path | None, pruner: str | None, sampler: str | None, multi: bool,
          seed: int | None, epochs: int | None, log: Callable[[str], None]) -> _Plan:
    """Validate the strategy, search space, storage and an existing study's compatibility (read-only)."""
    where = str(bench.path or bench.name)
    sampler_name = samplers.resolve_sampler(sampler, multi)
    pruner_name = samplers.resolve_pruner(pruner, multi)
    check_study_benchmark(bench, strategy, where)
    bench = bench.replace()
    if epochs is not None:
        bench.training["epochs"] = epochs
    declared = bench.search.get(strategy)
    space = validate_space(declared, strategy, bench, where) if declared is not None else default_space(strategy, bench)
    stem = Path(bench.path).stem if bench.path else bench.name
    name = study_name or f"{stem}-{strategy}"
    if not isinstance(name, str) or not name.strip():
        raise ConfigError(f"--study {study_name!r}: expected a non-empty name")
    out_dir = Path(out) if out is not None else Path("results") / "tune" / _safe_name(name)
    out_state = check_output_folder(out_dir, "tune")  # a folder isocl did not write is never written into
    out_created = first_missing(out_dir)
    try:  # opening a local study creates its folder: removed again if the study turns out incompatible
        spec, migrate_from = storages.resolve_storage(storage, out_dir, jobs)
        if spec.kind == "sqlite" and jobs > 1:
            log(f"isocl tune: note: {jobs} workers sharing an SQLite file; Optuna advises a journal file "
                "(--storage journal:PATH) or PostgreSQL for parallel workers")
        storage_obj = storages.open_checked(spec)
        directions = DIRECTIONS_MULTI if multi else DIRECTIONS_SINGLE
        source = None
        if migrate_from is not None:
            source = storages.open_checked(migrate_from)
            try:
                source.get_study_id_from_name(name)
            except KeyError:
                source = None
        if source is not None:
            storages.check_existing(source, migrate_from, name, strategy, directions, space, where)
        exists = storages.check_existing(storage_obj, spec, name, strategy, directions, space, where)
    except BaseException:
        undo_new_folder(out_dir, out_state, out_created)
        raise
    return _Plan(bench=bench, strategy=strategy, n_trials=n_trials, jobs=jobs, space=space,
                 declared=declared is not None, train_seed=seed if seed is not None else bench.training["seeds"][0],
                 name=name, out_dir=out_dir, spec=spec, storage=storage_obj, migrate_from=migrate_from,
                 source=source, exists=exists, multi=multi, sampler=sampler_name, pruner=pruner_name,
                 out_state=out_state, out_created=out_created)


def _open_study(plan: _Plan, exclusive: bool, log: Callable[[str], None]):
    """Create or load the study (copying a one-worker study into the journal first); returns (study, stale trials).

    ``exclusive``: this run holds the study lock alone, so trials still RUNNING were left by a dead process.
    """
    import optuna

    stale: list[int] = []
    if plan.source is not None and not plan.exists:
        if not exclusive:
            raise ConfigError(f"study {plan.name!r} in {plan.migrate_from.display()} is in use by another isocl "
                              f"tune; wait for it to finish before resuming it with --jobs {plan.jobs}")
        src_study = optuna.load_study(study_name=plan.name, storage=plan.source)
        stale += storages.fail_stale_trials(src_study)
        optuna.copy_study(from_study_name=plan.name, from_storage=plan.source, to_storage=plan.storage)
        log(f"isocl tune: copied study {plan.name!r} from {plan.migrate_from.display()} to {plan.spec.display()} "
            "for parallel workers (the journal is used from now on)")
    directions = DIRECTIONS_MULTI if plan.multi else DIRECTIONS_SINGLE
    study = optuna.create_study(study_name=plan.name, storage=plan.storage, directions=directions,
                                load_if_exists=True)
    with warnings.catch_warnings():  # experimental since Optuna 3.2; names the objectives in Optuna's plots
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        study.set_metric_names(list(OBJECTIVE_NAMES if plan.multi else OBJECTIVE_NAMES[:1]))
    if study.user_attrs.get(storages.STUDY_ATTR) is None:
        study.set_user_attr(storages.STUDY_ATTR, {
            "strategy": plan.strategy, "benchmark": str(plan.bench.path or plan.bench.name), "seed": plan.train_seed,
            "multi_objective": plan.multi, "space": plan.space,
            "population_size": max(4, min(50, plan.n_trials // 4))})
    if exclusive:
        stale += storages.fail_stale_trials(study)
    return study, stale


def _run_trials(plan: _Plan, study, *, timeout: float | None, device: str | None, data: Any,
                objective_factory: Callable | None, log: Callable[[str], None],
                pool: workers.WorkerPool | None = None) -> tuple[int, list[str]]:
    """Run the trials still missing with up to ``plan.jobs`` workers; returns (trials before, worker errors)."""
    from optuna.trial import TrialState

    n_existing = len(study.get_trials(deepcopy=False))
    errors: list[str] = []
    # Rounds: a round's workers stop once complete + running trials reach the target, so a running
    # trial that is then pruned or fails leaves the study short, and another round runs. A round
    # that adds no complete trial and stops on errors ends the loop (a bug, not bad luck).
    while True:
        counts = Counter(t.state for t in study.get_trials(deepcopy=False))
        done = counts[TrialState.COMPLETE]
        remaining = max(0, plan.n_trials - done)
        log(f"isocl tune: {done} complete trials ({counts[TrialState.PRUNED]} pruned, "
            f"{counts[TrialState.FAIL]} failed: neither counts); "
            + (f"running {remaining} more with {min(plan.jobs, remaining)} worker(s)" if remaining else
               f"target of {plan.n_trials} complete trials reached, no trial to run"))
        if not remaining:
            return n_existing, errors
        round_errors = _run_round(plan, study, remaining, timeout=timeout, device=device, data=data,
                                  objective_factory=objective_factory, pool=pool)
        after = sum(1 for t in study.get_trials(deepcopy=False) if t.state == TrialState.COMPLETE)
        if round_errors or after == done or timeout is not None:
            return n_existing, errors + round_errors


def _run_round(plan: _Plan, study, remaining: int, *, timeout: float | None, device: str | None, data: Any,
               objective_factory: Callable | None, pool: workers.WorkerPool | None = None) -> list[str]:
    """One round of at most ``plan.jobs`` workers; returns the workers' errors."""
    n_existing = len(study.get_trials(deepcopy=False))
    n_workers = min(plan.jobs, remaining)
    info = study.user_attrs[storages.STUDY_ATTR]
    base_job = dict(bench=plan.bench, strategy=plan.strategy, space=plan.space, study_name=plan.name,
                    storage=plan.spec, n_trials=plan.n_trials, multi=plan.multi, sampler=plan.sampler,
                    base_seed=plan.train_seed, population_size=int(info.get("population_size", 8)),
                    pruner=plan.pruner, train_seed=plan.train_seed, timeout=timeout, device=device,
                    objective_factory=objective_factory, jobs=n_workers)
    errors: list[str] = []
    if n_workers == 1:
        job = workers.WorkerJob(**base_job, sampler_seed=samplers.worker_seed(plan.train_seed, n_existing, 0))
        outcome = workers.run_worker(job, data=data)
        if outcome["stopped_on_failures"]:
            errors.append(f"stopped after {workers.MAX_CONSECUTIVE_FAILURES} failed trials in a row "
                          "(see the log above)")
        elif outcome["stopped_at_cap"]:
            errors.append(f"stopped at the cap of {workers.MAX_TRIALS_FACTOR * plan.n_trials} trials: too few of "
                          "them complete (pruned or failed ones do not count)")
    elif n_workers > 1:
        jobs = [workers.WorkerJob(**base_job, sampler_seed=samplers.worker_seed(plan.train_seed, n_existing, w),
                                  worker=w) for w in range(n_workers)]
        errors += pool.run(jobs) if pool is not None else workers.run_parallel(jobs)
    return errors


def _result(plan: _Plan, *, n_existing: int, stale: list[int], errors: list[str], plots: bool,
            start: float) -> TuneResult:
    """Reload the study, write its outputs and count its trials."""
    import optuna
    from optuna.trial import TrialState

    study = optuna.load_study(study_name=plan.name, storage=plan.storage)
    trials = study.get_trials(deepcopy=False)
    counts = Counter(t.state for t in trials)
    surplus = sum(1 for t in trials if t.state == TrialState.FAIL and t.user_attrs.get("isocl_surplus"))
    written = write_outputs(study, plan.bench, plan.strategy, plan.out_dir, multi=plan.multi, seed=plan.train_seed,
                            plots=plots)
    result = TuneResult(
        study_name=plan.name, storage=plan.spec.display(), out_dir=plan.out_dir, n_target=plan.n_trials,
        n_complete=counts[TrialState.COMPLETE], n_pruned=counts[TrialState.PRUNED],
        n_failed=counts[TrialState.FAIL] - surplus, n_surplus=surplus,
        new_trials=len(trials) - n_existing, stale_failed=stale, space=plan.space, best_toml=written["best"],
        pareto_tomls=written["pareto"], plots=written["plots"], wall_time_s=time.perf_counter() - start,
        worker_errors=errors,
    )
    result.trial_seconds = sum((t.datetime_complete - t.datetime_start).total_seconds() for t in trials
                               if t.datetime_start is not None and t.datetime_complete is not None)
    best = written.get("best_trial")
    if best is not None:
        result.best_trial, result.best_params = best.number, dict(best.params)
        result.best_value = list(best.values) if plan.multi else best.value
        result.n_valid = best.user_attrs.get("n_valid")
        result.edges = edge_params(plan.space, result.best_params)
    return result


EDGE_FRACTION = 0.05  # a tuned value in the outer 5% of its range (log-scaled where the range is) is at an edge


def edge_params(space: dict[str, dict[str, Any]], params: dict[str, Any]) -> list[str]:
    """The numeric parameters of ``params`` that lie at an edge of their range in ``space``: within
    EDGE_FRACTION of the range's width of ``low`` or ``high`` (in log space for log ranges; an int
    range of few values counts only its end values)."""
    out = []
    for key, value in params.items():
        s = space.get(key)
        if s is None or s["type"] == "categorical" or not is_num(value):
            continue
        low, high = s["low"], s["high"]
        if s.get("log"):
            low, high, value = math.log(low), math.log(high), math.log(value)
        position = (value - low) / (high - low)
        if s["type"] == "int" and (s["high"] - s["low"]) < 1 / EDGE_FRACTION:
            if value in (low, high):
                out.append(key)
        elif position <= EDGE_FRACTION or position >= 1 - EDGE_FRACTION:
            out.append(key)
    return out


def tune(
    bench: Benchmark,
    strategy: str,
    n_trials: int,
    *,
    storage: str | None = None,
    study_name: str | None = None,
    jobs: int = 1,
    timeout: float | None = None,
    out: str | Path | None = None,
    pruner: str | None = None,
    sampler: str | None = None,
    multi_objective: bool = False,
    seed: int | None = None,
    epochs: int | None = None,
    device: str | None = None,
    data: Any = None,
    objective_factory: Callable[[TuneContext], Callable[[Any], Any]] | None = None,
    plots: bool = True,
    log: Callable[[str], None] = print,
    pool: workers.WorkerPool | None = None,
) -> TuneResult:
    """Tune ``strategy`` on ``bench``'s validation stream until the study has ``n_trials`` finished trials.

    Everything (arguments, strategy, search space, storage, an existing
    study's compatibility) is validated before a study is created or loaded.
    ``objective_factory(ctx) -> objective(trial)`` replaces the default
    objective (:func:`isocl_objective`; tests use cheap ones); with
    ``jobs > 1`` it must be picklable (a module-level function). ``data``
    (CIFAR-10 tensors) is reused by the in-process worker (``jobs == 1``). ``pool``: worker processes
    kept across studies (:class:`~isocl.tuning.workers.WorkerPool`, at least ``jobs`` of them) instead of
    ``jobs`` fresh ones.
    """
    import optuna

    start = time.perf_counter()
    check_study_arguments(strategy, n_trials, jobs, timeout, epochs, seed, device)
    plan = _plan(bench, strategy, n_trials, storage=storage, study_name=study_name, jobs=jobs, out=out,
                 pruner=pruner, sampler=sampler, multi=multi_objective, seed=seed, epochs=epochs, log=log)
    try:
        if objective_factory is None and data is None:
            from isocl.bench.data import find_batches_dir

            find_batches_dir()  # DataError now rather than in every worker (extracts the archive once, for all)
        # -- validated: from here on the study is created / changed
        claim_output_folder(plan.out_dir, "tune", checked=plan.out_state)
    except BaseException:
        undo_new_folder(plan.out_dir, plan.out_state, plan.out_created)
        raise
    log(f"isocl tune: study {plan.name!r} in {plan.spec.display()}; strategy {strategy!r}, seed {plan.train_seed}, "
        f"{plan.bench.training['epochs']} epochs, sampler {plan.sampler}, pruner {plan.pruner}"
        + (", objectives: valid accuracy (max), forgetting (min), params (min)" if multi_objective else ""))
    log(("search space (from the benchmark file):" if plan.declared else
         "search space (default; paste into the benchmark file to change it):")
        + "\n" + space_to_toml(strategy, plan.space).rstrip())
    lock = storages.StudyLock(plan.spec.lock_path)
    exclusive = lock.acquire(exclusive=True)
    try:
        optuna.logging.set_verbosity(optuna.logging.INFO)
        study, stale = _open_study(plan, exclusive, log)
        lock.share()
        if stale:
            log(f"isocl tune: trials {stale} were left RUNNING by a worker that died: marked FAIL, "
                "their parameters queued again")
        n_existing, errors = _run_trials(plan, study, timeout=timeout, device=device, data=data,
                                         objective_factory=objective_factory, log=log, pool=pool)
    finally:
        lock.release()
    return _result(plan, n_existing=n_existing, stale=stale, errors=errors, plots=plots, start=start)
