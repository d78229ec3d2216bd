"""Shared look of every figure, designed for benchmarks of 40 strategies and more.

Families
    A unit name ``[PREFIX:]STRATEGY[@POINT]`` (parsed by
    :func:`isocl.bench.names.parse_unit`, the one parser of unit names) belongs
    to the *family* of its strategy. A strategy that has companions (twins,
    controls) or frontier points, or that the registry calls neuroplastic,
    forms its own family; every other strategy is one of the
    :data:`BASELINES`. Figures that compare many strategies are faceted by
    family (:func:`facets`).

Colours and markers
    One palette per family: the baselines share a qualitative palette (one
    colour each), a neuroplastic family one hue, its companions shades of it.
    One marker and line style per companion kind (:data:`KIND_LOOK`); the
    legend says which is which. Frontier points of one strategy are shades of
    its colour, light (first point) to dark (last). No two strategies share
    both colour and marker (:func:`strategy_palette`, :func:`strategy_marker`).

Figure plumbing
    Constrained-layout figures saved at a fixed pixel size
    (:func:`save_figure`), counts formatted ``k``/``M`` (:func:`format_count`)
    on axes whose tick labels never collide (:func:`thin_tick_labels`).
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib import colors as mcolors
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import FixedLocator, FuncFormatter, LogLocator, MaxNLocator, NullFormatter

from isocl.bench.names import COMPANION_PREFIXES, TWIN_PREFIXES, UnitName, parse_unit

__all__ = [
    "BASELINES", "COMPANION_PREFIXES", "DIR_SEPARATOR", "DPI", "KIND_LOOK", "TWIN_PREFIXES", "Facet", "NotApplicable", "NothingToPlot",
    "base_strategy", "colour_of", "companion_kind", "facets", "family_of", "figure_style", "format_count",
    "kind_legend", "legend_outside", "log_count_axis", "member_label", "new_figure", "ok_units", "ordered",
    "percent", "registered_neuroplastic", "require_columns", "save_figure", "spread_coinciding", "strategy_handle", "strategy_linestyle",
    "strategy_marker", "strategy_palette", "thin_tick_labels", "tick_labels_overlap", "unit_of", "wrap_label", "facet_axes", "facet_legend",
]

DPI = 120
"""Default resolution of raster figures (pixels per inch)."""

DIR_SEPARATOR = "/"
"""Separates a results-directory label from a strategy name (``run-a/naive``)
when the same strategy name occurs in several compared directories."""

BASELINES = "baselines"
"""The facet of the strategies that form no family of their own."""


@dataclass(frozen=True)
class KindLook:
    """How a companion kind is drawn, and what the legend calls it."""

    linestyle: object
    marker: str
    shade: float  # > 0: mixed with white by that amount, < 0: with black
    label: str


KIND_LOOK: dict[str, KindLook] = {
    "": KindLook("-", "o", 0.0, "the strategy"),
    "fixed-final": KindLook((0, (5, 2)), "s", 0.30, "fixed-final twin (its final widths, fixed)"),
    "fixed-max": KindLook((0, (1, 1.5)), "^", -0.30, "fixed-max twin (its peak widths, fixed)"),
    "diag-only": KindLook((0, (6, 2, 1, 2)), "D", 0.55, "diag-only control (same rotations, no width change)"),
    "reset": KindLook((0, (3, 1.5, 1, 1.5, 1, 1.5)), "v", -0.50, "reset control (optimiser reset at moves)"),
}
"""Line style, marker, shade and legend text per companion kind ("" = the strategy itself)."""
assert set(KIND_LOOK) == {"", *COMPANION_PREFIXES}, "a companion kind without a look"

# Baselines take tab10 without its grey (grey draws the context); beyond those 9 colours, the
# next 9 baselines take the next marker of a set no companion kind uses.
_BASELINE_MARKERS = ("o", "P", "X", "*", "h", "p")
_FAMILY_HUES = [c for i, c in enumerate(sns.color_palette("bright", 10)) if i != 7]  # 7 is grey
_BASELINE_COLOURS = [c for i, c in enumerate(sns.color_palette("tab10", 10)) if i != 7]


class NothingToPlot(ValueError):
    """The inputs hold nothing this figure could show."""


class NotApplicable(NothingToPlot):
    """The figure does not apply to these results (e.g. spectra without a prune event): a note, not a warning."""


# --------------------------------------------------------------------------
# names


def _split_dir(name: str) -> tuple[str, str]:
    """``"run-a/fixed-max:neuro"`` -> ``("run-a/", "fixed-max:neuro")`` (unit names hold no ``/``)."""
    head, sep, tail = str(name).rpartition(DIR_SEPARATOR)
    return (head + sep, tail)


def unit_of(name: str) -> UnitName:
    """The parsed unit name, without a results-directory label."""
    return parse_unit(_split_dir(name)[1])


def companion_kind(name: str) -> str:
    """``"fixed-max"`` for ``fixed-max:X``, ``""`` for a strategy itself."""
    return unit_of(name).prefix or ""


def base_strategy(name: str) -> str:
    """The unit a companion accompanies (``fixed-final:X@m`` -> ``X@m``), keeping a
    results-directory label (``run-a/fixed-max:X`` -> ``run-a/X``)."""
    return _split_dir(name)[0] + unit_of(name).subject


def family_of(name: str) -> str:
    """The strategy whose family the unit belongs to (``reset:X@m`` -> ``X``), with its directory label."""
    return _split_dir(name)[0] + unit_of(name).family


def _point_key(point: str | None) -> tuple:
    """Natural order of frontier points: ``w32 < w64 < w128``; the main configuration first."""
    if point is None:
        return (0,)
    return (1, *[(0, int(t), "") if t.isdigit() else (1, 0, t) for t in re.findall(r"\d+|\D+", point)])


def registered_neuroplastic(strategy: str) -> bool:
    """The registry's neuroplastic flag; a strategy it does not know (a plug-in not installed here)
    counts as neuroplastic when its name starts with ``neuro``, the shipped ones' convention."""
    from isocl.bench.registry import UnknownStrategy, get_strategy

    try:
        return bool(get_strategy(strategy).neuroplastic)
    except UnknownStrategy:
        return strategy.startswith("neuro")


def _own_families(names: Iterable[str]) -> set[str]:
    """Families that get a facet of their own: with a companion or a frontier point, or neuroplastic."""
    names = [str(n) for n in names]
    out = set()
    for n in names:
        u = unit_of(n)
        if u.prefix is not None or u.point is not None or registered_neuroplastic(u.strategy):
            out.add(family_of(n))
    return out


def _sort_key(name: str) -> tuple:
    u = unit_of(name)
    return (family_of(name), _point_key(u.point), list(KIND_LOOK).index(u.prefix or ""))


# --------------------------------------------------------------------------
# colours, markers, line styles


def _mix(colour, amount: float) -> str:
    rgb = np.array(mcolors.to_rgb(colour))
    target = np.ones(3) if amount > 0 else np.zeros(3)
    return mcolors.to_hex(rgb * (1 - abs(amount)) + target * abs(amount))


def strategy_palette(strategies: Iterable[str]) -> dict[str, str]:
    """One stable colour (hex string) per strategy, used by every figure.

    Keys are ordered family by family: the baselines (sorted), then each
    family (sorted by name) with its points in natural order and, per point,
    the strategy before its companions. Baselines take seaborn's ``tab10``
    colours but grey in turn; each other family one hue of seaborn's ``bright`` palette
    (evenly spaced ``husl`` hues beyond 9 families), its companions lighter or
    darker shades of it (:data:`KIND_LOOK`), its frontier points shades from
    light to dark. The result depends only on the set of names.
    """
    names = sorted({str(s) for s in strategies})
    own = _own_families(names)
    baselines = [n for n in names if family_of(n) not in own]
    families = sorted(own)
    hues = _FAMILY_HUES if len(families) <= len(_FAMILY_HUES) else sns.color_palette("husl", len(families))
    tab = _BASELINE_COLOURS
    palette = {n: mcolors.to_hex(tab[i % len(tab)]) for i, n in enumerate(baselines)}
    for fam, hue in zip(families, hues):
        members = sorted((n for n in names if family_of(n) == fam), key=_sort_key)
        points = sorted({unit_of(n).point for n in members}, key=_point_key)
        for n in members:
            u = unit_of(n)
            shade = KIND_LOOK[u.prefix or ""].shade
            if len(points) > 1:  # points light to dark, within the kind's shade
                shade = shade * 0.5 + (0.35 - 0.7 * points.index(u.point) / (len(points) - 1))
            palette[n] = _mix(hue, shade) if shade else mcolors.to_hex(hue)
    return palette


def _baseline_index(name: str, palette: dict[str, str]) -> int | None:
    own = _own_families(palette)
    base = [n for n in palette if family_of(n) not in own]
    return base.index(name) if name in base else None


def strategy_linestyle(name: str):
    """Per companion kind (:data:`KIND_LOOK`): solid for a strategy, dashed for
    ``fixed-final:``, dotted for ``fixed-max:``, dash-dot for ``diag-only:`` and
    dash-dot-dot for ``reset:``."""
    return KIND_LOOK[companion_kind(name)].linestyle


def strategy_marker(name: str, palette: dict[str, str] | None = None) -> str:
    """Per companion kind: circle for a strategy, square for ``fixed-final:``,
    triangle for ``fixed-max:``, diamond for ``diag-only:``, down-triangle for
    ``reset:``. Given the ``palette``, baselines beyond the 9th take the next
    marker of a set no companion uses (their colours repeat every 9)."""
    kind = companion_kind(name)
    if palette is not None and not kind:
        i = _baseline_index(name, palette)
        if i is not None:
            return _BASELINE_MARKERS[(i // len(_BASELINE_COLOURS)) % len(_BASELINE_MARKERS)]
    return KIND_LOOK[kind].marker


def colour_of(palette: dict[str, str], name: str) -> str:
    """The palette's colour of ``name`` (a name it lacks gets the colour it would have)."""
    if name in palette:
        return palette[name]
    return strategy_palette(list(palette) + [name])[name]


def ordered(names: Iterable[str], palette: dict[str, str]) -> list[str]:
    """``names`` in the palette's order (family by family); unknown names last, sorted."""
    present = {str(n) for n in names}
    known = [s for s in palette if s in present]
    return known + sorted(present - set(known))


# --------------------------------------------------------------------------
# facets


@dataclass(frozen=True)
class Facet:
    """One family's panel: its key (a family name or :data:`BASELINES`) and members, in palette order."""

    key: str
    members: tuple[str, ...]

    @property
    def title(self) -> str:
        return BASELINES if self.key == BASELINES else f"{self.key} family"


def facets(names: Iterable[str], palette: dict[str, str]) -> list[Facet]:
    """The baselines first, then one facet per family, each in palette order."""
    names = ordered(names, palette)
    own = _own_families(palette)
    groups: dict[str, list[str]] = {}
    for n in names:
        groups.setdefault(family_of(n) if family_of(n) in own else BASELINES, []).append(n)
    keys = ([BASELINES] if BASELINES in groups else []) + [k for k in groups if k != BASELINES]
    return [Facet(k, tuple(groups[k])) for k in keys]


def member_label(name: str, facet: Facet) -> str:
    """A legend entry inside a facet: the name for a baseline, else the part that
    differs within the family (``fixed-final @m``; the strategy itself by name)."""
    if facet.key == BASELINES:
        return name
    u = unit_of(name)
    head = u.prefix or u.strategy
    return head + (f" @{u.point}" if u.point else "")


def facet_axes(fig: Figure, n: int, ncols: int, **kw) -> list:
    """``n`` axes in rows of ``ncols`` (spare cells hidden)."""
    ncols = max(1, min(ncols, n))
    nrows = math.ceil(n / ncols)
    axes = np.atleast_1d(fig.subplots(nrows, ncols, squeeze=False, **kw)).ravel()
    for ax in axes[n:]:
        ax.set_visible(False)
    return list(axes[:n])


def kind_legend(fig: Figure, kinds: Iterable[str], *, loc="outside lower center", extra=()) -> None:
    """The key to markers and line styles per companion kind present (rows below the facets)."""
    kinds = [k for k in KIND_LOOK if k in set(kinds)]
    handles = [Line2D([], [], color="0.3", linestyle=KIND_LOOK[k].linestyle, marker=KIND_LOOK[k].marker,
                      linewidth=1.6, markersize=6) for k in kinds]
    labels = [KIND_LOOK[k].label for k in kinds]
    for h, lab in extra:
        handles.append(h)
        labels.append(lab)
    if len(handles) > 1 or extra:
        fig.legend(handles, labels, loc=loc, ncols=min(3, len(handles)), fontsize="small", frameon=False)


def facet_legend(ax, handles, labels, *, fontsize="x-small") -> None:
    """A facet's own legend, right of its axes (constrained layout makes room for it)."""
    if handles:
        ax.legend(handles, labels, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0.0,
                  fontsize=fontsize, frameon=False, handlelength=2.6)


# --------------------------------------------------------------------------
# figure plumbing


def figure_style():
    return sns.axes_style("whitegrid")


def new_figure(figsize, dpi) -> Figure:
    """A constrained-layout figure on an Agg canvas (no GUI; its renderer measures text)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    fig = Figure(figsize=figsize, dpi=dpi, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def save_figure(fig: Figure, path) -> Path:
    """Save at the figure's own size and dpi (the format follows the suffix), after thinning colliding tick labels."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fmt = path.suffix.lstrip(".").lower() or "png"
    metadata = {"Software": None} if fmt == "png" else None
    thin_tick_labels(fig)
    fig.savefig(path, format=fmt, dpi=fig.dpi, metadata=metadata)
    return path


def require_columns(frame: pd.DataFrame | None, columns: Sequence[str], what: str) -> pd.DataFrame:
    if frame is None or len(frame) == 0:
        raise NothingToPlot(f"{what}: no data")
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise NothingToPlot(f"{what}: missing column(s) {', '.join(missing)}")
    return frame


def ok_units(summary: pd.DataFrame) -> pd.DataFrame:
    """The rows of successful units (all rows when there is no ``status`` column)."""
    if "status" in summary.columns:
        return summary[summary["status"].astype(str) == "ok"]
    return summary


def percent(series: pd.Series) -> pd.Series:
    return pd.to_numeric(series, errors="coerce") * 100.0


def format_count(value, _pos=None) -> str:
    """``850000`` -> ``850k``, ``1.2e6`` -> ``1.2M``."""
    value = float(value)
    for scale, unit in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= scale:
            return f"{value / scale:.3g}{unit}"
    return f"{value:.3g}"


def log_count_axis(axis, lo: float, hi: float) -> None:
    """A log axis of counts over ``[lo, hi]``: labels at 1-2-5 steps (every step when the range is
    narrow), formatted k/M; unlabelled minor ticks. :func:`thin_tick_labels` drops any that still collide."""
    ratio = hi / max(lo, 1e-12)
    subs = (1.0,) if ratio > 100 else (1.0, 2.0, 5.0) if ratio > 10 else tuple(float(k) for k in range(1, 10))
    axis.set_major_locator(LogLocator(base=10, subs=subs, numticks=100))
    axis.set_major_formatter(FuncFormatter(format_count))
    axis.set_minor_locator(LogLocator(base=10, subs="auto"))
    axis.set_minor_formatter(NullFormatter())


def _label_boxes(axis, renderer) -> list:
    ticks = [t for t in axis.get_major_ticks() if t.label1.get_visible() and t.label1.get_text()]
    lo, hi = sorted(axis.get_view_interval())
    boxes = []
    for t in ticks:
        if lo - 1e-9 * abs(hi - lo) <= t.get_loc() <= hi + 1e-9 * abs(hi - lo):
            boxes.append(t.label1.get_window_extent(renderer))
    return boxes


def tick_labels_overlap(axis, renderer) -> bool:
    """Whether two visible major tick labels of ``axis`` overlap on the canvas."""
    boxes = _label_boxes(axis, renderer)
    return any(a.overlaps(b) for i, a in enumerate(boxes) for b in boxes[i + 1:])


def thin_tick_labels(fig: Figure, rounds: int = 4) -> None:
    """Fewer ticks on any axis whose labels collide: a log axis drops to fewer
    steps per decade, a linear one to fewer bins. Needs a draw to measure."""
    for _ in range(rounds):
        if not hasattr(fig.canvas, "get_renderer"):
            from matplotlib.backends.backend_agg import FigureCanvasAgg

            FigureCanvasAgg(fig)
        fig.draw_without_rendering()
        renderer = fig.canvas.get_renderer()
        # only numeric axes: a FixedLocator carries category labels (heatmaps, strategy rows) that must all stay
        crowded = [(ax, axis) for ax in fig.axes if ax.get_visible() for axis in (ax.xaxis, ax.yaxis)
                   if not isinstance(axis.get_major_locator(), FixedLocator) and tick_labels_overlap(axis, renderer)]
        if not crowded:
            return
        counts = [(axis, len(_label_boxes(axis, renderer))) for _ax, axis in crowded]  # before any change
        done: set[int] = set()
        for axis, n in counts:
            if id(axis.get_major_locator()) in done:  # shared axes share their locator: thin it once
                continue
            if axis.get_scale() == "log":
                fewer = (1.0, 2.0, 5.0) if n > 6 else (1.0,)
                axis.set_major_locator(LogLocator(base=10, subs=fewer, numticks=100))
            else:
                axis.set_major_locator(MaxNLocator(nbins=max(2, n // 2)))
            done.add(id(axis.get_major_locator()))


def wrap_label(text: str, width: int) -> str:
    """Greedy line breaks after ``/``, ``:`` or spaces (after ``-`` only inside
    a word longer than a line) so that lines stay within ``width`` characters
    where possible."""
    tokens = []
    for tok in (t for t in re.split(r"(?<=[/: ])", text) if t):
        # break at hyphens only inside a word that does not fit on a line
        tokens += [t for t in re.split(r"(?<=-)", tok) if t] if len(tok) > width else [tok]
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


def legend_outside(fig: Figure, handles, labels, title=None, fontsize="small"):
    """A legend right of the axes, in as many columns as it needs to fit the figure's height
    (about 4.5 entries per inch); the figure widens by each extra column, the axes keep their width."""
    if handles:
        rows = max(1, int(fig.get_figheight() * 4.5) - 1)
        ncols = math.ceil(len(handles) / rows)
        longest = max((len(str(lab)) for lab in labels), default=10)
        fig.set_figwidth(fig.get_figwidth() + (0.075 * longest + 0.6) * (ncols - 1))
        fig.legend(handles, labels, loc="outside right center", ncols=ncols, title=title, fontsize=fontsize,
                   title_fontsize=fontsize, frameon=False)


def strategy_handle(name: str, palette, marker=True) -> Line2D:
    return Line2D([], [], color=colour_of(palette, name), linestyle=strategy_linestyle(name),
                  marker=strategy_marker(name, palette) if marker else None, linewidth=2, markersize=6)


def spread_coinciding(x: np.ndarray, y: np.ndarray, *, x_tol: float = 0.02, y_tol: float,
                      step: float = 0.045) -> np.ndarray:
    """Multiplicative x offsets that spread points lying on top of each other (within ``x_tol`` relative
    in x and ``y_tol`` in y) side by side on a log axis, centred on their shared place; 1 elsewhere."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    factor = np.ones(len(x))
    done = np.zeros(len(x), bool)
    for i in range(len(x)):
        if done[i] or not (np.isfinite(x[i]) and np.isfinite(y[i])):
            continue
        group = [j for j in range(i, len(x)) if not done[j] and np.isfinite(x[j])
                 and abs(np.log(x[j] / x[i])) <= x_tol and abs(y[j] - y[i]) <= y_tol]
        for k, j in enumerate(group):
            factor[j] = math.exp(step * (k - (len(group) - 1) / 2))
            done[j] = True
    return factor
