"""Average accuracy over the experiences seen so far, after each experience."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.ticker import MaxNLocator

from isocl.analysis.plots.style import (
    DPI,
    NothingToPlot,
    colour_of,
    new_figure,
    legend_outside,
    ordered,
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


def plot_average_accuracy(
    experiences: pd.DataFrame,
    palette: dict[str, str],
    path,
    *,
    figsize=(8.0, 4.5),
    dpi: float = DPI,
) -> Path:
    """Average accuracy (%) over the experiences seen so far, after training
    each experience: mean line with a 95 % bootstrap confidence band over
    seeds, one line per strategy."""
    experiences = require_columns(
        experiences,
        ["strategy", "seed", "experience", "avg_accuracy"],
        "average accuracy",
    )
    df = experiences.assign(
        acc=percent(experiences["avg_accuracy"]),
        experience=pd.to_numeric(experiences["experience"], errors="coerce"),
    )
    df = df.dropna(subset=["acc", "experience"])
    if df.empty:
        raise NothingToPlot("average accuracy: no avg_accuracy values")
    strategies = ordered(df["strategy"].unique(), palette)
    handles, labels = [], []
    with figure_style():
        fig = new_figure(figsize, dpi)
        ax = fig.subplots()
        for s in strategies:
            sub = df[df["strategy"] == s]
            c = colour_of(palette, s)
            stats = [
                (x, float(g.mean()), *bootstrap_ci(g.to_numpy(dtype=float)))
                for x, g in sub.groupby("experience", sort=True)["acc"]
            ]
            xs, mean, lo, hi = (np.array(v) for v in zip(*stats))
            ax.fill_between(xs, lo, hi, color=c, alpha=0.2, linewidth=0)
            ax.plot(
                xs,
                mean,
                color=c,
                linestyle=strategy_linestyle(s),
                marker=strategy_marker(s),
                markersize=6,
                linewidth=2,
                markeredgecolor="white",
            )
            handles.append(strategy_handle(s, palette))
            labels.append(f"{s} (n={sub['seed'].nunique()})")
        ax.set_xlabel("experience (after training it)")
        ax.set_ylabel("average accuracy on seen experiences (%)")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_ylim(0, min(100, max(10.0, float(df["acc"].max()) * 1.08)))
        fig.suptitle("Average accuracy after each experience (mean, 95% CI over seeds)")
        legend_outside(fig, handles, labels, title="strategy")
        return save_figure(fig, path)


