"""Final accuracy and forgetting per strategy."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from isocl.analysis.plots.style import (
    DPI,
    NothingToPlot,
    colour_of,
    new_figure,
    ok_units,
    ordered,
    percent,
    require_columns,
    save_figure,
    figure_style,
)


def plot_final_accuracy_forgetting(
    summary: pd.DataFrame,
    palette: dict[str, str],
    path,
    *,
    figsize=None,
    dpi: float = DPI,
) -> Path:
    """Final accuracy (%) and forgetting (%) per strategy: mean ± standard
    deviation over seeds (diamond with error bar), individual seeds as dots.
    Rows with a status other than ``ok`` are ignored."""
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
    order = ordered(df["strategy"].unique(), palette)
    if figsize is None:
        figsize = (9.0, max(2.6, 0.5 * len(order) + 1.4))
    jitter = np.random.default_rng(0)
    with figure_style():
        fig = new_figure(figsize, dpi)
        axes = fig.subplots(1, 2, sharey=True)
        for ax, col, label in (
            (axes[0], "final", "final accuracy (%)"),
            (axes[1], "forget", "forgetting (%)"),
        ):
            _seed_panel(ax, df.dropna(subset=[col]), col, label, order, palette, jitter)
        axes[0].set_yticks(range(len(order)), order)
        axes[0].set_ylim(len(order) - 0.5, -0.5)
        axes[0].set_ylabel("strategy")
        axes[0].grid(axis="y", visible=False)
        axes[1].grid(axis="y", visible=False)
        axes[0].set_title("Final accuracy (higher is better)", fontsize=10)
        axes[1].set_title("Forgetting (lower is better)", fontsize=10)
        fig.suptitle(
            "Final accuracy and forgetting (mean ± sd over seeds; dots = seeds)"
        )
        return save_figure(fig, path)


def _seed_panel(ax, data: pd.DataFrame, col: str, label: str, order, palette, jitter) -> None:
    """One panel: per strategy the mean ± sd (diamond) and its seeds (dots just below)."""
    for y, s in enumerate(order):
        vals = data.loc[data["strategy"] == s, col].to_numpy(dtype=float)
        if vals.size == 0:
            continue
        c = colour_of(palette, s)
        sd = float(np.std(vals, ddof=1)) if vals.size > 1 else 0.0
        ax.errorbar(
            float(vals.mean()), y, xerr=sd, fmt="D", color=c, markersize=8, capsize=5,
            elinewidth=2, capthick=2, markeredgecolor="white", zorder=3,
        )
        ax.scatter(
            vals, y + 0.22 + jitter.uniform(-0.05, 0.05, vals.size), s=22, color=c,
            alpha=0.75, edgecolor="white", linewidth=0.5, zorder=2,
        )
    ax.set_xlabel(label)
    lo = float(data[col].min()) if not data.empty else 0.0
    hi = float(data[col].max()) if not data.empty else 100.0
    ax.set_xlim(min(0.0, lo - 5), max(100.0, hi + 5) if hi > 95 else 100.0)
