"""Network size: hidden width per layer and parameter count over experiences."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.lines import Line2D
from matplotlib.ticker import FuncFormatter, MaxNLocator

from isocl.analysis.plots.style import (
    DPI,
    NothingToPlot,
    colour_of,
    new_figure,
    legend_outside,
    ordered,
    require_columns,
    save_figure,
    split_label,
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
    """Strategies whose parameter count varies across experiences (in any
    seed) or whose name (without twin / directory prefix) starts with
    ``neuro``."""
    if experiences is None or experiences.empty:
        return []
    out = set()
    for s, sub in experiences.groupby("strategy", sort=True):
        _, twin, base = split_label(str(s))
        if not twin and base.startswith("neuro"):
            out.add(str(s))
            continue
        params = pd.to_numeric(sub["params"], errors="coerce")
        if params.groupby(sub["seed"]).nunique(dropna=True).max() > 1:
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


def _mean_sd_line(
    ax, df: pd.DataFrame, x: str, y: str, colour, linestyle, marker
) -> None:
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
        color=colour,
        linestyle=linestyle,
        marker=marker,
        markersize=5,
        linewidth=2,
        markeredgecolor="white",
    )


def _reference_lines(ax, values: dict[str, float], palette) -> None:
    """Horizontal dashed reference lines; baselines sharing a value get
    interleaved dash offsets so that every colour stays visible."""
    groups: dict[float, list[str]] = {}
    for s, v in values.items():
        if np.isfinite(v):
            key = float(f"{v:.6g}")
            groups.setdefault(key, []).append(s)
    for v, names in groups.items():
        m = len(names)
        for i, s in enumerate(names):
            style = (i * 5, (5, 5 * (m - 1))) if m > 1 else (0, (5, 3))
            ax.axhline(
                v,
                color=colour_of(palette, s),
                linestyle=style,
                linewidth=1.6,
                alpha=0.95,
                zorder=1,
            )


def _fixed_references(ax_w, ax_p, widths, df, fixed, palette, n_layers, handles, labels) -> None:
    """Fixed-width strategies as dashed reference lines, and the legend entries for them and the layers."""
    if fixed:
        width_ref, param_ref = {}, {}
        for s in fixed:
            sub_w = widths[widths["strategy"] == s]
            for layer, w in sub_w.groupby("layer")["width"].mean().items():
                width_ref[f"{s}\0{layer}"] = float(w)
            param_ref[s] = float(df.loc[df["strategy"] == s, "params"].mean())
        # group per strategy for colour, one line per distinct layer width
        per_value: dict[str, float] = {}
        for key, w in width_ref.items():
            s = key.split("\0")[0]
            if not any(
                k.split("\0")[0] == s and abs(v - w) < 1e-9
                for k, v in per_value.items()
            ):
                per_value[key] = w
        _reference_lines(
            ax_w,
            per_value,
            {k: colour_of(palette, k.split("\0")[0]) for k in per_value},
        )
        _reference_lines(ax_p, param_ref, palette)
        for s in fixed:
            handles.append(
                Line2D(
                    [],
                    [],
                    color=colour_of(palette, s),
                    linestyle=(0, (5, 3)),
                    linewidth=1.6,
                )
            )
            labels.append(f"{s} (fixed width)")
    if n_layers > 1:
        handles.append(Line2D([], [], linestyle="none"))
        labels.append("")
        for layer in range(n_layers):
            handles.append(
                Line2D(
                    [],
                    [],
                    color="0.35",
                    linestyle=_LAYER_STYLES[layer % 4],
                    marker=_LAYER_MARKERS[layer % 6],
                    linewidth=1.6,
                )
            )
            labels.append(f"hidden layer {layer}")


def plot_width_and_params(
    experiences: pd.DataFrame,
    palette: dict[str, str],
    path,
    *,
    dynamic: Sequence[str] | None = None,
    figsize=(11.0, 4.4),
    dpi: float = DPI,
) -> Path:
    """Hidden width per layer (neurons) and parameter count after each
    experience for the dynamic strategies (mean over seeds, band = sd), with
    the fixed-width strategies as dashed horizontal reference lines."""
    experiences = require_columns(
        experiences,
        ["strategy", "seed", "experience", "params", "widths"],
        "width and parameters",
    )
    df = experiences.assign(
        experience=pd.to_numeric(experiences["experience"], errors="coerce"),
        params=pd.to_numeric(experiences["params"], errors="coerce"),
        strategy=experiences["strategy"].astype(str),
    )
    df = df.dropna(subset=["experience"])
    dyn = list(dynamic) if dynamic is not None else dynamic_strategies(df)
    dyn = [s for s in ordered(df["strategy"].unique(), palette) if s in set(dyn)]
    if not dyn:
        raise NothingToPlot(
            "width and parameters: no dynamic strategy (no strategy changes "
            "its parameter count and none is named neuro*)"
        )
    fixed = [s for s in ordered(df["strategy"].unique(), palette) if s not in set(dyn)]
    widths = _widths_long(df)
    n_layers = int(widths["layer"].max()) + 1 if not widths.empty else 0
    handles, labels = [], []
    with figure_style():
        fig = new_figure(figsize, dpi)
        ax_w, ax_p = fig.subplots(1, 2)
        for s in dyn:
            _dynamic_lines(ax_w, ax_p, widths[widths["strategy"] == s], df[df["strategy"] == s], s, colour_of(palette, s))
            handles.append(strategy_handle(s, palette))
            labels.append(s)
        _fixed_references(ax_w, ax_p, widths, df, fixed, palette, n_layers, handles, labels)
        ax_w.set_xlabel("experience (after training it)")
        ax_w.set_ylabel("hidden width (neurons; channels for conv stages)")
        ax_w.set_title("Hidden width per layer", fontsize=10)
        ax_w.set_ylim(bottom=0)
        ax_p.set_xlabel("experience (after training it)")
        ax_p.set_ylabel("parameters")
        ax_p.set_title("Parameter count", fontsize=10)
        ax_p.set_ylim(bottom=0)
        ax_p.yaxis.set_major_formatter(FuncFormatter(format_count))
        for ax in (ax_w, ax_p):
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        fig.suptitle(
            "Network size of the dynamic strategies (mean ± sd over seeds; "
            "dashed: fixed-width references)"
        )
        legend_outside(fig, handles, labels, title="strategy")
        return save_figure(fig, path)


def _dynamic_lines(ax_w, ax_p, sub_w: pd.DataFrame, sub: pd.DataFrame, s: str, c) -> None:
    """A dynamic strategy's width per layer (left) and parameter count (right), mean ± sd."""
    for layer in sorted(sub_w["layer"].unique()):
        _mean_sd_line(
            ax_w, sub_w[sub_w["layer"] == layer], "experience", "width", c,
            _LAYER_STYLES[layer % 4], _LAYER_MARKERS[layer % 6],
        )
    sub_p = sub.dropna(subset=["params"])
    if not sub_p.empty:
        _mean_sd_line(ax_p, sub_p, "experience", "params", c, strategy_linestyle(s), strategy_marker(s))
