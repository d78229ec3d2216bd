"""Figures (isocl.analysis.plots) and the comparison report (isocl.analysis.report).

The results directories are synthetic, generated into tmp paths by
tests/fixtures/make_results.py.
"""

from __future__ import annotations

import base64
import importlib.util
import re
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from isocl.analysis import plots
from isocl.analysis.report import NotAResultsDir, ReportResult, build_report

_spec = importlib.util.spec_from_file_location(
    "isocl_test_make_results", Path(__file__).parent / "fixtures" / "make_results.py"
)
make_results_mod = importlib.util.module_from_spec(_spec)
sys.modules[_spec.name] = make_results_mod
_spec.loader.exec_module(make_results_mod)
make_results = make_results_mod.make_results
make_study = make_results_mod.make_study

# every registered figure but the forest plot of the paired comparisons (one results folder only)
CORE_STEMS = [s.stem for s in plots.ordered_figures() if "comparisons" not in s.needs]


def _png_size(path: Path) -> tuple[int, int]:
    with Image.open(path) as im:
        assert im.format == "PNG"
        return im.size


def _read(results: Path) -> dict[str, pd.DataFrame]:
    text = {
        "strategy": str,
        "status": str,
        "widths": str,
        "error": str,
        "sigmas": str,
        "removed_sigmas": str,
    }
    out = {}
    for name in ("summary", "metrics", "experiences", "structure"):
        df = pd.read_csv(results / f"{name}.csv")
        out[name] = pd.read_csv(
            results / f"{name}.csv",
            dtype={c: t for c, t in text.items() if c in df.columns},
        )
    return out


# --------------------------------------------------------------------------
# fixtures
# --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def results_dir(tmp_path_factory) -> Path:
    return make_results(tmp_path_factory.mktemp("run") / "results", study="journal")


@pytest.fixture(scope="module")
def report(results_dir) -> ReportResult:
    return build_report([results_dir])


@pytest.fixture(scope="module")
def frames(results_dir):
    return _read(results_dir)


# --------------------------------------------------------------------------
# helpers and palette
# --------------------------------------------------------------------------


def test_palette_is_stable_and_twins_share_hue():
    names = [
        "naive",
        "ewc",
        "neuro-grow-prune",
        "fixed-final:neuro-grow-prune",
        "fixed-max:neuro-grow-prune",
        "replay",
    ]
    pal = plots.strategy_palette(names)
    assert pal == plots.strategy_palette(list(reversed(names)))
    # family by family: the baselines, then each family with the strategy before its companions
    assert list(pal) == ["ewc", "naive", "replay", "neuro-grow-prune", "fixed-final:neuro-grow-prune",
                         "fixed-max:neuro-grow-prune"]
    bases = ["ewc", "naive", "neuro-grow-prune", "replay"]
    assert len({pal[b] for b in bases}) == len(bases)
    import colorsys

    from matplotlib.colors import to_rgb

    def hue(colour):
        return colorsys.rgb_to_hls(*to_rgb(colour))

    h, l_base, _ = hue(pal["neuro-grow-prune"])
    h_final, l_final, _ = hue(pal["fixed-final:neuro-grow-prune"])
    h_max, l_max, _ = hue(pal["fixed-max:neuro-grow-prune"])
    assert abs(h - h_final) < 0.02 and abs(h - h_max) < 0.02
    assert l_final > l_base > l_max
    for kind, look in plots.KIND_LOOK.items():  # one line style and marker per companion kind
        name = f"{kind}:neuro-grow-prune" if kind else "neuro-grow-prune"
        assert (plots.strategy_linestyle(name), plots.strategy_marker(name)) == (look.linestyle, look.marker)
    assert len({str(v.linestyle) for v in plots.KIND_LOOK.values()}) == len({v.marker for v in plots.KIND_LOOK.values()}) == 5
    # many baselines: colours repeat every 9, markers tell them apart
    many = plots.strategy_palette([f"s{i}" for i in range(14)])
    assert len({(c, plots.strategy_marker(s, many)) for s, c in many.items()}) == 14
    # directory prefixes keep the family together
    assert plots.base_strategy("run-a/fixed-max:neuro") == "run-a/neuro"


def test_helpers():
    assert plots.parse_widths("256-128") == [256, 128]
    assert plots.parse_widths(float("nan")) == []
    np.testing.assert_allclose(plots.parse_list("3;2.5;1e-3"), [3, 2.5, 1e-3])
    assert plots.parse_list("").size == 0
    np.testing.assert_allclose(
        plots.spectrum_after([5, 4, 3, 0.1, 0.01], [0.01, 0.1]), [5, 4, 3]
    )
    np.testing.assert_allclose(plots.spectrum_after([2, 1, 1], [1]), [2, 1])
    # minimise x, maximise y: (1, 50) and (3, 70) and (10, 80) are the frontier
    front = plots.pareto_frontier([1, 2, 3, 10, 12], [50, 40, 70, 80, 75])
    assert front == [0, 2, 3]
    exps = pd.DataFrame(
        {
            "strategy": ["a", "a", "b", "b", "neuro-x", "neuro-x"],
            "seed": [0] * 6,
            "experience": [0, 1] * 3,
            "params": [10, 10, 5, 7, 3, 3],
        }
    )
    assert plots.dynamic_strategies(exps) == ["b", "neuro-x"]


# --------------------------------------------------------------------------
# every figure renders at the requested pixel size
# --------------------------------------------------------------------------


FRAME_FIGURES = [
    (plots.plot_accuracy_matrices, "metrics"),
    (plots.plot_average_accuracy, "experiences"),
    (plots.plot_final_accuracy_forgetting, "summary"),
    (plots.plot_width_and_params, "experiences"),
    (plots.plot_spectra, "structure"),
    (plots.plot_accuracy_vs_params, "summary"),
]


@pytest.mark.parametrize(
    "func,frame", FRAME_FIGURES, ids=[f.__name__ for f, _ in FRAME_FIGURES]
)
def test_figure_renders_at_size(func, frame, frames, tmp_path):
    palette = plots.strategy_palette(frames["summary"]["strategy"])
    out = func(frames[frame], palette, tmp_path / "fig.png", figsize=(6.0, 4.0), dpi=40)
    assert out == tmp_path / "fig.png"
    assert out.stat().st_size > 1000
    assert _png_size(out) == (240, 160)


def test_optuna_figures_render_from_sqlite(tmp_path):
    from isocl.analysis.reading import load_studies

    make_study(tmp_path / "study", kind="sqlite", n_trials=4)
    warn = []
    studies = {s.study_name: s for s in load_studies(tmp_path / "study", warn)}
    assert warn == [] and set(studies) == {"neuro-lr", "neuro-size"}
    single, multi = studies["neuro-lr"], studies["neuro-size"]
    for func, study in (
        (plots.plot_optuna_history, single),
        (plots.plot_optuna_importances, single),
        (plots.plot_optuna_pareto, multi),
    ):
        out = func(study, tmp_path / f"{func.__name__}.png", figsize=(5.0, 4.0), dpi=40)
        assert _png_size(out) == (200, 160)
    with pytest.raises(plots.NothingToPlot):
        plots.plot_optuna_pareto(single, tmp_path / "x.png")


def test_study_in_both_storages_is_taken_from_the_journal(tmp_path):
    from isocl.analysis.reading import load_studies

    make_study(tmp_path / "study", kind="sqlite", n_trials=3)
    make_study(tmp_path / "study", kind="journal", n_trials=2)
    warn = []
    studies = load_studies(tmp_path / "study", warn)
    assert sorted(s.study_name for s in studies) == ["neuro-lr", "neuro-size"]
    assert all(len(s.trials) == 2 for s in studies)
    assert sum("using journal.log" in w for w in warn) == 2


def test_empty_frames_raise_nothing_to_plot(tmp_path):
    empty = pd.DataFrame(columns=["strategy", "seed", "experience", "params", "widths"])
    with pytest.raises(plots.NothingToPlot):
        plots.plot_width_and_params(empty, {}, tmp_path / "x.png")
    fixed = pd.DataFrame(
        {
            "strategy": ["naive"] * 2,
            "seed": [0, 0],
            "experience": [0, 1],
            "params": [100, 100],
            "widths": ["8-8", "8-8"],
        }
    )
    with pytest.raises(plots.NothingToPlot, match="no dynamic strategy"):
        plots.plot_width_and_params(fixed, {}, tmp_path / "x.png")
    assert not (tmp_path / "x.png").exists()


# --------------------------------------------------------------------------
# the report of one directory
# --------------------------------------------------------------------------


def test_report_writes_every_figure(report, results_dir):
    assert report.out_dir == results_dir
    assert report.markdown == results_dir / "report.md"
    assert report.html == results_dir / "report.html"
    names = [p.name for p in report.figures]
    for stem in CORE_STEMS:
        assert f"{stem}.png" in names
    optuna_names = {n for n in names if n.startswith("optuna-")}
    assert optuna_names == {
        "optuna-neuro-lr-history.png",
        "optuna-neuro-lr-importances.png",
        "optuna-neuro-size-history-0.png",
        "optuna-neuro-size-history-1.png",
        "optuna-neuro-size-importances.png",
        "optuna-neuro-size-pareto.png",
    }
    for p in report.figures:
        assert p.parent == results_dir / "figures"
        assert p.is_file() and p.stat().st_size > 5000
        w, h = _png_size(p)
        assert w >= 400 and h >= 250
    assert "comparisons.png" in names  # one folder: the forest plot too
    # figures come out at their figure's size times the dpi (sizes grow with the facets)
    frames = _read(results_dir)
    palette = plots.strategy_palette(frames["summary"]["strategy"])
    fig = plots.draw_accuracy_vs_params(frames["summary"], palette)
    assert _png_size(results_dir / "figures" / "accuracy-vs-params.png") == (
        round(fig.get_figwidth() * plots.DPI), round(fig.get_figheight() * plots.DPI))


def test_report_markdown(report):
    md = report.markdown.read_text()
    assert md.startswith("# isocl report: split-cifar10-small")
    for p in report.figures:
        assert f"](figures/{p.name})" in md
    assert md.count("*Figure ") == len(report.figures)
    header = (
        "| strategy | n seeds | final accuracy (%) | avg incremental accuracy (%) | "
        "forgetting (%) | BWT (%) | params | max params | failed |"
    )
    assert header in md
    rows = {
        line.split(" | ")[0][2:]: line
        for line in md.splitlines()
        if line.startswith("| ") and " ± " in line
    }
    assert set(rows) == {
        "ewc",
        "naive",
        "neuro-grow-prune",
        "fixed-final:neuro-grow-prune",
    }
    # the neuroplastic strategy wins final accuracy in the fixture, bold, in %
    cell = rows["neuro-grow-prune"].split(" | ")[2]
    assert re.fullmatch(r"\*\*\d\d\.\d ± \d\.\d\*\*", cell)
    assert rows["ewc"].split(" | ")[1] == "2"  # one failed seed
    assert "## Failed units" in md and "CUDA out of memory" in md
    assert "&lt;torch.cuda.OutOfMemoryError&gt;" in md and "\\|" in md
    assert "```toml" in md and 'dataset = "split-cifar10"' in md
    assert "## Warnings" in md and "ewc seed 2 failed" in md
    assert "## Environment" in md and "0123456789abcdef" in md


def test_report_html_is_self_contained(report):
    page = report.html.read_text()
    assert page.startswith("<!DOCTYPE html>")
    uris = re.findall(r'<img src="data:image/png;base64,([A-Za-z0-9+/=]+)"', page)
    assert len(uris) == len(report.figures)
    assert base64.b64decode(uris[0])[:8] == b"\x89PNG\r\n\x1a\n"
    for p in report.figures:
        assert f"figures/{p.name}" in page
    assert "<strong>" in page and "<th>final accuracy (%)</th>" in page
    # user text is escaped
    assert "&lt;torch.cuda.OutOfMemoryError&gt; &amp; &#x27;ewc&#x27;" in page
    assert "<torch." not in page
    assert "&lt;small&gt; &amp; fast" in page  # from config.toml
    assert "<h2>Warnings</h2>" in page and "<h3>Environment</h3>" in page
    # the verdict first, the settings last
    assert page.index('id="verdict"') < page.index('id="results"') < page.index('id="figures"') < page.index('id="settings"')


def test_report_warnings(report):
    assert any("ewc seed 2 failed" in w for w in report.warnings)
    assert not any("spectra" in w for w in report.warnings)


# --------------------------------------------------------------------------
# robustness
# --------------------------------------------------------------------------


def test_missing_structure_skips_spectra(tmp_path):
    res = make_results(
        tmp_path / "nostruct",
        structure=False,
        study=None,
        seeds=(0, 1),
        strategies=("naive", "neuro-grow-prune"),
        failed=False,
    )
    (res / "figures").mkdir()
    (res / "figures" / "spectra.png").write_bytes(b"stale")  # from an earlier report
    rep = build_report([res])
    names = [p.name for p in rep.figures]
    assert "spectra.png" not in names
    assert not (res / "figures" / "spectra.png").exists()
    assert set(CORE_STEMS) - {"spectra"} <= {n[:-4] for n in names}
    assert any("structure.csv" in w and "spectra" in w for w in rep.warnings)
    md = rep.markdown.read_text()
    assert "structure.csv" in md and "spectra.png" not in md


def test_minimal_directory_and_empty_study(tmp_path):
    """Only summary.csv + config.toml, every unit failed, a study without a
    completed trial, pdf figures: warnings, no crash."""
    res = tmp_path / "minimal"
    res.mkdir()
    (res / "config.toml").write_text('name = "tiny"\n')
    pd.DataFrame(
        {
            "strategy": ["naive", "neuro-x"],
            "seed": [0, 0],
            "status": ["failed", "failed"],
            "final_accuracy": [None, None],
            "error": ["boom", "Traceback:\n  line 1\nValueError: <bad>"],
        }
    ).to_csv(res / "summary.csv", index=False)
    make_study(res / "study", kind="empty")
    rep = build_report([res], out=tmp_path / "out", fmt="pdf")
    assert rep.out_dir == tmp_path / "out"
    assert rep.figures == []
    text = " ".join(rep.warnings)
    assert "no completed trial" in text
    assert "no metrics.csv" in text and "no manifest.json" in text
    assert "neuro-x: no successful unit" in text
    md = rep.markdown.read_text()
    assert "ValueError: &lt;bad&gt;" in md
    page = rep.html.read_text()
    assert "ValueError: &lt;bad&gt;" in page and "No figure could be drawn" in page


def test_summary_only_and_pdf_links(tmp_path):
    res = tmp_path / "j"
    res.mkdir()
    (res / "config.toml").write_text('name = "tiny"\n')
    pd.DataFrame(
        {
            "strategy": ["naive", "ewc"],
            "seed": [0, 0],
            "status": ["ok", "ok"],
            "final_accuracy": [0.5, 0.6],
            "forgetting": [0.2, 0.1],
            "params": [1000, 1000],
        }
    ).to_csv(res / "summary.csv", index=False)
    rep = build_report([res], fmt="pdf")
    assert {p.name for p in rep.figures} == {
        "final-accuracy-forgetting.pdf",
        "accuracy-vs-params.pdf",
        "frontier-final-params.pdf",  # no max_params column: the peak frontier is skipped with a warning
    }
    assert any("frontier-peak-params skipped" in w for w in rep.warnings)
    for p in rep.figures:
        assert p.read_bytes()[:5] == b"%PDF-"
    page = rep.html.read_text()
    assert 'href="figures/accuracy-vs-params.pdf"' in page
    assert "data:image" not in page
    assert any("no metrics.csv" in w for w in rep.warnings)


def test_not_a_results_dir(tmp_path):
    with pytest.raises(NotAResultsDir) as err:
        build_report([tmp_path])
    assert str(err.value) == (
        f"{tmp_path}: not an isocl results directory (missing "
        "summary.csv); expected the --out folder of `isocl run`"
    )
    assert isinstance(err.value, ValueError)
    (tmp_path / "summary.csv").write_text("strategy,seed,status\n")
    with pytest.raises(NotAResultsDir, match="missing config.toml"):
        build_report([tmp_path])


def test_bad_format(tmp_path):
    with pytest.raises(ValueError, match="'jpg'"):
        build_report([tmp_path], fmt="jpg")


def test_two_directories_compare(tmp_path):
    a = make_results(
        tmp_path / "a" / "results",
        study=None,
        seeds=(0, 1),
        strategies=("ewc", "neuro-grow-prune", "fixed-final:neuro-grow-prune"),
    )
    # a shorter stream in the second directory
    b = make_results(
        tmp_path / "b" / "results",
        study=None,
        name="other-bench",
        strategies=("replay", "neuro-grow-prune"),
        seeds=(0, 1),
        n_exp=3,
        failed=False,
        rng_seed=3,
    )
    rep = build_report([a, b], fmt="svg")
    assert rep.out_dir == tmp_path / "a" / "comparison"
    assert rep.markdown == rep.out_dir / "report.md"
    assert {p.name for p in rep.figures} == {f"{s}.svg" for s in CORE_STEMS}
    md = rep.markdown.read_text()
    assert "split-cifar10-small" in md and "other-bench" in md
    # colliding names are prefixed, twins follow their strategy, unique ones are not
    for name in (
        "a/results/neuro-grow-prune",
        "b/results/neuro-grow-prune",
        "a/results/fixed-final:neuro-grow-prune",
    ):
        assert f"| {name} |" in md
    assert "| ewc | a/results |" in md and "| replay | b/results |" in md
    page = rep.html.read_text()
    assert page.count('src="data:image/svg+xml;base64,') == len(CORE_STEMS)


# --------------------------------------------------------------------------
# 40 strategies: read from matplotlib's artists, not pixels
# --------------------------------------------------------------------------

BASELINE_NAMES = ("naive", "ewc", "si", "lwf", "agem", "replay", "cumulative", "naive-tanh", "gem")
NEURO_FAMILIES = ("neuro-grow", "neuro-prune", "neuro-grow-prune", "neuro-grow-prune-consolidate",
                  "neuro-grow-prune-replay")


def forty_strategies() -> list[str]:
    """9 baselines, 5 neuroplastic strategies with their 4 companions each, and a 3-point frontier
    family with the fixed-final twin of each point: 40 units."""
    names = list(BASELINE_NAMES)
    for fam in NEURO_FAMILIES:
        names += [fam] + [f"{k}:{fam}" for k in plots.COMPANION_PREFIXES]
    points = ("w32", "w64", "w128")
    names += [f"packnet@{p}" for p in points] + [f"fixed-final:packnet@{p}" for p in points]
    assert len(names) == 40
    return names


@pytest.fixture(scope="module")
def forty():
    """summary and experiences frames of 40 strategies x 3 seeds; twins and controls sit on their
    strategy's parameter count (coinciding points), the baselines share one size."""
    rng = np.random.default_rng(0)
    rows, exps = [], []
    for i, s in enumerate(forty_strategies()):
        u = plots.style.unit_of(s)
        base = 855_318 if u.point is None else {"w32": 60_000, "w64": 180_000, "w128": 600_000}[u.point]
        if u.strategy.startswith("neuro"):
            base = 700_000 + 150_000 * NEURO_FAMILIES.index(u.strategy)
        for seed in range(3):
            acc = 0.15 + 0.01 * (i % 7) + rng.normal(0, 0.01)
            params = base if u.prefix in (None, "fixed-final", "diag-only") else int(base * 1.4)
            rows.append(dict(strategy=s, seed=seed, status="ok", final_accuracy=acc, forgetting=0.8 - acc,
                             params=params, max_params=int(params * 1.2), avg_incremental_accuracy=acc + 0.1))
            for e in range(5):
                dyn = u.strategy.startswith("neuro") and u.prefix in (None, "reset")
                w = 256 + (16 * e if dyn else 0)
                exps.append(dict(strategy=s, seed=seed, experience=e, avg_accuracy=acc + 0.1 * (4 - e) / 4,
                                 params=params + (10_000 * e if dyn else 0), widths=f"{w}-{w}"))
    return pd.DataFrame(rows), pd.DataFrame(exps)


def _styles(fig) -> dict[str, set]:
    """strategy -> {(colour, marker)} of the artists tagged with its name (gid)."""
    from matplotlib.colors import to_hex

    out: dict[str, set] = {}
    for ax in fig.axes:
        for line in ax.get_lines():
            gid, marker = line.get_gid(), line.get_marker()
            if gid and marker not in (None, "None", "", " "):
                out.setdefault(gid, set()).add((to_hex(line.get_color()), str(marker)))
    return out


# every registered figure that shows strategies from the summary and the per-experience rows
FORTY_FIGURES = {s.stem: s for s in plots.ordered_figures() if set(s.needs) <= {"summary", "experiences"}}


@pytest.mark.parametrize("stem", sorted(FORTY_FIGURES))
def test_forty_strategies_stay_readable(stem, forty):
    summary, experiences = forty
    palette = plots.strategy_palette(summary["strategy"])
    fig = FORTY_FIGURES[stem].draw(plots.FigureInputs(summary=summary, experiences=experiences, palette=palette))
    plots.style.thin_tick_labels(fig)  # what saving does
    fig.draw_without_rendering()
    renderer = fig.canvas.get_renderer()
    box = fig.bbox
    legends = list(fig.legends) + [ax.get_legend() for ax in fig.axes if ax.get_legend() is not None]
    assert legends
    for leg in legends:  # no legend past the figure
        ext = leg.get_window_extent(renderer)
        assert ext.x0 >= box.x0 - 1 and ext.y0 >= box.y0 - 1 and ext.x1 <= box.x1 + 1 and ext.y1 <= box.y1 + 1, (
            f"{stem}: legend {ext} outside the figure {box}")
    labels = [t for t in [fig._supxlabel, fig._supylabel, *[ax.xaxis.label for ax in fig.axes],
                          *[ax.yaxis.label for ax in fig.axes]] if t is not None and t.get_text() and t.get_visible()]
    for leg in legends:  # nor over an axis label
        for t in labels:
            assert not leg.get_window_extent(renderer).overlaps(t.get_window_extent(renderer)), (
                f"{stem}: a legend covers the label {t.get_text()!r}")
    titles = [t for t in [fig._suptitle, *[ax.title for ax in fig.axes]] if t is not None and t.get_text()]
    for t in titles:  # nor a title
        ext = t.get_window_extent(renderer)
        assert ext.x0 >= box.x0 - 1 and ext.x1 <= box.x1 + 1, f"{stem}: title {t.get_text()!r} cut off"
    styles = _styles(fig)
    assert len(styles) >= 6
    for name, looks in styles.items():  # one look per strategy ...
        assert len(looks) == 1, f"{stem}: {name} drawn as {looks}"
    owners: dict = {}
    for name, looks in styles.items():  # ... and no look shared by two strategies
        owners.setdefault(next(iter(looks)), []).append(name)
    shared = {k: v for k, v in owners.items() if len(v) > 1}
    assert not shared, f"{stem}: strategies sharing colour and marker: {shared}"
    for ax in fig.axes:  # no tick labels overlap
        if ax.get_visible():
            for axis in (ax.xaxis, ax.yaxis):
                assert not plots.tick_labels_overlap(axis, renderer), f"{stem}: {axis.axis_name} tick labels overlap"


def test_forty_strategies_have_forty_looks(forty):
    """The palette itself: every one of the 40 names gets its own (colour, marker)."""
    palette = plots.strategy_palette(forty[0]["strategy"])
    looks = {(c, plots.strategy_marker(s, palette)) for s, c in palette.items()}
    assert len(palette) == len(looks) == 40


def test_the_checks_can_fail(forty):
    """A legend pushed off the figure and two strategies drawn alike are caught by the same reads."""
    from matplotlib.lines import Line2D

    fig = plots.style.new_figure((4, 3), 60)
    ax = fig.subplots()
    ax.plot([1], [1], "o", color="red", gid="a")
    ax.plot([2], [2], "o", color="red", gid="b")
    leg = ax.legend([Line2D([], [])], ["x"], loc="upper left", bbox_to_anchor=(1.5, 1.0))
    fig.draw_without_rendering()
    styles = _styles(fig)
    assert styles["a"] == styles["b"]
    assert leg.get_window_extent(fig.canvas.get_renderer()).x1 > fig.bbox.x1


def test_accuracy_matrix_cells_are_the_seed_means_and_unevaluated_cells_stay_blank():
    """Each panel annotates the mean accuracy (%) over seeds of every evaluated (trained, eval) cell, in light
    text on dark cells and dark text on light ones; a cell never evaluated (the future experiences) is blank."""
    rows = []
    for seed, (a, b) in enumerate([(0.90, 0.10), (0.70, 0.30)]):  # means: 80 on the diagonal cells, 20 off it
        rows += [
            {"strategy": "s", "seed": seed, "trained_exp": 0, "eval_exp": 0, "accuracy": a},
            {"strategy": "s", "seed": seed, "trained_exp": 1, "eval_exp": 0, "accuracy": b},
            {"strategy": "s", "seed": seed, "trained_exp": 1, "eval_exp": 1, "accuracy": a},
        ]
    fig = plots.draw_accuracy_matrices(pd.DataFrame(rows), {"s": "#000000"})
    ax = fig.axes[0]
    cells = {(round(t.get_position()[1] - 0.5), round(t.get_position()[0] - 0.5)): t for t in ax.texts}
    assert {k: t.get_text() for k, t in cells.items()} == {(0, 0): "80", (1, 0): "20", (1, 1): "80"}
    assert cells[(1, 0)].get_color() == "w" and cells[(0, 0)].get_color() == ".15"  # viridis: 20 dark, 80 light
    assert ax.get_title() == "s (2\u00a0seeds)"
    assert [t.get_text() for t in ax.get_xticklabels()] == ["0", "1"]
