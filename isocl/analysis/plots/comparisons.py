"""Forest plot of the paired comparisons (:mod:`isocl.analysis.statistics`):
one row per comparison, the simultaneous (Bonferroni-level) interval as a bar, the mean paired
difference as a dot, zero marked, one panel per metric."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from isocl.analysis.plots.registry import FigureSpec, register

from isocl.analysis.plots.style import DPI, NothingToPlot, new_figure, legend_outside, require_columns, save_figure, figure_style

# verdict -> colour: better green, worse red, the rest greys
VERDICT_COLOURS = {
    "win": "#1a9850",
    "less forgetting": "#1a9850",
    "loss": "#d73027",
    "more forgetting": "#d73027",
    "no detectable difference": "#555555",
    "identical": "#9e9e9e",
    "too few seeds": "#c7c7c7",
}
_TITLES = {
    "final_accuracy": "Final accuracy (higher is better)",
    "forgetting": "Forgetting (lower is better)",
}


def _label(strategy: str, reference: str, relation: str) -> str:
    """``X vs fixed-final`` for a companion (the reference is ``fixed-final:X``), else the reference's name."""
    if reference == f"{relation}:{strategy}":
        return f"{strategy}  vs  {relation}"
    return f"{strategy}  vs  {reference}" + ("  (best baseline)" if relation == "best-baseline" else "")


def plot_comparisons(comparisons: pd.DataFrame, path, *, figsize=None, dpi: float = DPI) -> Path:
    """:func:`draw_comparisons`, saved to ``path``."""
    return save_figure(draw_comparisons(comparisons, figsize=figsize, dpi=dpi), path)


def draw_comparisons(comparisons: pd.DataFrame, *, figsize=None, dpi: float = DPI) -> Figure:
    """Forest plot of ``comparisons.csv``: strategy minus reference in points,
    simultaneous interval (level in the row's ``ci_level``) as a bar, mean
    as a dot, coloured by verdict; a comparison with too few seeds shows its
    row label without a bar. The axis spans the intervals of comparisons with
    at least 3 seeds; a wider interval (2 seeds) is cut at the frame and
    marked with an arrowhead there."""
    comparisons = require_columns(
        comparisons, ["strategy", "reference", "relation", "metric", "mean_diff", "ci_low", "ci_high", "verdict"],
        "comparisons",
    )
    metrics = [m for m in _TITLES if m in set(comparisons["metric"])]
    if not metrics:
        raise NothingToPlot("comparisons: no final_accuracy or forgetting rows")
    keys = list(dict.fromkeys(zip(comparisons["strategy"], comparisons["reference"], comparisons["relation"])))
    labels = [_label(*key) for key in keys]
    groups = list(dict.fromkeys(k[0] for k in keys))
    if figsize is None:
        figsize = (12.0, max(2.4, 0.42 * len(keys) + 1.6))
    with figure_style():
        fig = new_figure(figsize, dpi)
        axes = np.atleast_1d(fig.subplots(1, len(metrics), sharey=True))
        limits = {m: _axis_limits(comparisons[comparisons["metric"] == m]) for m in metrics}
        for ax, metric in zip(axes, metrics):
            rows = comparisons[comparisons["metric"] == metric].set_index(["strategy", "reference", "relation"])
            for y, key in enumerate(keys):
                if key not in rows.index:
                    continue
                row = rows.loc[key]
                colour = VERDICT_COLOURS.get(str(row["verdict"]), "#555555")
                mean, low, high = (100.0 * float(row[c]) for c in ("mean_diff", "ci_low", "ci_high"))
                if np.isfinite(low) and np.isfinite(high):
                    _clipped_bar(ax, low, high, y, colour, limits[metric])
                if np.isfinite(mean):
                    ax.plot(mean, y, "o", color=colour, markersize=7, markeredgecolor="white", zorder=3)
            for y, key in enumerate(keys):  # every other strategy on a light band
                if groups.index(key[0]) % 2:
                    ax.axhspan(y - 0.5, y + 0.5, color="0.94", zorder=0, linewidth=0)
            ax.axvline(0.0, color="0.2", linewidth=1.0, zorder=1)
            ax.set_xlim(*limits[metric])
            ax.set_title(_TITLES[metric], fontsize=10)
            ax.grid(axis="y", visible=False)
        axes[0].set_yticks(range(len(keys)), labels, fontsize=9)
        axes[0].set_ylim(len(keys) - 0.5, -0.5)
        present = [v for v in VERDICT_COLOURS if v in set(comparisons["verdict"].astype(str))]
        handles = [Line2D([], [], color=VERDICT_COLOURS[v], marker="o", linewidth=3, markeredgecolor="white")
                   for v in present]
        legend_outside(fig, handles, present, title="verdict")
        fig.supxlabel("difference, strategy minus reference (points)", fontsize=10)
        fig.suptitle("Paired differences over seeds: mean (dot) and simultaneous CI (bar)")
        return fig


def _axis_limits(rows: pd.DataFrame) -> tuple[float, float]:
    """x-limits (points) holding 0 and every mean and interval with at least 3 seeds (all if none)."""
    if "n_seeds" in rows:
        enough = rows[pd.to_numeric(rows["n_seeds"], errors="coerce") >= 3]
        rows = enough if not enough.empty else rows
    shown = 100.0 * rows[["mean_diff", "ci_low", "ci_high"]].to_numpy(dtype=float)
    shown = shown[np.isfinite(shown)]
    lo, hi = min(0.0, *shown), max(0.0, *shown)
    pad = 0.12 * (hi - lo) if hi > lo else 1.0
    return lo - pad, hi + pad  # zero always inside, never on the frame


def _clipped_bar(ax, low: float, high: float, y: float, colour, limits: tuple[float, float]) -> None:
    """An interval bar cut at the axis limits, with an arrowhead where it was cut."""
    left, right = max(low, limits[0]), min(high, limits[1])
    ax.plot([left, right], [y, y], color=colour, linewidth=3, solid_capstyle="butt", zorder=2)
    if low < limits[0]:
        ax.plot(left, y, "<", color=colour, markersize=7, zorder=3, clip_on=False)
    if high > limits[1]:
        ax.plot(right, y, ">", color=colour, markersize=7, zorder=3, clip_on=False)


register(FigureSpec(
    stem="comparisons", title="Paired comparisons",
    caption="Each neuroplastic strategy minus its references, paired by seed: mean difference (dot) and the "
            "simultaneous (Bonferroni-level) t interval (bar), in points; colour = verdict (win / loss exactly when "
            "the bar excludes 0).",
    needs=("comparisons",), draw=lambda inp: draw_comparisons(inp.comparisons), order=12, verdict=True,
))
