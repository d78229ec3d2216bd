"""Run benchmark units (strategy x seed) and record their results.

:func:`run_unit` trains one strategy on one seed through the experiences and
evaluates after each (test stream, or the validation stream for tuning).
:func:`run_benchmark` runs every unit of a benchmark into a results
directory (docs/results-format.md), skipping units already finished there,
and adds fixed-width twins of neuroplastic strategies.
"""

from __future__ import annotations

import json
import math
import random
import sys
import time
import traceback
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, BrokenExecutor, wait
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm

from isocl.bench.artifacts import FILES_KEY, write_unit_files
from isocl.bench.checkpoints import unit_model_files
from isocl.bench.config import Benchmark, ConfigError, check_online, first_duplicate, to_toml
from isocl.bench.context import StrategyContext
from isocl.bench.data import CIFAR10Tensors, find_batches_dir, load_cifar10  # noqa: F401  (tests patch both)
from isocl.bench.executors import InlineExecutor, make_executor, set_worker_data, stop_executor, worker_data
from isocl.bench.progress import phase
from isocl.bench.quiet import plain_text
from isocl.bench.loggers import UnitLoggers
from isocl.bench.provenance import earlier_runs, run_manifest
from isocl.bench.metrics import (EpochProgress, NonFiniteLossGuard, PeakParams, accuracy_rows, default_evaluator,
                                 hidden_widths, stream_metric)
from isocl.bench.results import (
    RunInterrupted,
    check_same_config,
    comparable_config,
    RunStopped,
    atomic_write_text,
    check_output_folder,
    claim_output_folder,
    collate,
    lock_holder,
    lock_output_folder,
    locked_message,
    scan_units,
    summary_table,
    unit_stem,
    write_unit,
)
from isocl.bench.augment import scenario_augmentation
from isocl.bench.online import forgetting_from_matrix, train_experience
from isocl.bench.scenarios import build_scenario, scenario_seed
from isocl.bench.units import check_benchmark, companion_overrides, resolve_unit, split_companion, unit_list

__all__ = ["UnitResult", "run_benchmark", "run_unit", "run_unit_job"]



@dataclass
class UnitResult:
    """One (strategy, seed) unit: the record written to ``units/*.json``."""

    strategy: str
    seed: int
    status: str = "ok"
    final_accuracy: float = math.nan
    avg_incremental_accuracy: float = math.nan
    forgetting: float = math.nan
    bwt: float = math.nan
    params: int | None = None
    max_params: int | None = None
    widths: str = ""
    wall_time_s: float = 0.0
    error: str = ""
    params_used: dict[str, Any] = field(default_factory=dict)
    training_used: dict[str, Any] = field(default_factory=dict)  # lr, epochs, ... after per-strategy keys
    matrix: list[dict[str, Any]] = field(default_factory=list)  # trained_exp, eval_exp, accuracy, loss
    experiences: list[dict[str, Any]] = field(default_factory=list)
    structure: list[dict[str, Any]] = field(default_factory=list)
    max_widths: list[int] = field(default_factory=list)
    final_widths: list[int] = field(default_factory=list)
    traceback: str = ""
    files: dict[str, bytes] = field(default_factory=dict, repr=False)  # models/, logs/ (isocl.bench.artifacts)

    def to_dict(self) -> dict[str, Any]:
        """The record (without :attr:`files`)."""
        out = asdict(self)
        out.pop("files")
        return out


def seed_everything(seed: int) -> torch.Generator:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    return torch.Generator().manual_seed(seed)




def run_unit(
    bench: Benchmark,
    strategy: str,
    seed: int,
    *,
    scenario=None,
    data: CIFAR10Tensors | None = None,
    params: dict[str, Any] | None = None,
    eval_stream: str = "test",
    epochs: int | None = None,
    device: str | None = None,
    model_overrides: dict[str, Any] | None = None,
    on_experience: Callable[[int, float], None] | None = None,
    progress: bool = False,
    logging: dict[str, Any] | None = None,
    save_models: str = "none",
) -> UnitResult:
    """Train ``strategy`` on ``seed`` and evaluate after every experience.

    ``params`` override strategy parameters (and ``lr``, ``model.X``).
    ``eval_stream="valid"`` evaluates on the validation stream (tuning; the
    test set is never touched). ``on_experience(i, avg_accuracy)`` is called
    after each experience (the tuner reports to its pruner there; exceptions
    it raises propagate). A non-finite loss ends the unit with
    ``status="failed"``; other errors propagate. ``logging`` (a benchmark's
    ``[logging]`` table) picks Avalanche loggers; ``save_models`` is
    ``"none"``, ``"final"`` or ``"every"`` (after every experience too). Their
    files land in ``result.files`` (paths under ``logs/`` and ``models/``).
    """
    bench, spec, resolved, control = resolve_unit(bench, strategy, params)
    if scenario is None:
        scenario = build_scenario(bench, data if data is not None else load_cifar10(), seed)
    _check_unit_args(bench, scenario, eval_stream, save_models, epochs)
    unit_loggers = UnitLoggers(logging or {}, run_name=unit_stem(strategy, seed),
                               config={"strategy": strategy, "seed": seed, "benchmark": bench.name, "params": params})
    ctx = StrategyContext(
        bench=bench,
        seed=seed,
        device=torch.device(device or bench.training["device"]),
        evaluator=default_evaluator(unit_loggers.loggers),
        epochs=epochs or bench.training["epochs"],
        n_classes=scenario.n_classes,
        plugins=_unit_plugins(bench, scenario, seed, progress),
        model_overrides=dict(model_overrides or {}),
        generator=seed_everything(seed),
        control=control,
    )
    result = UnitResult(strategy=strategy, seed=seed, params_used=resolved, training_used={
        **{k: bench.training[k] for k in ("optimizer", "lr", "lr_by_activation", "weight_decay", "batch_size")},
        "epochs": ctx.epochs, "model": {**bench.model, **ctx.model_overrides}})
    snapshot = None
    if save_models != "none":
        def snapshot(i: int, model, last: bool) -> None:
            result.files.update(unit_model_files(model, bench, strategy, seed, i, final=last,
                                                 every=save_models == "every"))
    start = time.perf_counter()
    try:
        strat = spec.factory(ctx, **resolved)
        res = _train_and_evaluate(strat, scenario, eval_stream, result, on_experience,
                                  f"{strategy} seed {seed}" if progress else None, snapshot,
                                  bench.training["batch_size"] if bench.training["online"] else None, seed)
        peak = max((p.peak for p in ctx.plugins if isinstance(p, PeakParams)), default=0)
        _summarise(result, strat, res, eval_stream, ctx.audit, bench.training["online"], peak)
    except ConfigError:
        raise  # a configuration problem: exit code 2, nothing recorded
    except Exception as exc:  # noqa: BLE001 - recorded with its traceback, the other units go on
        result.status = "failed"
        result.error = plain_text(f"{type(exc).__name__}: {exc}")
        result.traceback = plain_text(traceback.format_exc())  # the scheduler prints the failure, once
    finally:
        logs = unit_loggers.close()
    result.files.update({f"logs/{unit_stem(strategy, seed)}/{k}": v for k, v in logs.items()})
    result.structure = list(ctx.audit)
    result.wall_time_s = round(time.perf_counter() - start, 2)
    return result


def _check_unit_args(bench: Benchmark, scenario, eval_stream: str, save_models: str, epochs: int | None) -> None:
    if eval_stream not in ("test", "valid"):
        raise ValueError(f"eval_stream must be 'test' or 'valid', instead got {eval_stream!r}")
    if eval_stream == "valid" and not hasattr(scenario, "valid_stream"):
        raise ConfigError(f"{bench.path or bench.name}: tuning needs scenario.validation_fraction > 0")
    if save_models not in ("none", "final", "every"):
        raise ValueError(f"save_models must be 'none', 'final' or 'every', instead got {save_models!r}")
    check_online(f"{bench.path or bench.name}: epochs", {**bench.training, "epochs": epochs or bench.training["epochs"]})


def _unit_plugins(bench: Benchmark, scenario, seed: int, progress: bool) -> list[Any]:
    """The plugins every strategy of a unit gets: the scenario's augmentation, the NaN guard, the peak
    parameter count, progress."""
    return [*scenario_augmentation(bench.scenario["augment"], scenario, seed), NonFiniteLossGuard(), PeakParams(),
            EpochProgress(disable=not progress)]


def _train_and_evaluate(strat, scenario, eval_stream: str, result: UnitResult,
                        on_experience: Callable[[int, float], None] | None, label: str | None,
                        snapshot: Callable[[int, Any, bool], None] | None = None, online: int | None = None,
                        seed: int = 0) -> dict[str, float]:
    """Train experience by experience (``online``: :func:`isocl.bench.online.train_experience`); after each,
    evaluate the seen experiences of ``eval_stream`` into ``result.matrix`` / ``result.experiences`` and call
    ``snapshot(i, model, last)``. Returns the last evaluation's metrics."""
    stream = scenario.test_stream if eval_stream == "test" else scenario.valid_stream
    n_exp = len(scenario.train_stream)
    bar = tqdm(scenario.train_stream, desc=label, position=1, leave=False, disable=label is None)
    for i, exp in enumerate(bar):
        t0 = time.perf_counter()
        train_experience(strat, exp, online, seed * 1009 + i)
        train_time = time.perf_counter() - t0
        # Only experiences seen so far: evaluating unseen ones would run Avalanche's
        # eval-time adaptation on them (PNN would add and freeze columns for future tasks).
        res = strat.eval(stream[: i + 1])
        rows = accuracy_rows(res, i, n_exp)
        result.matrix += rows
        avg = float(np.mean([r["accuracy"] for r in rows[: i + 1]]))
        widths = hidden_widths(strat.model)
        result.max_widths = ([max(a, b) for a, b in zip(result.max_widths, widths)]
                             if len(result.max_widths) == len(widths) else widths)
        result.experiences.append({
            "experience": i, "avg_accuracy": avg, "params": sum(p.numel() for p in strat.model.parameters()),
            "widths": "-".join(map(str, widths)), "wall_time_s": round(train_time, 3),
        })
        if snapshot is not None:
            snapshot(i, strat.model, i == n_exp - 1)
        if on_experience is not None:
            on_experience(i, avg)
    return res


def _summarise(result: UnitResult, strat, res: dict[str, float], eval_stream: str,
               audit: list[dict[str, Any]], online: bool = False, peak_params: int = 0) -> None:
    """Final metrics of a finished unit; peak widths and parameters include peaks inside an experience
    (``peak_params``: :class:`~isocl.bench.metrics.PeakParams`' count while training)."""
    avgs = [e["avg_accuracy"] for e in result.experiences]
    result.final_accuracy = avgs[-1]
    result.avg_incremental_accuracy = float(np.mean(avgs))
    result.forgetting = stream_metric(res, "StreamForgetting", f"{eval_stream}_stream")
    result.bwt = stream_metric(res, "StreamBWT", f"{eval_stream}_stream")
    if online:  # Avalanche's forgetting keys on the mini-experiences (all "trained" once): from the matrix
        result.forgetting, result.bwt = forgetting_from_matrix(result.matrix)
    result.params = result.experiences[-1]["params"]
    result.max_params = max(peak_params, *(e["params"] for e in result.experiences))
    result.widths = result.experiences[-1]["widths"]
    result.final_widths = hidden_widths(strat.model)
    for event in audit:  # e.g. an overabundant start before pruning
        layer = event.get("layer")
        if isinstance(layer, int) and layer < len(result.max_widths):
            result.max_widths[layer] = max(result.max_widths[layer], int(event["neurons_before"]),
                                           int(event["neurons_after"]))


# Per-process cache of a unit job (a worker runs many units; one seed's scenario at a time).
_SCENARIO_CACHE: dict[str, Any] = {}


def run_unit_job(bench: Benchmark, name: str, seed: int, overrides: dict[str, Any] | None,
                 progress: bool = False) -> dict[str, Any]:
    """One unit as an executor job: its record, with its files (models, logs) under ``FILES_KEY``. Loads the data and builds the seed's scenario
    once per process (the data: :func:`~isocl.bench.executors.worker_data`)."""
    key = json.dumps([bench.scenario, scenario_seed(bench, seed)], sort_keys=True, default=str)
    if _SCENARIO_CACHE.get("key") != key:
        _SCENARIO_CACHE.clear()
        _SCENARIO_CACHE.update(key=key, scenario=build_scenario(bench, worker_data(), seed))
    output = bench.output
    save = "none" if not output["save_models"] else ("every" if output["save_every_experience"] else "final")
    result = run_unit(bench, name, seed, scenario=_SCENARIO_CACHE["scenario"], model_overrides=overrides or None,
                      progress=progress, logging=bench.logging, save_models=save)
    return {**result.to_dict(), FILES_KEY: result.files}


def _failed_record(name: str, seed: int, exc: BaseException) -> dict[str, Any]:
    """A unit whose job died outside run_unit (a worker killed, a lost Ray task)."""
    rec = UnitResult(strategy=name, seed=seed, status="failed", error=plain_text(f"{type(exc).__name__}: {exc}"))
    rec.traceback = plain_text("".join(traceback.format_exception(exc)))  # Ray colours its tracebacks
    return rec.to_dict()


_comparable, _check_same_config = comparable_config, check_same_config  # (their older names)


def _resolve_run(bench: Benchmark, names: list[str], seeds: list[int], epochs: int | None,
                 device: str | None) -> Benchmark:
    """The run's resolved benchmark (epochs, device, seeds, strategies), every unit checked with it
    (parameters bounded by the epochs, e.g. finetune_epochs); writes nothing."""
    bench = bench.replace()
    if epochs is not None:
        bench.training["epochs"] = epochs
    device = device or bench.training["device"]
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError(f"--device {device}: CUDA is not available on this machine")
    bench.training["device"] = device
    bench.training["seeds"] = seeds
    bench.strategies = names
    dup = first_duplicate(seeds)
    if dup is not None:
        raise ConfigError(f"seeds {seeds}: {dup!r} is given twice; expected each once (a unit runs once)")
    for name in names:
        resolve_unit(bench, name)  # with the run's epochs
    units = unit_list(bench, names, seeds)
    dup = first_duplicate(units)
    if dup is not None:
        raise ConfigError(f"strategies {names}: unit {dup[0]} seed {dup[1]} would run twice (a fixed-width twin or "
                          "control is run beside its strategy already); list it once")
    return bench


def _check_output(out: Path, bench: Benchmark) -> str:
    """Whether ``out`` may take this run (reads only): its state (check_output_folder), refusing a folder
    another process is writing into and one holding another configuration."""
    state = check_output_folder(out, "run")  # a folder isocl did not write is never written into
    holder = lock_holder(out) if state != "new" else None
    if holder is not None:
        raise ConfigError(locked_message(out, holder))
    _check_same_config(out, bench)
    return state


def _schedule(bench: Benchmark, out: Path, units: list[tuple[str, int]], done: dict, executor,
              jobs: int, progress: bool, commit: str = "") -> None:
    """Run the missing units on ``executor``, at most ``jobs`` at a time; a companion is
    submitted once its parent has finished (it needs the parent's widths). Only this
    process writes: each finished record atomically (with ``git_commit``, the commit that
    ran it: a folder resumed at another commit says which units came from which), then the CSVs."""
    parents = {(n, s): (split_companion(n)[1], s) for n, s in units if split_companion(n)[0] is not None}
    todo = sorted((u for u in units if u not in done), key=lambda u: u[1])  # seed by seed (stable)
    running: dict[Any, tuple[str, int]] = {}
    bar = tqdm(total=len(units), initial=len(units) - len(todo), desc="units", position=0, disable=not progress)
    inline = isinstance(executor, InlineExecutor)
    while todo or running:
        for unit in list(todo):
            if len(running) >= jobs:
                break
            overrides: dict[str, Any] | None = None
            if unit in parents:
                parent = done.get(parents[unit])
                if parent is None:
                    if parents[unit] in todo or parents[unit] in running.values():
                        continue  # wait for the parent
                    todo.remove(unit)  # the parent failed: no width to match
                    bar.update()
                    continue
                overrides = companion_overrides(unit[0], parent)
                if overrides is None:
                    todo.remove(unit)
                    bar.update()
                    continue
            todo.remove(unit)
            bar.set_postfix_str(f"{unit[0]} seed {unit[1]}")
            try:
                future = executor.submit(run_unit_job, bench, unit[0], unit[1], overrides, progress and inline)
            except BrokenExecutor as exc:
                raise _stopped(out, done, units, f"the worker pool broke ({exc})") from None
            running[future] = unit
        if not running:
            continue
        finished, _ = wait(list(running), return_when=FIRST_COMPLETED)
        for future in finished:
            name, seed = running.pop(future)
            try:
                record = future.result()
            except BrokenExecutor:  # a worker process died (SIGKILL, out of memory): every running unit is lost
                lost = ", ".join(f"{n} seed {s}" for n, s in [(name, seed), *running.values()])
                raise _stopped(out, done, units, "a worker process died (killed, e.g. out of memory) while "
                               f"running {lost}") from None
            except Exception as exc:  # noqa: BLE001 - a failed task: a failed unit, the rest go on
                record = _failed_record(name, seed, exc)
            if record["status"] != "ok" and progress:
                tqdm.write(f"unit {name} seed {seed} failed: {record['error']}")
            record["git_commit"] = commit
            try:
                write_unit_files(out, name, seed, record.pop(FILES_KEY, None) or {})  # before the record: resume-safe
                write_unit(out, record)
            except OSError as exc:  # a full disk, a folder gone read-only: the unit is not saved, it reruns
                raise _stopped(out, done, units, f"cannot write the record of {name} seed {seed} "
                               f"({exc.strerror or exc})") from None
            if record["status"] == "ok":
                done[(name, seed)] = record
            try:
                collate(out, units)
            except OSError as exc:  # the record is saved: the CSVs are rewritten from the records on resume
                raise _stopped(out, done, units, f"cannot write the CSV files ({exc.strerror or exc})") from None
            bar.update()
    bar.close()


def _stopped(out: Path, done: dict, units: list[tuple[str, int]], why: str) -> RunStopped:
    saved = sum(1 for u in units if u in done)
    return RunStopped(f"{why}; the run stopped with {saved} of {len(units)} units saved in {out} "
                      "(finished units are never rerun); rerun the same command to resume")


def _set_aside_damaged(out: Path) -> None:
    """Rename damaged unit records (``X.json`` -> ``X.json.damaged``) so that those units rerun and the
    CSVs hold each finished unit once; says so on stderr."""
    _, damaged = scan_units(out)
    for path, why in damaged:
        target = path.with_name(path.name + ".damaged")
        n = 1
        while target.exists():
            n += 1
            target = path.with_name(f"{path.name}.damaged{n}")
        try:
            path.rename(target)
        except OSError as exc:
            raise ConfigError(f"{path} is damaged ({why}) and cannot be set aside ({exc.strerror or exc}); "
                              "move it away and rerun") from None
        print(f"isocl run: warning: {path} is damaged ({why}); kept as {target.name}, the unit runs again",
              file=sys.stderr)


def run_benchmark(
    bench: Benchmark,
    out: Path,
    *,
    strategies: list[str] | None = None,
    seeds: list[int] | None = None,
    epochs: int | None = None,
    device: str | None = None,
    data: CIFAR10Tensors | None = None,
    progress: bool = True,
    command: list[str] | None = None,
    jobs: int = 1,
    threads: int | None = None,
    executor=None,
    check_data: bool = True,
) -> Any:
    """Run every unit into ``out`` (resuming), write the CSVs; returns the summary frame, with
    ``df.attrs["units"]`` (this run's units) and ``df.attrs["failed"]`` (those of them that failed).

    Everything is checked before anything is written: the strategies and their parameters, the
    output folder (and that no other process writes into it), the data (in this process, even when
    workers load their own copy; ``check_data=False`` for a remote cluster's). Then the folder is
    locked for this process alone (:func:`isocl.bench.results.lock_output_folder`).

    ``jobs > 1`` runs units in that many spawned worker processes with ``threads`` torch threads each
    (default: the cores shared out); results are the same as a sequential run's at the same thread
    count. ``executor`` (any :class:`concurrent.futures.Executor`) replaces the pool; a callable
    returning ``(executor, jobs)`` is called once the run is validated (Ray connects only then) and
    its executor is shut down at the end. SIGINT / SIGTERM (a KeyboardInterrupt) stop the workers
    and raise :class:`~isocl.bench.results.RunInterrupted`.
    """
    if epochs is not None:  # the run's epochs bound parameters such as finetune_epochs: checked with them
        bench = bench.replace()
        bench.training["epochs"] = epochs
        check_online("--epochs", bench.training)
    names = check_benchmark(bench, strategies)
    seeds = list(seeds if seeds is not None else bench.training["seeds"])
    out = Path(out)
    bench = _resolve_run(bench, names, seeds, epochs, device)
    state = _check_output(out, bench)
    loaded = None
    if data is None and check_data:  # bad data: exit 2 now, not a results folder of failed units
        with phase("loading CIFAR-10", enabled=progress):
            loaded = load_cifar10()
    units = unit_list(bench, names, seeds)
    own = executor is None or callable(executor) and not hasattr(executor, "submit")
    if executor is None:
        executor = make_executor(jobs, threads, data)
    elif own:
        executor, jobs = executor()  # e.g. Ray: connects now that the run is valid
    if data is None and isinstance(executor, InlineExecutor):
        data = loaded  # units run in this process: they use the copy checked here
    del loaded  # worker processes load their own copy (one process's copy is not shipped to each of them)
    done: dict[tuple[str, int], dict[str, Any]] = {}
    try:
        with lock_output_folder(out, command):
            df = _write_and_run(bench, out, state, units, done, executor, jobs, data, progress, command)
    except KeyboardInterrupt as exc:  # Ctrl-C or SIGTERM (isocl.cli raises it): workers stopped at once
        stop_executor(executor)
        own = False
        raise RunInterrupted(sum(1 for u in units if u in done), len(units), getattr(exc, "signum", 2)) from None
    finally:
        if own:
            executor.shutdown(cancel_futures=True)
    records = {(u["strategy"], u["seed"]): u["status"] for u in scan_units(out)[0]}
    ran = [u for u in units if u in records]
    df.attrs.update(units=len(ran), failed=sum(1 for u in ran if records[u] != "ok"))
    return df


def _write_and_run(bench: Benchmark, out: Path, state: str, units: list[tuple[str, int]], done: dict, executor,
                   jobs: int, data, progress: bool, command: list[str] | None):
    """Under the folder's lock: check the configuration again, write config and manifest, run the missing
    units (``done`` fills as they finish), write the CSVs; the summary frame."""
    _check_same_config(out, bench)  # again, now that no other process can write
    earlier = earlier_runs(out)  # before the claim, which writes a manifest of its own
    claim_output_folder(out, "run", command, checked=state)
    atomic_write_text(out / "config.toml", to_toml(bench.to_dict()))
    manifest = run_manifest(bench, bench.training["device"], command)
    manifest.update(jobs=jobs, earlier_runs=earlier)
    atomic_write_text(out / "manifest.json", json.dumps(manifest, indent=1))
    _set_aside_damaged(out)
    done.update({(u["strategy"], u["seed"]): u for u in scan_units(out)[0] if u.get("status") == "ok"})
    set_worker_data(data)  # this process's unit jobs (a sequential run); pools get it at start-up
    _SCENARIO_CACHE.clear()
    _schedule(bench, out, units, done, executor, jobs if not isinstance(executor, InlineExecutor) else 1, progress,
              manifest["git_commit"])
    df = collate(out, units)
    manifest["finished"] = datetime.now(timezone.utc).isoformat(timespec="seconds")
    atomic_write_text(out / "manifest.json", json.dumps(manifest, indent=1))
    return df


def print_summary(df, out: Path) -> str:
    text = summary_table(df)
    return f"{text}\n\nresults: {out}"
