"""``isocl tune BENCH --strategy all``: every strategy of a benchmark under one tuning budget.

Equal effort (``shared/docs/evaluation.md``): each strategy of the benchmark,
and each of its frontier points (``X@p``), gets a study that ends with the
same number of *complete* validation-only trials over its own declared space
(learning rate included); pruned and failed trials do not count, and no
pruner is used unless asked for. Each fixed-width twin of a neuroplastic
strategy is tuned as a strategy of its own at its width: the tuned strategy
is run once more on the validation stream to read its final and peak widths,
and the twin strategy (naive, or replay with the same buffer) is tuned at
each; where the two widths agree on the tuning seed, the fixed-max twin
inherits the fixed-final twin's settings (it still runs on seeds where they
differ). Controls (diag-only, reset) are ablations and inherit the settings
of the strategy they test. Every inheritance is written out in
``tuned.toml`` and ``tuning.csv``: nothing runs at a silent default.

The benchmark's ``[tuning]`` table sets the budget: ``trials`` (default for
``--trials``), ``train_per_class`` and ``validation_fraction`` (a cheaper
proxy of the training data for the studies, with a validation split large
enough that the objective's standard error stays below the differences it
decides) and ``seed``. The outputs: ``tuned.toml``, the benchmark itself
(all its data, epochs and seeds) with every tuned parameter in
``[strategy.NAME]`` tables, so ``isocl run tuned.toml`` measures the tuned
comparison on the test set; ``tuning.csv`` and ``tuning.md``, one row per
unit (study, trial counts by state, trial minutes, best validation accuracy
and its standard error, parameters at an edge of their range).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from isocl.bench.config import Benchmark, ConfigError, load_benchmark, set_layer_widths, to_toml
from isocl.bench.names import format_unit, slug

__all__ = ["TUNING_COLUMNS", "tune_all", "tune_all_command", "write_tuning_report"]

TUNING_COLUMNS = ("unit", "study", "settings", "complete", "pruned", "failed", "trial_minutes",
                  "valid_accuracy", "objective_se", "n_valid", "edges")


def _proxy(bench: Benchmark) -> Benchmark:
    """The benchmark the studies run on: ``[tuning] train_per_class`` and ``validation_fraction`` in place
    of the scenario's."""
    proxy = bench.replace()
    per_class = bench.tuning.get("train_per_class", 0)
    if per_class:
        proxy.scenario["train_per_class"] = per_class
    fraction = bench.tuning.get("validation_fraction", 0)
    if fraction:
        proxy.scenario["validation_fraction"] = float(fraction)
    proxy.scenario["seed"] = int(bench.tuning.get("seed", 0))  # the studies' class order, subset and split
    return proxy


def _widths_of(bench: Benchmark, strategy: str, params: dict[str, Any], seed: int, data) -> tuple[list, list]:
    """Final and peak widths of the tuned ``strategy``, from one run on the validation stream."""
    from isocl.bench import runner

    result = runner.run_unit(bench, strategy, seed, params=params, eval_stream="valid", data=data)
    if result.status != "ok":
        raise ConfigError(f"the tuned {strategy} failed on the validation stream: {result.error}")
    return result.final_widths, result.max_widths


def _twin_bench(bench: Benchmark, strategy: str, params: dict[str, Any], widths: list[int]) -> tuple[Benchmark, str]:
    """The benchmark on which a twin of ``strategy`` is tuned: the twin strategy at ``widths``,
    with the parameters the strategy passes on (e.g. the replay buffer)."""
    from isocl.bench.units import resolve_unit, spec_of

    spec = spec_of(strategy)
    _, _, resolved, _ = resolve_unit(bench, strategy, params)
    twin = spec.twin
    out = bench.replace()
    set_layer_widths(out.model, widths)  # a CNN: conv channels, then dense widths
    out.strategy_params = {twin: {k: resolved[k] for k in spec.twin_params if k in resolved}}
    out.strategies = [twin]
    out.search = {k: v for k, v in bench.search.items() if k == twin}
    return out, twin


def _study(bench: Benchmark, strategy: str, trials: int, name: str, out_root: Path, log, **kw):
    from isocl.tuning import tune

    result = tune(bench, strategy, trials, study_name=name, out=out_root / slug(name, "study"), log=log, **kw)
    if result.best_toml is None:
        raise ConfigError(f"study {name!r} has no complete trial: {'; '.join(result.worker_errors) or 'see above'}")
    log(result.summary())
    return result


def _row(unit: str, settings: str, res=None) -> dict[str, Any]:
    """One ``tuning.csv`` row: a tuned unit's study, or a unit that inherits (``res`` None)."""
    if res is None:
        return {"unit": unit, "study": "", "settings": settings}
    se = res.objective_se
    return {"unit": unit, "study": res.study_name, "settings": settings, "complete": res.n_complete,
            "pruned": res.n_pruned, "failed": res.n_failed, "trial_minutes": round(res.trial_seconds / 60, 2),
            "valid_accuracy": res.best_value, "objective_se": None if se is None else round(se, 5),
            "n_valid": res.n_valid, "edges": " ".join(f"{k}={res.best_params[k]:.4g}" for k in res.edges)}


def _tune_units(bench: Benchmark, proxy: Benchmark, names: list[str], trials: int, stem: str, out_root: Path,
                seed: int, data, log, **tune_kwargs) -> tuple[dict[str, dict[str, Any]], list[dict[str, Any]],
                                                           dict[str, str]]:
    """Every strategy's study, then its twins' (at the widths the tuned strategy reaches): the tuned settings,
    the ``tuning.csv`` rows and which unit inherits whose settings."""
    from isocl.bench.units import spec_of

    tuned: dict[str, dict[str, Any]] = {}
    rows: list[dict[str, Any]] = []
    inherits: dict[str, str] = {}  # unit -> the unit whose settings it runs with
    for name in names:
        spec = spec_of(name)
        log(f"isocl tune --strategy all: {name} ({trials} complete trials)")
        res = _study(proxy, name, trials, f"{stem}-{name}", out_root, log, seed=seed, data=data, **tune_kwargs)
        tuned[name] = dict(res.best_params)
        rows.append(_row(name, "tuned", res))
        if spec.neuroplastic and bench.controls:
            for control in spec.controls:
                unit = format_unit(control, name)
                inherits[unit] = name
                rows.append(_row(unit, f"inherits {name}"))
        if not (spec.neuroplastic and bench.twins):
            continue
        final, peak = _widths_of(proxy, name, tuned[name], seed, data)
        for prefix, widths in (("fixed-final", final), ("fixed-max", peak)):
            unit = format_unit(prefix, name)
            if prefix == "fixed-max" and peak == final:
                # equal widths on the tuning seed: the fixed-max twin runs (on seeds where they differ)
                # with the fixed-final twin's settings, written out explicitly
                tuned[unit] = dict(tuned[format_unit("fixed-final", name)])
                inherits[unit] = format_unit("fixed-final", name)
                rows.append(_row(unit, f"inherits {inherits[unit]} (equal widths {final} on the tuning seed)"))
                continue
            twin_bench, twin = _twin_bench(proxy, name, tuned[name], widths)
            log(f"isocl tune --strategy all: {unit} = {twin} at widths {widths} ({trials} complete trials)")
            res = _study(twin_bench, twin, trials, f"{stem}-{prefix}_{name}", out_root, log, seed=seed,
                         data=data, **tune_kwargs)
            # only what the twin tunes itself; what the strategy passes on stays the strategy's
            tuned[unit] = {k: v for k, v in res.best_params.items() if k not in spec.twin_params}
            rows.append(_row(unit, f"tuned ({twin} at widths {widths})", res))
    return tuned, rows, inherits


def tune_all(bench: Benchmark, trials: int | None = None, *, out: str | Path | None = None, data=None,
             log=print, **tune_kwargs) -> Path:
    """Tune every strategy (and frontier point) of ``bench`` and its twins until each study holds the
    same number of complete trials; returns ``tuned.toml``."""
    import os

    from isocl.bench.units import check_benchmark

    names = check_benchmark(bench)
    trials = trials or bench.tuning.get("trials")
    if not trials:
        raise ConfigError(f"{bench.path or bench.name}: --trials or [tuning] trials is needed for --strategy all")
    tune_kwargs["jobs"] = tune_kwargs.get("jobs") or max(1, os.cpu_count() or 1)  # trials in parallel
    tune_kwargs["pruner"] = tune_kwargs.get("pruner") or "none"  # equal budgets of complete runs
    seed = int(bench.tuning.get("seed", bench.training["seeds"][0]))
    stem = Path(bench.path).stem if bench.path else bench.name
    out_root = Path(out) if out is not None else Path("results") / "tune" / f"{stem}-all"
    proxy = _proxy(bench)
    from isocl.bench.results import claim_output_folder
    from isocl.tuning.study import check_study_arguments, check_study_benchmark

    for name in names:  # every study's arguments before the first one writes
        check_study_arguments(name, trials, tune_kwargs["jobs"], tune_kwargs.get("timeout"),
                         tune_kwargs.get("epochs"), seed, tune_kwargs.get("device"))
        check_study_benchmark(proxy, name, str(bench.path or bench.name))
    claim_output_folder(out_root, "tune")  # each study's folder inside is claimed by its tune()
    from isocl.tuning.workers import WorkerPool

    # one set of worker processes for every study: each imports torch and loads CIFAR-10 once, not once a study
    pool = WorkerPool(tune_kwargs["jobs"]) if tune_kwargs["jobs"] > 1 else None
    try:
        tuned, rows, inherits = _tune_units(bench, proxy, names, trials, stem, out_root, seed, data, log,
                                            pool=pool, **tune_kwargs)
    finally:
        if pool is not None:
            pool.close()
    short = [r["unit"] for r in rows if r["study"] and r["complete"] != trials]
    if short:
        raise ConfigError(f"studies short of {trials} complete trials: {', '.join(short)}; rerun the same "
                          "command to complete them (the verdict needs equal budgets)")
    write_tuning_report(out_root, rows)
    path = write_tuned(bench, tuned, out_root, trials, sum(r.get("trial_minutes") or 0 for r in rows), inherits)
    edges = [f"{r['unit']}: {r['edges']}" for r in rows if r.get("edges")]
    log(f"isocl tune --strategy all: {sum(1 for r in rows if r['study'])} studies of {trials} complete trials "
        f"each; tuned benchmark: {path}\n"
        + (f"at an edge of their range (widen the range and resume): {'; '.join(edges)}\n" if edges else
           "no tuned value at an edge of its range\n")
        + f"test-set evaluation: isocl run {path}")
    return path


def write_tuning_report(out_root: Path, rows: list[dict[str, Any]]) -> tuple[Path, Path]:
    """``tuning.csv`` and ``tuning.md``: every unit's study (or what it inherits), generated from the studies."""
    import pandas as pd

    from isocl.analysis.tables import md_table
    from isocl.bench.results import atomic_write_text

    frame = pd.DataFrame(rows, columns=list(TUNING_COLUMNS))
    csv = out_root / "tuning.csv"
    atomic_write_text(csv, frame.to_csv(index=False))
    studies = frame[frame["study"].astype(bool)]
    lines = [
        f"# Tuning: {len(studies)} studies, {int(studies['complete'].sum())} complete trials "
        f"({int(studies['pruned'].sum())} pruned, {int(studies['failed'].sum())} failed, not counted), "
        f"{studies['trial_minutes'].sum():.1f} trial-minutes",
        "",
        "Generated from the studies by `isocl tune --strategy all`. objective_se: the binomial standard error of "
        "the best validation accuracy, sqrt(p (1 - p) / n_valid). edges: tuned values in the outer 5% of their "
        "range (log-scaled for log ranges).",
        "",
        md_table(frame.astype(object).where(frame.notna(), "")),
    ]
    md = out_root / "tuning.md"
    atomic_write_text(md, "\n".join(lines) + "\n")
    return csv, md


def write_tuned(bench: Benchmark, tuned: dict[str, dict[str, Any]], out_root: Path, trials: int,
                minutes: float, inherits: dict[str, str] | None = None) -> Path:
    """``tuned.toml``: ``bench`` with the tuned tables (validated by loading it back)."""
    from isocl.bench.results import atomic_write_text
    from isocl.bench.units import check_benchmark

    out = bench.replace()
    for table, params in tuned.items():
        out.strategy_params[table] = {**out.strategy_params.get(table, {}), **params}
    out.search = {}
    out.name = f"{bench.name}-tuned"
    out.description = (f"{bench.description} -- every strategy and twin tuned with {trials} complete "
                       f"validation-only trials ({minutes:.0f} trial-minutes)").strip(" -")
    out_root.mkdir(parents=True, exist_ok=True)
    path = out_root / "tuned.toml"
    header = (f"# Written by `isocl tune {bench.path or bench.name} --strategy all --trials {trials}`: every\n"
              "# strategy, frontier point and fixed-width twin tuned on the validation stream only, each study\n"
              f"# ending with {trials} complete trials (tuning.csv). Evaluate on the test set with `isocl run`.\n")
    if inherits:
        header += "# Units that run with another unit's tuned settings (not tuned themselves):\n" + "".join(
            f"#   {unit} <- {source}\n" for unit, source in inherits.items())
    atomic_write_text(path, header + to_toml(out.to_dict()))
    check_benchmark(load_benchmark(path))
    return path


def tune_all_command(args) -> int:
    from isocl.bench.config import load_benchmark as load

    bench = load(args.benchmark)
    tune_all(bench, args.trials, out=args.out, pruner=args.pruner, sampler=args.sampler, epochs=args.epochs,
             device=args.device, jobs=args.jobs, plots=not getattr(args, "no_plots", False))
    return 0
