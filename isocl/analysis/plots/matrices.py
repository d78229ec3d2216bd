"""Accuracy matrices: accuracy on each experience after training each experience."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib import colors as mcolors
from matplotlib.cm import ScalarMappable
from matplotlib.figure import Figure
from seaborn.utils import relative_luminance

from isocl.analysis.plots.registry import FigureSpec, register

from isocl.analysis.plots.style import (
    DPI,
    NothingToPlot,
    new_figure,
    ordered,
    percent,
    require_columns,
    save_figure,
    figure_style,
    wrap_label,
)


def plot_accuracy_matrices(metrics: pd.DataFrame, palette: dict[str, str], path, *, figsize=None,
                           dpi: float = DPI) -> Path:
    """:func:`draw_accuracy_matrices`, saved to ``path``."""
    return save_figure(draw_accuracy_matrices(metrics, palette, figsize=figsize, dpi=dpi), path)


def draw_accuracy_matrices(metrics: pd.DataFrame, palette: dict[str, str], *, figsize=None,
                           dpi: float = DPI) -> Figure:
    """Accuracy-matrix heatmaps, one small multiple per strategy: mean
    accuracy (%) over seeds on ``eval_exp`` (columns) after training
    ``trained_exp`` (rows), annotated in %."""
    metrics = require_columns(
        metrics,
        ["strategy", "seed", "trained_exp", "eval_exp", "accuracy"],
        "accuracy matrices",
    )
    df = metrics.assign(acc=percent(metrics["accuracy"])).dropna(subset=["acc"])
    if df.empty:
        raise NothingToPlot("accuracy matrices: no accuracy values")
    df = df.assign(
        trained_exp=df["trained_exp"].astype(int), eval_exp=df["eval_exp"].astype(int)
    )
    strategies = ordered(df["strategy"].unique(), palette)
    n = len(strategies)
    n_exp = int(max(df["trained_exp"].max(), df["eval_exp"].max())) + 1
    ncols = min(n, 4 if n > 12 else 3)
    nrows = math.ceil(n / ncols)
    panel = max(2.6, 0.42 * n_exp + 0.9)
    if figsize is None:
        figsize = (ncols * panel + 1.0, nrows * (panel + 0.45) + 0.6)  # + a title line per row
    annot = n_exp <= 12
    font = max(5.5, min(9.0, 42.0 / n_exp))
    cmap = sns.color_palette("viridis", as_cmap=True)
    with figure_style():
        fig = new_figure(figsize, dpi)
        axes = np.atleast_1d(fig.subplots(nrows, ncols, squeeze=False)).ravel()
        for i, (ax, s) in enumerate(zip(axes, strategies)):
            _matrix_panel(ax, df, s, cmap, annot, font, panel)
            ax.set_xlabel(
                "evaluated on experience"
                if i // ncols == nrows - 1 or i + ncols >= n
                else ""
            )
            ax.set_ylabel("after training experience" if i % ncols == 0 else "")
            ax.tick_params(labelsize=8, rotation=0)
        for ax in axes[n:]:
            ax.set_visible(False)
        fig.colorbar(
            ScalarMappable(norm=mcolors.Normalize(0, 100), cmap=cmap),
            ax=list(axes[:n]),
            label="accuracy (%)",
            shrink=0.8,
        )
        fig.suptitle("Accuracy matrix per strategy (mean over seeds)")
        fig.get_layout_engine().set(h_pad=0.12, hspace=0.06)  # titles clear of the row above's tick labels
        return fig


def _matrix_panel(ax, df: pd.DataFrame, s: str, cmap, annot: bool, font: float, panel: float) -> None:
    """One strategy's mean accuracy matrix over its own stream, titled with its seed count."""
    sub = df[df["strategy"] == s]
    k = int(max(sub["trained_exp"].max(), sub["eval_exp"].max())) + 1  # its stream
    mat = (
        sub.groupby(["trained_exp", "eval_exp"])["acc"]
        .mean()
        .unstack("eval_exp")
        .reindex(index=range(k), columns=range(k))
    )
    ax.grid(False)  # the style's grid would show through the cells not yet evaluated
    n_seeds = sub["seed"].nunique()
    _heatmap(ax, mat.to_numpy(dtype=float), cmap, annot, font)
    ax.set_title(
        wrap_label(f"{s} ({n_seeds}\u00a0seed{'s' if n_seeds != 1 else ''})", int(panel * 11)),
        fontsize=10,
    )


def _heatmap(ax, values: np.ndarray, cmap, annot: bool, font: float) -> None:
    """One annotated heatmap cell grid, drawn as ``sns.heatmap(vmin=0, vmax=100, square=True, fmt=".0f",
    linewidths=0.5, linecolor="white")`` draws it (cells not evaluated left blank, annotation colour by the
    cell's luminance as seaborn picks it). Written out because ``sns.heatmap`` draws the whole figure once per
    call to check its tick labels for overlap: with one panel per strategy that is quadratic in the panels
    (35 panels took over a minute of the quick look's report; this takes about a second)."""
    k_rows, k_cols = values.shape
    ax.pcolormesh(np.ma.masked_invalid(values), cmap=cmap, vmin=0, vmax=100, edgecolors="white", linewidth=0.5)
    ax.set_xlim(0, k_cols)
    ax.set_ylim(k_rows, 0)  # first experience at the top, as a heatmap reads
    ax.set_aspect("equal")
    ax.set_xticks(np.arange(k_cols) + 0.5, labels=[str(j) for j in range(k_cols)])
    ax.set_yticks(np.arange(k_rows) + 0.5, labels=[str(i) for i in range(k_rows)])
    ax.tick_params(length=0)
    for side in ax.spines.values():
        side.set_visible(False)
    if not annot:
        return
    for (i, j), v in np.ndenumerate(values):
        if np.isfinite(v):
            dark = relative_luminance(cmap(v / 100.0)) <= 0.408
            ax.text(j + 0.5, i + 0.5, f"{v:.0f}", ha="center", va="center", fontsize=font,
                    color="w" if dark else ".15")


register(FigureSpec(
    stem="accuracy-matrices", title="Accuracy matrices",
    caption="Accuracy (%) on each experience (columns) after training each experience (rows), mean over seeds.",
    needs=("metrics",), draw=lambda inp: draw_accuracy_matrices(inp.metrics, inp.palette), order=50,
))
