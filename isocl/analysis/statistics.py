"""Paired comparisons of strategies: the verdict of a results folder.

Follows ``docs/evaluation.md`` (shared docs): every strategy runs with the
same seeds, and seed s fixes the class order, the data subset and the
initialisation, so differences are taken per seed. For each neuroplastic
strategy (or frontier point of one) X, X is compared (X minus reference) with

- each companion present: ``fixed-final:X`` and ``fixed-max:X`` (fixed-width
  twins at the final and peak width), ``diag-only:X`` (the same rotations,
  no width change), ``reset:X`` (optimiser state reset at moves);
- the control ``frozen-backbone`` (task-IL), if present;
- the best fixed-width baseline with no more parameters *on X's backbone*
  (``best-baseline``), and, where a baseline on another backbone beats it,
  that one too (``best-baseline-any``, labelled as crossing backbones):
  among strategies and frontier points that are not companions, not
  neuroplastic, not an upper bound (:data:`UPPER_BOUNDS`) and not the
  control, with mean final ``params`` <= X's, the one with the highest mean
  final accuracy. It is picked on the test means, which favours the baseline;
- for a neuroplastic strategy with a replay buffer, the best replay-family
  baseline (a strategy with a buffer, :func:`replay_family`) with no more
  parameters (``best-replay``).

Every row names both backbones (``backbone_strategy``,
``backbone_reference``, from the registry and the benchmark's ``[model] kind``) and ``same_backbone``.

For final accuracy and for forgetting separately: the mean paired
difference, the paired t-test (``scipy.stats.ttest_rel``) and beside it the
exact paired sign-flip permutation p-value (``scipy.stats.permutation_test``;
with n seeds its smallest value is 2/2**n), Holm's correction of the t-test
p-values across all comparisons of that metric in the folder
(``statsmodels``), and the t interval at the Bonferroni level
1 - alpha/m, m the number of tested comparisons of that metric: the
intervals hold simultaneously with probability >= 1 - alpha. A comparison is
a win or a loss exactly when that printed interval excludes 0 (Holm's
step-down p-values have no matching interval; the Holm p stays beside as
the more powerful test, so a comparison can have p_holm < alpha and still
be "no detectable difference").
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from isocl.bench.names import COMPANION_PREFIXES, TWIN_PREFIXES, parse_unit
from isocl.nn.kinds import ISOTROPIC_KINDS

__all__ = [
    "ALPHA",
    "COLUMNS",
    "COMPANIONS",
    "CONTROL",
    "FRONTIER_COLUMNS",
    "METRICS",
    "UPPER_BOUNDS",
    "backbone_of",
    "best_baseline",
    "compare_strategies",
    "frontier_table",
    "neuroplastic_strategies",
    "paired_difference",
    "replay_family",
    "sign_flip_p",
]

ALPHA = 0.05
"""Family-wise error rate per metric and results folder (Bonferroni intervals, Holm p-values)."""

UPPER_BOUNDS = frozenset({"cumulative"})
"""Strategies that see all past data: upper bounds, never a fair baseline."""

COMPANIONS = COMPANION_PREFIXES
"""Prefixes (before ``:``) of a neuroplastic strategy's companions (:mod:`isocl.bench.names`)."""

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
    "p", "p_perm", "p_holm", "verdict", "params_strategy", "params_reference", "backbone_strategy",
    "backbone_reference", "same_backbone", "note",
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
    p_perm: float = math.nan  # exact paired sign-flip permutation p-value (two-sided)


def sign_flip_p(d: Iterable[float]) -> float:
    """Two-sided p-value of the paired sign-flip permutation test of mean(d) = 0.

    Exact over all 2**n sign patterns (``scipy.stats.permutation_test``, which
    enumerates them when ``n_resamples`` exceeds their number); it rests on
    no normality assumption, and its smallest value is 2 / 2**n.
    """
    from scipy import stats

    d = np.asarray(list(d), dtype=float)
    if d.size < 1:
        return math.nan
    res = stats.permutation_test((d,), np.mean, permutation_type="samples", n_resamples=np.inf,
                                 alternative="two-sided", vectorized=False)
    return float(res.pvalue)


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
        return PairedDifference(n, mean, math.nan, lambda level: (mean, mean), CONSTANT, sign_flip_p(d))
    res = stats.ttest_rel(a, b)

    def interval(level: float) -> tuple[float, float]:
        ci = res.confidence_interval(confidence_level=level)
        return float(ci.low), float(ci.high)

    return PairedDifference(n, mean, float(res.pvalue), interval, p_perm=sign_flip_p(d))


# --------------------------------------------------------------------------
# which comparisons


def _spec(name: str):
    """The registry's spec of the strategy a unit name runs, or None (an absent plug-in)."""
    from isocl.bench.registry import UnknownStrategy, get_strategy

    try:
        return get_strategy(parse_unit(name).strategy)
    except UnknownStrategy:
        return None


def backbone_of(name: str, model_kind: str = "mlp") -> str:
    """The backbone a unit runs on in a benchmark of ``[model] kind = model_kind``: the registry's
    ``backbone`` (a twin runs its twin strategy's), except that a strategy on the benchmark's own
    network runs the kind itself where that kind is not isotropic (a ResNet); "unknown" for a
    strategy the registry does not know."""
    spec = _spec(name)
    if spec is None:
        return "unknown"
    if parse_unit(name).is_twin:
        twin = _spec(spec.twin)
        spec = twin if twin is not None else spec
    backbone = str(getattr(spec, "backbone", "isotropic"))
    if backbone == "isotropic" and model_kind not in ISOTROPIC_KINDS:
        return model_kind
    return backbone


def replay_family(name: str) -> bool:
    """Whether a unit keeps a replay buffer (its strategy has a ``mem_size`` parameter)."""
    spec = _spec(name)
    return spec is not None and "mem_size" in spec.defaults


def neuroplastic_strategies(names: Iterable[str]) -> list[str]:
    """The neuroplastic strategies (and frontier points) among ``names``: by the registry, else by
    having a companion among ``names``."""
    names = sorted({str(n) for n in names})
    companions_of = {parse_unit(n).subject for n in names if parse_unit(n).prefix is not None}
    out = []
    for n in names:
        if parse_unit(n).prefix is not None:
            continue
        spec = _spec(n)
        if (spec is not None and spec.neuroplastic) or (spec is None and n in companions_of):
            out.append(n)
    return out


def _means(ok: pd.DataFrame) -> pd.DataFrame:
    """Mean final accuracy and params per strategy over its successful units."""
    cols = ok[["strategy", "final_accuracy", "params"]].copy()
    for c in ("final_accuracy", "params"):
        cols[c] = pd.to_numeric(cols[c], errors="coerce")
    return cols.groupby("strategy")[["final_accuracy", "params"]].mean()


def best_baseline(strategy: str, means: pd.DataFrame, neuroplastic: Iterable[str],
                  accept: Callable[[str], bool] | None = None) -> str | None:
    """The fixed-width baseline with mean final params <= ``strategy``'s and the highest mean final accuracy.

    Candidates are strategies and frontier points that are not companions and
    neither neuroplastic, an upper bound (:data:`UPPER_BOUNDS`) nor the
    control, and that ``accept`` (e.g. same backbone) keeps; ties go to the
    first name in alphabetical order. None if no candidate qualifies.
    """
    if strategy not in means.index or not np.isfinite(means.at[strategy, "params"]):
        return None
    excluded = set(neuroplastic) | UPPER_BOUNDS | {CONTROL, strategy}
    pool = means[[parse_unit(s).prefix is None and s not in excluded and parse_unit(s).strategy not in UPPER_BOUNDS
                  and (accept is None or accept(s)) for s in means.index]]
    pool = pool[(pool["params"] <= means.at[strategy, "params"]) & pool["final_accuracy"].notna()]
    if pool.empty:
        return None
    pool = pool.sort_index()
    return str(pool["final_accuracy"].idxmax())


def _pairs(summary: pd.DataFrame, model_kind: str = "mlp") -> list[tuple[str, str, str]]:
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
        backbone = backbone_of(x, model_kind)
        best = best_baseline(x, means, plastic, accept=lambda s: backbone_of(s, model_kind) == backbone)
        if best is not None:
            out.append((x, best, "best-baseline"))
        best_any = best_baseline(x, means, plastic)
        if best_any is not None and best_any != best:
            out.append((x, best_any, "best-baseline-any"))
        if replay_family(x):
            best_replay = best_baseline(x, means, plastic, accept=replay_family)
            if best_replay is not None and best_replay not in (best, best_any):
                out.append((x, best_replay, "best-replay"))
    return out


# --------------------------------------------------------------------------
# the comparisons table


def _verdict(metric: str, diff: PairedDifference, low: float, high: float) -> str:
    """Win / loss (or less / more forgetting) exactly when the simultaneous interval [low, high] excludes 0."""
    better, worse = _VERDICTS[metric]
    if diff.note == TOO_FEW:
        return TOO_FEW
    if diff.note == CONSTANT and diff.mean == 0:
        return IDENTICAL
    if not (low > 0 or high < 0):
        return NO_DIFFERENCE
    good = diff.mean > 0 if METRICS[metric] else diff.mean < 0
    return better if good else worse


def _correct(rows: list[dict], diffs: list[PairedDifference], metric: str) -> None:
    """Bonferroni-level (simultaneous) intervals, Holm-corrected p-values and the verdicts, in place."""
    from statsmodels.stats.multitest import multipletests

    tested = [i for i, d in enumerate(diffs) if np.isfinite(d.p)]
    p_holm = {}
    if tested:
        corrected = multipletests([diffs[i].p for i in tested], alpha=ALPHA, method="holm")[1]
        p_holm = dict(zip(tested, (float(p) for p in corrected)))
    level = 1 - ALPHA / max(1, len(tested))  # one level for every comparison of the metric
    for i, (row, d) in enumerate(zip(rows, diffs)):
        low, high = d.interval(level) if d.interval is not None else (math.nan, math.nan)
        row.update(ci_low=low, ci_high=high, ci_level=level if d.interval is not None else math.nan,
                   p_holm=p_holm.get(i, math.nan), p_perm=d.p_perm)
        row["verdict"] = _verdict(metric, d, low, high)


def compare_strategies(summary: pd.DataFrame, model_kind: str = "mlp") -> pd.DataFrame:
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
    pairs = _pairs(summary, model_kind)
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
                backbone_strategy=backbone_of(x, model_kind), backbone_reference=backbone_of(ref, model_kind),
                same_backbone=backbone_of(x, model_kind) == backbone_of(ref, model_kind),
                note="; ".join(n for n in (
                    d.note if d.note != TOO_FEW else "",
                    "picked on test means" if rel.startswith("best-") else "",
                    "crosses backbones" if backbone_of(x, model_kind) != backbone_of(ref, model_kind) else "") if n)))
        _correct(metric_rows, diffs, metric)
        rows += metric_rows
    return pd.DataFrame(rows, columns=COLUMNS)


# --------------------------------------------------------------------------
# the frontier table

FRONTIER_BUDGETS = (50_000, 100_000, 200_000, 500_000, 1_000_000)
"""Parameter budgets of the frontier table (final or peak parameters)."""

FRONTIER_AXES = {"params": "final parameters", "max_params": "peak parameters"}
"""summary.csv columns the frontier is drawn against -> their names."""

FRONTIER_COLUMNS = [
    "axis", "budget", "family", "strategy", "backbone", "params", "n_seeds", "final_accuracy", "forgetting",
    "diff_vs_best", "ci_low", "ci_high", "ci_level", "p", "p_perm", "status",
]
"""Columns of ``frontier.csv``."""


def frontier_family(name: str) -> str:
    """The family a unit stands for on the frontier: its strategy's, and for a fixed-width twin the strategy
    the twin runs (``fixed-final:neuro-grow-prune-replay`` is replay at those widths)."""
    u = parse_unit(name)
    if u.is_twin:
        spec = _spec(name)
        return spec.twin if spec is not None else u.strategy
    return u.family


def frontier_table(summary: pd.DataFrame, budgets: Iterable[int] = FRONTIER_BUDGETS,
                   model_kind: str = "mlp") -> pd.DataFrame:
    """At each parameter budget, which strategies are best: the accuracy-vs-parameters frontier as a table.

    For each axis (final and peak parameters, :data:`FRONTIER_AXES`) and
    budget B, every family (a strategy and its frontier points; a fixed-width
    twin counts in the family of the strategy it runs, e.g. replay; controls
    and upper bounds are left out) is represented by its point with the
    highest mean final accuracy among those with mean parameters <= B. The
    best of them is ``best``; every other is compared with it by the paired
    difference in final accuracy, with t intervals at the Bonferroni level
    across all comparisons of that axis (simultaneous), and is ``tied with
    best`` when its interval contains 0, else ``below best``. Accuracy and
    forgetting are fractions, as in ``summary.csv``.
    """
    ok = summary[summary["status"].astype(str) == "ok"].copy()
    ok["strategy"] = ok["strategy"].astype(str)
    ok = ok[[parse_unit(s).prefix in (None, *TWIN_PREFIXES) and parse_unit(s).strategy not in UPPER_BOUNDS
             for s in ok["strategy"]]]
    for c in ("final_accuracy", "forgetting", *FRONTIER_AXES):
        ok[c] = pd.to_numeric(ok[c], errors="coerce")
    by_seed = ok.groupby(["strategy", "seed"])["final_accuracy"].mean().unstack("strategy")
    rows: list[dict] = []
    for axis in FRONTIER_AXES:
        means = ok.groupby("strategy")[["final_accuracy", "forgetting", axis]].mean()
        axis_rows, diffs = [], []
        for budget in budgets:
            within = means[means[axis] <= budget].dropna(subset=["final_accuracy"]).sort_index()
            if within.empty:
                continue
            within = within.assign(family=[frontier_family(s) for s in within.index])
            picks = within.sort_values("final_accuracy", ascending=False, kind="stable").groupby("family").head(1)
            best = str(picks.index[0])
            for name, m in picks.iterrows():
                both = by_seed[[name, best]].dropna()
                d = paired_difference(both[name], both[best]) if name != best else None
                row = dict(axis=axis, budget=budget, family=m["family"], strategy=name, backbone=backbone_of(name, model_kind),
                           params=m[axis], n_seeds=int(by_seed[name].notna().sum()),
                           final_accuracy=m["final_accuracy"], forgetting=m["forgetting"])
                if d is None:
                    row.update(diff_vs_best=0.0, status="best")
                else:
                    row.update(diff_vs_best=d.mean, p=d.p, p_perm=d.p_perm)
                    diffs.append((row, d))
                axis_rows.append(row)
        level = 1 - ALPHA / max(1, sum(1 for _, d in diffs if np.isfinite(d.p)))
        for row, d in diffs:
            low, high = d.interval(level) if d.interval is not None else (math.nan, math.nan)
            row.update(ci_low=low, ci_high=high, ci_level=level if d.interval is not None else math.nan)
            if d.note == TOO_FEW:
                row["status"] = TOO_FEW
            else:
                row["status"] = "below best" if high < 0 else "tied with best"
        rows += axis_rows
    return pd.DataFrame(rows, columns=FRONTIER_COLUMNS)
