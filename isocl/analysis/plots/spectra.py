"""Singular-value spectra of each hidden layer before and after pruning (doc §4)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.lines import Line2D

from matplotlib.figure import Figure

from isocl.analysis.plots.registry import FigureSpec, register
from isocl.analysis.plots.style import (
    NotApplicable,
    DPI,
    NothingToPlot,
    new_figure,
    legend_outside,
    ordered,
    require_columns,
    save_figure,
    figure_style,
    wrap_label,
)


def parse_list(cell) -> np.ndarray:
    """A ``;``-separated list cell as a float array (empty for NaN / "")."""
    if cell is None or (isinstance(cell, float) and math.isnan(cell)):
        return np.array([], dtype=float)
    if isinstance(cell, (int, float, np.number)):
        return np.array([float(cell)])
    parts = [p.strip() for p in str(cell).split(";")]
    return np.array([float(p) for p in parts if p], dtype=float)


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


def _spectrum_panel(ax, sub: pd.DataFrame, exp_colour) -> None:
    """One (strategy, layer) panel: each experience's spectrum before (thin dashed) and after (thick) pruning."""
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


def plot_spectra(structure: pd.DataFrame, palette: dict[str, str], path, *, seed=None, figsize=None,
                 dpi: float = DPI) -> Path:
    """:func:`draw_spectra`, saved to ``path``."""
    return save_figure(draw_spectra(structure, palette, seed=seed, figsize=figsize, dpi=dpi), path)


def draw_spectra(structure: pd.DataFrame, palette: dict[str, str], *, seed=None, figsize=None,
                 dpi: float = DPI) -> Figure:
    """Singular-value spectra of each hidden layer before (thin dashed) and
    after (thick solid) compression, from the ``prune`` events of ``structure.csv``: one
    panel per (strategy, layer), log y-axis, one colour per experience.  The
    "after" spectrum is the event's ``sigmas`` minus its ``removed_sigmas``.
    Uses one seed per strategy (``seed``, default the smallest seed)."""
    structure = require_columns(
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
        raise NotApplicable("spectra: no prune event with a singular-value spectrum")
    picked = []
    for s, sub in spectra.groupby("strategy", sort=True):
        seeds = sorted(sub["seed"].unique())
        chosen = seed if seed is not None and seed in seeds else seeds[0]
        picked.append(sub[sub["seed"] == chosen])
    spectra = pd.concat(picked, ignore_index=True)
    strategies = ordered(spectra["strategy"].unique(), palette)
    layers = sorted(spectra["layer"].unique())
    nrows, ncols = len(strategies), len(layers)
    if figsize is None:
        figsize = (3.9 * ncols + 1.6, 3.0 * nrows + 0.7)
    exps = sorted(spectra["experience"].unique())
    cmap = sns.color_palette("flare", as_cmap=True)
    exp_colour = {
        e: cmap(0.1 + 0.85 * (i / max(1, len(exps) - 1))) for i, e in enumerate(exps)
    }
    with figure_style():
        fig = new_figure(figsize, dpi)
        axes = fig.subplots(nrows, ncols, squeeze=False)
        for r, s in enumerate(strategies):
            for c, layer in enumerate(layers):
                ax = axes[r, c]
                sub = spectra[(spectra["strategy"] == s) & (spectra["layer"] == layer)]
                _spectrum_panel(ax, sub, exp_colour)
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
        legend_outside(fig, handles, labels)
        fig.suptitle("Singular-value spectra per hidden layer before and after pruning")
        return fig


register(FigureSpec(
    stem="spectra", title="Singular-value spectra",
    caption="Singular-value spectrum of each hidden layer before (thin dashed) and after (thick solid) pruning, "
            "one colour per experience (one seed per strategy).",
    needs=("structure",), draw=lambda inp: draw_spectra(inp.structure, inp.palette), order=70,
))


