"""Comparison figures for isocl results directories: a registry of figures, one module each.

Every figure module draws with seaborn on a matplotlib
:class:`~matplotlib.figure.Figure` (Agg, no GUI) from pandas frames in the
layout of ``docs/results-format.md`` and a palette ``{strategy: colour}``
from :func:`strategy_palette`, and registers itself
(:func:`~isocl.analysis.plots.registry.register`: stem, title, caption, the
inputs it needs, its place in the report). ``draw_X`` returns the figure,
``plot_X`` saves it (the format follows the path's suffix: ``.png``,
``.pdf`` or ``.svg``) and returns the path.

Adding a figure: a new module here that calls ``register(FigureSpec(...))``,
and its import below. The report renders every registered figure.

A figure that has nothing to show raises :class:`NothingToPlot`, which the
report turns into a warning; :class:`NotApplicable` (e.g. spectra of a run
without a prune event) becomes a note instead.

Every figure keeps its size: ``figsize`` (inches) times ``dpi`` is the pixel
size of a PNG (no ``bbox_inches="tight"``; constrained layout, legends
outside the axes). Figures that compare many strategies are faceted by
family (:mod:`~.style`).
"""

from __future__ import annotations

import sys

import matplotlib

if "matplotlib.pyplot" not in sys.modules:  # headless rendering unless a GUI is already in use
    matplotlib.use("Agg")

# Each figure module registers its figures on import (the registration of issue 20's "one module + one line").
from isocl.analysis.plots import (  # noqa: E402, F401
    comparisons,
    curves,
    final,
    first_task,
    frontier,
    matrices,
    pareto,
    size,
    spectra,
)
from isocl.analysis.plots.comparisons import draw_comparisons, plot_comparisons  # noqa: E402
from isocl.analysis.plots.curves import bootstrap_ci, draw_average_accuracy, plot_average_accuracy  # noqa: E402
from isocl.analysis.plots.final import draw_final_accuracy_forgetting, plot_final_accuracy_forgetting  # noqa: E402
from isocl.analysis.plots.frontier import PARAM_COLUMNS, draw_frontier, frontier_points, t_interval  # noqa: E402
from isocl.analysis.plots.matrices import draw_accuracy_matrices, plot_accuracy_matrices  # noqa: E402
from isocl.analysis.plots.pareto import draw_accuracy_vs_params, pareto_frontier, plot_accuracy_vs_params  # noqa: E402
from isocl.analysis.plots.registry import FIGURES, FigureInputs, FigureSpec, ordered_figures, register  # noqa: E402
from isocl.analysis.plots.size import (  # noqa: E402
    draw_width_and_params,
    dynamic_strategies,
    parse_widths,
    plot_width_and_params,
)
from isocl.analysis.plots.spectra import draw_spectra, parse_list, plot_spectra, spectrum_after  # noqa: E402
from isocl.analysis.plots.studies import (  # noqa: E402
    complete_trials,
    metric_names,
    plot_optuna_history,
    plot_optuna_importances,
    plot_optuna_intermediate,
    plot_optuna_pareto,
)
from isocl.analysis.plots.style import (  # noqa: E402
    BASELINES,
    COMPANION_PREFIXES,
    DIR_SEPARATOR,
    DPI,
    KIND_LOOK,
    TWIN_PREFIXES,
    Facet,
    NotApplicable,
    NothingToPlot,
    base_strategy,
    companion_kind,
    facets,
    family_of,
    save_figure,
    strategy_linestyle,
    strategy_marker,
    strategy_palette,
    tick_labels_overlap,
    wrap_label,
)

__all__ = [
    "BASELINES", "COMPANION_PREFIXES", "DIR_SEPARATOR", "DPI", "FIGURES", "KIND_LOOK", "PARAM_COLUMNS",
    "TWIN_PREFIXES", "Facet", "FigureInputs", "FigureSpec", "NotApplicable", "NothingToPlot", "base_strategy",
    "bootstrap_ci", "companion_kind", "complete_trials", "draw_accuracy_matrices", "draw_accuracy_vs_params",
    "draw_average_accuracy", "draw_comparisons", "draw_final_accuracy_forgetting", "draw_frontier",
    "draw_spectra", "draw_width_and_params", "dynamic_strategies", "facets", "family_of", "frontier_points",
    "metric_names", "ordered_figures", "pareto_frontier", "parse_list", "parse_widths", "plot_accuracy_matrices",
    "plot_accuracy_vs_params", "plot_average_accuracy", "plot_comparisons", "plot_final_accuracy_forgetting",
    "plot_optuna_history", "plot_optuna_importances", "plot_optuna_intermediate", "plot_optuna_pareto",
    "plot_spectra", "plot_width_and_params", "register", "save_figure", "spectrum_after", "strategy_linestyle",
    "strategy_marker", "strategy_palette", "t_interval", "tick_labels_overlap", "wrap_label",
]
