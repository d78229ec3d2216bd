"""The tuning objective: one run of the strategy through every experience,
scored on the validation stream only (the test set is never touched), with
the running accuracy reported to the pruner after each experience.

Single objective: the final average validation accuracy. Multi-objective:
(accuracy max, forgetting min, parameter count min), a Pareto front;
Optuna does not prune multi-objective trials.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from isocl.bench.config import Benchmark
from isocl.tuning.space import suggest_params

OBJECTIVE_NAMES = ("valid accuracy", "forgetting", "params")
DIVERGED = "NonFiniteLoss"  # a unit's error when its loss turned NaN/inf (isocl.bench.metrics.NonFiniteLoss)
DIRECTIONS_SINGLE = ["maximize"]
DIRECTIONS_MULTI = ["maximize", "minimize", "minimize"]


class TrialFailed(RuntimeError):
    """The strategy's run ended with status 'failed' (e.g. a non-finite loss)."""


class _StopUnit(BaseException):
    """Raised from ``on_experience`` to stop a unit the pruner gave up on.

    A BaseException, not an Exception: ``run_unit`` records any Exception
    raised inside a unit as a failed unit and goes on, and a pruned trial
    must stop training at once (it becomes ``optuna.TrialPruned`` outside).
    """

    def __init__(self, experience: int, avg: float):
        super().__init__(experience, avg)
        self.experience, self.avg = experience, avg


@dataclass
class TuneContext:
    """What an objective factory gets: ``factory(ctx) -> objective(trial)``."""

    bench: Benchmark
    strategy: str
    space: dict[str, dict[str, Any]]
    seed: int
    multi_objective: bool = False
    device: str | None = None
    data: Any = None
    worker: int = 0


def isocl_objective(ctx: TuneContext) -> Callable[[Any], Any]:
    """The tuning objective: one run of the strategy, scored on the validation stream only."""
    import optuna

    from isocl.bench import runner, scenarios
    from isocl.bench.data import load_cifar10

    data = ctx.data if ctx.data is not None else load_cifar10()
    scenario = scenarios.build_scenario(ctx.bench, data)  # once per worker, reused by every trial
    # the objective's sampling noise: a validation accuracy p read off n images has standard error
    # sqrt(p (1 - p) / n) (recorded with each trial; the tuning report states it)
    n_valid = sum(len(e.dataset) for e in getattr(scenario, "valid_stream", []))

    def objective(trial):
        params = suggest_params(trial, ctx.space)
        curve: list[float] = []

        def on_experience(i: int, avg: float) -> None:
            curve.append(float(avg))
            if ctx.multi_objective:
                return  # Optuna does not prune multi-objective trials (report is single-objective only)
            trial.report(float(avg), step=i)
            if trial.should_prune():
                raise _StopUnit(i, float(avg))

        try:
            result = runner.run_unit(ctx.bench, ctx.strategy, ctx.seed, scenario=scenario, params=params,
                                     eval_stream="valid", device=ctx.device, on_experience=on_experience)
        except _StopUnit as stop:
            trial.set_user_attr("valid_curve", curve)
            raise optuna.TrialPruned(f"validation accuracy {stop.avg:.4f} after experience {stop.experience} "
                                     "is below the pruner's threshold") from None
        trial.set_user_attr("valid_curve", curve)
        if result.status != "ok" and str(result.error).startswith(DIVERGED) and not ctx.multi_objective:
            # A configuration whose loss diverged (NaN/inf, e.g. a learning rate at the top of its range)
            # is a measured outcome, not a broken trial: it completes with the worst score, 0, so that
            # the sampler learns to avoid the region and it counts towards the budget like any other
            # configuration. Trials that fail for any other reason do not count.
            trial.set_user_attr("error", result.error)
            trial.set_user_attr("diverged", True)
            return 0.0
        if result.status != "ok":
            trial.set_user_attr("error", result.error)
            raise TrialFailed(f"{ctx.strategy} failed: {result.error}")

        def clean(v):
            return None if isinstance(v, float) and not math.isfinite(v) else v

        for key, value in {
            "final_accuracy": result.final_accuracy, "avg_incremental_accuracy": result.avg_incremental_accuracy,
            "forgetting": result.forgetting, "bwt": result.bwt, "n_params": result.params,
            "max_params": result.max_params, "widths": result.widths, "wall_time_s": result.wall_time_s,
            "eval_stream": "valid", "n_valid": n_valid,
        }.items():
            trial.set_user_attr(key, clean(value))
        if ctx.multi_objective:
            forgetting = result.forgetting if math.isfinite(result.forgetting) else 0.0  # one experience: none
            return float(result.final_accuracy), float(forgetting), float(result.params)
        return float(result.final_accuracy)

    return objective


