"""Parameter frontiers: accuracy and forgetting against final and against peak parameters,
one line per family (a strategy's frontier points, ``STRATEGY@POINT``, joined in order of size)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from isocl.analysis.plots.registry import FigureSpec, register
from isocl.analysis.plots.style import (
    BASELINES,
    DPI,
    facets,
    spread_coinciding,
    NothingToPlot,
    colour_of,
    companion_kind,
    family_of,
    figure_style,
    legend_outside,
    log_count_axis,
    new_figure,
    ok_units,
    ordered,
    percent,
    require_columns,
    strategy_marker,
)

__all__ = ["PARAM_COLUMNS", "draw_frontier", "frontier_points", "t_interval"]

PARAM_COLUMNS = {"final": ("params", "final parameters"), "peak": ("max_params", "peak parameters (largest during training)")}
"""Which summary.csv column each frontier reads, and its axis label."""

METRICS = (("final_accuracy", "final accuracy (%)", "higher is better"),
           ("forgetting", "forgetting (%)", "lower is better"))


def t_interval(values: np.ndarray, level: float = 0.95) -> tuple[float, float]:
    """Student-t interval of the mean (scipy); a single value or no spread gives the value itself."""
    from scipy import stats

    values = np.asarray(values, float)
    values = values[np.isfinite(values)]
    if values.size == 0:
        return math.nan, math.nan
    m = float(values.mean())
    if values.size < 2 or np.ptp(values) == 0:
        return m, m
    lo, hi = stats.t.interval(level, values.size - 1, loc=m, scale=stats.sem(values))
    return float(lo), float(hi)


def frontier_points(summary: pd.DataFrame, which: str) -> pd.DataFrame:
    """One row per strategy or frontier point (companions left out): its family, the mean and range
    over seeds of the ``which`` ("final"/"peak") parameter count, and per metric the mean and 95% t-interval."""
    column, _ = PARAM_COLUMNS[which]
    require_columns(summary, ["strategy", "seed", column, *[m for m, _, _ in METRICS]], f"frontier ({which})")
    df = ok_units(summary).assign(strategy=lambda d: d["strategy"].astype(str))
    df = df[[companion_kind(s) == "" for s in df["strategy"]]]
    df = df.assign(x=pd.to_numeric(df[column], errors="coerce"),
                   **{m: percent(df[m]) for m, _, _ in METRICS}).dropna(subset=["x"])
    df = df[df["x"] > 0]
    if df.empty:
        raise NothingToPlot(f"frontier ({which}): no successful unit with a {column} count")
    rows = []
    for s, sub in df.groupby("strategy", sort=True):
        row = {"strategy": s, "family": family_of(s), "n": len(sub), "x": float(sub["x"].mean()),
               "x_lo": float(sub["x"].min()), "x_hi": float(sub["x"].max())}
        for m, _, _ in METRICS:
            row[m] = float(sub[m].mean())
            row[f"{m}_lo"], row[f"{m}_hi"] = t_interval(sub[m].to_numpy())
        rows.append(row)
    return pd.DataFrame(rows)


def draw_frontier(summary: pd.DataFrame, palette: dict[str, str], which: str, *, figsize=(11.0, 4.6),
                  dpi: float = DPI) -> Figure:
    """Accuracy (left) and forgetting (right) against ``which`` parameters (log x): per strategy or
    point the mean over seeds with its 95% t-interval (vertical) and the seeds' range of sizes
    (horizontal); the points of one family joined by a line in order of size."""
    pts = frontier_points(summary, which)
    order = ordered(pts["strategy"], palette)
    pts = pts.set_index("strategy").loc[order].reset_index()
    families = list(dict.fromkeys(pts["family"]))
    own = {f.key for f in facets(pts["strategy"], palette)} - {BASELINES}
    # baselines at one size (most share the default widths) are spread sideways so that none hides another
    span = float(np.nanmax(pts["final_accuracy"]) - np.nanmin(pts["final_accuracy"])) + 1.0
    single = ~pts["family"].isin(own)
    factor = np.ones(len(pts))
    factor[single.to_numpy()] = spread_coinciding(pts.loc[single, "x"].to_numpy(), np.zeros(int(single.sum())),
                                                  x_tol=0.03, y_tol=span,
                                                  step=min(0.03, 0.24 / max(1, int(single.sum()))))  # within ±12%
    pts = pts.assign(x=pts["x"] * factor, x_lo=pts["x_lo"] * factor, x_hi=pts["x_hi"] * factor)
    lo, hi = float(pts["x_lo"].min()), float(pts["x_hi"].max())
    handles, labels = [], []
    with figure_style():
        fig = new_figure(figsize, dpi)
        axes = fig.subplots(1, 2, sharex=True)
        for fam in families:
            sub = pts[pts["family"] == fam].sort_values("x")
            line_colour = colour_of(palette, sub["strategy"].iloc[len(sub) // 2])
            for ax, (m, _, _) in zip(axes, METRICS):
                if len(sub) > 1:
                    ax.plot(sub["x"], sub[m], color=line_colour, linewidth=1.6, zorder=2)
                for rec in sub.itertuples(index=False):
                    c, marker = colour_of(palette, rec.strategy), strategy_marker(rec.strategy, palette)
                    mean, mlo, mhi = getattr(rec, m), getattr(rec, f"{m}_lo"), getattr(rec, f"{m}_hi")
                    hollow = fam not in own  # baselines open, families filled: told apart at a glance
                    bars = ax.errorbar(rec.x, mean, yerr=[[mean - mlo], [mhi - mean]],
                                       xerr=[[rec.x - rec.x_lo], [rec.x_hi - rec.x]], fmt=marker, color=c,
                                       markersize=6.5, capsize=3, elinewidth=1.2, zorder=3,
                                       markerfacecolor="white" if hollow else c,
                                       markeredgecolor=c if hollow else "white", markeredgewidth=1.5 if hollow else 1)
                    bars.lines[0].set_gid(rec.strategy)
            n_pts = len(sub)
            hollow = fam not in own
            handles.append(Line2D([], [], color=line_colour, linewidth=1.6 if n_pts > 1 else 0,
                                  marker=strategy_marker(sub["strategy"].iloc[0], palette), markersize=6.5,
                                  markerfacecolor="white" if hollow else line_colour,
                                  markeredgecolor=line_colour if hollow else "white"))
            labels.append(f"{fam} ({n_pts} points)" if n_pts > 1 else fam + (" (baseline)" if hollow else ""))
        for ax, (m, label, better) in zip(axes, METRICS):
            ax.set_xscale("log")
            ax.set_xlim(lo / 1.3, hi * 1.3)
            log_count_axis(ax.xaxis, lo / 1.3, hi * 1.3)
            ax.tick_params(axis="both", which="both", labelsize=8)
            ax.grid(axis="x", which="minor", linewidth=0.5, alpha=0.4)
            ax.set_xlabel(f"{PARAM_COLUMNS[which][1]}, log scale", fontsize=9)
            ax.set_ylabel(label, fontsize=9)
            ax.set_title(f"{label.split(' (')[0].capitalize()} ({better})", fontsize=10)
        fig.suptitle(f"Parameter frontier against {which} parameters (mean, 95% t-interval over seeds)", fontsize=11)
        legend_outside(fig, handles, labels, title="family", fontsize="x-small")
        return fig


def _caption(which: str) -> str:
    return (f"Final accuracy (left) and forgetting (right) against {PARAM_COLUMNS[which][1]} (log scale): per "
            "strategy and frontier point (STRATEGY@POINT) the mean over seeds with its 95% t-interval; horizontal "
            "bars span the seeds' sizes; a family's points are joined in order of size; baselines are open markers, "
            "spread sideways where they share a size. Companions (twins, controls) are left out.")


for _which, _order in (("final", 10), ("peak", 11)):
    register(FigureSpec(
        stem=f"frontier-{_which}-params", title=f"Parameter frontier ({_which} parameters)", caption=_caption(_which),
        needs=("summary",), draw=lambda inp, w=_which: draw_frontier(inp.summary, inp.palette, w), order=_order,
        verdict=True,
    ))
