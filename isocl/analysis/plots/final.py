"""Final accuracy and forgetting per strategy."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from isocl.analysis.plots.registry import FigureSpec, register
from isocl.analysis.plots.style import (
    DPI,
    NothingToPlot,
    colour_of,
    companion_kind,
    facets,
    kind_legend,
    strategy_marker,
    new_figure,
    ok_units,
    ordered,
    percent,
    require_columns,
    save_figure,
    figure_style,
)


def plot_final_accuracy_forgetting(summary: pd.DataFrame, palette: dict[str, str], path, *, figsize=None,
                                   dpi: float = DPI) -> Path:
    """:func:`draw_final_accuracy_forgetting`, saved to ``path``."""
    return save_figure(draw_final_accuracy_forgetting(summary, palette, figsize=figsize, dpi=dpi), path)


def draw_final_accuracy_forgetting(summary: pd.DataFrame, palette: dict[str, str], *, figsize=None,
                                   dpi: float = DPI) -> Figure:
    """Final accuracy (%) and forgetting (%) per strategy: mean ± standard
    deviation over seeds (diamond with error bar), individual seeds as dots.
    One row per strategy, grouped by family (a rule and the family's name
    between groups). Rows with a status other than ``ok`` are ignored."""
    summary = require_columns(
        summary,
        ["strategy", "seed", "final_accuracy", "forgetting"],
        "final accuracy and forgetting",
    )
    df = ok_units(summary)
    df = df.assign(
        final=percent(df["final_accuracy"]),
        forget=percent(df["forgetting"]),
        strategy=df["strategy"].astype(str),
    )
    df = df.dropna(subset=["final", "forget"], how="all")
    if df.empty:
        raise NothingToPlot("final accuracy and forgetting: no successful unit")
    groups = facets(df["strategy"].unique(), palette)
    order = [s for g in groups for s in g.members]
    if figsize is None:
        figsize = (9.5, max(2.6, 0.32 * len(order) + 1.4))
    jitter = np.random.default_rng(0)
    with figure_style():
        fig = new_figure(figsize, dpi)
        axes = fig.subplots(1, 2, sharey=True)
        for ax, col, label in (
            (axes[0], "final", "final accuracy (%)"),
            (axes[1], "forget", "forgetting (%)"),
        ):
            _seed_panel(ax, df.dropna(subset=[col]), col, label, order, palette, jitter)
        _family_rules(axes, groups)
        kind_legend(fig, {companion_kind(s) for s in order})
        axes[0].set_yticks(range(len(order)), order)
        axes[0].tick_params(axis="y", labelsize=8 if len(order) > 20 else 9)
        axes[0].set_ylim(len(order) - 0.5, -0.5)
        axes[0].set_ylabel("strategy")
        axes[0].grid(axis="y", visible=False)
        axes[1].grid(axis="y", visible=False)
        axes[0].set_title("Final accuracy (higher is better)", fontsize=10)
        axes[1].set_title("Forgetting (lower is better)", fontsize=10)
        fig.suptitle(
            "Final accuracy and forgetting (mean ± sd over seeds; dots = seeds)"
        )
        return fig


def _seed_panel(ax, data: pd.DataFrame, col: str, label: str, order, palette, jitter) -> None:
    """One panel: per strategy the mean ± sd (diamond) and its seeds (dots just below)."""
    for y, s in enumerate(order):
        vals = data.loc[data["strategy"] == s, col].to_numpy(dtype=float)
        if vals.size == 0:
            continue
        c = colour_of(palette, s)
        sd = float(np.std(vals, ddof=1)) if vals.size > 1 else 0.0
        bars = ax.errorbar(
            float(vals.mean()), y, xerr=sd, fmt=strategy_marker(s, palette), color=c, markersize=7, capsize=4,
            elinewidth=1.8, capthick=1.8, markeredgecolor="white", zorder=3,
        )
        bars.lines[0].set_gid(s)
        ax.scatter(
            vals, y + 0.25 + jitter.uniform(-0.04, 0.04, vals.size), s=12, color=c,
            alpha=0.75, edgecolor="white", linewidth=0.5, zorder=2,
        )
    ax.set_xlabel(label)
    lo = float(data[col].min()) if not data.empty else 0.0
    hi = float(data[col].max()) if not data.empty else 100.0
    ax.set_xlim(min(0.0, lo - 5), max(100.0, hi + 5) if hi > 95 else 100.0)


def _family_rules(axes, groups) -> None:
    """A thin rule between families and the family's name at the right edge of the forgetting panel."""
    start = 0
    for g in groups:
        if start:
            for ax in axes:
                ax.axhline(start - 0.5, color="0.6", linewidth=0.8, zorder=1)
        if len(groups) > 1:
            axes[1].annotate(g.title, xy=(1.0, start - 0.5), xycoords=("axes fraction", "data"),
                             xytext=(4, -2), textcoords="offset points", ha="left", va="top", fontsize=7.5,
                             color="0.3", annotation_clip=False)
        start += len(g.members)


register(FigureSpec(
    stem="final-accuracy-forgetting", title="Final accuracy and forgetting",
    caption="Final accuracy and forgetting per strategy, grouped by family: mean ± sd over seeds (marker), "
            "individual seeds as dots.",
    needs=("summary",), draw=lambda inp: draw_final_accuracy_forgetting(inp.summary, inp.palette), order=20,
))
