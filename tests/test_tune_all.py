"""``isocl tune BENCH --strategy all``: one budget for every strategy and twin (isocl.tuning.tune_all)."""

from pathlib import Path

import optuna
import pandas as pd
import pytest

from isocl.bench.config import load_benchmark
from isocl.bench.names import slug
from isocl.bench.scenarios import synthetic_tensors
from isocl.bench.units import check_benchmark, companions, resolve_unit
from isocl.tuning.samplers import startup_trials
from isocl.tuning.space import default_space
from isocl.tuning.study import edge_params
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
    path = tune_all(bench, 3, out=tmp_path, data=data, plots=False, log=lambda *_: None, jobs=1)

    studies = sorted(p.name for p in tmp_path.iterdir() if p.is_dir())
    assert studies[0] == "smoke-fixed-final_neuro-grow-prune" and "smoke-naive" in studies
    for name in studies:
        study = optuna.load_study(study_name=name, storage=f"sqlite:///{tmp_path / name / 'study.db'}")
        complete = [t for t in study.trials if t.state.name == "COMPLETE"]
        assert len(complete) == 3, name  # the same budget of complete trials everywhere
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

    # every unit that runs is tuned or says whose settings it inherits
    report = pd.read_csv(tmp_path / "tuning.csv").set_index("unit")
    assert report.loc["neuro-grow-prune", "settings"] == "tuned"
    assert report.loc["diag-only:neuro-grow-prune", "settings"] == "inherits neuro-grow-prune"
    assert (report.loc[report["study"].notna(), "complete"] == 3).all()
    header = path.read_text().split("[", 1)[0]
    assert "diag-only:neuro-grow-prune <- neuro-grow-prune" in header


def _pruned_objective(ctx):
    """Cheap objective whose odd trials the median pruner cuts: a low value at every step."""
    def objective(trial):
        lr = trial.suggest_float("lr", 1e-5, 1e-1, log=True)
        value = 0.9 if trial.number % 2 == 0 else 0.1
        for step in range(3):
            trial.report(value, step)
            if trial.should_prune():
                raise optuna.TrialPruned()
        return value + lr * 0  # the same value for every even trial
    return objective


def test_pruned_trials_do_not_count_every_study_ends_with_the_same_complete_trials(tmp_path):
    bench = load_benchmark(SMOKE)
    bench.strategies = ["naive", "naive@w8"]  # a strategy and one frontier point of it
    bench.strategy_params = {"naive@w8": {"model.widths": [8, 8]}}
    bench.twins = bench.controls = False
    data = synthetic_tensors(20, 5, seed=1)
    tune_all(bench, 6, out=tmp_path, data=data, plots=False, log=lambda *_: None, jobs=1, pruner="median",
             objective_factory=_pruned_objective)
    report = pd.read_csv(tmp_path / "tuning.csv").set_index("unit")
    assert list(report.index) == ["naive", "naive@w8"]
    for unit, row in report.iterrows():
        assert row["complete"] == 6, unit
        assert row["pruned"] >= 1, unit  # the pruner did cut trials, and they were replaced
        study = optuna.load_study(study_name=row["study"],
                                  storage=f"sqlite:///{tmp_path / slug(row['study']) / 'study.db'}")
        states = [t.state.name for t in study.trials]
        assert states.count("COMPLETE") == 6 and states.count("PRUNED") == row["pruned"]


def test_a_frontier_point_is_tuned_over_what_its_table_leaves_free():
    bench = load_benchmark(SMOKE)
    bench.strategy_params = {"replay@m": {"model.widths": [8, 8], "mem_size": 100},
                             "neuro-grow-prune@s": {"start_width": 8, "grow_count": 4}}
    bench.strategies = ["replay", "replay@m", "neuro-grow-prune@s"]
    bench.training["epochs"] = 3
    check_benchmark(bench)
    tuned_bench, spec, params, _ = resolve_unit(bench, "replay@m")
    assert spec.name == "replay" and params["mem_size"] == 100 and tuned_bench.model["widths"] == [8, 8]
    assert resolve_unit(bench, "replay")[0].model["widths"] == load_benchmark(SMOKE).model["widths"]
    space = default_space("neuro-grow-prune@s", bench)
    assert "grow_count" not in space and "lr" in space and "prune_threshold" in space
    assert set(default_space("neuro-grow-prune", bench)) - set(space) == {"grow_count"}
    assert companions(bench, "neuro-grow-prune@s")[0] == "fixed-final:neuro-grow-prune@s"


def test_edges_and_startup_trials():
    space = {"lr": {"type": "float", "low": 1e-5, "high": 1e-1, "log": True},
             "alpha": {"type": "float", "low": 0.0, "high": 1.0},
             "epochs": {"type": "int", "low": 0, "high": 2},
             "kind": {"type": "categorical", "choices": ["a", "b"]}}
    assert edge_params(space, {"lr": 1.5e-5, "alpha": 0.5, "epochs": 1, "kind": "a"}) == ["lr"]
    assert edge_params(space, {"lr": 1e-3, "alpha": 0.97, "epochs": 2}) == ["alpha", "epochs"]
    assert edge_params(space, {"lr": 1e-3, "alpha": 0.06, "epochs": 1}) == []
    assert [startup_trials(n) for n in (1, 3, 8, 20, 60)] == [1, 1, 2, 6, 10]
    assert all(startup_trials(n) <= max(1, n / 3) for n in range(1, 100))


def test_a_diverged_configuration_completes_with_score_zero_and_other_failures_do_not_count(tmp_path, monkeypatch):
    import isocl.bench.runner as runner
    from isocl.tuning import tune

    real = runner.run_unit
    calls = {"n": 0}

    def flaky(*args, **kwargs):
        calls["n"] += 1
        result = real(*args, **kwargs)
        if calls["n"] in (1, 2):  # the first trial diverges, the second breaks
            result.status = "failed"
            result.error = ("NonFiniteLoss: loss is nan at experience 0" if calls["n"] == 1
                            else "RuntimeError: a bug")
        return result

    monkeypatch.setattr(runner, "run_unit", flaky)
    bench = load_benchmark(SMOKE)
    bench.strategies = ["naive"]
    bench.search = {}
    bench.scenario.update(train_per_class=20, test_per_class=5)
    result = tune(bench, "naive", 3, out=tmp_path / "t", data=synthetic_tensors(20, 5, seed=2), plots=False,
                  log=lambda *_: None)
    study = optuna.load_study(study_name=result.study_name, storage=f"sqlite:///{tmp_path / 't' / 'study.db'}")
    states = [(t.state.name, t.value, t.user_attrs.get("diverged")) for t in study.trials]
    assert states[0] == ("COMPLETE", 0.0, True)  # diverged: a measured outcome, counted
    assert states[1][0] == "FAIL"  # broken: not counted, replaced
    assert (result.n_complete, result.n_failed) == (3, 1) and len(states) == 4


def test_parallel_studies_share_one_set_of_worker_processes(tmp_path):
    """With --jobs 2, every study's trials run in the same two worker processes (a WorkerPool), started once
    for the whole command instead of twice per study; each study still ends with exactly its complete trials."""
    from test_tuning import fast_objective

    bench = load_benchmark(SMOKE)
    bench.strategies = ["naive", "replay", "ewc"]
    bench.twins = bench.controls = False
    bench.search = {}
    tune_all(bench, 4, out=tmp_path, plots=False, log=lambda *_: None, jobs=2, objective_factory=fast_objective)
    pids = {}
    for name in ("smoke-naive", "smoke-replay", "smoke-ewc"):
        storage = optuna.storages.JournalStorage(
            optuna.storages.journal.JournalFileBackend(str(tmp_path / name / "journal.log")))
        trials = optuna.load_study(study_name=name, storage=storage).trials
        complete = [t for t in trials if t.state.name == "COMPLETE"]
        assert len(complete) == 4, name
        pids[name] = {t.user_attrs["worker"].split(":")[1] for t in complete}
    assert len(set().union(*pids.values())) == 2, pids  # two processes in all (fresh ones per study: up to 6)
