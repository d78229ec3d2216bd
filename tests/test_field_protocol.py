"""The field-protocol benchmark files (docs/field-protocol.md) validate and state the protocol they claim."""

from __future__ import annotations

from pathlib import Path

import pytest

from isocl.bench.config import load_benchmark
from isocl.bench.units import check_benchmark, resolve_unit

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"
FILES = sorted(BENCHMARKS.glob("calibration_*.toml")) + sorted(BENCHMARKS.glob("field_*.toml"))


def test_the_files_exist():
    names = {p.name for p in FILES}
    assert {"calibration_online_replay.toml", "calibration_er_ace.toml", "field_offline_class_il.toml",
            "field_offline_class_il_cnn.toml"} <= names


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.stem)
def test_file_validates_with_every_strategy(path):
    bench = load_benchmark(path)
    assert check_benchmark(bench) == bench.strategies
    assert bench.scenario["augment"] == "crop-flip"
    assert bench.scenario["class_order"] == list(range(10))


@pytest.mark.parametrize("path", [p for p in FILES if p.stem.startswith("calibration_")], ids=lambda p: p.stem)
def test_calibration_files_are_the_published_online_setting(path):
    bench = load_benchmark(path)
    assert bench.model == {"kind": "slim_resnet18"}
    tr = bench.training
    assert (tr["epochs"], tr["batch_size"], tr["optimizer"], tr["lr"], tr["momentum"]) == (1, 10, "sgd", 0.1, 0.0)
    assert bench.scenario["validation_fraction"] == 0.05 and len(tr["seeds"]) >= 3
    for name in bench.strategies:
        assert resolve_unit(bench, name)[2]["mem_size"] == 1000


def test_offline_protocol_is_resnet18_50_epochs_sgd_batch_32_buffer_500():
    bench = load_benchmark(BENCHMARKS / "field_offline_class_il.toml")
    assert bench.model == {"kind": "resnet18"}
    tr = bench.training
    assert (tr["epochs"], tr["batch_size"], tr["optimizer"], tr["momentum"], tr["device"]) == (50, 32, "sgd", 0.0,
                                                                                               "cuda")
    assert bench.scenario["validation_fraction"] == 0.0 and bench.scenario["train_per_class"] == 0
    assert {"naive", "replay", "der", "icarl", "agem", "lwf", "ewc", "si", "cumulative"} == set(bench.strategies)
    params = {name: resolve_unit(bench, name)[2] for name in bench.strategies}
    assert params["replay"]["mem_size"] == params["der"]["mem_size"] == params["icarl"]["mem_size"] == 500
    assert params["agem"]["patterns_per_exp"] * bench.scenario["n_experiences"] == 500
    assert params["ewc"]["mode"] == "online"
    cnn = load_benchmark(BENCHMARKS / "field_offline_class_il_cnn.toml")
    assert cnn.model["kind"] == "cnn" and cnn.scenario == bench.scenario  # the same data pipeline
    assert (cnn.training["epochs"], cnn.training["batch_size"]) == (50, 32)


def test_calibration_summary_sets_seeds_beside_published_figure(tmp_path):
    """Seeds from two folders (separate processes) pool into one row; the interval is the t-interval of the
    mean, and 'inside' follows it: 0.50 lies inside [0.444, 0.588], 0.60 does not."""
    import json
    import math

    from isocl.analysis.calibration import PUBLISHED, calibration_summary, calibration_table

    rows = [[0.9, 0, 0], [0.5, 0.8, 0], [0.3, 0.4, 0.9]]  # forgetting: mean of (0.9-0.3, 0.8-0.4) = 0.5
    matrix = [{"trained_exp": t, "eval_exp": e, "accuracy": a} for t, row in enumerate(rows) for e, a in enumerate(row)]
    for folder, seeds in (("a", (0, 1)), ("b", (2,))):
        d = tmp_path / folder
        (d / "units").mkdir(parents=True)
        (d / "config.toml").write_text('name = "calibration-online-replay"\n')
        for s, acc in zip(seeds, ((0.4955, 0.5036) if folder == "a" else (0.5493,))):
            (d / "units" / f"replay-seed{s}.json").write_text(json.dumps(
                {"strategy": "replay", "seed": s, "status": "ok", "final_accuracy": acc, "wall_time_s": 1800,
                 "matrix": matrix}))
    (tmp_path / "b" / "units" / "replay-seed3.json").write_text(json.dumps(
        {"strategy": "replay", "seed": 3, "status": "failed", "final_accuracy": 0.1, "wall_time_s": 5}))
    (c,) = calibration_summary(tmp_path / "a", tmp_path / "b")
    assert c.seeds == (0, 1, 2)
    assert c.mean == pytest.approx(0.51613, abs=1e-5)
    lo, hi = c.interval
    assert (round(lo, 3), round(hi, 3)) == (0.444, 0.588)
    assert c.published == PUBLISHED["calibration-online-replay"][0] == 0.50 and c.inside is True
    assert c.forgetting == pytest.approx(0.5) and c.unit_hours == pytest.approx(1.5)
    assert "| 0,1,2 | 0.516 ± 0.029 [0.444, 0.588] | 0.50 | yes | 0.500 | 1.50 |" in calibration_table(
        tmp_path / "a", tmp_path / "b")
    moved = type(c)(**{**c.__dict__, "published": 0.60})
    assert moved.inside is False
    one = type(c)(**{**c.__dict__, "accuracies": (0.5,), "seeds": (0,)})
    assert one.inside is None and math.isnan(one.interval[0])
