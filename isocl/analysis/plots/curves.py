"""Average accuracy over the experiences seen so far, after each experience."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from isocl.analysis.plots.registry import FigureSpec, register
from isocl.analysis.plots.style import (
    DPI,
    NothingToPlot,
    colour_of,
    companion_kind,
    facet_axes,
    facet_legend,
    facets,
    kind_legend,
    member_label,
    new_figure,
    percent,
    require_columns,
    save_figure,
    strategy_handle,
    figure_style,
    strategy_linestyle,
    strategy_marker,
)


def bootstrap_ci(
    values: np.ndarray, level: float = 95.0, n_boot: int = 1000, seed: int = 0
) -> tuple[float, float]:
    """Percentile bootstrap confidence interval of the mean over seeds
    (``scipy.stats.bootstrap``). Non-finite values are dropped; one value, or
    identical values, give a zero-width interval (scipy has no spread to
    resample there and returns NaN)."""
    from scipy import stats

    values = np.asarray(values, dtype=float)
    values = values[np.isfinite(values)]
    if values.size == 0:
        return math.nan, math.nan
    if values.size == 1 or np.ptp(values) == 0:
        return float(values[0]), float(values[0])
    res = stats.bootstrap(
        (values,),
        np.mean,
        confidence_level=level / 100.0,
        n_resamples=n_boot,
        method="percentile",
        rng=np.random.default_rng(seed),
    )
    return float(res.confidence_interval.low), float(res.confidence_interval.high)


def plot_average_accuracy(experiences: pd.DataFrame, palette: dict[str, str], path, *, figsize=None,
                          dpi: float = DPI) -> Path:
    """:func:`draw_average_accuracy`, saved to ``path``."""
    return save_figure(draw_average_accuracy(experiences, palette, figsize=figsize, dpi=dpi), path)


def draw_average_accuracy(experiences: pd.DataFrame, palette: dict[str, str], *, figsize=None,
                          dpi: float = DPI) -> Figure:
    """Average accuracy (%) over the experiences seen so far, after training
    each experience: mean line with a 95 % bootstrap confidence band over
    seeds, one panel per family (the baselines first)."""
    experiences = require_columns(experiences, ["strategy", "seed", "experience", "avg_accuracy"],
                                  "average accuracy")
    df = experiences.assign(acc=percent(experiences["avg_accuracy"]),
                            experience=pd.to_numeric(experiences["experience"], errors="coerce"))
    df = df.dropna(subset=["acc", "experience"])
    if df.empty:
        raise NothingToPlot("average accuracy: no avg_accuracy values")
    groups = facets(df["strategy"].astype(str).unique(), palette)
    ncols = 1 if len(groups) == 1 else 2
    nrows = math.ceil(len(groups) / ncols)
    if figsize is None:
        figsize = (5.4 * ncols + 0.4, 2.9 * nrows + 0.8)
    with figure_style():
        fig = new_figure(figsize, dpi)
        axes = facet_axes(fig, len(groups), ncols, sharex=True, sharey=True)
        for ax, facet in zip(axes, groups):
            handles, labels = [], []
            for s in facet.members:
                sub = df[df["strategy"] == s]
                c = colour_of(palette, s)
                rows = [(x, float(g.mean()), *bootstrap_ci(g.to_numpy(dtype=float)))
                        for x, g in sub.groupby("experience", sort=True)["acc"]]
                xs, mean, lo, hi = (np.array(v) for v in zip(*rows))
                ax.fill_between(xs, lo, hi, color=c, alpha=0.15, linewidth=0)
                (line,) = ax.plot(xs, mean, color=c, linestyle=strategy_linestyle(s),
                                  marker=strategy_marker(s, palette), markersize=5, linewidth=1.8,
                                  markeredgecolor="white")
                line.set_gid(s)
                handles.append(strategy_handle(s, palette))
                labels.append(f"{member_label(s, facet)} (n={sub['seed'].nunique()})")
            facet_legend(ax, handles, labels)
            ax.set_title(facet.title, fontsize=10)
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
            ax.tick_params(labelsize=8, labelbottom=True)
        axes[0].set_ylim(0, min(100, max(10.0, float(df["acc"].max()) * 1.08)))
        for ax in axes[-ncols:]:  # not a supxlabel: the kind key sits below the panels
            ax.set_xlabel("experience (after training it)", fontsize=9)
        fig.supylabel("average accuracy on seen experiences (%)", fontsize=10)
        fig.suptitle("Average accuracy after each experience, by family (mean, 95% CI over seeds)", fontsize=11)
        kind_legend(fig, {companion_kind(s) for s in df["strategy"].astype(str)})
        return fig


register(FigureSpec(
    stem="average-accuracy", title="Average accuracy after each experience",
    caption="Average accuracy over the experiences seen so far after training each experience, one panel per "
            "family; line = mean, band = 95% bootstrap CI over seeds.",
    needs=("experiences",), draw=lambda inp: draw_average_accuracy(inp.experiences, inp.palette), order=40,
))
