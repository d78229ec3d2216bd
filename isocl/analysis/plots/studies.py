"""Optuna study figures, drawn by ``optuna.visualization.matplotlib``."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np

from isocl.analysis.plots.style import (
    DPI,
    NothingToPlot,
    save_figure,
)


def _optuna_figure(draw, path, figsize, dpi, title) -> Path:
    import matplotlib.pyplot as plt
    from optuna.exceptions import ExperimentalWarning

    with plt.rc_context(), warnings.catch_warnings():
        warnings.simplefilter("ignore", ExperimentalWarning)
        warnings.simplefilter("ignore", UserWarning)
        ax = draw()
        first = np.ravel(ax)[0] if isinstance(ax, np.ndarray) else ax
        fig = first.figure
        try:
            fig.set_size_inches(*figsize)
            fig.set_dpi(dpi)
            first.set_title(title, fontsize=11)
            fig.set_layout_engine("constrained")
            return save_figure(fig, path)
        finally:
            plt.close(fig)


def complete_trials(study):
    import optuna

    return study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))


def metric_names(study) -> list[str]:
    names = list(getattr(study, "metric_names", None) or [])
    n = len(study.directions)
    if len(names) != n:
        names = ["objective"] if n == 1 else [f"objective {i}" for i in range(n)]
    return names


def plot_optuna_history(
    study, path, *, objective: int = 0, figsize=(8.0, 4.5), dpi: float = DPI
) -> Path:
    """Optimisation history of an Optuna study (objective ``objective`` for a
    multi-objective study) via ``optuna.visualization.matplotlib``."""
    import optuna.visualization.matplotlib as ovm

    if not complete_trials(study):
        raise NothingToPlot(f"study {study.study_name!r}: no completed trial")
    names = metric_names(study)
    multi = len(study.directions) > 1
    name = names[objective]

    def draw():
        if multi:
            return ovm.plot_optimization_history(
                study, target=lambda t: t.values[objective], target_name=name
            )
        return ovm.plot_optimization_history(study, target_name=name)

    direction = study.directions[objective].name.lower()
    return _optuna_figure(
        draw,
        path,
        figsize,
        dpi,
        f"Optuna study {study.study_name!r}: history of {name} ({direction})",
    )


def plot_optuna_importances(
    study, path, *, figsize=(8.0, 4.5), dpi: float = DPI
) -> Path:
    """Hyperparameter importances of an Optuna study (needs at least two
    completed trials and more than one parameter)."""
    import optuna.visualization.matplotlib as ovm

    trials = complete_trials(study)
    params = sorted({p for t in trials for p in t.params})
    if len(trials) < 2 or len(params) < 2:
        raise NothingToPlot(
            f"study {study.study_name!r}: parameter importances need >= 2 "
            f"completed trials and > 1 parameter ({len(trials)} completed, "
            f"{len(params)} parameter(s))"
        )
    names = metric_names(study)

    def draw():
        if len(study.directions) > 1:
            return ovm.plot_param_importances(study)
        return ovm.plot_param_importances(study, target_name=names[0])

    return _optuna_figure(
        draw,
        path,
        figsize,
        dpi,
        f"Optuna study {study.study_name!r}: parameter importances",
    )


def plot_optuna_pareto(study, path, *, figsize=(7.0, 5.0), dpi: float = DPI) -> Path:
    """Pareto front of a multi-objective Optuna study."""
    import optuna.visualization.matplotlib as ovm

    if len(study.directions) < 2:
        raise NothingToPlot(
            f"study {study.study_name!r}: single-objective, no Pareto front"
        )
    if len(study.directions) > 3:
        raise NothingToPlot(
            f"study {study.study_name!r}: Pareto plots support 2 or 3 objectives"
        )
    if not complete_trials(study):
        raise NothingToPlot(f"study {study.study_name!r}: no completed trial")
    names = metric_names(study)
    return _optuna_figure(
        lambda: ovm.plot_pareto_front(study, target_names=names),
        path,
        figsize,
        dpi,
        f"Optuna study {study.study_name!r}: Pareto front",
    )


def plot_optuna_intermediate(study, path, *, figsize=(8.0, 4.5), dpi: float = DPI) -> Path:
    """The values each trial reported to the pruner, step by step (single-objective studies)."""
    import optuna.visualization.matplotlib as ovm

    if len(study.directions) > 1:
        raise NothingToPlot(f"study {study.study_name!r}: multi-objective trials report no intermediate values")
    if not any(t.intermediate_values for t in study.get_trials(deepcopy=False)):
        raise NothingToPlot(f"study {study.study_name!r}: no trial reported an intermediate value")
    return _optuna_figure(
        lambda: ovm.plot_intermediate_values(study),
        path,
        figsize,
        dpi,
        f"Optuna study {study.study_name!r}: intermediate values",
    )


