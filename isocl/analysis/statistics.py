"""Paired comparisons of strategies: the verdict of a results folder.

Follows ``docs/evaluation.md`` (shared docs): every strategy runs with the
same seeds, and seed s fixes the class order, the data subset and the
initialisation, so differences are taken per seed. For each neuroplastic
strategy X, X is compared (X minus reference) with

- each companion present: ``fixed-final:X`` and ``fixed-max:X`` (fixed-width
  twins at the final and peak width), ``diag-only:X`` (the same rotations,
  no width change), ``reset:X`` (optimiser state reset at moves);
- the control ``frozen-backbone`` (task-IL), if present;
- the best fixed-width baseline with no more parameters: among strategies
  without ``:`` in the name that are not neuroplastic, not an upper bound
  (:data:`UPPER_BOUNDS`) and not the control, with mean final ``params`` <=
  X's, the one with the highest mean final accuracy. It is picked on the
  test means, which favours the baseline.

For final accuracy and for forgetting separately: the mean paired
difference, the paired t-test (``scipy.stats.ttest_rel``), Holm's
correction across all comparisons of that metric in the folder
(``statsmodels``), and the t interval widened to Holm's level for its rank
(rank k of m by raw p: confidence 1 - alpha/(m - k + 1)). A verdict other
than "no detectable difference" needs the Holm-corrected p < alpha.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from isocl.bench.names import COMPANION_PREFIXES, parse_unit

__all__ = [
    "ALPHA",
    "COLUMNS",
    "COMPANIONS",
    "CONTROL",
    "METRICS",
    "UPPER_BOUNDS",
    "best_baseline",
    "compare_strategies",
    "neuroplastic_strategies",
    "paired_difference",
]

ALPHA = 0.05
"""Family-wise error rate per metric and results folder (Holm)."""

UPPER_BOUNDS = frozenset({"cumulative"})
"""Strategies that see all past data: upper bounds, never a fair baseline."""

COMPANIONS = COMPANION_PREFIXES
"""Prefixes (before ``:``) of a neuroplastic strategy's companions (declared in :mod:`isocl.bench.names`)."""

CONTROL = "frozen-backbone"
"""The standalone no-plasticity control (task-IL)."""

METRICS = {"final_accuracy": True, "forgetting": False}
"""Compared metrics -> whether higher is better."""

_VERDICTS = {
    "final_accuracy": ("win", "loss"),
    "forgetting": ("less forgetting", "more forgetting"),
}
NO_DIFFERENCE = "no detectable difference"
TOO_FEW = "too few seeds"
IDENTICAL = "identical"
CONSTANT = "constant difference"

COLUMNS = [
    "strategy", "reference", "relation", "metric", "n_seeds", "mean_diff", "ci_low", "ci_high", "ci_level",
    "p", "p_holm", "verdict", "params_strategy", "params_reference", "note",
]
"""Columns of ``comparisons.csv`` (docs/results-format.md)."""


@dataclass
class PairedDifference:
    """One metric of one comparison before the correction across comparisons."""

    n: int
    mean: float
    p: float  # NaN where no test applies (too few seeds, constant difference)
    interval: Callable[[float], tuple[float, float]] | None  # confidence level -> (low, high)
    note: str = ""


def paired_difference(a: Iterable[float], b: Iterable[float]) -> PairedDifference:
    """Paired difference ``a - b`` (same seeds in the same order) with its t-test.

    Degenerate cases are explicit: fewer than two pairs (no test, note
    "too few seeds"), and differences that are all equal (no spread: the
    interval is [d, d], no p-value, note "constant difference").
    """
    from scipy import stats

    a, b = np.asarray(list(a), dtype=float), np.asarray(list(b), dtype=float)
    if a.shape != b.shape:
        raise ValueError(f"paired_difference: {a.size} values against {b.size}; expected one pair per seed")
    d = a - b
    n = int(d.size)
    if n < 2:
        return PairedDifference(n, float(d[0]) if n else math.nan, math.nan, None, TOO_FEW)
    mean = float(d.mean())
    if np.ptp(d) <= 1e-12 * max(1.0, float(np.abs(d).max())):  # sd 0: the t statistic is undefined
        return PairedDifference(n, mean, math.nan, lambda level: (mean, mean), CONSTANT)
    res = stats.ttest_rel(a, b)

    def interval(level: float) -> tuple[float, float]:
        ci = res.confidence_interval(confidence_level=level)
        return float(ci.low), float(ci.high)

    return PairedDifference(n, mean, float(res.pvalue), interval)


# --------------------------------------------------------------------------
# which comparisons


def _split(name: str) -> tuple[str, str]:
    """``"fixed-max:X"`` -> ``("fixed-max", "X")``; ``"X"`` -> ``("", "X")``."""
    unit = parse_unit(name)
    return unit.prefix or "", unit.subject


def _registered_neuroplastic(name: str) -> bool | None:
    """The registry's answer, or None for a strategy it does not know (an absent plug-in)."""
    from isocl.bench.registry import UnknownStrategy, get_strategy

    try:
        return bool(get_strategy(name).neuroplastic)
    except UnknownStrategy:
        return None


def neuroplastic_strategies(names: Iterable[str]) -> list[str]:
    """The neuroplastic strategies among ``names``: by the registry, else by having a companion among ``names``."""
    names = sorted({str(n) for n in names})
    companions_of = {_split(n)[1] for n in names if _split(n)[0] in COMPANIONS}
    out = []
    for n in names:
        if parse_unit(n).prefix is not None:
            continue
        known = _registered_neuroplastic(n)
        if known or (known is None and n in companions_of):
            out.append(n)
    return out


def _means(ok: pd.DataFrame) -> pd.DataFrame:
    """Mean final accuracy and params per strategy over its successful units."""
    cols = ok[["strategy", "final_accuracy", "params"]].copy()
    for c in ("final_accuracy", "params"):
        cols[c] = pd.to_numeric(cols[c], errors="coerce")
    return cols.groupby("strategy")[["final_accuracy", "params"]].mean()


def best_baseline(strategy: str, means: pd.DataFrame, neuroplastic: Iterable[str]) -> str | None:
    """The fixed-width baseline with mean final params <= ``strategy``'s and the highest mean final accuracy.

    Candidates have no ``:`` in the name and are neither neuroplastic, an
    upper bound (:data:`UPPER_BOUNDS`) nor the control; ties go to the
    first name in alphabetical order. None if no candidate qualifies.
    """
    if strategy not in means.index or not np.isfinite(means.at[strategy, "params"]):
        return None
    excluded = set(neuroplastic) | UPPER_BOUNDS | {CONTROL, strategy}
    pool = means[[parse_unit(s).prefix is None and s not in excluded for s in means.index]]
    pool = pool[(pool["params"] <= means.at[strategy, "params"]) & pool["final_accuracy"].notna()]
    if pool.empty:
        return None
    pool = pool.sort_index()
    return str(pool["final_accuracy"].idxmax())


def _pairs(summary: pd.DataFrame) -> list[tuple[str, str, str]]:
    """(strategy, reference, relation) for every comparison the folder supports."""
    names = set(summary["strategy"].astype(str))
    ok = summary[summary["status"].astype(str) == "ok"]
    means = _means(ok)
    plastic = neuroplastic_strategies(names)
    out = []
    for x in plastic:
        if x not in means.index:
            continue  # no successful unit: nothing to compare
        for rel in COMPANIONS:
            if f"{rel}:{x}" in means.index:
                out.append((x, f"{rel}:{x}", rel))
        if CONTROL in means.index and x != CONTROL:
            out.append((x, CONTROL, CONTROL))
        best = best_baseline(x, means, plastic)
        if best is not None:
            out.append((x, best, "best-baseline"))
    return out


# --------------------------------------------------------------------------
# the comparisons table


def _verdict(metric: str, diff: PairedDifference, p_holm: float) -> str:
    better, worse = _VERDICTS[metric]
    if diff.note == TOO_FEW:
        return TOO_FEW
    if diff.note == CONSTANT:
        if diff.mean == 0:
            return IDENTICAL
        good = diff.mean > 0 if METRICS[metric] else diff.mean < 0
        return better if good else worse
    if not p_holm < ALPHA:
        return NO_DIFFERENCE
    good = diff.mean > 0 if METRICS[metric] else diff.mean < 0
    return better if good else worse


def _holm(rows: list[dict], diffs: list[PairedDifference], metric: str) -> None:
    """Holm-corrected p and the interval at Holm's level for its rank, in place."""
    from statsmodels.stats.multitest import multipletests

    tested = [i for i, d in enumerate(diffs) if np.isfinite(d.p)]
    p_holm = {}
    if tested:
        corrected = multipletests([diffs[i].p for i in tested], alpha=ALPHA, method="holm")[1]
        p_holm = dict(zip(tested, (float(p) for p in corrected)))
    m = len(tested)
    rank = {i: k for k, i in enumerate(sorted(tested, key=lambda i: diffs[i].p), start=1)}
    for i, (row, d) in enumerate(zip(rows, diffs)):
        level = 1 - ALPHA / (m - rank[i] + 1) if i in rank else 1 - ALPHA
        low, high = d.interval(level) if d.interval is not None else (math.nan, math.nan)
        row.update(ci_low=low, ci_high=high, ci_level=level if d.interval is not None else math.nan,
                   p_holm=p_holm.get(i, math.nan))
        row["verdict"] = _verdict(metric, d, row["p_holm"])


def compare_strategies(summary: pd.DataFrame) -> pd.DataFrame:
    """The comparisons of one results folder's ``summary.csv`` (columns :data:`COLUMNS`).

    Pairs by seed over the seeds where both units have status ``ok`` and a
    finite value; differences are strategy minus reference, in the units of
    ``summary.csv`` (fractions: x100 for points).
    """
    needed = ["strategy", "seed", "status", "params", *METRICS]
    missing = [c for c in needed if c not in summary.columns]
    if missing:
        raise ValueError(f"summary.csv: missing column(s) {', '.join(missing)}; expected {needed}")
    ok = summary[summary["status"].astype(str) == "ok"].copy()
    ok["strategy"] = ok["strategy"].astype(str)
    means = _means(ok)
    pairs = _pairs(summary)
    rows: list[dict] = []
    for metric in METRICS:
        values = ok.assign(v=pd.to_numeric(ok[metric], errors="coerce")).dropna(subset=["v", "seed"])
        by_seed = values.groupby(["strategy", "seed"])["v"].mean().unstack("strategy")
        metric_rows, diffs = [], []
        for x, ref, rel in pairs:
            both = by_seed[[x, ref]].dropna() if {x, ref} <= set(by_seed.columns) else pd.DataFrame()
            d = paired_difference(both[x] if len(both) else [], both[ref] if len(both) else [])
            diffs.append(d)
            metric_rows.append(dict(
                strategy=x, reference=ref, relation=rel, metric=metric, n_seeds=d.n, mean_diff=d.mean,
                p=d.p, params_strategy=float(means.at[x, "params"]), params_reference=float(means.at[ref, "params"]),
                note="; ".join(n for n in (d.note if d.note != TOO_FEW else "",
                                           "picked on test means" if rel == "best-baseline" else "") if n)))
        _holm(metric_rows, diffs, metric)
        rows += metric_rows
    return pd.DataFrame(rows, columns=COLUMNS)
