"""First-task accuracy by backbone: how well each strategy's network learns the first experience,
before any continual-learning mechanism has anything to protect.

The gap between backbones here is what a comparison that crosses backbones carries on top of the
mechanisms it means to compare (the fair-fight issue: PNN and PackNet on a ReLU MLP learned task 0
about 5 points better than the isotropic MLP did).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from isocl.analysis.plots.frontier import t_interval
from isocl.analysis.plots.registry import FigureSpec, register
from isocl.analysis.plots.style import (
    DPI,
    NothingToPlot,
    colour_of,
    companion_kind,
    figure_style,
    kind_legend,
    new_figure,
    ordered,
    percent,
    require_columns,
    save_figure,
    strategy_marker,
)

__all__ = ["draw_first_task_accuracy", "first_task_accuracy", "plot_first_task_accuracy"]


def first_task_accuracy(experiences: pd.DataFrame, model_kind: str = "mlp") -> pd.DataFrame:
    """One row per (strategy, seed): ``accuracy`` (%) on the first experience right after training on
    it (``experiences.csv``'s average accuracy at experience 0, which covers that experience alone) and
    the ``backbone`` the strategy runs on in a benchmark of ``[model] kind = model_kind``."""
    from isocl.analysis.statistics import backbone_of

    df = require_columns(experiences, ["strategy", "seed", "experience", "avg_accuracy"], "first-task accuracy")
    first = df[pd.to_numeric(df["experience"], errors="coerce") == 0]
    first = first.assign(strategy=first["strategy"].astype(str), accuracy=percent(first["avg_accuracy"]))
    first = first.dropna(subset=["accuracy"])
    backbones = {s: backbone_of(s, model_kind) for s in first["strategy"].unique()}
    return first.assign(backbone=first["strategy"].map(backbones))[["strategy", "seed", "backbone", "accuracy"]]


def plot_first_task_accuracy(experiences: pd.DataFrame, palette: dict[str, str], path, *, model_kind: str = "mlp",
                             figsize=None, dpi: float = DPI) -> Path:
    """:func:`draw_first_task_accuracy`, saved to ``path``."""
    return save_figure(draw_first_task_accuracy(experiences, palette, model_kind=model_kind, figsize=figsize,
                                                dpi=dpi), path)


def draw_first_task_accuracy(experiences: pd.DataFrame, palette: dict[str, str], *, model_kind: str = "mlp",
                             figsize=None, dpi: float = DPI) -> Figure:
    """Accuracy (%) on the first experience after training on it, per strategy, grouped by backbone:
    mean and 95% t-interval over seeds (marker and bar), seeds as dots; a dashed line per backbone at
    its mean over the strategies on it."""
    df = first_task_accuracy(experiences, model_kind)
    if df.empty:
        raise NothingToPlot("first-task accuracy: no unit finished its first experience")
    means = df.groupby("backbone")["accuracy"].mean().sort_values(ascending=False)
    order = [s for b in means.index for s in ordered(df.loc[df["backbone"] == b, "strategy"], palette)]
    backbone_of = df.drop_duplicates("strategy").set_index("strategy")["backbone"]
    if figsize is None:
        figsize = (9.5, max(2.6, 0.3 * len(order) + 1.8))
    jitter = np.random.default_rng(0)
    with figure_style():
        fig = new_figure(figsize, dpi)
        ax = fig.subplots()
        for y, s in enumerate(order):
            vals = df.loc[df["strategy"] == s, "accuracy"].to_numpy(dtype=float)
            lo, hi = t_interval(vals)
            m, c = float(vals.mean()), colour_of(palette, s)
            bars = ax.errorbar(m, y, xerr=[[m - lo], [hi - m]], fmt=strategy_marker(s, palette), color=c,
                               markersize=7, capsize=4, elinewidth=1.8, markeredgecolor="white", zorder=3)
            bars.lines[0].set_gid(s)
            ax.scatter(vals, y + 0.25 + jitter.uniform(-0.04, 0.04, vals.size), s=12, color=c, alpha=0.75,
                       edgecolor="white", linewidth=0.5, zorder=2)
        start = 0
        for b in means.index:
            n = int((backbone_of[order] == b).sum())
            if start:
                ax.axhline(start - 0.5, color="0.6", linewidth=0.8, zorder=1)
            ax.plot([means[b]] * 2, [start - 0.45, start + n - 0.55], color="0.35", linestyle="--", linewidth=1,
                    zorder=1)
            ax.annotate(f"{b}\nmean {means[b]:.1f}", xy=(1.0, start - 0.5), xycoords=("axes fraction", "data"),
                        xytext=(4, -2), textcoords="offset points", ha="left", va="top", fontsize=7.5,
                        color="0.3", annotation_clip=False)
            start += n
        ax.set_yticks(range(len(order)), order)
        ax.tick_params(axis="y", labelsize=8 if len(order) > 20 else 9)
        ax.set_ylim(len(order) - 0.5, -0.5)
        ax.grid(axis="y", visible=False)
        kind_legend(fig, {companion_kind(s) for s in order})
        ax.set_xlabel("accuracy on the first experience after training on it (%)")
        ax.set_ylabel("strategy")
        fig.suptitle("First-task accuracy by backbone (mean, 95% t-interval over seeds; dots = seeds)")
        return fig


register(FigureSpec(
    stem="first-task-accuracy", title="First-task accuracy by backbone",
    caption="Accuracy on the first experience right after training on it, grouped by the backbone each strategy "
            "runs on (dashed: the backbone's mean): what a backbone learns before any continual-learning "
            "mechanism acts, and so what a comparison that crosses backbones carries besides the mechanisms.",
    needs=("experiences",),
    draw=lambda inp: draw_first_task_accuracy(inp.experiences, inp.palette, model_kind=inp.model_kind), order=27,
))
