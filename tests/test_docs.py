"""The documentation: the site builds in strict mode, its results pages and the README carry the
committed results' numbers (rendered by docs/hooks/isocl_docs.py, never typed), and the README is
a front door of at most 250 lines."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "docs" / "hooks"))
import isocl_docs  # noqa: E402  (the hook, importable as a module)

README_MAX_LINES = 250
CLASS_IL = REPO / "results" / "reference" / "split_cifar10_class_il_full"


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("site")
    proc = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(out)],
                          cwd=REPO, capture_output=True, text=True, env={**os.environ, "NO_MKDOCS_2_WARNING": "1"})
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return out


@pytest.mark.slow  # builds the site (about 10 s): see tox -e fast
def test_the_site_builds_in_strict_mode(site):
    assert (site / "index.html").is_file()
    assert (site / "results" / "class-il" / "index.html").is_file()


@pytest.mark.slow  # builds the site (about 10 s): see tox -e fast
def test_results_pages_carry_the_committed_numbers(site):
    """A number computed here from summary.csv and comparisons.csv appears on the rendered page."""
    summary = pd.read_csv(CLASS_IL / "summary.csv")
    naive = summary[(summary["strategy"] == "naive") & (summary["status"] == "ok")]
    expected = f"{naive['final_accuracy'].mean() * 100:.1f} ± {naive['final_accuracy'].std() * 100:.1f}"
    cmp = pd.read_csv(CLASS_IL / "comparisons.csv")
    row = cmp[(cmp["strategy"] == "neuro-grow") & (cmp["reference"] == "replay")
              & (cmp["metric"] == "final_accuracy")].iloc[0]
    diff = f"{abs(row['mean_diff']) * 100:.1f}"
    page = (site / "results" / "class-il" / "index.html").read_text(encoding="utf-8")
    assert expected in page
    assert f"{isocl_docs.MINUS if row['mean_diff'] < 0 else '+'}{diff} points" in page
    assert "{{" not in page and "{%" not in page  # every template expression was rendered
    assert (site / "results" / "split_cifar10_class_il_full" / "figures" / "comparisons.png").is_file()


@pytest.mark.slow  # builds the site (about 10 s): see tox -e fast
def test_every_module_has_an_api_page(site):
    modules = isocl_docs.modules()
    assert {"isocl.bench.runner", "isocl.nn.moves", "isocl.analysis.report", "isocl.tuning.study"} <= set(modules)
    missing = [m for m in modules if not (site / "api" / m / "index.html").is_file()]
    assert not missing
    assert "probe_logits" in (site / "api" / "isocl.nn.moves" / "index.html").read_text(encoding="utf-8")


def test_readme_is_the_front_door_rendered_from_the_results():
    text = (REPO / "README.md").read_text(encoding="utf-8")
    assert len(text.splitlines()) <= README_MAX_LINES
    assert text == isocl_docs.render_readme(), "README.md is out of date: run python docs/hooks/isocl_docs.py"
    assert "tox -e suite" in text and "\n# tests\npython -m pip install -q tox && tox\n" in text  # the two commands
    figure = text.split("![", 1)[1].split("](", 1)[1].split(")", 1)[0]
    assert (REPO / figure).is_file()


def test_a_missing_result_stops_the_rendering():
    with pytest.raises(RuntimeError, match="no results folder"):
        isocl_docs.render('{{ run("no-such-run").units }}')
    with pytest.raises(RuntimeError, match="no successful unit of 'nope'"):
        isocl_docs.render('{{ run("split_cifar10_class_il_full").mean("nope") }}')
    with pytest.raises(RuntimeError, match="no comparison naive vs replay"):
        isocl_docs.render('{{ run("split_cifar10_class_il_full").cmp("naive", "replay") }}')
    with pytest.raises(RuntimeError, match="no figure"):
        isocl_docs.render('{{ run("split_cifar10_class_il_full").figure("nope") }}')
    with pytest.raises(RuntimeError, match="undefined"):
        isocl_docs.render("{{ no_such_name }}")


@pytest.mark.parametrize("value,digits,text", [(-5.349, 1, "\u22125.3"), (2.0, 1, "+2.0"), (-0.004, 1, "0.0"),
                                               (-7.781, 2, "\u22127.78")])
def test_signed_numbers(value, digits, text):
    assert isocl_docs.signed(value, digits) == text


def test_durations():
    assert isocl_docs.duration(2124) == "35 min 24 s"
    assert isocl_docs.duration(4 * 3600 + 43 * 60) == "4 h 43 min"


def test_learning_accuracy_is_the_diagonal_of_each_seeds_matrix(tmp_path):
    """Accuracy on experience k right after training on k, averaged over k, then mean ± sd over seeds."""
    folder = tmp_path / "run"
    folder.mkdir()
    pd.DataFrame({"strategy": ["a", "a"], "seed": [0, 1], "status": ["ok", "ok"], "final_accuracy": [0.5, 0.5],
                  "forgetting": [0.1, 0.1], "params": [10, 10]}).to_csv(folder / "summary.csv", index=False)
    rows = []
    for seed, diag in ((0, (0.9, 0.5)), (1, (0.8, 0.4))):
        for t in range(2):
            for e in range(2):
                acc = diag[t] if t == e else (0.2 if e < t else None)  # off-diagonal rows must not count
                rows.append({"strategy": "a", "seed": seed, "trained_exp": t, "eval_exp": e, "accuracy": acc})
    pd.DataFrame(rows).to_csv(folder / "metrics.csv", index=False)
    run = isocl_docs.Folder("run", base=tmp_path)
    # seed 0: (90 + 50) / 2 = 70; seed 1: (80 + 40) / 2 = 60; mean 65, sd 7.07
    assert run.learning_accuracy("a") == "65.0 ± 7.1"
    assert "| a | 2 | **50.0** | 10.0 | 65.0 ± 7.1 | 10 |" in run.table(columns="seeds final forgetting learning params")


def test_an_interval_that_does_not_exist_is_not_printed_as_numbers():
    assert isocl_docs.interval({"ci_low": float("nan"), "ci_high": float("nan")}) == "[none]"
    assert isocl_docs.interval({"ci_low": -0.07, "ci_high": -0.037}) == "[\u22127.0, \u22123.7]"


def test_an_empty_comparison_table_says_why_instead_of_printing_a_bare_header(tmp_path):
    """A folder copied mid-run has no comparison yet; a verdict of ties has no win or loss to list."""
    folder = tmp_path / "run"
    folder.mkdir()
    pd.DataFrame({"strategy": ["a"], "seed": [0], "status": ["ok"]}).to_csv(folder / "summary.csv", index=False)
    columns = ["strategy", "reference", "metric", "n_seeds", "mean_diff", "ci_low", "ci_high", "verdict"]
    pd.DataFrame(columns=columns).to_csv(folder / "comparisons.csv", index=False)
    assert "No comparison yet" in isocl_docs.Folder("run", base=tmp_path).comparison_table()
    pd.DataFrame([["a", "b", "final_accuracy", 3, 0.01, -0.02, 0.04, "no detectable difference"]],
                 columns=columns).to_csv(folder / "comparisons.csv", index=False)
    run = isocl_docs.Folder("run", base=tmp_path)
    assert run.comparison_table(only_resolved=True) == "*No win or loss: every comparison is a tie.*"
    assert "| a | b | final_accuracy | 3 | +1.0 | [−2.0, +4.0] | no detectable difference |" in run.comparison_table()


def test_a_relations_reference_is_read_from_the_comparisons(tmp_path):
    """The page names the best baseline the statistics picked (the same reference on both metrics), and
    stops with the missing relation named where there is none."""
    folder = tmp_path / "run"
    folder.mkdir()
    pd.DataFrame({"strategy": ["x"], "seed": [0], "status": ["ok"]}).to_csv(folder / "summary.csv", index=False)
    columns = ["strategy", "reference", "relation", "metric"]
    pd.DataFrame([["x", "fixed-final:x", "fixed-final", "final_accuracy"],
                  ["x", "der", "best-baseline", "final_accuracy"],
                  ["x", "der", "best-baseline", "forgetting"]], columns=columns).to_csv(folder / "comparisons.csv",
                                                                                       index=False)
    run = isocl_docs.Folder("run", base=tmp_path)
    assert run.reference("x", "best-baseline") == "der"
    assert run.reference("x", "fixed-final") == "fixed-final:x"
    with pytest.raises(isocl_docs.MissingResult, match="0 best-baseline-any references of x"):
        run.reference("x", "best-baseline-any")
