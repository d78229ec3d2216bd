"""Shared look of every figure: one hue per strategy family (a strategy and
its companions ``fixed-final:X``, ``fixed-max:X``, ``diag-only:X``,
``reset:X`` share X's hue in lighter / darker shades, with their own line
style and marker), seaborn's whitegrid style, constrained-layout figures
saved at a fixed pixel size, and small label helpers."""

from __future__ import annotations

import math

import re
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib import colors as mcolors
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

DPI = 120
"""Default resolution of raster figures (pixels per inch)."""

TWIN_PREFIXES = ("fixed-final:", "fixed-max:")
"""Prefixes of the fixed-width twins of a neuroplastic strategy."""

COMPANION_PREFIXES = (*TWIN_PREFIXES, "diag-only:", "reset:")
"""Prefixes of every companion of a neuroplastic strategy (twins and controls)."""

DIR_SEPARATOR = "/"
"""Separates a results-directory label from a strategy name (``run-a/naive``)
when the same strategy name occurs in several compared directories."""

# companion prefix -> (line style, marker, (mix colour, amount))
_COMPANION_LOOK = {
    "": ("-", "o", None),
    "fixed-final:": ("--", "s", ("white", 0.45)),
    "fixed-max:": (":", "^", ("black", 0.35)),
    "diag-only:": ("-.", "D", ("white", 0.7)),
    "reset:": ((0, (1, 1)), "v", ("black", 0.6)),
}


class NothingToPlot(ValueError):
    """The inputs hold nothing this figure could show."""


def split_label(name: str) -> tuple[str, str, str]:
    """``"run-a/fixed-max:neuro"`` -> ``("run-a/", "fixed-max:", "neuro")``."""
    prefix = ""
    rest = name
    for twin in COMPANION_PREFIXES:
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
    prefix, _, base = split_label(name)
    return prefix + base


def _twin_kind(name: str) -> str:
    return split_label(name)[1]


def strategy_linestyle(name: str) -> str:
    """Solid for a strategy, dashed for ``fixed-final:``, dotted for
    ``fixed-max:``, dash-dot for ``diag-only:`` and densely dotted for ``reset:``."""
    return _COMPANION_LOOK[_twin_kind(name)][0]


def strategy_marker(name: str) -> str:
    """Circle for a strategy, square for ``fixed-final:``, triangle for
    ``fixed-max:``, diamond for ``diag-only:``, down-triangle for ``reset:``."""
    return _COMPANION_LOOK[_twin_kind(name)][1]


def _mix(colour, other, amount: float) -> str:
    rgb = np.array(mcolors.to_rgb(colour))
    target = np.array(mcolors.to_rgb(other))
    return mcolors.to_hex(rgb * (1 - amount) + target * amount)


def strategy_palette(strategies: Iterable[str]) -> dict[str, str]:
    """One stable colour (hex string) per strategy, used by every figure.

    Hues are assigned to the sorted distinct base strategies (twins removed):
    seaborn's ``tab10`` palette for up to 10, evenly spaced ``husl`` hues
    beyond.  A ``fixed-final:X`` twin gets a lighter shade of ``X``'s hue and a
    ``fixed-max:X`` twin a darker one, ``diag-only:X`` a paler and ``reset:X`` a
    deeper one (their lines also differ, see :func:`strategy_linestyle`).  The result depends only on the set of
    names, and its keys are sorted.
    """
    names = sorted({str(s) for s in strategies})
    bases = sorted({base_strategy(s) for s in names})
    n = len(bases)
    colours = sns.color_palette("tab10", n) if n <= 10 else sns.color_palette("husl", n)
    hue = {b: mcolors.to_hex(c) for b, c in zip(bases, colours)}
    palette: dict[str, str] = {}
    for s in names:
        shade = _COMPANION_LOOK[_twin_kind(s)][2]
        c = hue[base_strategy(s)]
        palette[s] = _mix(c, *shade) if shade else c
    return palette


def colour_of(palette: dict[str, str], name: str) -> str:
    """``name``'s colour in ``palette``, or the one :func:`strategy_palette` would give it."""
    if name in palette:
        return palette[name]
    return strategy_palette(list(palette) + [name])[name]


def ordered(names: Iterable[str], palette: dict[str, str]) -> list[str]:
    """``names`` in the palette's order (families together), unknown names sorted after."""
    present = {str(n) for n in names}
    known = [s for s in palette if s in present]
    return known + sorted(present - set(known))


def figure_style():
    """The seaborn style every figure is drawn in (whitegrid)."""
    return sns.axes_style("whitegrid")


def new_figure(figsize, dpi) -> Figure:
    """A constrained-layout figure, not attached to pyplot (no global state)."""
    return Figure(figsize=figsize, dpi=dpi, layout="constrained")


def save_figure(fig: Figure, path) -> Path:
    """Write ``fig`` to ``path`` in the format its suffix names (png by default), without a timestamp."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fmt = path.suffix.lstrip(".").lower() or "png"
    metadata = {"Software": None} if fmt == "png" else None
    fig.savefig(path, format=fmt, dpi=fig.dpi, metadata=metadata)
    return path


def require_columns(
    frame: pd.DataFrame | None, columns: Sequence[str], what: str
) -> pd.DataFrame:
    """``frame`` if it has rows and ``columns``, else :class:`NothingToPlot` naming ``what``."""
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
    """A fraction column as percent (non-numbers become NaN)."""
    return pd.to_numeric(series, errors="coerce") * 100.0


def format_count(value, _pos=None) -> str:
    """An axis tick label in k / M (a matplotlib ``FuncFormatter`` function)."""
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


def legend_outside(fig: Figure, handles, labels, title=None, fontsize="small"):
    """A legend right of the axes, in as many columns as it needs to fit the figure's height
    (about 4.5 entries per inch: a benchmark with twins and controls has 35 strategies)."""
    if handles:
        rows = max(1, int(fig.get_figheight() * 4.5) - 1)
        ncols = math.ceil(len(handles) / rows)
        fig.set_figwidth(fig.get_figwidth() + 3.2 * (ncols - 1))  # the axes keep their width
        fig.legend(
            handles,
            labels,
            loc="outside right center",
            ncols=ncols,
            title=title,
            fontsize=fontsize,
            title_fontsize=fontsize,
            frameon=False,
        )


def strategy_handle(name: str, palette, marker=True) -> Line2D:
    """A legend entry in ``name``'s colour, line style and marker."""
    return Line2D(
        [],
        [],
        color=colour_of(palette, name),
        linestyle=strategy_linestyle(name),
        marker=strategy_marker(name) if marker else None,
        linewidth=2,
        markersize=6,
    )


