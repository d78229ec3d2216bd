"""``isocl tune BENCH --strategy all``: one budget for every strategy and twin (isocl.tuning.tune_all)."""

from pathlib import Path

import optuna
import pytest

from isocl.bench.config import load_benchmark
from isocl.bench.units import check_benchmark, resolve_unit
from isocl.bench.scenarios import synthetic_tensors
from isocl.tuning.tune_all import tune_all

SMOKE = Path(__file__).resolve().parents[1] / "benchmarks" / "smoke.toml"


@pytest.mark.slow  # see tox -e fast
def test_every_strategy_and_twin_gets_the_same_trials_and_one_tuned_file(tmp_path):
    bench = load_benchmark(SMOKE)
    bench.strategies = ["naive", "neuro-grow-prune"]
    bench.search = {}  # the strategies' declared spaces
    bench.scenario.update(train_per_class=30, test_per_class=10)
    bench.tuning["train_per_class"] = 20  # the studies' proxy: fewer images than the run
    bench.model["widths"] = [12, 12]
    bench.strategy_params = {"neuro-grow-prune": {"grow_count": 4, "min_width": 4}}
    data = synthetic_tensors(30, 10, seed=5)
    path = tune_all(bench, 3, out=tmp_path, data=data, plots=False, log=lambda *_: None)

    studies = sorted(p.name for p in tmp_path.iterdir() if p.is_dir())
    assert studies[0] == "smoke-fixed-final_neuro-grow-prune" and "smoke-naive" in studies
    for name in studies:
        study = optuna.load_study(study_name=name, storage=f"sqlite:///{tmp_path / name / 'study.db'}")
        finished = [t for t in study.trials if t.state.is_finished() and t.state.name != "FAIL"]
        assert len(finished) == 3, name  # the same budget everywhere
        assert "lr" in study.trials[0].params
    twin_study = optuna.load_study(study_name="smoke-fixed-final_neuro-grow-prune",
                                   storage=f"sqlite:///{tmp_path / 'smoke-fixed-final_neuro-grow-prune' / 'study.db'}")
    assert set(twin_study.trials[0].params) == {"lr"}  # the twin (naive at the width) tunes its own space

    tuned = load_benchmark(path)
    assert check_benchmark(tuned) == ["naive", "neuro-grow-prune"]
    assert tuned.scenario["train_per_class"] == 30  # the run uses the benchmark's data, not the proxy
    parent_lr = tuned.strategy_params["neuro-grow-prune"]["lr"]
    twin_lr = tuned.strategy_params["fixed-final:neuro-grow-prune"]["lr"]
    assert set(tuned.strategy_params["fixed-final:neuro-grow-prune"]) == {"lr"}
    assert resolve_unit(tuned, "fixed-final:neuro-grow-prune")[0].training["lr"] == twin_lr
    assert resolve_unit(tuned, "neuro-grow-prune")[0].training["lr"] == parent_lr
    assert resolve_unit(tuned, "diag-only:neuro-grow-prune")[0].training["lr"] == parent_lr
