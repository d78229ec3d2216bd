"""``isocl tune BENCH --strategy all``: every strategy of a benchmark under one tuning budget.

Equal effort (``shared/docs/evaluation.md``): each strategy of the benchmark
gets a study of the same number of validation-only trials over its own
declared space (learning rate included). Each fixed-width twin of a
neuroplastic strategy is tuned as a strategy of its own at its width: the
tuned strategy is run once more on the validation stream to read its final
and peak widths, and the twin strategy (naive, or replay with the same
buffer) is tuned at each. Controls (diag-only, reset) are ablations and keep
the parameters of the strategy they test.

The benchmark's ``[tuning]`` table sets the budget: ``trials`` (default for
``--trials``), ``train_per_class`` (a cheaper proxy of the training data for
the studies; the validation split is carved from it) and ``seed``. The
output, ``tuned.toml``, is the benchmark itself (all its data, epochs and
seeds) with every tuned parameter in ``[strategy.NAME]`` tables, so
``isocl run tuned.toml`` measures the tuned comparison on the test set.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from isocl.bench.config import Benchmark, ConfigError, load_benchmark, set_layer_widths, to_toml

__all__ = ["tune_all", "tune_all_command"]


def _proxy(bench: Benchmark) -> Benchmark:
    """The benchmark the studies run on: ``[tuning] train_per_class`` in place of the data size."""
    proxy = bench.replace()
    per_class = bench.tuning.get("train_per_class", 0)
    if per_class:
        proxy.scenario["train_per_class"] = per_class
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
    from isocl.bench.registry import get_strategy
    from isocl.bench.units import resolve_unit

    spec = get_strategy(strategy)
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

    result = tune(bench, strategy, trials, study_name=name, out=out_root / name, log=log, **kw)
    if result.best_toml is None:
        raise ConfigError(f"study {name!r} has no complete trial: {'; '.join(result.worker_errors) or 'see above'}")
    log(result.summary())
    return result


def tune_all(bench: Benchmark, trials: int | None = None, *, out: str | Path | None = None, data=None,
             log=print, **tune_kwargs) -> Path:
    """Tune every strategy of ``bench`` and its twins with the same trials; returns ``tuned.toml``."""
    from isocl.bench.registry import get_strategy
    from isocl.bench.units import check_benchmark

    names = check_benchmark(bench)
    trials = trials or bench.tuning.get("trials")
    if not trials:
        raise ConfigError(f"{bench.path or bench.name}: --trials or [tuning] trials is needed for --strategy all")
    seed = int(bench.tuning.get("seed", bench.training["seeds"][0]))
    stem = Path(bench.path).stem if bench.path else bench.name
    out_root = Path(out) if out is not None else Path("results") / "tune" / f"{stem}-all"
    proxy = _proxy(bench)
    from isocl.bench.results import claim_output_folder
    from isocl.tuning.study import check_study_arguments, check_study_benchmark

    for name in names:  # every study's arguments before the first one writes
        check_study_arguments(name, trials, tune_kwargs.get("jobs", 1), tune_kwargs.get("timeout"),
                         tune_kwargs.get("epochs"), seed, tune_kwargs.get("device"))
        check_study_benchmark(proxy, name, str(bench.path or bench.name))
    claim_output_folder(out_root, "tune")  # each study's folder inside is claimed by its tune()
    tuned: dict[str, dict[str, Any]] = {}
    start = time.perf_counter()
    for name in names:
        spec = get_strategy(name)
        log(f"isocl tune --strategy all: {name} ({trials} trials)")
        res = _study(proxy, name, trials, f"{stem}-{name}", out_root, log,
                     seed=seed, data=data, **tune_kwargs)
        tuned[name] = dict(res.best_params)
        if not (spec.neuroplastic and bench.twins):
            continue
        final, peak = _widths_of(proxy, name, tuned[name], seed, data)
        for prefix, widths in (("fixed-final", final), ("fixed-max", peak)):
            if prefix == "fixed-max" and peak == final:
                continue  # the fixed-max twin does not run (it would equal fixed-final)
            twin_bench, twin = _twin_bench(proxy, name, tuned[name], widths)
            log(f"isocl tune --strategy all: {prefix}:{name} = {twin} at widths {widths} ({trials} trials)")
            res = _study(twin_bench, twin, trials, f"{stem}-{prefix}_{name}", out_root, log, seed=seed,
                         data=data, **tune_kwargs)
            # only what the twin tunes itself; what the strategy passes on stays the strategy's
            tuned[f"{prefix}:{name}"] = {k: v for k, v in res.best_params.items()
                                         if k not in spec.twin_params}
    path = write_tuned(bench, tuned, out_root, trials, time.perf_counter() - start)
    log(f"isocl tune --strategy all: {len(tuned)} studies of {trials} trials each; tuned benchmark: {path}\n"
        f"test-set evaluation: isocl run {path}")
    return path


def write_tuned(bench: Benchmark, tuned: dict[str, dict[str, Any]], out_root: Path, trials: int,
                seconds: float) -> Path:
    """``tuned.toml``: ``bench`` with the tuned tables (validated by loading it back)."""
    from isocl.bench.results import atomic_write_text
    from isocl.bench.units import check_benchmark

    out = bench.replace()
    for table, params in tuned.items():
        out.strategy_params[table] = {**out.strategy_params.get(table, {}), **params}
    out.search = {}
    out.name = f"{bench.name}-tuned"
    out.description = (f"{bench.description} -- every strategy and twin tuned with {trials} validation-only "
                       f"trials ({seconds / 60:.0f} min)").strip(" -")
    out_root.mkdir(parents=True, exist_ok=True)
    path = out_root / "tuned.toml"
    header = (f"# Written by `isocl tune {bench.path or bench.name} --strategy all --trials {trials}`: every\n"
              "# strategy and fixed-width twin tuned on the validation stream only, with the same number of\n"
              "# trials. Evaluate on the test set with `isocl run` on this file.\n")
    atomic_write_text(path, header + to_toml(out.to_dict()))
    check_benchmark(load_benchmark(path))
    return path


def tune_all_command(args) -> int:
    from isocl.bench.config import load_benchmark as load

    bench = load(args.benchmark)
    tune_all(bench, args.trials, out=args.out, pruner=args.pruner, sampler=args.sampler, epochs=args.epochs,
             device=args.device, jobs=args.jobs, plots=not getattr(args, "no_plots", False))
    return 0
