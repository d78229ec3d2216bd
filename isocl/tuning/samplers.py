"""Samplers and pruners: the names ``--sampler`` / ``--pruner`` accept, the
Optuna objects behind them, and per-worker sampler seeds."""

from __future__ import annotations

import sys
import warnings

from isocl.bench.config import ConfigError

PRUNERS = ("median", "hyperband", "none")
SAMPLERS = ("tpe", "random", "nsga2", "nsga3", "qmc", "gp", "cmaes")


def resolve_sampler(name: str | None, multi: bool) -> str:
    name = name or ("nsga2" if multi else "tpe")
    if name not in SAMPLERS:
        raise ConfigError(f"--sampler {name!r}: expected one of {', '.join(SAMPLERS)}")
    if name == "cmaes":
        if multi:
            raise ConfigError("--sampler cmaes: CMA-ES is single-objective; use nsga2, nsga3, tpe, gp or random")
        try:
            import cmaes  # noqa: F401
        except ImportError:
            raise ConfigError("--sampler cmaes needs the 'cmaes' package (pip install cmaes)") from None
    return name


def make_sampler(name: str, *, seed: int, n_trials: int, population_size: int, base_seed: int):
    import optuna

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        if name == "tpe":
            # Single objective: TPE. Random start-up trials: at most a third of the budget
            # (10 in Optuna), so that the model guides most of them; constant_liar (the
            # Optuna 5 default, set explicitly) makes parallel workers avoid the
            # configurations that are running elsewhere.
            return optuna.samplers.TPESampler(seed=seed, n_startup_trials=startup_trials(n_trials),
                                              constant_liar=True)
        if name == "nsga2":
            # Multi-objective: NSGA-II, chosen deliberately. Optuna 5 defaults to TPE for
            # multi-objective studies too (MOTPE, which concentrates trials where the
            # hypervolume improves most); the goal here is the whole trade-off curve
            # (accuracy vs forgetting vs size), and NSGA-II's non-dominated sorting with
            # crowding distance spreads trials along the front, handles categorical
            # parameters natively and is indifferent to parallel workers. With a budget
            # of fewer than two populations it is random search: population_size is
            # scaled to the budget (stored with the study so that resumes agree).
            return optuna.samplers.NSGAIISampler(seed=seed, population_size=population_size)
        if name == "nsga3":
            return optuna.samplers.NSGAIIISampler(seed=seed, population_size=population_size)
        if name == "random":
            return optuna.samplers.RandomSampler(seed=seed)
        if name == "qmc":
            # one scrambled sequence shared by all workers (indexed by trial number)
            return optuna.samplers.QMCSampler(seed=base_seed, scramble=True)
        if name == "gp":
            return optuna.samplers.GPSampler(seed=seed)
        if name == "cmaes":
            return optuna.samplers.CmaEsSampler(seed=seed)
    raise ConfigError(f"--sampler {name!r}: expected one of {', '.join(SAMPLERS)}")


def startup_trials(n_trials: int) -> int:
    """TPE's random start-up trials for a budget of ``n_trials``: at most a third, at most 10, at least 1."""
    return max(1, min(10, n_trials // 3))


def resolve_pruner(name: str | None, multi: bool) -> str:
    if name is not None and name not in PRUNERS:
        raise ConfigError(f"--pruner {name!r}: expected one of {', '.join(PRUNERS)}")
    if multi:
        if name not in (None, "none"):
            print(f"isocl tune: note: --pruner {name} ignored: Optuna does not prune multi-objective trials",
                  file=sys.stderr)
        return "none"
    return name or "median"


def make_pruner(name: str, *, n_trials: int, n_experiences: int):
    import optuna

    if name == "median":
        # Steps are experiences. No pruning after the first one (accuracy on one
        # two-class task says nothing about forgetting) nor before a few trials.
        return optuna.pruners.MedianPruner(n_startup_trials=max(2, min(5, n_trials // 4)), n_warmup_steps=1)
    if name == "hyperband":
        return optuna.pruners.HyperbandPruner(min_resource=1, max_resource=max(2, n_experiences), reduction_factor=3)
    return optuna.pruners.NopPruner()


def worker_seed(base: int, n_existing: int, worker: int) -> int:
    """Distinct sampler seeds per worker and per resume (a resumed TPE would redraw its first configurations)."""
    import numpy as np

    return int(np.random.SeedSequence([base, n_existing, worker]).generate_state(1)[0])


