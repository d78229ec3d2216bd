"""Benchmark TOML validation (isocl.bench.config) and how `isocl run` reports bad files."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest
import tomli_w

from isocl.cli import main
from isocl.bench.config import ConfigError, load_benchmark, parse_benchmark, to_toml
from isocl.bench.units import check_benchmark

REPO = Path(__file__).resolve().parents[1]
SMOKE = REPO / "benchmarks" / "smoke.toml"


def smoke_raw() -> dict:
    raw = tomllib.loads(SMOKE.read_text(encoding="utf-8"))
    raw["strategies"] = ["naive", "replay"]  # shipped baselines only (plug-ins may come and go)
    raw["strategy"] = {"replay": dict(raw.get("strategy", {}).get("replay", {"mem_size": 100}))}
    return raw


def write(tmp_path: Path, raw: dict, name: str = "bench.toml") -> Path:
    path = tmp_path / name
    path.write_text(tomli_w.dumps(raw), encoding="utf-8")
    return path


def error_for(tmp_path: Path, raw: dict) -> str:
    path = write(tmp_path, raw)
    with pytest.raises(ConfigError) as info:
        load_benchmark(path)
    msg = str(info.value)
    assert str(path) in msg, msg
    return msg


def test_smoke_loads_with_defaults_filled():
    b = load_benchmark(SMOKE)
    assert b.name == "smoke" and b.path == SMOKE
    assert b.scenario["setting"] == "class_il"
    assert b.scenario["n_experiences"] == 5
    assert b.scenario["train_per_class"] == 100 and b.scenario["test_per_class"] == 50
    assert b.scenario["class_order"] is None  # default
    assert b.training["epochs"] == 1 and b.training["batch_size"] == 64
    # defaults of keys the file leaves out
    assert b.training["weight_decay"] == 0.0
    assert b.training["momentum"] == 0.9
    assert b.training["device"] == "cpu"
    assert b.training["lr_by_activation"] == {}
    assert b.model["widths"] == [32, 32]
    assert b.model["shape"] == "tanh" and b.model["intrinsic"] == "trainable" and b.model["init"] == "orthogonal"
    assert b.twins is True
    assert b.strategy_params["replay"] == {"mem_size": 100}
    # ints given for float keys become floats
    assert isinstance(b.training["lr"], float) and isinstance(b.scenario["validation_fraction"], float)


def test_round_trip_through_to_toml(tmp_path):
    b = load_benchmark(SMOKE)
    again = parse_benchmark(tomllib.loads(to_toml(b.to_dict())), "again")
    assert again.to_dict() == b.to_dict()


def test_unknown_top_level_key(tmp_path):
    raw = smoke_raw()
    raw["epochs"] = 3
    msg = error_for(tmp_path, raw)
    assert "epochs" in msg and "unknown key" in msg


@pytest.mark.parametrize("section", ["scenario", "training", "model"])
def test_unknown_key_in_section(tmp_path, section):
    raw = smoke_raw()
    raw.setdefault(section, {})["bogus_key"] = 1
    msg = error_for(tmp_path, raw)
    assert f"{section}.bogus_key" in msg and "unknown key" in msg
    assert "expected one of" in msg


def test_typo_in_training_key_lists_the_valid_ones(tmp_path):
    raw = smoke_raw()
    raw["training"]["epoch"] = 2
    msg = error_for(tmp_path, raw)
    assert "training.epoch" in msg and "'epochs'" in msg


@pytest.mark.parametrize(
    "section, key, value, key_text, expect_text",
    [
        ("training", "epochs", "5", "training.epochs", "an int >= 1"),
        ("training", "epochs", 0, "training.epochs", "an int >= 1"),
        ("training", "epochs", True, "training.epochs", "an int >= 1"),  # a bool is not an int
        ("training", "lr", "0.1", "training.lr", "a number in (0, 10)"),
        ("training", "optimizer", "rmsprop", "training.optimizer", "'adam', 'adamw' or 'sgd'"),
        ("training", "seeds", [], "training.seeds", "a non-empty list"),
        ("training", "device", "tpu", "training.device", "'cpu' or 'cuda[:N]'"),
        ("scenario", "validation_fraction", 1.5, "scenario.validation_fraction", "a number in [0, 1)"),
        ("scenario", "n_experiences", 3, "scenario.n_experiences", "one of 1, 2, 5, 10"),
        ("scenario", "setting", "domain_il", "scenario.setting", "'class_il' or 'task_il'"),
        ("scenario", "class_order", [0, 1, 2], "scenario.class_order", "a permutation of 0..9"),
        ("model", "widths", [32, 0], "model.widths", "a non-empty list of ints >= 1"),
        ("model", "shape", "relu", "model.shape", "one of tanh, softsign, log1p, asinh"),
        ("model", "hidden_bias", 1, "model.hidden_bias", "true or false"),
    ],
)
def test_wrong_type_or_range(tmp_path, section, key, value, key_text, expect_text):
    raw = smoke_raw()
    raw[section][key] = value
    msg = error_for(tmp_path, raw)
    assert key_text in msg, msg
    assert expect_text in msg, msg
    assert repr(value) in msg  # says what it got


@pytest.mark.parametrize("key", ["name", "strategies"])
def test_missing_required_key(tmp_path, key):
    raw = smoke_raw()
    del raw[key]
    msg = error_for(tmp_path, raw)
    assert f": {key}" in msg and "missing" in msg


def test_section_must_be_a_table(tmp_path):
    raw = smoke_raw()
    raw["training"] = 3
    msg = error_for(tmp_path, raw)
    assert "training" in msg and "table" in msg


def test_invalid_toml_and_missing_file(tmp_path):
    bad = tmp_path / "broken.toml"
    bad.write_text("name = \n", encoding="utf-8")
    with pytest.raises(ConfigError, match="not valid TOML") as info:
        load_benchmark(bad)
    assert str(bad) in str(info.value)
    with pytest.raises(ConfigError, match="no such benchmark file"):
        load_benchmark(tmp_path / "absent.toml")


def test_cli_run_bad_file_exits_2_and_writes_nothing(tmp_path, capsys):
    raw = smoke_raw()
    raw["training"]["epochs"] = "5"
    path = write(tmp_path, raw, "BAD.toml")
    out = tmp_path / "results"
    code = main(["run", str(path), "--out", str(out), "--no-plot", "--quiet"])
    assert code == 2
    err = capsys.readouterr().err
    assert "training.epochs" in err and str(path) in err and "an int >= 1" in err
    assert not out.exists() or not any(out.iterdir())


def test_unknown_strategy_parameter_names_it(tmp_path, capsys):
    raw = smoke_raw()
    raw["strategy"]["replay"]["mem_sise"] = 100
    path = write(tmp_path, raw)
    bench = load_benchmark(path)  # strategy tables are checked against the registry
    with pytest.raises(ConfigError) as info:
        check_benchmark(bench)
    msg = str(info.value)
    assert "mem_sise" in msg and "replay" in msg and "mem_size" in msg and str(path) in msg
    out = tmp_path / "out"
    assert main(["run", str(path), "--out", str(out), "--no-plot", "--quiet"]) == 2
    assert "mem_sise" in capsys.readouterr().err
    assert not out.exists() or not any(out.iterdir())


def test_wrong_type_of_strategy_parameter(tmp_path):
    raw = smoke_raw()
    raw["strategy"]["replay"]["mem_size"] = "100"
    bench = load_benchmark(write(tmp_path, raw))
    with pytest.raises(ConfigError, match="mem_size.*wrong type.*int"):
        check_benchmark(bench)


@pytest.mark.parametrize("strategy", ["pnn", "packnet"])
def test_task_il_only_strategy_in_class_il_benchmark(tmp_path, capsys, strategy):
    raw = smoke_raw()
    raw["strategies"] = ["naive", strategy]
    path = write(tmp_path, raw)
    bench = load_benchmark(path)
    with pytest.raises(ConfigError) as info:
        check_benchmark(bench)
    msg = str(info.value)
    assert strategy in msg and "task_il" in msg and "task labels" in msg and "class_il" in msg
    out = tmp_path / "out"
    assert main(["run", str(path), "--out", str(out), "--no-plot", "--quiet"]) == 2
    assert "task_il" in capsys.readouterr().err
    assert not out.exists() or not any(out.iterdir())
    # ... and the same strategy is accepted in a task-incremental benchmark (PackNet's post-prune epoch needs 2)
    raw["scenario"]["setting"] = "task_il"
    raw["training"]["epochs"] = 2
    assert check_benchmark(load_benchmark(write(tmp_path, raw, "task.toml"))) == ["naive", strategy]


def test_table_for_unknown_strategy_is_an_error(tmp_path):
    from isocl.bench.registry import UnknownStrategy

    raw = smoke_raw()
    raw["strategy"]["no-such-strategy"] = {"x": 1}
    with pytest.raises(UnknownStrategy, match="no-such-strategy"):
        check_benchmark(load_benchmark(write(tmp_path, raw)))


_SHIPPED = sorted((REPO / "benchmarks").glob("*.toml"))


@pytest.mark.parametrize("path", [p for p in _SHIPPED if load_benchmark(p).scenario["setting"] == "task_il"],
                         ids=lambda p: p.name)
def test_every_shipped_task_il_file_runs_consolidation_exact(path):
    """In task-IL, neuro-grow-prune-consolidate is doc §5's exact design, which the docs and the README call it;
    a file that slips into the class-IL setting ("damp") would publish damp numbers under that name."""
    from isocl.bench.units import resolve_unit

    bench = load_benchmark(path)
    names = [n for n in bench.strategies if n.split("@")[0] == "neuro-grow-prune-consolidate"]
    for name in names:
        assert resolve_unit(bench, name)[2]["consolidation"] == "exact", name
