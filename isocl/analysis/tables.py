"""The report's tables as pandas frames of display strings, and their
Markdown and HTML forms: the strategy-by-metric table, failed units, the
paired comparisons, the frontier by budget and the environment."""

from __future__ import annotations

import html
import json
import math
import re

import numpy as np
import pandas as pd

# the metric table: (column, heading, kind, higher is better)
METRIC_TABLE = [
    ("final_accuracy", "final accuracy (%)", "pct", True),
    ("avg_incremental_accuracy", "avg incremental accuracy (%)", "pct", True),
    ("forgetting", "forgetting (%)", "pct", False),
    ("bwt", "BWT (%)", "pct", True),
    ("params", "params", "int", False),
    ("max_params", "max params", "int", False),
]

METRIC_NOTE = (
    "Mean ± sd over the successful seeds; accuracies, forgetting and BWT in %; "
    "params = parameters of the final model, max params = the most during training. "
    "Best value per column in bold (highest accuracy and BWT, lowest forgetting and "
    "parameter counts)."
)


def first_line(text) -> str:
    """The last non-empty line of an error message (a traceback's exception line)."""
    if text is None or (isinstance(text, float) and math.isnan(text)):
        return "(no error message)"
    lines = [ln.strip() for ln in str(text).strip().splitlines() if ln.strip()]
    return lines[-1] if lines else "(no error message)"


def _fmt_stat(mean: float, sd: float, kind: str) -> str:
    if not np.isfinite(mean):
        return "–"
    if kind == "pct":
        text = f"{mean * 100:.1f}"
        return text if not np.isfinite(sd) else f"{text} ± {sd * 100:.1f}"
    text = f"{mean:,.0f}"
    return text if not np.isfinite(sd) else f"{text} ± {sd:,.0f}"


def metric_table(
    summary: pd.DataFrame, order: list[str], run_of: dict[str, str], several: bool
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(cells, bold): one row per strategy in ``order``; the best shown value of each column is bold."""
    cols = [c for c, _, _, _ in METRIC_TABLE]
    ok = summary[summary["status"] == "ok"].reindex(columns=["strategy", *cols])
    ok[cols] = ok[cols].apply(pd.to_numeric, errors="coerce")
    grouped = ok.groupby("strategy")[cols]
    mean, sd = grouped.mean().reindex(order), grouped.std(ddof=1).reindex(order)
    n_all = summary.groupby("strategy").size().reindex(order, fill_value=0)
    n_ok = (summary["status"] == "ok").groupby(summary["strategy"]).sum().reindex(order, fill_value=0)
    cells = pd.DataFrame({"strategy": order})
    if several:
        cells["results"] = [run_of.get(s, "") for s in order]
    cells["n seeds"] = [str(int(n)) for n in n_ok]
    bold = pd.DataFrame(False, index=cells.index, columns=cells.columns)
    for col, heading, kind, higher in METRIC_TABLE:
        scale, digits = (100, 1) if kind == "pct" else (1, 0)
        shown = (mean[col] * scale).round(digits).to_numpy()
        cells[heading] = [_fmt_stat(m, s, kind) for m, s in zip(mean[col], sd[col])]
        finite = shown[np.isfinite(shown)]
        best = (finite.max() if higher else finite.min()) if finite.size else math.nan
        bold[heading] = (shown == best) & (len(order) > 1)
    if (summary["status"] != "ok").any():
        cells["failed"] = [str(int(a - b)) for a, b in zip(n_all, n_ok)]
        bold["failed"] = False
    return cells, bold


def failed_table(failed: list[list[str]]) -> pd.DataFrame:
    """Failed units: strategy, seed, status and the error's last line."""
    return pd.DataFrame(
        [[s, seed, st, first_line(e) if e else ""] for s, seed, st, e in failed],
        columns=["strategy", "seed", "status", "error"],
    )


def env_table(manifest: dict) -> pd.DataFrame:
    return pd.DataFrame(
        [[str(k), v if isinstance(v, str) else json.dumps(v)] for k, v in manifest.items()],
        columns=["key", "value"],
    )


def _points(x: float) -> str:
    return "–" if not np.isfinite(x) else f"{100 * x:+.1f}"


def comparisons_table(comparisons: pd.DataFrame) -> pd.DataFrame:
    """``comparisons.csv`` for reading: differences and intervals in points, p-values to 3 digits."""
    def p_text(p: float) -> str:
        return "–" if not np.isfinite(p) else ("< 0.001" if p < 0.001 else f"{p:.3f}")

    rows = []
    for r in comparisons.itertuples(index=False):
        ci = "–" if not np.isfinite(r.ci_low) else f"[{_points(r.ci_low)}, {_points(r.ci_high)}]"
        level = "" if not np.isfinite(r.ci_level) else f"{100 * r.ci_level:.4g}%"
        verdict = r.verdict + (f" ({r.note})" if isinstance(r.note, str) and r.note else "")
        crosses = getattr(r, "same_backbone", True) is False or str(getattr(r, "same_backbone", "")) == "False"
        if crosses and "crosses backbones" not in verdict:  # the note says so already in newer folders
            verdict += " [crosses backbones]"
        rows.append([r.strategy, r.reference, r.relation, r.metric.replace("_", " "), str(r.n_seeds),
                     _points(r.mean_diff), ci, level, p_text(r.p), p_text(getattr(r, "p_perm", math.nan)),
                     p_text(r.p_holm), verdict])
    return pd.DataFrame(rows, columns=["strategy", "reference", "relation", "metric", "n seeds",
                                       "mean diff (points)", "simultaneous CI (points)", "CI level", "p (t)",
                                       "p (sign-flip)", "p (Holm)", "verdict"])


# --------------------------------------------------------------------------
# Markdown and HTML


def md_cell(text) -> str:
    """One Markdown table cell: HTML-escaped, one line, Markdown specials and ``|`` escaped."""
    text = html.escape(str(text), quote=False).replace("\r", " ").replace("\n", " ")
    text = text.replace("|", "\\|")
    return re.sub(r"([*_`\[\]])", r"\\\1", text)


def md_table(cells: pd.DataFrame, bold: pd.DataFrame | None = None) -> str:
    """A pipe table, one unpadded line per row.

    By hand, not ``DataFrame.to_markdown``: tabulate pads every cell to its
    column's width, so a row would no longer read ``| name | ...`` and the
    escaping of user text (``md_cell``) would be tabulate's, not ours.
    """
    text = cells.map(md_cell)
    if bold is not None:
        text = text.mask(bold.to_numpy(dtype=bool), "**" + text + "**")
    lines = ["| " + " | ".join(md_cell(h) for h in cells.columns) + " |",
             "|" + "|".join("---" for _ in cells.columns) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in text.itertuples(index=False)]
    return "\n".join(lines)


def html_table(cells: pd.DataFrame, bold: pd.DataFrame | None = None, cls: str = "") -> str:
    """``DataFrame.to_html`` of the cells, escaped with ``html.escape`` (quotes too), best values in ``<strong>``."""
    text = cells.map(lambda c: html.escape(str(c)))
    if bold is not None:
        text = text.mask(bold.to_numpy(dtype=bool), "<strong>" + text + "</strong>")
    text.columns = [html.escape(str(c)) for c in cells.columns]
    return text.to_html(index=False, escape=False, border=0, classes=cls or None)


# --------------------------------------------------------------------------
# the verdict in words

_SENTENCES = {
    "win": "Higher final accuracy (the simultaneous interval excludes 0)",
    "loss": "Lower final accuracy (the simultaneous interval excludes 0)",
    "less forgetting": "Less forgetting (the simultaneous interval excludes 0)",
    "more forgetting": "More forgetting (the simultaneous interval excludes 0)",
    "no detectable difference": "No detectable difference in {metric}",
    "identical": "Identical {metric} on every paired seed",
    "too few seeds": "Too few paired seeds (fewer than 2 with status ok on both sides) to compare {metric}",
}


def _pair_text(r) -> str:
    text = f"{r.strategy} vs {r.reference}"
    if r.verdict in ("win", "loss", "less forgetting", "more forgetting"):
        note = ", constant difference" if r.note and "constant difference" in r.note else ""
        return f"{text} ({_points(r.mean_diff)} points [{_points(r.ci_low)}, {_points(r.ci_high)}]{note})"
    return text


def comparison_sentences(comparisons: pd.DataFrame) -> list[str]:
    """One sentence per (metric, verdict) class present, then how the best baseline was picked."""
    out = []
    for metric in ("final_accuracy", "forgetting"):
        rows = comparisons[comparisons["metric"] == metric]
        for verdict, template in _SENTENCES.items():
            hits = [r for r in rows.itertuples(index=False) if r.verdict == verdict]
            if not hits:
                continue
            head = template.format(metric=metric.replace("_", " "))
            if verdict == "no detectable difference":  # usually most rows: their count and the intervals' widths
                widths = [100 * (r.ci_high - r.ci_low) for r in hits]
                out.append(f"{head} for {len(hits)} of {len(rows)} comparisons (corrected interval widths "
                           f"{min(widths):.1f} to {max(widths):.1f} points).")
            else:
                out.append(f"{head}: " + "; ".join(_pair_text(r) for r in hits) + ".")
    if (comparisons["verdict"] == "no detectable difference").any():
        n = int(comparisons["n_seeds"].max())
        out.append(f"With {n} seeds, differences smaller than an interval's half-width are not resolvable; "
                   "add seeds where a claim sits near that.")
    best = comparisons[(comparisons["relation"] == "best-baseline") & (comparisons["metric"] == "final_accuracy")]
    if len(best):
        picks = "; ".join(f"{r.reference} for {r.strategy} ({r.params_reference:,.0f} ≤ {r.params_strategy:,.0f} "
                          "parameters)" for r in best.itertuples(index=False))
        out.append(f"Best baseline: the fixed-width strategy with the highest mean final accuracy among those with "
                   f"no more parameters, picked on test means (which favours the baseline): {picks}.")
    return out


# --------------------------------------------------------------------------
# the frontier table

FRONTIER_NOTE = (
    "At each parameter budget, each family's best point with no more parameters (mean over seeds); the best "
    "of them, the points whose paired difference from it has a simultaneous interval containing 0 (tied), and "
    "the points below it (frontier.csv has the differences, intervals and p-values). Picked on test means, "
    "which favours the best. A backbone other than the table's usual one is named in brackets."
)


def _size(n: float) -> str:
    """A parameter count in a few characters: 49k, 1.0M, 13M."""
    if n >= 9.95e6:
        return f"{n / 1e6:.0f}M"
    if n >= 9.995e5:
        return f"{n / 1e6:.1f}M"
    return f"{n / 1e3:.0f}k"


def frontier_summary(frontier: pd.DataFrame, axis: str = "params") -> pd.DataFrame:
    """``frontier.csv`` for reading: one row per budget on ``axis`` (``params`` or ``max_params``): the best
    point, the points tied with it and those below it, each as ``NAME ACC% (SIZE)``, in order of accuracy."""
    from isocl.analysis.statistics import FRONTIER_AXES

    f = frontier[frontier["axis"] == axis]
    usual = f["backbone"].mode().iloc[0] if len(f) else ""

    def point(r) -> str:
        other = f" [{r.backbone}]" if r.backbone != usual else ""
        extra = f", {r.status}" if r.status not in ("best", "tied with best", "below best") else ""
        return f"{r.strategy}{other} {100 * r.final_accuracy:.1f}% ({_size(r.params)}{extra})"

    rows = []
    for budget, g in f.groupby("budget", sort=True):
        g = g.sort_values("final_accuracy", ascending=False, kind="stable")
        groups = {"best": [], "tied": [], "below": []}
        for r in g.itertuples(index=False):
            groups["best" if r.status == "best" else "below" if r.status == "below best" else "tied"].append(point(r))
        rows.append([f"≤ {_size(budget)}", "; ".join(groups["best"]), "; ".join(groups["tied"]) or "-",
                     "; ".join(groups["below"]) or "-"])
    return pd.DataFrame(rows, columns=[f"budget ({FRONTIER_AXES.get(axis, axis)})", "best", "tied with best",
                                       "below best"])


def no_comparisons(n_dirs: int) -> str:
    if n_dirs > 1:
        return ("Paired comparisons are made within one results folder (seeds pair within a benchmark): "
                "run `isocl plot DIR` on each folder.")
    return ("No neuroplastic strategy with a reference (companion, control or a fixed-width baseline with no "
            "more parameters) in this folder.")
