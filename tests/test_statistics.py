"""Paired comparisons (isocl.analysis.statistics) against hand-computed numbers,
and their place in the report (comparisons.csv, the Comparisons section, the forest plot)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from isocl.analysis import statistics
from isocl.analysis.report import build_report

X = "neuro-grow-prune"  # registered as neuroplastic
SEEDS = range(5)
BASE = np.array([0.50, 0.52, 0.48, 0.51, 0.49])
PTS = 0.01  # one percentage point in summary.csv's units


def _rows(name, acc, forgetting, params, status="ok"):
    status = [status] * 5 if isinstance(status, str) else status
    return [
        dict(strategy=name, seed=s, status=status[s], final_accuracy=acc[s], avg_incremental_accuracy=acc[s],
             forgetting=forgetting[s], bwt=-forgetting[s], params=params, max_params=params, widths="8", error="")
        for s in SEEDS
    ]


# paired differences X minus reference, in points
D_FIXED_FINAL = np.array([1.0, 2.0, 3.0, 4.0, 5.0])
D_FIXED_MAX = np.array([2.0, -1.0, 3.0, 0.0, 1.0])
D_NAIVE = np.array([-3.0, -4.0, -2.0, -5.0, -3.0])
D_FROZEN = np.array([10.0, 12.0, 9.0, 11.0, 13.0])


def summary() -> pd.DataFrame:
    acc = BASE + 0.05
    forg = np.full(5, 0.10)
    rows = _rows(X, acc, forg, 1000)
    rows += _rows(f"fixed-final:{X}", acc - D_FIXED_FINAL * PTS, forg, 1000)  # forgets exactly as much
    rows += _rows(f"fixed-max:{X}", acc - D_FIXED_MAX * PTS, forg + 0.02, 1400)  # forgets 2 points more, every seed
    rows += _rows(f"diag-only:{X}", acc, forg, 1000, status=["ok", "failed", "failed", "failed", "failed"])
    rows += _rows("naive", acc - D_NAIVE * PTS, forg + np.array([0.3, 0.28, 0.33, 0.31, 0.29]), 900)
    rows += _rows("ewc", acc - 0.10, forg, 950)  # fewer params than X, but less accurate than naive
    rows += _rows("replay", acc + 0.30, forg, 2000)  # the most accurate, but larger than X: excluded
    rows += _rows("cumulative", acc + 0.35, forg, 500)  # an upper bound: excluded
    rows += _rows("frozen-backbone", acc - D_FROZEN * PTS, forg, 100)  # the control: its own row
    return pd.DataFrame(rows)


def _t_interval(d: np.ndarray, level: float) -> tuple[float, float]:
    n = d.size
    half = stats.t.ppf(1 - (1 - level) / 2, n - 1) * d.std(ddof=1) / math.sqrt(n)
    return d.mean() - half, d.mean() + half


def _t_p(d: np.ndarray) -> float:
    t = d.mean() / (d.std(ddof=1) / math.sqrt(d.size))
    return 2 * stats.t.sf(abs(t), d.size - 1)


@pytest.fixture(scope="module")
def comparisons() -> pd.DataFrame:
    return statistics.compare_strategies(summary())


def _row(comp, reference, metric):
    (row,) = comp[(comp["reference"] == reference) & (comp["metric"] == metric)].itertuples(index=False)
    return row


def test_columns_and_which_comparisons(comparisons):
    assert list(comparisons.columns) == statistics.COLUMNS
    acc = comparisons[comparisons["metric"] == "final_accuracy"]
    assert set(zip(acc["reference"], acc["relation"])) == {
        (f"fixed-final:{X}", "fixed-final"), (f"fixed-max:{X}", "fixed-max"), (f"diag-only:{X}", "diag-only"),
        ("frozen-backbone", "frozen-backbone"), ("naive", "best-baseline"),
    }
    assert set(comparisons["strategy"]) == {X}
    assert len(comparisons) == 10  # five references, two metrics
    best = _row(comparisons, "naive", "final_accuracy")
    assert (best.params_strategy, best.params_reference) == (1000.0, 900.0)
    assert "picked on test means" in best.note


def test_mean_interval_and_p_by_hand(comparisons):
    row = _row(comparisons, f"fixed-final:{X}", "final_accuracy")
    d = D_FIXED_FINAL * PTS
    assert row.n_seeds == 5
    assert row.mean_diff == pytest.approx(0.03, abs=1e-12)
    assert row.p == pytest.approx(_t_p(d), rel=1e-9)
    # t = 0.03 / (sqrt(2.5)/100 / sqrt(5)) = 4.2426; two-sided p with 4 df
    assert row.p == pytest.approx(0.013236, abs=1e-6)
    lo, hi = _t_interval(d, row.ci_level)
    assert (row.ci_low, row.ci_high) == (pytest.approx(lo, abs=1e-12), pytest.approx(hi, abs=1e-12))
    # the plain 95% interval, as a number: 0.03 -+ 2.7764 * 0.0070711
    assert _t_interval(d, 0.95) == (pytest.approx(0.010368, abs=1e-6), pytest.approx(0.049632, abs=1e-6))


def test_holm_p_values_and_bonferroni_intervals_by_hand(comparisons):
    acc = comparisons[comparisons["metric"] == "final_accuracy"].set_index("reference")
    diffs = {f"fixed-final:{X}": D_FIXED_FINAL, f"fixed-max:{X}": D_FIXED_MAX, "naive": D_NAIVE,
             "frozen-backbone": D_FROZEN}
    raw = {ref: _t_p(d * PTS) for ref, d in diffs.items()}
    order = sorted(raw, key=raw.get)
    m, running = len(order), 0.0
    for k, ref in enumerate(order, start=1):  # Holm: (m - k + 1) p_(k), running maximum, capped at 1
        running = max(running, min(1.0, (m - k + 1) * raw[ref]))
        assert acc.at[ref, "p"] == pytest.approx(raw[ref], rel=1e-9)
        assert acc.at[ref, "p_holm"] == pytest.approx(running, rel=1e-9)
        # one simultaneous (Bonferroni) level for every comparison of the metric, whatever its rank
        assert acc.at[ref, "ci_level"] == pytest.approx(1 - 0.05 / m, abs=1e-12)
        lo, hi = _t_interval(diffs[ref] * PTS, 1 - 0.05 / m)
        assert acc.at[ref, "ci_low"] == pytest.approx(lo, abs=1e-12)
        assert acc.at[ref, "ci_high"] == pytest.approx(hi, abs=1e-12)
    assert math.isnan(acc.at[f"diag-only:{X}", "p_holm"])  # not a test: not in the family


def _sign_flip_by_hand(d):
    import itertools

    d = np.asarray(d, dtype=float)
    observed = abs(d.mean())
    flips = [abs((d * np.array(signs)).mean()) for signs in itertools.product((1, -1), repeat=d.size)]
    return sum(f >= observed - 1e-12 for f in flips) / len(flips)


def test_permutation_p_values_by_hand(comparisons):
    acc = comparisons[comparisons["metric"] == "final_accuracy"].set_index("reference")
    # every difference positive: only the all-plus and all-minus patterns are as extreme, 2/32
    assert acc.at[f"fixed-final:{X}", "p_perm"] == pytest.approx(0.0625, abs=1e-12)
    assert acc.at["naive", "p_perm"] == pytest.approx(0.0625, abs=1e-12)
    assert acc.at[f"fixed-max:{X}", "p_perm"] == pytest.approx(_sign_flip_by_hand(D_FIXED_MAX), abs=1e-12)
    assert _sign_flip_by_hand(D_FIXED_MAX) == pytest.approx(12 / 32)  # [2, -1, 3, 0, 1]: 12 of 32 at least as far
    assert statistics.sign_flip_p(np.arange(1.0, 11.0)) == pytest.approx(2 / 1024)  # 10 seeds: 0.002


def test_bonferroni_worked_example_verdict_follows_the_printed_interval():
    # raw p 0.01, 0.04, 0.03 (m = 3): Holm 3 * 0.01 = 0.03, max(0.03, 2 * 0.03) = 0.06, max(0.06, 0.04) = 0.06
    intervals = {0.01: (-0.5, 1.5), 0.04: (0.2, 1.0), 0.03: (-2.0, -0.1)}
    diffs = [statistics.PairedDifference(5, 1.0 if p != 0.03 else -1.0, p, lambda level, p=p: intervals[p])
             for p in (0.01, 0.04, 0.03)]
    diffs.append(statistics.PairedDifference(1, 1.0, math.nan, None, statistics.TOO_FEW))
    rows = [{} for _ in diffs]
    statistics._correct(rows, diffs, "final_accuracy")
    assert [r["p_holm"] for r in rows[:3]] == [pytest.approx(0.03), pytest.approx(0.06), pytest.approx(0.06)]
    assert [r["ci_level"] for r in rows[:3]] == [pytest.approx(1 - 0.05 / 3)] * 3
    # the verdict is the interval's, not Holm's: p_holm 0.03 with an interval across 0 is no difference
    assert [r["verdict"] for r in rows] == ["no detectable difference", "win", "loss", "too few seeds"]
    assert math.isnan(rows[3]["p_holm"]) and math.isnan(rows[3]["ci_low"])


def test_identical_comparisons_get_identical_intervals():
    frame = summary()
    same = frame[frame["strategy"] == f"fixed-final:{X}"].assign(strategy=f"reset:{X}")
    comp = statistics.compare_strategies(pd.concat([frame, same]))
    acc = comp[comp["metric"] == "final_accuracy"].set_index("reference")
    cols = ["mean_diff", "ci_low", "ci_high", "ci_level", "p", "p_perm", "p_holm", "verdict"]
    assert acc.loc[f"fixed-final:{X}", cols].tolist() == acc.loc[f"reset:{X}", cols].tolist()


def test_verdicts(comparisons):
    verdict = {(r.reference, r.metric): r.verdict for r in comparisons.itertuples(index=False)}
    # +3 points on 5 seeds (t p = 0.013, Holm 0.026): below Holm's threshold, but its simultaneous
    # interval at 1 - 0.05/4 still reaches 0, so it is not a win
    assert verdict[(f"fixed-final:{X}", "final_accuracy")] == "no detectable difference"
    assert _row(comparisons, f"fixed-final:{X}", "final_accuracy").p_holm < 0.05
    assert verdict[(f"fixed-max:{X}", "final_accuracy")] == "no detectable difference"
    assert verdict[("naive", "final_accuracy")] == "loss"
    assert verdict[("frozen-backbone", "final_accuracy")] == "win"
    assert verdict[("naive", "forgetting")] == "less forgetting"
    assert_verdicts_match_intervals(comparisons)


def assert_verdicts_match_intervals(comparisons):
    """In every row, the interval excludes 0 exactly when the verdict says win or loss."""
    decided = {"win", "loss", "less forgetting", "more forgetting"}
    for row in comparisons.itertuples(index=False):
        excludes = row.ci_low > 0 or row.ci_high < 0
        if row.verdict in ("too few seeds",):
            continue
        assert (row.verdict in decided) == excludes, row


def test_committed_verdicts_match_their_intervals():
    from pathlib import Path

    root = Path(__file__).resolve().parents[1] / "results" / "reference"
    for path in sorted(root.glob("**/comparisons.csv")):
        frame = pd.read_csv(path)
        if "p_perm" not in frame.columns:
            continue  # written before simultaneous intervals (kept as history; `isocl plot` rewrites it)
        assert_verdicts_match_intervals(frame)


def test_frontier_table_by_hand():
    rows = []
    for name, family_acc, params in (("replay@w16", 0.40, 49_000), ("replay@w64", 0.50, 200_000),
                                     ("replay", 0.55, 855_000), ("lwf@w16", 0.41, 49_000),
                                     ("lwf", 0.30, 855_000), ("cumulative", 0.90, 49_000)):
        rows += _rows(name, family_acc + BASE - 0.5 + np.array([0, 0.001, -0.001, 0.002, 0.0]) * (name == "lwf@w16"),
                      np.full(5, 0.1), params)
    rows += _rows(f"diag-only:{X}", BASE, np.full(5, 0.1), 10_000)  # controls are not frontier points
    rows += _rows(f"fixed-final:{X}", BASE - 0.2, np.full(5, 0.1), 10_000)  # a twin is naive at those widths
    table = statistics.frontier_table(pd.DataFrame(rows), budgets=(50_000, 300_000, 1_000_000))
    final = table[table["axis"] == "params"]
    at = {b: final[final["budget"] == b].set_index("strategy") for b in (50_000, 300_000, 1_000_000)}
    # 50k: lwf@w16 (0.41 + tiny jitter) beats replay@w16 (0.40) by 1 point on every seed but its jitter
    assert at[50_000].at["lwf@w16", "status"] == "best"
    assert at[50_000].at["replay@w16", "status"] == "below best"
    # 300k: replay's best point within the budget is @w64; lwf's is @w16 (lwf itself is too large)
    assert set(at[300_000].index) == {"replay@w64", "lwf@w16", f"fixed-final:{X}"} and at[300_000].at["replay@w64", "status"] == "best"
    assert at[1_000_000].at["lwf@w16", "family"] == "lwf"  # lwf@w16 (0.41) still beats lwf (0.30)
    assert "cumulative" not in table["strategy"].tolist() and f"diag-only:{X}" not in table["strategy"].tolist()
    assert set(at[50_000].index) == {"lwf@w16", "replay@w16", f"fixed-final:{X}"}
    assert at[50_000].at[f"fixed-final:{X}", "family"] == "naive"  # the twin runs naive
    m = table[(table["axis"] == "params") & table["p"].notna()].shape[0]
    levels = table.loc[table["axis"] == "params", "ci_level"].dropna().tolist()
    assert m >= 3 and levels == pytest.approx([1 - 0.05 / m] * len(levels))  # constant differences have no test
    assert set(table["axis"]) == {"params", "max_params"}
    # the report's reading of it: one row per budget, best / tied / below by accuracy
    from isocl.analysis.tables import frontier_summary
    shown = frontier_summary(table, "params").set_index("budget (final parameters)")
    assert list(shown.index) == ["≤ 50k", "≤ 300k", "≤ 1.0M"]
    assert shown.at["≤ 50k", "best"] == "lwf@w16 41.0% (49k)"
    assert shown.at["≤ 50k", "below best"].startswith("replay@w16 40.0% (49k)")
    assert shown.at["≤ 300k", "best"].startswith("replay@w64 50.0% (200k)")


def test_degenerate_cases(comparisons):
    few = _row(comparisons, f"diag-only:{X}", "final_accuracy")
    assert (few.n_seeds, few.verdict) == (1, "too few seeds")
    assert math.isnan(few.p) and math.isnan(few.ci_low)
    same = _row(comparisons, f"fixed-final:{X}", "forgetting")  # both forget exactly 0.10 on every seed
    assert (same.mean_diff, same.ci_low, same.ci_high, same.verdict) == (0.0, 0.0, 0.0, "identical")
    assert math.isnan(same.p) and math.isnan(same.p_holm) and same.note == "constant difference"
    const = _row(comparisons, f"fixed-max:{X}", "forgetting")  # 2 points less forgetting on every seed
    assert const.mean_diff == pytest.approx(-0.02, abs=1e-12) and const.ci_low == const.ci_high == const.mean_diff
    assert (const.verdict, const.note) == ("less forgetting", "constant difference") and math.isnan(const.p)


def test_best_baseline_selection():
    means = pd.DataFrame({"final_accuracy": [0.5, 0.6, 0.9, 0.95, 0.4, 0.99],
                          "params": [1000, 900, 2000, 500, 950, 100]},
                         index=[X, "naive", "replay", "cumulative", "ewc", "frozen-backbone"])
    assert statistics.best_baseline(X, means, [X]) == "naive"  # replay is larger, cumulative an upper bound
    assert statistics.best_baseline(X, means.drop(index="naive"), [X]) == "ewc"
    assert statistics.best_baseline(X, means.loc[[X, "replay", "cumulative"]], [X]) is None
    assert statistics.best_baseline(X, means, [X, "naive"]) == "ewc"  # neuroplastic ones are not baselines


def test_neuroplastic_by_registry_or_companion():
    names = [X, "naive", "fixed-final:naive", "my-plugin", "fixed-max:my-plugin", "other-plugin", "reset:x:y"]
    # registered: by its flag (naive has none, even with a companion-like name present);
    # unknown plug-ins: by having a companion in the results
    assert statistics.neuroplastic_strategies(names) == ["my-plugin", X]


def test_paired_difference_checks_lengths():
    with pytest.raises(ValueError, match="3 values against 2"):
        statistics.paired_difference([1, 2, 3], [1, 2])


def test_missing_column_is_a_clear_error():
    with pytest.raises(ValueError, match="missing column\\(s\\) forgetting"):
        statistics.compare_strategies(summary().drop(columns="forgetting"))


def test_report_writes_comparisons_and_forest_plot(tmp_path):
    res = tmp_path / "res"
    res.mkdir()
    (res / "config.toml").write_text('name = "paired"\n')
    summary().to_csv(res / "summary.csv", index=False)
    rep = build_report([res])
    csv = pd.read_csv(res / "comparisons.csv")
    assert rep.comparisons == res / "comparisons.csv"
    assert list(csv.columns) == statistics.COLUMNS and len(csv) == 10
    png = res / "figures" / "comparisons.png"
    assert png in rep.figures and png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 10_000
    md = rep.markdown.read_text()
    section = md[md.index("## Verdict"):md.index("## Failed units")]
    assert "| strategy | reference | relation | metric | n seeds | mean diff (points) |" in section
    assert f"| {X} | fixed-final:{X} | fixed-final | final accuracy | 5 | +3.0 |" in section
    assert "Higher final accuracy (the simultaneous interval excludes 0)" in section
    assert "Too few paired seeds" in section and "picked on test means" in section
    assert '<section id="verdict"><h2>Verdict</h2>' in rep.html.read_text()


def test_forest_axis_ignores_two_seed_intervals():
    """A 2-seed interval (t with 1 dof) is cut at the frame instead of squashing the rest."""
    import pandas as pd

    from isocl.analysis.plots.comparisons import _axis_limits

    rows = pd.DataFrame({
        "n_seeds": [5, 5, 2],
        "mean_diff": [0.02, -0.01, 0.01],
        "ci_low": [-0.01, -0.04, -0.50],
        "ci_high": [0.05, 0.02, 0.52],
    })
    lo, hi = _axis_limits(rows)
    assert (round(lo, 6), round(hi, 6)) == (-5.08, 6.08)  # -4..5 points, padded by 12% of 9
    lo_all, hi_all = _axis_limits(rows.assign(n_seeds=5))
    assert lo_all < -50 and hi_all > 52


def test_backbone_matched_baseline_and_labelled_crossing_and_best_replay():
    plastic = "neuro-grow-prune-replay"  # isotropic, with a 500-image buffer
    rows = _rows(plastic, BASE, np.full(5, 0.1), 1000)
    rows += _rows("naive", BASE - 0.05, np.full(5, 0.3), 900)  # isotropic
    rows += _rows("naive-relu", BASE + 0.02, np.full(5, 0.3), 900)  # better, but on the ReLU MLP
    rows += _rows("der@w64", BASE - 0.01, np.full(5, 0.2), 800)  # the best replay-family baseline
    rows += _rows("lwf", BASE - 0.001, np.full(5, 0.2), 900)  # the best isotropic baseline overall
    comp = statistics.compare_strategies(pd.DataFrame(rows))
    acc = comp[comp["metric"] == "final_accuracy"].set_index("relation")
    assert acc.at["best-baseline", "reference"] == "lwf"
    assert acc.at["best-baseline", "same_backbone"] and "crosses" not in acc.at["best-baseline", "note"]
    assert acc.at["best-baseline-any", "reference"] == "naive-relu"
    assert (acc.at["best-baseline-any", "backbone_strategy"], acc.at["best-baseline-any", "backbone_reference"]) \
        == ("isotropic", "relu")
    assert not acc.at["best-baseline-any", "same_backbone"] and "crosses backbones" in acc.at["best-baseline-any", "note"]
    assert acc.at["best-replay", "reference"] == "der@w64"
    # the report's table says "crosses backbones" once, on the crossing row only
    from isocl.analysis.tables import comparisons_table
    shown = comparisons_table(comp).set_index(["relation", "metric"])["verdict"]
    assert shown[("best-baseline-any", "final accuracy")].count("crosses backbones") == 1
    assert "crosses" not in shown[("best-baseline", "final accuracy")]
    legacy = comparisons_table(comp.assign(note="")).set_index(["relation", "metric"])["verdict"]
    assert legacy[("best-baseline-any", "final accuracy")].endswith("[crosses backbones]")  # folders without the note
    assert statistics.backbone_of("fixed-final:neuro-grow") == "isotropic"  # a twin runs naive on the isotropic MLP
    assert statistics.backbone_of("naive-tanh") == "tanh" and statistics.replay_family("der@w16")
    # on a ResNet benchmark the strategies that train the benchmark's network run that ResNet,
    # the ones with their own backbone keep it
    assert statistics.backbone_of("replay", "slim_resnet18") == "slim_resnet18"
    assert statistics.backbone_of("fixed-final:neuro-grow", "resnet18") == "resnet18"
    assert statistics.backbone_of("naive-relu", "resnet18") == "relu"
    assert statistics.backbone_of("replay", "cnn") == "isotropic"
    resnet = statistics.compare_strategies(pd.DataFrame(rows), "slim_resnet18")
    assert set(resnet["backbone_reference"]) >= {"slim_resnet18"}
    assert not statistics.replay_family("lwf")


def test_peak_params_are_at_least_the_fixed_max_twins():
    """A run that counted parameters only after each experience recorded X's final size as its peak; its
    fixed-max twin (the network at X's peak widths) raises it, and the peak frontier then places X there."""
    from isocl.analysis.reading import peak_params_floor

    rows = _rows(X, BASE, np.zeros(5), 100_000)  # max_params = final params: the old runs' count
    rows += _rows(f"fixed-max:{X}", BASE - 0.1, np.zeros(5), 850_000)
    rows += _rows(f"fixed-final:{X}", BASE - 0.1, np.zeros(5), 100_000)
    rows += _rows("naive", BASE - 0.02, np.zeros(5), 400_000)
    new = _rows("neuro-prune", BASE, np.zeros(5), 50_000)
    for r in new:
        r["max_params"] = 849_000  # counted while training; the twin differs by its head only
    rows += new + _rows("fixed-max:neuro-prune", BASE - 0.1, np.zeros(5), 850_000)
    summary = pd.DataFrame(rows)
    floored, raised = peak_params_floor(summary)
    peak = floored.groupby("strategy")["max_params"].mean()
    assert peak[X] == 850_000 and peak["neuro-prune"] == 850_000 and peak["naive"] == 400_000
    assert raised == [f"{X} seed {s}" for s in SEEDS]  # the 0.1% head difference is not named
    assert (floored["params"] == summary["params"]).all()  # final sizes untouched
    frontier = statistics.frontier_table(floored)
    at_500k = frontier[(frontier["axis"] == "max_params") & (frontier["budget"] == 500_000)]
    assert X not in set(at_500k["strategy"])  # 100k at the end, but 850k at its peak
    assert X in set(frontier[(frontier["axis"] == "params") & (frontier["budget"] == 500_000)]["strategy"])
