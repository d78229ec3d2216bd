"""[training] online = true: one pass over Avalanche's online stream of mini-experiences."""

from __future__ import annotations

import pytest

from isocl.bench.config import ConfigError, parse_benchmark
from isocl.bench.online import online_experiences
from isocl.bench.runner import run_benchmark, run_unit
from isocl.bench.scenarios import build_scenario
from isocl.bench.units import check_benchmark
from isocl.bench.scenarios import synthetic_tensors


def _bench(strategy: str = "naive", **training):
    return parse_benchmark({
        "name": "online", "strategies": [strategy], "twins": False, "controls": False,
        "scenario": {"n_experiences": 5, "validation_fraction": 0.0},
        "training": {"online": True, "epochs": 1, "batch_size": 3, **training},
        "model": {"widths": [16]},
    })


@pytest.fixture(scope="module")
def tiny():
    return synthetic_tensors(5, 2, seed=1)


def test_an_experience_becomes_mini_experiences_of_batch_size_each_knowing_its_classes(tiny):
    exp = build_scenario(_bench(), tiny, 0).train_stream[1]
    subs = list(online_experiences(exp, 3, seed=4))
    assert [len(s.dataset) for s in subs] == [3, 3, 3, 1]  # 10 samples (2 classes x 5)
    targets = [t for s in subs for t in s.dataset.targets]
    assert sorted(targets) == sorted(exp.dataset.targets)  # every sample once: one pass
    for s in subs:
        assert s.classes_in_this_experience == sorted(set(int(t) for t in s.dataset.targets))
    again = [list(s.dataset.targets) for s in online_experiences(exp, 3, seed=4)]
    assert again == [list(s.dataset.targets) for s in subs]  # the order is the seed's


def test_online_unit_runs_and_is_bit_identical_on_rerun(tiny):
    bench = _bench("replay")
    runs = [run_unit(bench, "replay", 0, scenario=build_scenario(bench, tiny, 0)) for _ in range(2)]
    assert [r.status for r in runs] == ["ok", "ok"], runs[0].error
    assert runs[0].matrix == runs[1].matrix
    assert len(runs[0].experiences) == 5  # evaluated after each original experience


def test_online_needs_one_epoch_in_the_file_and_on_the_command_line(tmp_path, tiny):
    with pytest.raises(ConfigError, match=r"training.epochs = 2 is invalid with training.online = true; expected 1"):
        _bench(epochs=2)
    out = tmp_path / "run"
    with pytest.raises(ConfigError, match=r"--epochs: training.epochs = 3 is invalid with training.online = true"):
        run_benchmark(_bench(), out, epochs=3, data=tiny, progress=False)
    assert not out.exists()  # nothing written


def test_online_refuses_neuroplastic_strategies():
    with pytest.raises(ConfigError, match=r"strategy 'neuro-grow' changes its network at every experience"):
        check_benchmark(_bench("neuro-grow"))
    assert check_benchmark(_bench("replay")) == ["replay"]


def test_online_is_a_boolean_option():
    with pytest.raises(ConfigError, match=r"training.online = 1 is invalid; expected true or false"):
        parse_benchmark({"name": "x", "strategies": ["naive"], "training": {"online": 1}})


@pytest.mark.parametrize("change, argv, says", [
    ({"training": {"online": True, "epochs": 1}}, ["--epochs", "2"],
     "--epochs: training.epochs = 2 is invalid with training.online = true; expected 1"),
    ({"training": {"online": True, "epochs": 3}}, [],
     "training.epochs = 3 is invalid with training.online = true; expected 1"),
    ({"scenario": {"augment": "mixup"}}, [], "scenario.augment = 'mixup' is invalid; expected 'none' or 'crop-flip'"),
    ({"model": {"kind": "resnet18", "widths": [4]}}, [], "model.widths: does not apply to kind = 'resnet18'"),
])
def test_the_new_options_exit_2_with_one_line_and_write_nothing(tmp_path, monkeypatch, change, argv, says):
    from _badinput import call, one_line_error, snapshot, tiny_raw, write_bench

    from isocl.bench import runner

    monkeypatch.setattr(runner, "load_cifar10", lambda: synthetic_tensors(10, 10, seed=1))
    raw = tiny_raw()
    for section, values in change.items():
        raw[section] = {**raw[section], **values} if section != "model" else values
    path = write_bench(tmp_path, raw)
    before = snapshot(tmp_path)
    code, _, err = call(["run", str(path), "--quiet", "--no-plot", "--out", str(tmp_path / "out"), *argv])
    assert code == 2
    assert says in one_line_error(err, "run")
    assert snapshot(tmp_path) == before


def test_forgetting_of_an_online_unit_is_computed_from_its_accuracy_matrix(tiny):
    from isocl.bench.online import forgetting_from_matrix

    matrix = [{"trained_exp": t, "eval_exp": e, "accuracy": a} for t, e, a in
              [(0, 0, 0.9), (1, 0, 0.5), (1, 1, 0.8), (2, 0, 0.3), (2, 1, 0.6), (2, 2, 0.7)]]
    forgetting, bwt = forgetting_from_matrix(matrix)
    assert forgetting == pytest.approx(((0.9 - 0.3) + (0.8 - 0.6)) / 2) and bwt == -forgetting
    bench = _bench()
    result = run_unit(bench, "naive", 0, scenario=build_scenario(bench, tiny, 0))
    assert (result.forgetting, result.bwt) == forgetting_from_matrix(result.matrix)
