"""Network size: hidden width per layer and parameter count over experiences."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import FuncFormatter, MaxNLocator

from isocl.analysis.plots.registry import FigureSpec, register
from isocl.analysis.plots.style import (
    BASELINES,
    registered_neuroplastic,
    companion_kind,
    facet_legend,
    facets,
    kind_legend,
    member_label,
    unit_of,
    DPI,
    NothingToPlot,
    colour_of,
    new_figure,
    legend_outside,
    ordered,
    require_columns,
    save_figure,
    strategy_handle,
    figure_style,
    format_count,
    strategy_linestyle,
    strategy_marker,
)

_LAYER_STYLES = ["-", "--", ":", "-."]
_LAYER_MARKERS = ["o", "s", "^", "D", "v", "P"]


def parse_widths(cell) -> list[int]:
    """``"256-128"`` -> ``[256, 128]`` (empty for NaN / "")."""
    if cell is None or (isinstance(cell, float) and math.isnan(cell)):
        return []
    text = str(cell).strip()
    if not text:
        return []
    return [int(float(p)) for p in text.split("-") if p.strip()]


def dynamic_strategies(experiences: pd.DataFrame) -> list[str]:
    """Strategies whose hidden widths change across experiences in some seed (their parameter
    count, when there is no ``widths`` column: an incremental classifier's few extra outputs do
    not count then) or that the registry calls neuroplastic (companions excluded)."""
    if experiences is None or experiences.empty:
        return []
    out = set()
    column = "widths" if "widths" in experiences.columns else "params"
    for s, sub in experiences.groupby("strategy", sort=True):
        unit = unit_of(str(s))
        if unit.prefix is None and registered_neuroplastic(unit.strategy):
            out.add(str(s))
            continue
        values = sub[column].astype(str) if column == "widths" else pd.to_numeric(sub[column], errors="coerce")
        if values.groupby(sub["seed"]).nunique(dropna=True).max() > 1:
            out.add(str(s))
    return sorted(out)


def _widths_long(df: pd.DataFrame) -> pd.DataFrame:
    rows = []
    for rec in df[["strategy", "seed", "experience", "widths"]].itertuples(index=False):
        try:
            widths = parse_widths(rec.widths)
        except ValueError:
            continue
        for layer, w in enumerate(widths):
            rows.append((rec.strategy, rec.seed, rec.experience, layer, w))
    return pd.DataFrame(
        rows, columns=["strategy", "seed", "experience", "layer", "width"]
    )


def _mean_sd_line(ax, df: pd.DataFrame, x: str, y: str, colour, linestyle, marker, gid=None) -> None:
    """Mean of ``y`` per ``x`` as a line, ± sample sd as a band."""
    g = df.groupby(x, sort=True)[y].agg(["mean", "std"])
    if g.empty:
        return
    sd = g["std"].fillna(0.0).to_numpy()
    xs, mean = g.index.to_numpy(dtype=float), g["mean"].to_numpy(dtype=float)
    ax.fill_between(xs, mean - sd, mean + sd, color=colour, alpha=0.2, linewidth=0)
    ax.plot(
        xs,
        mean,
        gid=gid,
        color=colour,
        linestyle=linestyle,
        marker=marker,
        markersize=5,
        linewidth=2,
        markeredgecolor="white",
    )


def _reference(ax, value: float, colour, linestyle, gid: str, seen: dict) -> None:
    """A horizontal reference line; a later one at the same value (``seen``: value -> lines so far in
    this panel) starts its dash pattern further on, so that both stay visible (a diag-only control
    often sits at its fixed-final twin's widths)."""
    key = float(f"{value:.6g}")
    k = seen[key] = seen.get(key, -1) + 1
    if k and isinstance(linestyle, tuple):
        linestyle = (linestyle[0] + 3.5 * k, linestyle[1])
    ax.axhline(value, color=colour, linestyle=linestyle, linewidth=1.3, alpha=0.95, zorder=1 + k, gid=gid)


def plot_width_and_params(experiences: pd.DataFrame, palette: dict[str, str], path, *,
                          dynamic: Sequence[str] | None = None, figsize=None, dpi: float = DPI) -> Path:
    """:func:`draw_width_and_params`, saved to ``path``."""
    return save_figure(draw_width_and_params(experiences, palette, dynamic=dynamic, figsize=figsize, dpi=dpi), path)


def draw_width_and_params(experiences: pd.DataFrame, palette: dict[str, str], *,
                          dynamic: Sequence[str] | None = None, figsize=None, dpi: float = DPI) -> Figure:
    """Hidden width per layer (neurons) and parameter count after each experience, one row per family
    that has a dynamic member (mean over seeds, band = sd). The family's fixed-width companions are
    horizontal reference lines in their own line style; fixed-width baselines are left out."""
    experiences = require_columns(experiences, ["strategy", "seed", "experience", "params", "widths"],
                                  "width and parameters")
    df = experiences.assign(
        experience=pd.to_numeric(experiences["experience"], errors="coerce"),
        params=pd.to_numeric(experiences["params"], errors="coerce"),
        strategy=experiences["strategy"].astype(str),
    ).dropna(subset=["experience"])
    dyn = set(dynamic if dynamic is not None else dynamic_strategies(df))
    groups = [g for g in facets(df["strategy"].unique(), palette) if dyn & set(g.members)]
    if not groups:
        raise NothingToPlot("width and parameters: no dynamic strategy (no strategy changes "
                            "its parameter count and none is neuroplastic)")
    widths = _widths_long(df)
    n_layers = int(widths["layer"].max()) + 1 if not widths.empty else 0
    if figsize is None:
        figsize = (10.5, 2.7 * len(groups) + 1.0)
    with figure_style():
        fig = new_figure(figsize, dpi)
        rows = np.atleast_2d(fig.subplots(len(groups), 2, squeeze=False, sharex=True))
        for (ax_w, ax_p), g in zip(rows, groups):
            handles, labels = [], []
            seen_w: dict = {}
            seen_p: dict = {}
            for s in g.members:
                if g.key == BASELINES and s not in dyn:
                    continue
                c = colour_of(palette, s)
                if s in dyn:
                    _dynamic_lines(ax_w, ax_p, widths[widths["strategy"] == s], df[df["strategy"] == s], s, c,
                                   palette)
                else:
                    ls = strategy_linestyle(s)
                    for layer_width in sorted(set(widths.loc[widths["strategy"] == s].groupby("layer")["width"]
                                                  .mean().round(6))):
                        _reference(ax_w, layer_width, c, ls, s, seen_w)
                    _reference(ax_p, float(df.loc[df["strategy"] == s, "params"].mean()), c, ls, s, seen_p)
                handles.append(strategy_handle(s, palette, marker=s in dyn))
                labels.append(member_label(s, g) + ("" if s in dyn else " (fixed width)"))
            facet_legend(ax_p, handles, labels)
            ax_w.set_title(f"{g.title}: hidden width per layer", fontsize=9.5)
            ax_p.set_title(f"{g.title}: parameter count", fontsize=9.5)
            ax_w.set_ylim(bottom=0)
            ax_p.set_ylim(bottom=0)
            ax_p.yaxis.set_major_formatter(FuncFormatter(format_count))
            for ax in (ax_w, ax_p):
                ax.xaxis.set_major_locator(MaxNLocator(integer=True))
                ax.tick_params(labelsize=8, labelbottom=True)
        rows[-1][0].set_xlabel("experience (after training it)", fontsize=9)
        rows[-1][1].set_xlabel("experience (after training it)", fontsize=9)
        fig.supylabel("hidden width (neurons; channels for conv stages)  |  parameters", fontsize=9)
        fig.suptitle("Network size of the families with a dynamic member (mean ± sd over seeds; "
                     "horizontal lines: fixed-width companions)", fontsize=11)
        layer_keys = [(Line2D([], [], color="0.35", linestyle=_LAYER_STYLES[i % 4], marker=_LAYER_MARKERS[i % 6],
                              linewidth=1.4), f"hidden layer {i} (width panels)") for i in range(n_layers)]
        kind_legend(fig, {companion_kind(s) for g in groups for s in g.members}, extra=layer_keys)
        return fig


def _dynamic_lines(ax_w, ax_p, sub_w: pd.DataFrame, sub: pd.DataFrame, s: str, c, palette) -> None:
    """A dynamic strategy's width per layer (left) and parameter count (right), mean ± sd."""
    for layer in sorted(sub_w["layer"].unique()):
        _mean_sd_line(ax_w, sub_w[sub_w["layer"] == layer], "experience", "width", c,
                      _LAYER_STYLES[layer % 4], _LAYER_MARKERS[layer % 6])  # marker = layer: no strategy gid
    sub_p = sub.dropna(subset=["params"])
    if not sub_p.empty:
        _mean_sd_line(ax_p, sub_p, "experience", "params", c, strategy_linestyle(s), strategy_marker(s, palette), s)


register(FigureSpec(
    stem="width-params", title="Network size over experiences",
    caption="Hidden width per layer and parameter count after each experience, one row per family with a dynamic "
            "member (mean ± sd over seeds); horizontal lines: the family's fixed-width companions, in their "
            "companion kind's line style.",
    needs=("experiences",), draw=lambda inp: draw_width_and_params(inp.experiences, inp.palette), order=60,
))
