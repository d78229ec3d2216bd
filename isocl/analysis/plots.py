"""Comparison figures for isocl results directories.

One function per figure.  Each takes pandas frames in the layout of
``docs/results-format.md`` (the CSVs of a results directory, as read by
:mod:`isocl.analysis.report`), a palette ``{strategy: colour}`` from
:func:`strategy_palette` and an output path; it renders with seaborn on a
matplotlib :class:`~matplotlib.figure.Figure` (Agg, no GUI), saves the file
(the format follows the path's suffix: ``.png``, ``.pdf`` or ``.svg``) and
returns the path.

A figure that has nothing to show (empty frame, no dynamic strategy, no prune
event, no completed Optuna trial, ...) raises :class:`NothingToPlot`, which the
report turns into a warning.

Every figure keeps its size: ``figsize`` (inches) times ``dpi`` is the pixel
size of a PNG (no ``bbox_inches="tight"``; the layout is matplotlib's
constrained layout with legends placed outside the axes).
"""

from __future__ import annotations

import math
import sys
import warnings
from collections.abc import Iterable, Sequence
from pathlib import Path

import matplotlib

if (
    "matplotlib.pyplot" not in sys.modules
):  # headless rendering unless a GUI is already in use
    matplotlib.use("Agg")

import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib import colors as mcolors
from matplotlib.cm import ScalarMappable
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import FuncFormatter, MaxNLocator

__all__ = [
    "DPI",
    "TWIN_PREFIXES",
    "NothingToPlot",
    "base_strategy",
    "bootstrap_ci",
    "dynamic_strategies",
    "pareto_frontier",
    "parse_list",
    "parse_widths",
    "plot_accuracy_matrices",
    "plot_accuracy_vs_params",
    "plot_average_accuracy",
    "plot_final_accuracy_forgetting",
    "plot_optuna_history",
    "plot_optuna_intermediate",
    "plot_optuna_importances",
    "plot_optuna_pareto",
    "plot_spectra",
    "plot_width_and_params",
    "spectrum_after",
    "strategy_linestyle",
    "strategy_marker",
    "strategy_palette",
]

DPI = 120
"""Default resolution of raster figures (pixels per inch)."""

TWIN_PREFIXES = ("fixed-final:", "fixed-max:")
"""Prefixes of the fixed-width twins of a neuroplastic strategy."""

DIR_SEPARATOR = "/"
"""Separates a results-directory label from a strategy name (``run-a/naive``)
when the same strategy name occurs in several compared directories."""

_LINESTYLES = {"": "-", "fixed-final:": "--", "fixed-max:": ":"}
_MARKERS = {"": "o", "fixed-final:": "s", "fixed-max:": "^"}
_LAYER_STYLES = ["-", "--", ":", "-."]
_LAYER_MARKERS = ["o", "s", "^", "D", "v", "P"]


class NothingToPlot(ValueError):
    """The inputs hold nothing this figure could show."""


# --------------------------------------------------------------------------
# names and colours
# --------------------------------------------------------------------------


def _split_name(name: str) -> tuple[str, str, str]:
    """``"run-a/fixed-max:neuro"`` -> ``("run-a/", "fixed-max:", "neuro")``."""
    prefix = ""
    rest = name
    for twin in TWIN_PREFIXES:
        pos = name.find(twin)
        if pos >= 0 and (pos == 0 or name[pos - 1] == DIR_SEPARATOR):
            return name[:pos], twin, name[pos + len(twin) :]
    if DIR_SEPARATOR in name:
        head, _, tail = name.rpartition(DIR_SEPARATOR)
        prefix, rest = head + DIR_SEPARATOR, tail
    return prefix, "", rest


def base_strategy(name: str) -> str:
    """The strategy a twin belongs to (``fixed-final:X`` -> ``X``), keeping a
    results-directory prefix (``run-a/fixed-max:X`` -> ``run-a/X``)."""
    prefix, _, base = _split_name(name)
    return prefix + base


def _twin_kind(name: str) -> str:
    return _split_name(name)[1]


def strategy_linestyle(name: str) -> str:
    """Solid for a strategy, dashed for ``fixed-final:`` and dotted for
    ``fixed-max:`` twins."""
    return _LINESTYLES[_twin_kind(name)]


def strategy_marker(name: str) -> str:
    """Circle for a strategy, square for ``fixed-final:``, triangle for
    ``fixed-max:`` twins."""
    return _MARKERS[_twin_kind(name)]


def _mix(colour, other, amount: float) -> str:
    rgb = np.array(mcolors.to_rgb(colour))
    target = np.array(mcolors.to_rgb(other))
    return mcolors.to_hex(rgb * (1 - amount) + target * amount)


def strategy_palette(strategies: Iterable[str]) -> dict[str, str]:
    """One stable colour (hex string) per strategy, used by every figure.

    Hues are assigned to the sorted distinct base strategies (twins removed):
    seaborn's ``tab10`` palette for up to 10, evenly spaced ``husl`` hues
    beyond.  A ``fixed-final:X`` twin gets a lighter shade of ``X``'s hue and a
    ``fixed-max:X`` twin a darker one (their lines are also dashed / dotted,
    see :func:`strategy_linestyle`).  The result depends only on the set of
    names, and its keys are sorted.
    """
    names = sorted({str(s) for s in strategies})
    bases = sorted({base_strategy(s) for s in names})
    n = len(bases)
    colours = sns.color_palette("tab10", n) if n <= 10 else sns.color_palette("husl", n)
    hue = {b: mcolors.to_hex(c) for b, c in zip(bases, colours)}
    palette: dict[str, str] = {}
    for s in names:
        c = hue[base_strategy(s)]
        kind = _twin_kind(s)
        if kind == "fixed-final:":
            c = _mix(c, "white", 0.45)
        elif kind == "fixed-max:":
            c = _mix(c, "black", 0.35)
        palette[s] = c
    return palette


def _colour(palette: dict[str, str], name: str) -> str:
    if name in palette:
        return palette[name]
    return strategy_palette(list(palette) + [name])[name]


def _order(names: Iterable[str], palette: dict[str, str]) -> list[str]:
    present = {str(n) for n in names}
    known = [s for s in palette if s in present]
    return known + sorted(present - set(known))


# --------------------------------------------------------------------------
# parsing helpers
# --------------------------------------------------------------------------


def parse_list(cell) -> np.ndarray:
    """A ``;``-separated list cell as a float array (empty for NaN / "")."""
    if cell is None or (isinstance(cell, float) and math.isnan(cell)):
        return np.array([], dtype=float)
    if isinstance(cell, (int, float, np.number)):
        return np.array([float(cell)])
    parts = [p.strip() for p in str(cell).split(";")]
    return np.array([float(p) for p in parts if p], dtype=float)


def parse_widths(cell) -> list[int]:
    """``"256-128"`` -> ``[256, 128]`` (empty for NaN / "")."""
    if cell is None or (isinstance(cell, float) and math.isnan(cell)):
        return []
    text = str(cell).strip()
    if not text:
        return []
    return [int(float(p)) for p in text.split("-") if p.strip()]


def spectrum_after(sigmas: Sequence[float], removed: Sequence[float]) -> np.ndarray:
    """The spectrum ``sigmas`` with the values in ``removed`` taken out (as a
    multiset, each removed value matched once to the nearest remaining one),
    sorted in decreasing order."""
    left = sorted((float(s) for s in sigmas), reverse=True)
    for r in removed:
        if not left:
            break
        idx = int(np.argmin(np.abs(np.asarray(left) - float(r))))
        tol = 1e-6 * max(1.0, abs(float(r)))
        if abs(left[idx] - float(r)) <= max(tol, 1e-4 * abs(float(r))):
            left.pop(idx)
    return np.asarray(left, dtype=float)


def bootstrap_ci(
    values: np.ndarray, level: float = 95.0, n_boot: int = 1000, seed: int = 0
) -> tuple[float, float]:
    """Percentile bootstrap confidence interval of the mean (vectorised; the
    same estimate as seaborn's ``errorbar=("ci", level)``).  A single value
    gives a zero-width interval."""
    values = np.asarray(values, dtype=float)
    values = values[np.isfinite(values)]
    if values.size == 0:
        return math.nan, math.nan
    if values.size == 1:
        return float(values[0]), float(values[0])
    rng = np.random.default_rng(seed)
    means = values[rng.integers(0, values.size, size=(n_boot, values.size))].mean(
        axis=1
    )
    half = (100.0 - level) / 2
    lo, hi = np.percentile(means, [half, 100.0 - half])
    return float(lo), float(hi)


def dynamic_strategies(experiences: pd.DataFrame) -> list[str]:
    """Strategies whose parameter count varies across experiences (in any
    seed) or whose name (without twin / directory prefix) starts with
    ``neuro``."""
    if experiences is None or experiences.empty:
        return []
    out = set()
    for s, sub in experiences.groupby("strategy", sort=True):
        _, twin, base = _split_name(str(s))
        if not twin and base.startswith("neuro"):
            out.add(str(s))
            continue
        params = pd.to_numeric(sub["params"], errors="coerce")
        if params.groupby(sub["seed"]).nunique(dropna=True).max() > 1:
            out.add(str(s))
    return sorted(out)


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


# --------------------------------------------------------------------------
# figure plumbing
# --------------------------------------------------------------------------


def _style():
    return sns.axes_style("whitegrid")


def _figure(figsize, dpi) -> Figure:
    return Figure(figsize=figsize, dpi=dpi, layout="constrained")


def _save(fig: Figure, path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fmt = path.suffix.lstrip(".").lower() or "png"
    metadata = {"Software": None} if fmt == "png" else None
    fig.savefig(path, format=fmt, dpi=fig.dpi, metadata=metadata)
    return path


def _require(
    frame: pd.DataFrame | None, columns: Sequence[str], what: str
) -> pd.DataFrame:
    if frame is None or len(frame) == 0:
        raise NothingToPlot(f"{what}: no data")
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise NothingToPlot(f"{what}: missing column(s) {', '.join(missing)}")
    return frame


def _percent(series: pd.Series) -> pd.Series:
    return pd.to_numeric(series, errors="coerce") * 100.0


def _thousands(value, _pos=None) -> str:
    value = float(value)
    if abs(value) >= 1e6:
        return f"{value / 1e6:.3g}M"
    if abs(value) >= 1e3:
        return f"{value / 1e3:.3g}k"
    return f"{value:.3g}"


def wrap_label(text: str, width: int) -> str:
    """Greedy line breaks after ``/``, ``:`` or spaces (after ``-`` only inside
    a word longer than a line) so that lines stay within ``width`` characters
    where possible."""
    import re

    tokens = []
    for tok in (t for t in re.split(r"(?<=[/: ])", text) if t):
        # break at hyphens only inside a word that does not fit on a line
        tokens += (
            [t for t in re.split(r"(?<=-)", tok) if t] if len(tok) > width else [tok]
        )
    lines, line = [], ""
    for tok in tokens:
        if line and len(line) + len(tok.rstrip()) > width:
            lines.append(line.rstrip())
            line = tok.lstrip()
        else:
            line += tok
    if line:
        lines.append(line.rstrip())
    return "\n".join(lines)


def _legend_outside(fig: Figure, handles, labels, title=None, fontsize="small"):
    if handles:
        fig.legend(
            handles,
            labels,
            loc="outside right center",
            title=title,
            fontsize=fontsize,
            title_fontsize=fontsize,
            frameon=False,
        )


def _strategy_handle(name: str, palette, marker=True) -> Line2D:
    return Line2D(
        [],
        [],
        color=_colour(palette, name),
        linestyle=strategy_linestyle(name),
        marker=strategy_marker(name) if marker else None,
        linewidth=2,
        markersize=6,
    )


# --------------------------------------------------------------------------
# 1. accuracy matrices
# --------------------------------------------------------------------------


def plot_accuracy_matrices(
    metrics: pd.DataFrame,
    palette: dict[str, str],
    path,
    *,
    figsize=None,
    dpi: float = DPI,
) -> Path:
    """Accuracy-matrix heatmaps, one small multiple per strategy: mean
    accuracy (%) over seeds on ``eval_exp`` (columns) after training
    ``trained_exp`` (rows), annotated in %."""
    metrics = _require(
        metrics,
        ["strategy", "seed", "trained_exp", "eval_exp", "accuracy"],
        "accuracy matrices",
    )
    df = metrics.assign(acc=_percent(metrics["accuracy"])).dropna(subset=["acc"])
    if df.empty:
        raise NothingToPlot("accuracy matrices: no accuracy values")
    df = df.assign(
        trained_exp=df["trained_exp"].astype(int), eval_exp=df["eval_exp"].astype(int)
    )
    strategies = _order(df["strategy"].unique(), palette)
    n = len(strategies)
    n_exp = int(max(df["trained_exp"].max(), df["eval_exp"].max())) + 1
    ncols = min(n, 3)
    nrows = math.ceil(n / ncols)
    panel = max(2.6, 0.42 * n_exp + 0.9)
    if figsize is None:
        figsize = (ncols * panel + 1.0, nrows * panel + 0.6)
    annot = n_exp <= 12
    font = max(5.5, min(9.0, 42.0 / n_exp))
    cmap = sns.color_palette("viridis", as_cmap=True)
    with _style():
        fig = _figure(figsize, dpi)
        axes = np.atleast_1d(fig.subplots(nrows, ncols, squeeze=False)).ravel()
        for i, (ax, s) in enumerate(zip(axes, strategies)):
            sub = df[df["strategy"] == s]
            k = (
                int(max(sub["trained_exp"].max(), sub["eval_exp"].max())) + 1
            )  # its stream
            mat = (
                sub.groupby(["trained_exp", "eval_exp"])["acc"]
                .mean()
                .unstack("eval_exp")
                .reindex(index=range(k), columns=range(k))
            )
            n_seeds = df.loc[df["strategy"] == s, "seed"].nunique()
            sns.heatmap(
                mat,
                ax=ax,
                vmin=0,
                vmax=100,
                cmap=cmap,
                cbar=False,
                square=True,
                annot=annot,
                fmt=".0f",
                annot_kws={"size": font},
                linewidths=0.5,
                linecolor="white",
            )
            ax.set_title(
                wrap_label(
                    f"{s} ({n_seeds}\u00a0seed{'s' if n_seeds != 1 else ''})",
                    int(panel * 11),
                ),
                fontsize=10,
            )
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
        return _save(fig, path)


# --------------------------------------------------------------------------
# 2. average accuracy after each experience
# --------------------------------------------------------------------------


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
    experiences = _require(
        experiences,
        ["strategy", "seed", "experience", "avg_accuracy"],
        "average accuracy",
    )
    df = experiences.assign(
        acc=_percent(experiences["avg_accuracy"]),
        experience=pd.to_numeric(experiences["experience"], errors="coerce"),
    )
    df = df.dropna(subset=["acc", "experience"])
    if df.empty:
        raise NothingToPlot("average accuracy: no avg_accuracy values")
    strategies = _order(df["strategy"].unique(), palette)
    handles, labels = [], []
    with _style():
        fig = _figure(figsize, dpi)
        ax = fig.subplots()
        for s in strategies:
            sub = df[df["strategy"] == s]
            c = _colour(palette, s)
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
            handles.append(_strategy_handle(s, palette))
            labels.append(f"{s} (n={sub['seed'].nunique()})")
        ax.set_xlabel("experience (after training it)")
        ax.set_ylabel("average accuracy on seen experiences (%)")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_ylim(0, min(100, max(10.0, float(df["acc"].max()) * 1.08)))
        fig.suptitle("Average accuracy after each experience (mean, 95% CI over seeds)")
        _legend_outside(fig, handles, labels, title="strategy")
        return _save(fig, path)


# --------------------------------------------------------------------------
# 3. final accuracy and forgetting
# --------------------------------------------------------------------------


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
    summary = _require(
        summary,
        ["strategy", "seed", "final_accuracy", "forgetting"],
        "final accuracy and forgetting",
    )
    df = summary
    if "status" in df.columns:
        df = df[df["status"].astype(str) == "ok"]
    df = df.assign(
        final=_percent(df["final_accuracy"]),
        forget=_percent(df["forgetting"]),
        strategy=df["strategy"].astype(str),
    )
    df = df.dropna(subset=["final", "forget"], how="all")
    if df.empty:
        raise NothingToPlot("final accuracy and forgetting: no successful unit")
    order = _order(df["strategy"].unique(), palette)
    if figsize is None:
        figsize = (9.0, max(2.6, 0.5 * len(order) + 1.4))
    jitter = np.random.default_rng(0)
    with _style():
        fig = _figure(figsize, dpi)
        axes = fig.subplots(1, 2, sharey=True)
        for ax, col, label in (
            (axes[0], "final", "final accuracy (%)"),
            (axes[1], "forget", "forgetting (%)"),
        ):
            data = df.dropna(subset=[col])
            for y, s in enumerate(order):
                vals = data.loc[data["strategy"] == s, col].to_numpy(dtype=float)
                if vals.size == 0:
                    continue
                c = _colour(palette, s)
                sd = float(np.std(vals, ddof=1)) if vals.size > 1 else 0.0
                ax.errorbar(
                    float(vals.mean()),
                    y,
                    xerr=sd,
                    fmt="D",
                    color=c,
                    markersize=8,
                    capsize=5,
                    elinewidth=2,
                    capthick=2,
                    markeredgecolor="white",
                    zorder=3,
                )
                # seeds just below the mean, slightly jittered
                ax.scatter(
                    vals,
                    y + 0.22 + jitter.uniform(-0.05, 0.05, vals.size),
                    s=22,
                    color=c,
                    alpha=0.75,
                    edgecolor="white",
                    linewidth=0.5,
                    zorder=2,
                )
            ax.set_xlabel(label)
            lo = float(data[col].min()) if not data.empty else 0.0
            hi = float(data[col].max()) if not data.empty else 100.0
            ax.set_xlim(min(0.0, lo - 5), max(100.0, hi + 5) if hi > 95 else 100.0)
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
        return _save(fig, path)


# --------------------------------------------------------------------------
# 4. hidden width and parameter count
# --------------------------------------------------------------------------


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
                color=_colour(palette, s),
                linestyle=style,
                linewidth=1.6,
                alpha=0.95,
                zorder=1,
            )


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
    experiences = _require(
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
    dyn = [s for s in _order(df["strategy"].unique(), palette) if s in set(dyn)]
    if not dyn:
        raise NothingToPlot(
            "width and parameters: no dynamic strategy (no strategy changes "
            "its parameter count and none is named neuro*)"
        )
    fixed = [s for s in _order(df["strategy"].unique(), palette) if s not in set(dyn)]
    widths = _widths_long(df)
    n_layers = int(widths["layer"].max()) + 1 if not widths.empty else 0
    handles, labels = [], []
    with _style():
        fig = _figure(figsize, dpi)
        ax_w, ax_p = fig.subplots(1, 2)
        for s in dyn:
            c = _colour(palette, s)
            sub_w = widths[widths["strategy"] == s]
            for layer in sorted(sub_w["layer"].unique()):
                _mean_sd_line(
                    ax_w,
                    sub_w[sub_w["layer"] == layer],
                    "experience",
                    "width",
                    c,
                    _LAYER_STYLES[layer % 4],
                    _LAYER_MARKERS[layer % 6],
                )
            sub_p = df[df["strategy"] == s].dropna(subset=["params"])
            if not sub_p.empty:
                _mean_sd_line(
                    ax_p,
                    sub_p,
                    "experience",
                    "params",
                    c,
                    strategy_linestyle(s),
                    strategy_marker(s),
                )
            handles.append(_strategy_handle(s, palette))
            labels.append(s)
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
                {k: _colour(palette, k.split("\0")[0]) for k in per_value},
            )
            _reference_lines(ax_p, param_ref, palette)
            for s in fixed:
                handles.append(
                    Line2D(
                        [],
                        [],
                        color=_colour(palette, s),
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
        ax_w.set_xlabel("experience (after training it)")
        ax_w.set_ylabel("hidden width (neurons)")
        ax_w.set_title("Hidden width per layer", fontsize=10)
        ax_w.set_ylim(bottom=0)
        ax_p.set_xlabel("experience (after training it)")
        ax_p.set_ylabel("parameters")
        ax_p.set_title("Parameter count", fontsize=10)
        ax_p.set_ylim(bottom=0)
        ax_p.yaxis.set_major_formatter(FuncFormatter(_thousands))
        for ax in (ax_w, ax_p):
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        fig.suptitle(
            "Network size of the dynamic strategies (mean ± sd over seeds; "
            "dashed: fixed-width references)"
        )
        _legend_outside(fig, handles, labels, title="strategy")
        return _save(fig, path)


# --------------------------------------------------------------------------
# 5. singular-value spectra
# --------------------------------------------------------------------------


def _prune_spectra(structure: pd.DataFrame) -> pd.DataFrame:
    """One row per (strategy, seed, experience, layer) with the spectrum
    before the experience's first prune event and after its last one."""
    ev = structure[structure["event"].astype(str).str.endswith("prune")]
    if ev.empty:
        return pd.DataFrame(
            columns=["strategy", "seed", "experience", "layer", "before", "after"]
        )
    ev = ev.assign(
        _row=np.arange(len(ev)),
        _epoch=pd.to_numeric(ev["epoch"], errors="coerce").fillna(-1)
        if "epoch" in ev.columns
        else 0,
    )
    rows = []
    for (s, seed, exp, layer), sub in ev.groupby(
        ["strategy", "seed", "experience", "layer"], sort=True
    ):
        sub = sub.sort_values(["_epoch", "_row"])
        try:
            before = np.sort(parse_list(sub["sigmas"].iloc[0]))[::-1]
            last = sub.iloc[-1]
            after = spectrum_after(
                parse_list(last["sigmas"]), parse_list(last["removed_sigmas"])
            )
        except ValueError:
            continue
        if before.size == 0:
            continue
        rows.append((str(s), seed, int(exp), int(layer), before, after))
    return pd.DataFrame(
        rows, columns=["strategy", "seed", "experience", "layer", "before", "after"]
    )


def plot_spectra(
    structure: pd.DataFrame,
    palette: dict[str, str],
    path,
    *,
    seed=None,
    figsize=None,
    dpi: float = DPI,
) -> Path:
    """Singular-value spectra of each hidden layer before (thin dashed) and
    after (thick solid) compression, from the ``prune`` events of ``structure.csv``: one
    panel per (strategy, layer), log y-axis, one colour per experience.  The
    "after" spectrum is the event's ``sigmas`` minus its ``removed_sigmas``.
    Uses one seed per strategy (``seed``, default the smallest seed)."""
    structure = _require(
        structure,
        [
            "strategy",
            "seed",
            "experience",
            "layer",
            "event",
            "sigmas",
            "removed_sigmas",
        ],
        "spectra",
    )
    spectra = _prune_spectra(structure)
    if spectra.empty:
        raise NothingToPlot("spectra: no prune event with a singular-value spectrum")
    picked = []
    for s, sub in spectra.groupby("strategy", sort=True):
        seeds = sorted(sub["seed"].unique())
        chosen = seed if seed is not None and seed in seeds else seeds[0]
        picked.append(sub[sub["seed"] == chosen])
    spectra = pd.concat(picked, ignore_index=True)
    strategies = _order(spectra["strategy"].unique(), palette)
    layers = sorted(spectra["layer"].unique())
    nrows, ncols = len(strategies), len(layers)
    if figsize is None:
        figsize = (3.9 * ncols + 1.6, 3.0 * nrows + 0.7)
    exps = sorted(spectra["experience"].unique())
    cmap = sns.color_palette("flare", as_cmap=True)
    exp_colour = {
        e: cmap(0.1 + 0.85 * (i / max(1, len(exps) - 1))) for i, e in enumerate(exps)
    }
    with _style():
        fig = _figure(figsize, dpi)
        axes = fig.subplots(nrows, ncols, squeeze=False)
        for r, s in enumerate(strategies):
            for c, layer in enumerate(layers):
                ax = axes[r, c]
                sub = spectra[(spectra["strategy"] == s) & (spectra["layer"] == layer)]
                for rec in sub.sort_values("experience").itertuples(index=False):
                    col = exp_colour[rec.experience]
                    for values, ls, lw in (
                        (rec.before, "--", 1.1),
                        (rec.after, "-", 2.2),
                    ):
                        v = np.asarray(values, dtype=float)
                        idx = np.arange(1, v.size + 1)
                        keep = v > 0
                        if keep.any():
                            ax.plot(
                                idx[keep],
                                v[keep],
                                color=col,
                                linestyle=ls,
                                linewidth=lw,
                            )
                if sub.empty:
                    ax.text(
                        0.5,
                        0.5,
                        "no prune event",
                        transform=ax.transAxes,
                        ha="center",
                        va="center",
                        color="0.4",
                    )
                else:
                    ax.set_yscale("log")
                seed_txt = sub["seed"].iloc[0] if not sub.empty else ""
                ax.set_title(
                    wrap_label(f"{s}, layer\u00a0{layer} (seed\u00a0{seed_txt})", 48),
                    fontsize=9,
                )
                ax.set_xlabel("singular value index" if r == nrows - 1 else "")
                ax.set_ylabel("singular value" if c == 0 else "")
                ax.tick_params(labelsize=8)
        handles = [Line2D([], [], color=exp_colour[e], linewidth=2) for e in exps]
        labels = [f"experience {e}" for e in exps]
        handles += [
            Line2D([], [], linestyle="none"),
            Line2D([], [], color="0.3", linestyle="--", linewidth=1.1),
            Line2D([], [], color="0.3", linestyle="-", linewidth=2.2),
        ]
        labels += ["", "before pruning", "after pruning"]
        _legend_outside(fig, handles, labels)
        fig.suptitle("Singular-value spectra per hidden layer before and after pruning")
        return _save(fig, path)


# --------------------------------------------------------------------------
# 6. accuracy against parameter count
# --------------------------------------------------------------------------


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
    summary = _require(
        summary,
        ["strategy", "seed", "final_accuracy", "params"],
        "accuracy vs parameters",
    )
    df = summary
    if "status" in df.columns:
        df = df[df["status"].astype(str) == "ok"]
    df = df.assign(
        acc=_percent(df["final_accuracy"]),
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
    agg = agg.reindex(_order(agg.index, palette)).fillna(
        {"acc_sd": 0.0, "params_sd": 0.0}
    )
    handles, labels = [], []
    with _style():
        fig = _figure(figsize, dpi)
        ax = fig.subplots()
        for s, row in agg.iterrows():
            c = _colour(palette, s)
            pts = df[df["strategy"] == s]
            ax.scatter(
                pts["params"],
                pts["acc"],
                color=c,
                s=14,
                alpha=0.35,
                linewidths=0,
                zorder=2,
            )
            ax.errorbar(
                row["params"],
                row["acc"],
                xerr=row["params_sd"],
                yerr=row["acc_sd"],
                fmt=strategy_marker(s),
                color=c,
                markersize=8,
                capsize=4,
                elinewidth=1.6,
                markeredgecolor="white",
                zorder=3,
            )
            handles.append(
                Line2D(
                    [],
                    [],
                    color=c,
                    marker=strategy_marker(s),
                    markersize=8,
                    linestyle="none",
                    markeredgecolor="white",
                )
            )
            labels.append(s)
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
        ax.xaxis.set_major_formatter(FuncFormatter(_thousands))
        ax.xaxis.set_minor_formatter(
            FuncFormatter(lambda v, p: _thousands(v) if hi / lo < 20 else "")
        )
        ax.tick_params(axis="x", which="both", labelsize=9)
        ax.grid(axis="x", which="minor", linewidth=0.6, alpha=0.5)
        ax.set_xlabel("parameters (final model, log scale)")
        ax.set_ylabel("final accuracy (%)")
        ymin = float((agg["acc"] - agg["acc_sd"]).min())
        ymax = float((agg["acc"] + agg["acc_sd"]).max())
        pad = max(2.0, 0.1 * (ymax - ymin))
        ax.set_ylim(max(0.0, ymin - pad), min(100.0, ymax + pad))
        fig.suptitle("Accuracy against model size (mean ± sd over seeds; dots = seeds)")
        _legend_outside(fig, handles, labels, title="strategy")
        return _save(fig, path)


# --------------------------------------------------------------------------
# 7. Optuna studies
# --------------------------------------------------------------------------


def _optuna_figure(draw, path, figsize, dpi, title) -> Path:
    import matplotlib.pyplot as plt
    from optuna.exceptions import ExperimentalWarning

    with plt.rc_context(), warnings.catch_warnings():
        warnings.simplefilter("ignore", ExperimentalWarning)
        warnings.simplefilter("ignore", UserWarning)
        ax = draw()
        first = np.ravel(ax)[0] if isinstance(ax, np.ndarray) else ax
        fig = first.figure
        try:
            fig.set_size_inches(*figsize)
            fig.set_dpi(dpi)
            first.set_title(title, fontsize=11)
            fig.set_layout_engine("constrained")
            return _save(fig, path)
        finally:
            plt.close(fig)


def _complete_trials(study):
    import optuna

    return study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))


def _metric_names(study) -> list[str]:
    names = list(getattr(study, "metric_names", None) or [])
    n = len(study.directions)
    if len(names) != n:
        names = ["objective"] if n == 1 else [f"objective {i}" for i in range(n)]
    return names


def plot_optuna_history(
    study, path, *, objective: int = 0, figsize=(8.0, 4.5), dpi: float = DPI
) -> Path:
    """Optimisation history of an Optuna study (objective ``objective`` for a
    multi-objective study) via ``optuna.visualization.matplotlib``."""
    import optuna.visualization.matplotlib as ovm

    if not _complete_trials(study):
        raise NothingToPlot(f"study {study.study_name!r}: no completed trial")
    names = _metric_names(study)
    multi = len(study.directions) > 1
    name = names[objective]

    def draw():
        if multi:
            return ovm.plot_optimization_history(
                study, target=lambda t: t.values[objective], target_name=name
            )
        return ovm.plot_optimization_history(study, target_name=name)

    direction = study.directions[objective].name.lower()
    return _optuna_figure(
        draw,
        path,
        figsize,
        dpi,
        f"Optuna study {study.study_name!r}: history of {name} ({direction})",
    )


def plot_optuna_importances(
    study, path, *, figsize=(8.0, 4.5), dpi: float = DPI
) -> Path:
    """Hyperparameter importances of an Optuna study (needs at least two
    completed trials and more than one parameter)."""
    import optuna.visualization.matplotlib as ovm

    trials = _complete_trials(study)
    params = sorted({p for t in trials for p in t.params})
    if len(trials) < 2 or len(params) < 2:
        raise NothingToPlot(
            f"study {study.study_name!r}: parameter importances need >= 2 "
            f"completed trials and > 1 parameter ({len(trials)} completed, "
            f"{len(params)} parameter(s))"
        )
    names = _metric_names(study)

    def draw():
        if len(study.directions) > 1:
            return ovm.plot_param_importances(study)
        return ovm.plot_param_importances(study, target_name=names[0])

    return _optuna_figure(
        draw,
        path,
        figsize,
        dpi,
        f"Optuna study {study.study_name!r}: parameter importances",
    )


def plot_optuna_pareto(study, path, *, figsize=(7.0, 5.0), dpi: float = DPI) -> Path:
    """Pareto front of a multi-objective Optuna study."""
    import optuna.visualization.matplotlib as ovm

    if len(study.directions) < 2:
        raise NothingToPlot(
            f"study {study.study_name!r}: single-objective, no Pareto front"
        )
    if len(study.directions) > 3:
        raise NothingToPlot(
            f"study {study.study_name!r}: Pareto plots support 2 or 3 objectives"
        )
    if not _complete_trials(study):
        raise NothingToPlot(f"study {study.study_name!r}: no completed trial")
    names = _metric_names(study)
    return _optuna_figure(
        lambda: ovm.plot_pareto_front(study, target_names=names),
        path,
        figsize,
        dpi,
        f"Optuna study {study.study_name!r}: Pareto front",
    )


def plot_optuna_intermediate(study, path, *, figsize=(8.0, 4.5), dpi: float = DPI) -> Path:
    """The values each trial reported to the pruner, step by step (single-objective studies)."""
    import optuna.visualization.matplotlib as ovm

    if len(study.directions) > 1:
        raise NothingToPlot(f"study {study.study_name!r}: multi-objective trials report no intermediate values")
    if not any(t.intermediate_values for t in study.get_trials(deepcopy=False)):
        raise NothingToPlot(f"study {study.study_name!r}: no trial reported an intermediate value")
    return _optuna_figure(
        lambda: ovm.plot_intermediate_values(study),
        path,
        figsize,
        dpi,
        f"Optuna study {study.study_name!r}: intermediate values",
    )
