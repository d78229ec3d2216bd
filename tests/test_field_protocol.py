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
