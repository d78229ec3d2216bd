"""Final accuracy against parameter count, with the Pareto frontier."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.lines import Line2D
from matplotlib.ticker import FuncFormatter

from isocl.analysis.plots.style import (
    DPI,
    NothingToPlot,
    colour_of,
    new_figure,
    legend_outside,
    ok_units,
    ordered,
    percent,
    require_columns,
    save_figure,
    figure_style,
    format_count,
    strategy_marker,
)


def pareto_frontier(x: Sequence[float], y: Sequence[float]) -> list[int]:
    """Indices of the points not dominated when ``x`` is minimised and ``y``
    maximised, ordered by increasing ``x``."""
    pts = [
        (float(a), float(b), i)
        for i, (a, b) in enumerate(zip(x, y))
        if np.isfinite(a) and np.isfinite(b)
    ]
    pts.sort(key=lambda p: (p[0], -p[1]))
    front, best = [], -math.inf
    for a, b, i in pts:
        if b > best:
            front.append(i)
            best = b
    return front


def _frontier_and_axis(ax, agg: pd.DataFrame, df: pd.DataFrame, handles, labels) -> None:
    """The Pareto frontier of the means as a step line, and the log parameter axis."""
    front = pareto_frontier(agg["params"].to_numpy(), agg["acc"].to_numpy())
    if front:
        fx = agg["params"].to_numpy()[front]
        fy = agg["acc"].to_numpy()[front]
        xmax = agg["params"].max() * 1.4
        ax.step(
            np.append(fx, xmax),
            np.append(fy, fy[-1]),
            where="post",
            color="0.35",
            linestyle="--",
            linewidth=1.2,
            zorder=1,
        )
        handles.append(Line2D([], [], color="0.35", linestyle="--", linewidth=1.2))
        labels.append("Pareto frontier")
    ax.set_xscale("log")
    lo, hi = df["params"].min(), df["params"].max()
    ax.set_xlim(lo / 1.3, hi * 1.3)
    ax.xaxis.set_major_formatter(FuncFormatter(format_count))
    ax.xaxis.set_minor_formatter(
        FuncFormatter(lambda v, p: format_count(v) if hi / lo < 20 else "")
    )
    ax.tick_params(axis="x", which="both", labelsize=9)
    ax.grid(axis="x", which="minor", linewidth=0.6, alpha=0.5)


def plot_accuracy_vs_params(
    summary: pd.DataFrame,
    palette: dict[str, str],
    path,
    *,
    figsize=(8.5, 5.0),
    dpi: float = DPI,
) -> Path:
    """Final accuracy (%) against final parameter count (log x-axis) per
    strategy: mean with ± sd error bars over seeds, seeds as faint dots, and
    the Pareto frontier (fewest parameters for the accuracy) as a step line."""
    summary = require_columns(
        summary,
        ["strategy", "seed", "final_accuracy", "params"],
        "accuracy vs parameters",
    )
    df = ok_units(summary)
    df = df.assign(
        acc=percent(df["final_accuracy"]),
        params=pd.to_numeric(df["params"], errors="coerce"),
        strategy=df["strategy"].astype(str),
    ).dropna(subset=["acc", "params"])
    df = df[df["params"] > 0]
    if df.empty:
        raise NothingToPlot(
            "accuracy vs parameters: no successful unit with a parameter count"
        )
    agg = df.groupby("strategy").agg(
        acc=("acc", "mean"),
        acc_sd=("acc", "std"),
        params=("params", "mean"),
        params_sd=("params", "std"),
        n=("acc", "size"),
    )
    agg = agg.reindex(ordered(agg.index, palette)).fillna(
        {"acc_sd": 0.0, "params_sd": 0.0}
    )
    handles, labels = [], []
    with figure_style():
        fig = new_figure(figsize, dpi)
        ax = fig.subplots()
        for s, row in agg.iterrows():
            handles.append(_strategy_point(ax, df[df["strategy"] == s], row, s, colour_of(palette, s)))
            labels.append(s)
        _frontier_and_axis(ax, agg, df, handles, labels)
        ax.set_xlabel("parameters (final model, log scale)")
        ax.set_ylabel("final accuracy (%)")
        ymin = float((agg["acc"] - agg["acc_sd"]).min())
        ymax = float((agg["acc"] + agg["acc_sd"]).max())
        pad = max(2.0, 0.1 * (ymax - ymin))
        ax.set_ylim(max(0.0, ymin - pad), min(100.0, ymax + pad))
        fig.suptitle("Accuracy against model size (mean ± sd over seeds; dots = seeds)")
        legend_outside(fig, handles, labels, title="strategy")
        return save_figure(fig, path)


def _strategy_point(ax, pts: pd.DataFrame, row: pd.Series, s: str, c) -> Line2D:
    """A strategy's seeds (faint dots) and mean ± sd in both axes; returns its legend handle."""
    ax.scatter(pts["params"], pts["acc"], color=c, s=14, alpha=0.35, linewidths=0, zorder=2)
    marker = strategy_marker(s)
    ax.errorbar(
        row["params"], row["acc"], xerr=row["params_sd"], yerr=row["acc_sd"], fmt=marker,
        color=c, markersize=8, capsize=4, elinewidth=1.6, markeredgecolor="white", zorder=3,
    )
    return Line2D([], [], color=c, marker=marker, markersize=8, linestyle="none", markeredgecolor="white")
