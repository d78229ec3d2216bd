"""``isocl run --dry-run``: the unit list and the calibrated wall-time estimate (issue 18)."""

import tempfile
from pathlib import Path

import pytest

import isocl.bench.runner as runner
from isocl.bench import estimate
from isocl.bench.config import parse_benchmark
from isocl.bench.runner import UnitResult
from isocl.bench.scenarios import synthetic_tensors


def tiny(**top):
    return parse_benchmark({
        "name": "tiny", "strategies": ["naive", "neuro-grow"], "twins": False, "controls": False, **top,
        "scenario": {"setting": "class_il", "validation_fraction": 0.0, "train_per_class": 400,
                     "test_per_class": 80},
        "training": {"epochs": 1, "batch_size": 16, "seeds": [0, 1]},
        "model": {"widths": [8]},
    })


def test_dry_run_lists_every_unit_with_twins_and_controls():
    lines = []
    est = estimate.dry_run(tiny(twins=True, controls=True), calibrate=False, echo=lines.append)
    assert est is None
    text = "\n".join(lines)
    assert lines[0].startswith("tiny: 10 units (2 strategies x 2 seeds [0, 1], with their twins and controls)")
    assert "  naive (strategy): seeds [0, 1]" in lines
    assert "  fixed-final:neuro-grow (twin of neuro-grow): seeds [0, 1]" in lines
    assert "  reset:neuro-grow (control of neuro-grow): seeds [0, 1]" in lines  # neuro-grow has no diag-only
    assert "calibrating" not in text


def test_estimate_fits_a_fixed_part_and_a_per_image_part(monkeypatch):
    """A fake unit costing 3 s + 0.01 s per training image per class: the fit recovers the full-size cost."""
    now = [0.0]
    seen = []

    def fake_run_unit(bench, name, seed, *, scenario=None, **kw):
        seen.append((name, seed, bench.scenario["train_per_class"], bench.scenario["test_per_class"]))
        now[0] += 3.0 + 0.01 * bench.scenario["train_per_class"] * (2 if name == "neuro-grow" else 1)
        return UnitResult(strategy=name, seed=seed)

    monkeypatch.setattr(runner, "run_unit", fake_run_unit)
    monkeypatch.setattr(runner, "build_scenario", lambda bench, data, seed=None: None)
    est = estimate.estimate_units(tiny(), ["naive", "neuro-grow"], [0, 1], data=object(), jobs=2,
                                  clock=lambda: now[0])
    assert seen == [("naive", 0, 10, 2), ("naive", 0, 40, 8), ("neuro-grow", 0, 10, 2), ("neuro-grow", 0, 40, 8)]
    assert est.per_name["naive"] == pytest.approx(3.0 + 0.01 * 400)
    assert est.per_name["neuro-grow"] == pytest.approx(3.0 + 0.02 * 400)
    assert est.total_s == pytest.approx(2 * 7.0 + 2 * 11.0)  # two seeds each
    assert est.wall_s == pytest.approx(est.total_s / 2)  # the data were given: no loading time, no report
    assert est.load_s == 0 and est.report_s == 0


def test_twins_are_calibrated_at_their_parents_widths_and_skipped_as_a_run_skips_them(monkeypatch):
    """neuro-grow ends at [12] (peak [12]) in its calibration: its fixed-final twin is calibrated at [12], and
    its fixed-max twin, which a run would skip, costs nothing; a unit's cost grows with its width."""
    now = [0.0]
    seen = []

    def fake_run_unit(bench, name, seed, *, scenario=None, model_overrides=None, **kw):
        widths = (model_overrides or {}).get("widths", bench.model["widths"])
        seen.append((name, bench.scenario["train_per_class"], widths))
        now[0] += 0.01 * bench.scenario["train_per_class"] * widths[0]
        grown = [12] if name == "neuro-grow" else widths
        return UnitResult(strategy=name, seed=seed, max_widths=grown, final_widths=grown)

    monkeypatch.setattr(runner, "run_unit", fake_run_unit)
    monkeypatch.setattr(runner, "build_scenario", lambda bench, data, seed=None: None)
    lines = []
    est = estimate.estimate_units(tiny(twins=True), ["neuro-grow"], [0], data=object(), clock=lambda: now[0],
                                  progress=lines.append)
    assert seen == [("neuro-grow", 10, [8]), ("neuro-grow", 40, [8]),
                    ("fixed-final:neuro-grow", 10, [12]), ("fixed-final:neuro-grow", 40, [12])]
    assert est.per_name["fixed-final:neuro-grow"] == pytest.approx(0.01 * 400 * 12)
    assert est.per_name["fixed-max:neuro-grow"] == 0.0
    assert est.total_s == pytest.approx(0.01 * 400 * 8 + 0.01 * 400 * 12)
    assert any("fixed-max:neuro-grow: skipped, as a run skips it" in line for line in lines)


def test_the_report_is_timed_on_the_larger_calibration_and_added_to_the_wall_time(monkeypatch):
    now = [0.0]

    def fake_run_unit(bench, name, seed, *, scenario=None, **kw):
        now[0] += 1.0 + 0.01 * bench.scenario["train_per_class"]
        return UnitResult(strategy=name, seed=seed)

    timed = {}

    def fake_report_seconds(bench, records, report, clock):
        timed.update(per_class=bench.scenario["train_per_class"], units=[(r["strategy"], r["seed"]) for r in records])
        return 7.0

    monkeypatch.setattr(runner, "run_unit", fake_run_unit)
    monkeypatch.setattr(runner, "build_scenario", lambda bench, data, seed=None: None)
    monkeypatch.setattr(estimate, "report_seconds", fake_report_seconds)
    est = estimate.estimate_units(tiny(), ["naive", "neuro-grow"], [0, 1], data=object(), jobs=2, clock=lambda: now[0],
                                  report=print)
    assert timed == {"per_class": 40, "units": [("naive", 0), ("neuro-grow", 0)]}  # one record per name, fraction 0.1
    assert est.report_s == 7.0
    assert est.wall_s == pytest.approx(est.total_s / 2 + 7.0)


def test_estimate_on_real_units_is_positive_and_writes_nothing(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    lines = []
    from isocl.analysis.report import build_report

    est = estimate.dry_run(tiny(), strategies=["naive"], seeds=[0], data=synthetic_tensors(40, 8), echo=lines.append,
                           report=build_report)
    assert est.units == [("naive", 0)] and est.per_name["naive"] > 0
    assert est.report_s > 0  # figures and report really written (in a temporary folder)
    assert any(line.startswith("estimated wall time: ") and "writing the figures and report" in line for line in lines)
    assert list(tmp_path.iterdir()) == []
    assert not list(Path(tempfile.gettempdir()).glob("isocl-dry-run-*"))  # the temporary folder is gone


def test_cli_dry_run_exits_zero_without_a_results_folder(tmp_path, monkeypatch, capsys):
    from isocl import cli

    path = tmp_path / "tiny.toml"
    path.write_text('name = "tiny"\nstrategies = ["naive"]\n[training]\nseeds = [0]\n', encoding="utf-8")
    called = {}
    monkeypatch.setattr(estimate, "estimate_units", lambda *a, **k: called.setdefault("args", (a, k)) and
                        estimate.Estimate({"naive": 60.0}, {}, [("naive", 0)], 60.0, 60.0, 1.0, 0.0))
    assert cli.main(["run", str(path), "--dry-run", "--out", str(tmp_path / "out"), "--jobs", "1"]) == 0
    out = capsys.readouterr().out
    assert "tiny: 1 units" in out and "estimated wall time: 60 s" in out
    assert not (tmp_path / "out").exists()
    from isocl.analysis.report import build_report

    assert called["args"][1]["report"] is build_report
    called.clear()
    assert cli.main(["run", str(path), "--dry-run", "--no-plot", "--jobs", "1"]) == 0
    assert called["args"][1]["report"] is None  # a run without figures is estimated without them


def test_a_small_benchmark_calibrates_on_real_fractions_with_a_validation_image_per_class(monkeypatch):
    """smoke.toml's size (100 training images per class, 20% validation): 0.025 of it would leave no validation
    image (Avalanche then fails on an empty stream), and 0.025 and 0.1 of it round to near-equal counts; the
    calibration keeps one validation image per class and fits on the fractions it really ran."""
    bench = parse_benchmark({
        "name": "small", "strategies": ["naive"], "twins": False, "controls": False,
        "scenario": {"setting": "class_il", "validation_fraction": 0.2, "train_per_class": 100, "test_per_class": 50},
        "training": {"epochs": 1, "batch_size": 16, "seeds": [0]}, "model": {"widths": [8]},
    })
    small, f1 = estimate._scaled(bench, 0.025)
    large, f2 = estimate._scaled(bench, 0.1, at_least=small.scenario["train_per_class"] + 1)
    assert (small.scenario["train_per_class"], f1) == (6, 0.06)  # int(0.2 * 6) = 1 validation image
    assert (large.scenario["train_per_class"], f2) == (10, 0.1)
    now = [0.0]

    def fake_run_unit(bench, name, seed, *, scenario=None, **kw):
        now[0] += 2.0 + 0.5 * bench.scenario["train_per_class"]
        return UnitResult(strategy=name, seed=seed)

    monkeypatch.setattr(runner, "run_unit", fake_run_unit)
    monkeypatch.setattr(runner, "build_scenario", lambda bench, data, seed=None: None)
    est = estimate.estimate_units(bench, ["naive"], [0], data=object(), clock=lambda: now[0])
    assert est.per_name["naive"] == pytest.approx(2.0 + 0.5 * 100)  # the fit on 6 and 10 images recovers 100's cost


def test_a_real_dry_run_of_a_small_benchmark_with_a_validation_split(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    bench = parse_benchmark({
        "name": "small", "strategies": ["naive"], "twins": False, "controls": False,
        "scenario": {"setting": "class_il", "validation_fraction": 0.2, "train_per_class": 30, "test_per_class": 8},
        "training": {"epochs": 1, "batch_size": 16, "seeds": [0]}, "model": {"widths": [8]},
    })
    est = estimate.dry_run(bench, data=synthetic_tensors(40, 8), echo=lambda line: None)
    assert est.per_name["naive"] > 0 and est.report_s == 0
