"""Comparison figures for isocl results directories, one module per figure family.

Each function takes pandas frames in the layout of ``docs/results-format.md``
(the CSVs of a results directory, as read by :mod:`isocl.analysis.report`), a
palette ``{strategy: colour}`` from :func:`strategy_palette` and an output
path; it renders with seaborn on a matplotlib
:class:`~matplotlib.figure.Figure` (Agg, no GUI), saves the file (the format
follows the path's suffix: ``.png``, ``.pdf`` or ``.svg``) and returns the
path.

A figure that has nothing to show (empty frame, no dynamic strategy, no prune
event, no completed Optuna trial, ...) raises :class:`NothingToPlot`, which the
report turns into a warning.

Every figure keeps its size: ``figsize`` (inches) times ``dpi`` is the pixel
size of a PNG (no ``bbox_inches="tight"``; the layout is matplotlib's
constrained layout with legends placed outside the axes).

Modules: :mod:`~.style` (colours, line styles, figure plumbing),
:mod:`~.matrices`, :mod:`~.curves` (accuracy over experiences),
:mod:`~.final` (final accuracy and forgetting), :mod:`~.size` (width and
parameters), :mod:`~.spectra`, :mod:`~.pareto` (accuracy vs parameters),
:mod:`~.comparisons` (forest plot of paired differences), :mod:`~.studies`
(Optuna).
"""

from __future__ import annotations

import sys

import matplotlib

if "matplotlib.pyplot" not in sys.modules:  # headless rendering unless a GUI is already in use
    matplotlib.use("Agg")

from isocl.analysis.plots.comparisons import plot_comparisons  # noqa: E402
from isocl.analysis.plots.curves import bootstrap_ci, plot_average_accuracy  # noqa: E402
from isocl.analysis.plots.final import plot_final_accuracy_forgetting  # noqa: E402
from isocl.analysis.plots.matrices import plot_accuracy_matrices  # noqa: E402
from isocl.analysis.plots.pareto import pareto_frontier, plot_accuracy_vs_params  # noqa: E402
from isocl.analysis.plots.size import dynamic_strategies, parse_widths, plot_width_and_params  # noqa: E402
from isocl.analysis.plots.spectra import parse_list, plot_spectra, spectrum_after  # noqa: E402
from isocl.analysis.plots.studies import (  # noqa: E402
    complete_trials,
    metric_names,
    plot_optuna_history,
    plot_optuna_importances,
    plot_optuna_intermediate,
    plot_optuna_pareto,
)
from isocl.analysis.plots.style import (  # noqa: E402
    COMPANION_PREFIXES,
    DIR_SEPARATOR,
    DPI,
    TWIN_PREFIXES,
    NothingToPlot,
    base_strategy,
    strategy_linestyle,
    strategy_marker,
    strategy_palette,
    wrap_label,
)

__all__ = [
    "COMPANION_PREFIXES",
    "DIR_SEPARATOR",
    "DPI",
    "TWIN_PREFIXES",
    "NothingToPlot",
    "base_strategy",
    "bootstrap_ci",
    "complete_trials",
    "dynamic_strategies",
    "metric_names",
    "pareto_frontier",
    "parse_list",
    "parse_widths",
    "plot_accuracy_matrices",
    "plot_accuracy_vs_params",
    "plot_average_accuracy",
    "plot_comparisons",
    "plot_final_accuracy_forgetting",
    "plot_optuna_history",
    "plot_optuna_importances",
    "plot_optuna_intermediate",
    "plot_optuna_pareto",
    "plot_spectra",
    "plot_width_and_params",
    "spectrum_after",
    "strategy_linestyle",
    "strategy_marker",
    "strategy_palette",
    "wrap_label",
]
