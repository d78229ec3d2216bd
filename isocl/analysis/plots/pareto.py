"""Final accuracy against parameter count, with the Pareto frontier, faceted by family."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from isocl.analysis.plots.registry import FigureSpec, register
from isocl.analysis.plots.style import (
    DPI,
    NothingToPlot,
    colour_of,
    companion_kind,
    facet_axes,
    facet_legend,
    facets,
    figure_style,
    kind_legend,
    log_count_axis,
    member_label,
    new_figure,
    ok_units,
    ordered,
    percent,
    require_columns,
    save_figure,
    spread_coinciding,
    strategy_marker,
)

__all__ = ["draw_accuracy_vs_params", "pareto_frontier", "plot_accuracy_vs_params"]

CONTEXT = "0.8"  # the other families' points, behind each facet's own


def pareto_frontier(x: Sequence[float], y: Sequence[float]) -> list[int]:
    """Indices of the points not dominated when ``x`` is minimised and ``y``
    maximised, ordered by increasing ``x``."""
    pts = [(float(a), float(b), i) for i, (a, b) in enumerate(zip(x, y)) if np.isfinite(a) and np.isfinite(b)]
    pts.sort(key=lambda p: (p[0], -p[1]))
    front, best = [], -math.inf
    for a, b, i in pts:
        if b > best:
            front.append(i)
            best = b
    return front


def unit_means(summary: pd.DataFrame, params: str = "params") -> tuple[pd.DataFrame, pd.DataFrame]:
    """(seeds, per-strategy means) of the successful units with a positive ``params`` count:
    columns ``acc`` (%), ``params``, their sds and ``n``."""
    require_columns(summary, ["strategy", "seed", "final_accuracy", params], "accuracy vs parameters")
    df = ok_units(summary)
    df = df.assign(acc=percent(df["final_accuracy"]), params=pd.to_numeric(df[params], errors="coerce"),
                   strategy=df["strategy"].astype(str)).dropna(subset=["acc", "params"])
    df = df[df["params"] > 0]
    if df.empty:
        raise NothingToPlot("accuracy vs parameters: no successful unit with a parameter count")
    agg = df.groupby("strategy").agg(acc=("acc", "mean"), acc_sd=("acc", "std"), params=("params", "mean"),
                                     params_sd=("params", "std"), n=("acc", "size"))
    return df, agg.fillna({"acc_sd": 0.0, "params_sd": 0.0})


def draw_accuracy_vs_params(summary: pd.DataFrame, palette: dict[str, str], *, figsize=None,
                            dpi: float = DPI) -> Figure:
    """Final accuracy (%) against final parameter count (log x), one facet per family (the baselines
    first): each strategy's mean ± sd in both axes and its seeds as faint dots, the other families
    in grey behind, the Pareto frontier of all means as a dashed step line. Points on top of each
    other are spread sideways."""
    df, agg = unit_means(summary)
    agg = agg.reindex(ordered(agg.index, palette))
    groups = facets(agg.index, palette)
    ncols = 1 if len(groups) == 1 else 2
    nrows = math.ceil(len(groups) / ncols)
    if figsize is None:
        figsize = (5.6 * ncols + 0.4, 3.2 * nrows + 0.9)
    front = pareto_frontier(agg["params"].to_numpy(), agg["acc"].to_numpy())
    ymin = float((agg["acc"] - agg["acc_sd"]).min())
    ymax = float((agg["acc"] + agg["acc_sd"]).max())
    pad = max(2.0, 0.08 * (ymax - ymin))
    # markers closer than about a marker's height overlap: spread those sideways
    spread = spread_coinciding(agg["params"].to_numpy(), agg["acc"].to_numpy(), x_tol=0.03,
                               y_tol=0.045 * (ymax - ymin + 2 * pad), step=0.06)
    agg = agg.assign(x=agg["params"] * spread)
    lo, hi = float(min(df["params"].min(), agg["x"].min())), float(max(df["params"].max(), agg["x"].max()))
    with figure_style():
        fig = new_figure(figsize, dpi)
        axes = facet_axes(fig, len(groups), ncols, sharex=True, sharey=True)
        for ax, facet in zip(axes, groups):
            others = agg.drop(index=list(facet.members))
            ax.scatter(others["x"], others["acc"], color=CONTEXT, s=18, linewidths=0, zorder=1)
            if front:
                fx, fy = agg["params"].to_numpy()[front], agg["acc"].to_numpy()[front]
                ax.step(np.append(fx, hi * 1.5), np.append(fy, fy[-1]), where="post", color="0.35",
                        linestyle="--", linewidth=1.0, zorder=1)
            handles, labels = [], []
            for s in facet.members:
                handles.append(_strategy_point(ax, df[df["strategy"] == s], agg.loc[s], s, palette))
                labels.append(member_label(s, facet))
            facet_legend(ax, handles, labels)
            ax.set_title(facet.title, fontsize=10)
            ax.set_xscale("log")
            ax.set_xlim(lo / 1.25, hi * 1.25)
            log_count_axis(ax.xaxis, lo / 1.25, hi * 1.25)
            ax.tick_params(axis="both", which="both", labelsize=8, labelbottom=True)
            ax.grid(axis="x", which="minor", linewidth=0.5, alpha=0.4)
            ax.set_ylim(max(0.0, ymin - pad), min(100.0, ymax + pad))
        for ax in axes[-ncols:]:
            ax.set_xlabel("parameters (final model, log scale)", fontsize=9)
        fig.supylabel("final accuracy (%)", fontsize=10)
        fig.suptitle("Accuracy against model size, by family (mean ± sd over seeds; dots = seeds; "
                     "grey = other families)", fontsize=11)
        kind_legend(fig, {companion_kind(s) for s in agg.index},
                    extra=[(Line2D([], [], color="0.35", linestyle="--", linewidth=1.0), "Pareto frontier (all)")])
        return fig


def plot_accuracy_vs_params(summary: pd.DataFrame, palette: dict[str, str], path, *, figsize=None,
                            dpi: float = DPI) -> Path:
    """:func:`draw_accuracy_vs_params`, saved to ``path``."""
    return save_figure(draw_accuracy_vs_params(summary, palette, figsize=figsize, dpi=dpi), path)


def _strategy_point(ax, pts: pd.DataFrame, row: pd.Series, s: str, palette) -> Line2D:
    """A strategy's seeds (faint dots) and mean ± sd in both axes; returns its legend handle."""
    c, marker = colour_of(palette, s), strategy_marker(s, palette)
    shift = row["x"] / row["params"]
    ax.scatter(pts["params"] * shift, pts["acc"], color=c, s=12, alpha=0.35, linewidths=0, zorder=2)
    bars = ax.errorbar(row["x"], row["acc"], xerr=row["params_sd"], yerr=row["acc_sd"], fmt=marker, color=c,
                       markersize=7, capsize=3, elinewidth=1.4, markeredgecolor="white", zorder=3)
    bars.lines[0].set_gid(s)  # the figure test reads colour and marker per strategy from the artists
    return Line2D([], [], color=c, marker=marker, markersize=7, linestyle="none", markeredgecolor="white")


register(FigureSpec(
    stem="accuracy-vs-params", title="Accuracy against parameter count",
    caption="Final accuracy against final parameter count (log scale), one panel per family: mean ± sd over "
            "seeds, seeds as faint dots, the other families in grey; points at the same place are spread "
            "sideways; dashed step line: Pareto frontier of all strategies.",
    needs=("summary",), draw=lambda inp: draw_accuracy_vs_params(inp.summary, inp.palette), order=30,
))
