"""Tests for isocl.tuning: ``isocl tune`` / ``isocl evaluate`` on Optuna.

Real trials (split-CIFAR10 on the offline copy, 20 images per class, one
epoch, a 16-unit MLP) check the objective, best.toml and resuming; cheap
stand-in objectives (module-level, so spawned workers can unpickle them)
check parallel workers, killed workers, pruned and failed trials.
"""

from __future__ import annotations

import hashlib
import os
import random
import signal
import time
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState

from isocl import tuning
from isocl.bench.config import ConfigError, load_benchmark

TINY = """\
name = "tiny"
description = "tuning tests"
strategies = ["replay"]

[scenario]
setting = "class_il"
n_experiences = 5
seed = 0
validation_fraction = 0.2
train_per_class = 20
test_per_class = 10

[training]
epochs = 1
batch_size = 32
eval_batch_size = 1000
seeds = [0]

[model]
widths = [16]

[strategy.replay]
mem_size = 40

[search.replay]
lr = { type = "float", low = 1e-4, high = 1e-2, log = true }
mem_size = { type = "int", low = 20, high = 100, step = 20 }
"model.intrinsic" = { type = "categorical", choices = ["constant", "trainable"] }
"""




@pytest.fixture
def tiny(tmp_path: Path) -> Path:
    path = tmp_path / "tiny.toml"
    path.write_text(TINY)
    return path


def _with(tmp_path: Path, old: str, new: str, name: str = "bad.toml") -> Path:
    assert old in TINY
    path = tmp_path / name
    path.write_text(TINY.replace(old, new))
    return path


def _states(study) -> dict[TrialState, int]:
    out: dict[TrialState, int] = {}
    for t in study.get_trials(deepcopy=False):
        out[t.state] = out.get(t.state, 0) + 1
    return out


def _load(out: Path, name: str = "tiny-replay"):
    if (out / "journal.log").exists():
        from optuna.storages.journal import JournalFileBackend, JournalStorage

        storage = JournalStorage(JournalFileBackend(str(out / "journal.log")))
    else:
        storage = f"sqlite:///{out / 'study.db'}"
    return optuna.load_study(study_name=name, storage=storage)


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# --------------------------------------------------------------------------
# Stand-in objectives (module level: picklable for spawned workers)


def fast_objective(ctx):
    def objective(trial):
        params = tuning.suggest_params(trial, ctx.space)
        time.sleep(random.Random(trial.number).uniform(0.02, 0.3))  # uneven workers
        return params["lr"] * 10 + (0.01 if params.get("model.intrinsic") == "trainable" else 0.0)

    return objective


def flaky_objective(ctx):
    def objective(trial):
        tuning.suggest_params(trial, ctx.space)
        if trial.number == 1:
            raise RuntimeError("boom")
        if trial.number == 2:
            raise optuna.TrialPruned()
        return 0.5

    return objective


def failing_objective(ctx):
    def objective(trial):
        tuning.suggest_params(trial, ctx.space)
        raise RuntimeError("always broken")

    return objective


def dying_objective(ctx):
    """Trial 0 completes; a worker starting any later trial is killed mid-trial (like an OOM kill)."""

    def objective(trial):
        tuning.suggest_params(trial, ctx.space)
        if trial.number >= 1:
            os.kill(os.getpid(), signal.SIGKILL)
        return 0.5

    return objective


# --------------------------------------------------------------------------
# Real trials on split-CIFAR10


def test_tune_writes_study_best_toml_and_resumes(tiny, tmp_path, cifar10):
    out = tmp_path / "study"
    bench = load_benchmark(tiny)
    res = tuning.tune(bench, "replay", 3, out=out, data=cifar10)
    assert res.ok, res.summary()
    assert (out / "study.db").is_file() and (out / "trials.csv").is_file()
    assert (out / "history.png").is_file() and (out / "param_importances.png").is_file()
    assert res.n_complete + res.n_pruned == 3 and res.new_trials == 3

    study = _load(out)
    trials = study.get_trials(states=(TrialState.COMPLETE,))
    for t in trials:
        assert t.user_attrs["eval_stream"] == "valid"
        assert 0.0 <= t.user_attrs["final_accuracy"] <= 1.0
        assert t.user_attrs["seed"] == 0 and len(t.user_attrs["valid_curve"]) == 5
        assert set(t.intermediate_values) == set(range(5))  # reported after every experience

    # best.toml: a benchmark file `isocl run` accepts, with the best trial's parameters routed
    best = load_benchmark(out / "best.toml")
    bp = study.best_trial.params
    assert best.strategies == ["replay"] and best.search == {}
    assert best.strategy_params == {"replay": {"mem_size": bp["mem_size"]}}
    assert best.training["lr"] == pytest.approx(bp["lr"], rel=0, abs=0)
    assert best.model["intrinsic"] == bp["model.intrinsic"]
    assert best.scenario == bench.scenario and best.model["widths"] == [16]

    # rerun: the study resumes and runs nothing; a larger target runs only the missing trial
    again = tuning.tune(load_benchmark(tiny), "replay", 3, out=out, data=cifar10, plots=False)
    assert again.new_trials == 0 and len(_load(out).trials) == 3
    more = tuning.tune(load_benchmark(tiny), "replay", 4, out=out, data=cifar10, plots=False)
    assert more.new_trials == 1
    assert sum(t.state in (TrialState.COMPLETE, TrialState.PRUNED) for t in _load(out).trials) == 4
    # a resumed sampler does not redraw the first run's configurations
    lrs = [t.params["lr"] for t in _load(out).trials]
    assert len(set(lrs)) == len(lrs)

    # isocl evaluate: the chosen configuration on the TEST set
    from isocl.bench.runner import print_summary

    df, eval_dir = tuning.evaluate(out / "best.toml", seeds=[0], out=tmp_path / "eval", progress=False, data=cifar10)
    assert list(df["strategy"]) == ["replay"] and list(df["status"]) == ["ok"]
    assert "final acc" in print_summary(df, eval_dir)


def test_objective_never_touches_the_test_stream(tiny, tmp_path, cifar10, monkeypatch):
    from isocl.bench import runner, scenarios

    real_build, real_run = scenarios.build_scenario, runner.run_unit
    streams = []

    class NoTestSet:
        def __init__(self, sc):
            self._sc = sc

        def __getattr__(self, name):
            if name.startswith("test"):
                raise AssertionError(f"the tuning objective touched scenario.{name}")
            return getattr(self._sc, name)

    def spy_run(*args, **kwargs):
        streams.append(kwargs.get("eval_stream"))
        return real_run(*args, **kwargs)

    monkeypatch.setattr(scenarios, "build_scenario", lambda bench, data: NoTestSet(real_build(bench, data)))
    monkeypatch.setattr(runner, "run_unit", spy_run)
    res = tuning.tune(load_benchmark(tiny), "replay", 1, out=tmp_path / "s", data=cifar10, plots=False)
    assert res.n_complete == 1 and streams == ["valid"]


class _PruneAtStep1(optuna.pruners.BasePruner):
    """Prunes the first trial at its second experience, and no other."""

    def prune(self, study, trial) -> bool:
        return trial.number == 0 and trial.last_step is not None and trial.last_step >= 1


class _PruneAll(optuna.pruners.BasePruner):
    def prune(self, study, trial) -> bool:
        return True


def test_pruned_trial_stops_training_at_once(tiny, tmp_path, cifar10, monkeypatch):
    from isocl.bench import runner

    experiences = []
    real_run = runner.run_unit

    def spy_run(*args, on_experience=None, **kwargs):
        def seen(i, avg):
            experiences.append(i)
            on_experience(i, avg)

        return real_run(*args, on_experience=seen, **kwargs)

    monkeypatch.setattr(runner, "run_unit", spy_run)
    monkeypatch.setattr(tuning.samplers, "make_pruner", lambda name, **kw: _PruneAtStep1())
    res = tuning.tune(load_benchmark(tiny), "replay", 1, out=tmp_path / "p", data=cifar10, plots=False)
    # the pruned trial does not count: a second trial runs to completion
    assert (res.n_pruned, res.n_complete, res.n_failed) == (1, 1, 0) and res.best_toml is not None
    pruned, complete = _load(tmp_path / "p").trials
    assert pruned.state == TrialState.PRUNED and sorted(pruned.intermediate_values) == [0, 1]
    assert complete.state == TrialState.COMPLETE
    n_exp = len(complete.user_attrs["valid_curve"])
    assert experiences == [0, 1] + list(range(n_exp)) and len(pruned.user_attrs["valid_curve"]) == 2  # stopped at once


def test_a_pruner_that_cuts_every_trial_stops_at_the_cap(tiny, tmp_path, monkeypatch):
    def reporting(ctx):
        def objective(trial):
            tuning.suggest_params(trial, ctx.space)
            trial.report(0.5, 0)
            if trial.should_prune():
                raise optuna.TrialPruned()
            return 0.5
        return objective

    monkeypatch.setattr(tuning.samplers, "make_pruner", lambda name, **kw: _PruneAll())
    res = tuning.tune(load_benchmark(tiny), "replay", 2, out=tmp_path / "cap", objective_factory=reporting,
                      plots=False)
    assert not res.ok and res.n_complete == 0 and res.n_pruned == tuning.workers.MAX_TRIALS_FACTOR * 2
    assert "cap of 10 trials" in res.summary()


def test_multi_objective_pareto_front(tiny, tmp_path, cifar10):
    out = tmp_path / "mo"
    res = tuning.tune(load_benchmark(tiny), "replay", 2, out=out, data=cifar10, multi_objective=True,
                      pruner="median")  # ignored with a note: Optuna does not prune multi-objective trials
    assert res.ok, res.summary()
    study = _load(out)
    assert [d.name for d in study.directions] == ["MAXIMIZE", "MINIMIZE", "MINIMIZE"]
    assert all("NSGAIISampler:generation" in t.system_attrs for t in study.trials)  # NSGA-II by default
    front = sorted(out.glob("pareto/trial-*.toml"))
    assert len(front) == len(study.best_trials) >= 1
    for path in front:
        load_benchmark(path)
    assert (out / "best.toml").is_file() and (out / "pareto_front.png").is_file()
    for t in study.get_trials(states=(TrialState.COMPLETE,)):
        acc, forgetting, params = t.values
        assert params == t.user_attrs["n_params"] and acc == t.user_attrs["final_accuracy"]
    # a single-objective run on a multi-objective study is refused before anything changes
    db = _digest(out / "study.db")
    with pytest.raises(ConfigError, match="multi-objective"):
        tuning.tune(load_benchmark(tiny), "replay", 3, out=out, data=cifar10)
    assert _digest(out / "study.db") == db


# --------------------------------------------------------------------------
# Workers, resuming, pruned and failed trials (stand-in objectives)


def test_two_worker_processes_finish_exactly_n_trials(tiny, tmp_path):
    out = tmp_path / "par"
    bench = load_benchmark(tiny)
    # one worker first (SQLite), then two: the study moves into a journal file and goes on
    first = tuning.tune(bench, "replay", 2, out=out, objective_factory=fast_objective, plots=False)
    assert first.ok and (out / "study.db").is_file()
    before = {t.number: t.params for t in _load(out).trials}
    # a refused parallel resume leaves no trace that would hide the SQLite study next time
    incompatible = _with(tmp_path, 'choices = ["constant", "trainable"]', 'choices = ["trainable"]', "inc.toml")
    with pytest.raises(ConfigError, match="does not match the existing study"):
        tuning.tune(load_benchmark(incompatible), "replay", 9, out=out, jobs=2, study_name="tiny-replay",
                    objective_factory=fast_objective, plots=False)

    res = tuning.tune(bench, "replay", 9, out=out, jobs=2, objective_factory=fast_objective, plots=False)
    assert res.ok, res.summary()
    assert res.n_failed == 0 and (out / "journal.log").is_file()
    study = _load(out)
    trials = study.get_trials()
    numbers = [t.number for t in trials]
    assert len(numbers) == len(set(numbers))
    done = [t for t in trials if t.state in (TrialState.COMPLETE, TrialState.PRUNED)]
    assert len(done) == 9
    assert {t.number: t.params for t in trials if t.number in before} == before
    # anything else is a surplus trial that never ran
    assert all(t.user_attrs.get("isocl_surplus") for t in trials if t.state == TrialState.FAIL)
    assert not [t for t in trials if t.state == TrialState.RUNNING]
    workers = {t.user_attrs["worker"] for t in done if t.number not in before}
    assert len(workers) == 2  # both processes ran trials ...
    lrs = [t.params["lr"] for t in done]
    assert len(set(lrs)) == len(lrs)  # ... with their own sampler seeds
    # the parallel study resumes too
    again = tuning.tune(bench, "replay", 9, out=out, jobs=2, objective_factory=fast_objective, plots=False)
    assert again.new_trials == 0


def test_killed_workers_leave_running_trials_that_resume_fails_and_retries(tiny, tmp_path):
    out = tmp_path / "killed"
    bench = load_benchmark(tiny)
    res = tuning.tune(bench, "replay", 3, out=out, jobs=2, objective_factory=dying_objective, plots=False)
    assert not res.ok and len(res.worker_errors) == 2  # both workers were SIGKILLed mid-trial
    study = _load(out)
    assert _states(study) == {TrialState.COMPLETE: 1, TrialState.RUNNING: 2}
    stale = {t.number: t.params for t in study.get_trials(states=(TrialState.RUNNING,))}

    res = tuning.tune(bench, "replay", 3, out=out, objective_factory=fast_objective, plots=False)
    assert res.ok and sorted(res.stale_failed) == sorted(stale)
    study = _load(out)
    assert _states(study) == {TrialState.COMPLETE: 3, TrialState.FAIL: 2}
    retried = {t.system_attrs["failed_trial"]: t.params for t in study.trials if "failed_trial" in t.system_attrs}
    assert retried == stale  # the killed trials' parameters were run again
    for t in study.get_trials(states=(TrialState.FAIL,)):
        assert t.system_attrs["isocl_fail_reason"].startswith("stale")


def test_trial_left_running_in_sqlite_is_failed_on_resume(tiny, tmp_path):
    out = tmp_path / "stale"
    bench = load_benchmark(tiny)
    tuning.tune(bench, "replay", 1, out=out, objective_factory=fast_objective, plots=False)
    orphan = _load(out).ask()  # a trial whose process died: RUNNING forever
    orphan.suggest_float("lr", 1e-4, 1e-2, log=True)
    res = tuning.tune(bench, "replay", 3, out=out, objective_factory=fast_objective, plots=False)
    assert res.stale_failed == [orphan.number]
    assert _states(_load(out)) == {TrialState.COMPLETE: 3, TrialState.FAIL: 1}


def test_only_complete_trials_count(tiny, tmp_path):
    out = tmp_path / "flaky"
    res = tuning.tune(load_benchmark(tiny), "replay", 4, out=out, objective_factory=flaky_objective, plots=False)
    assert res.ok
    study = _load(out)
    assert _states(study) == {TrialState.COMPLETE: 4, TrialState.PRUNED: 1, TrialState.FAIL: 1}
    assert study.trials[1].state == TrialState.FAIL


def test_worker_stops_when_every_trial_fails(tiny, tmp_path):
    res = tuning.tune(load_benchmark(tiny), "replay", 5, out=tmp_path / "f", objective_factory=failing_objective,
                      plots=False)
    assert not res.ok and res.n_failed == tuning.MAX_CONSECUTIVE_FAILURES and res.best_toml is None
    assert "failed trials in a row" in res.summary()


# --------------------------------------------------------------------------
# Search spaces


@pytest.mark.parametrize(
    ("old", "new", "match"),
    [
        ('[search.replay]\nlr = { type = "float", low = 1e-4, high = 1e-2, log = true }\n'
         'mem_size = { type = "int", low = 20, high = 100, step = 20 }\n'
         '"model.intrinsic" = { type = "categorical", choices = ["constant", "trainable"] }\n',
         "[search.replay]\n", r"search\.replay is empty"),
        ('type = "float"', 'type = "loguniform"', r"search\.replay\.lr\.type = 'loguniform': unknown type"),
        ("low = 1e-4, high = 1e-2", "low = 1e-2, high = 1e-4", r"search\.replay\.lr: low = 0\.01 >= high"),
        ("low = 1e-4, high = 1e-2", "low = 0.0, high = 1e-2", r"search\.replay\.lr: log = true needs low > 0"),
        ("mem_size = { type", "mem_sise = { type", r"search\.replay\.mem_sise: unknown parameter for strategy "
                                                   r"'replay'; expected one of \[.*'mem_size'"),
        ('mem_size = { type = "int", low = 20', 'mem_size = { type = "float", low = 20',
         r"search\.replay\.mem_size: type 'float' for an int parameter"),
        ('choices = ["constant", "trainable"]', 'choices = ["constant", "sometimes"]',
         r"search\.replay\.model\.intrinsic: value 'sometimes' is not accepted"),
        ("step = 20 }", "step = 30 }", r"not a multiple of step"),
        ("lr = { type", "lr = 3\nx = { type", r"search\.replay\.lr = 3: expected a table"),
    ],
)
def test_bad_search_space_is_a_config_error_naming_file_and_key(tmp_path, old, new, match):
    path = _with(tmp_path, old, new)
    with pytest.raises(ConfigError, match=match) as info:
        tuning.tune(load_benchmark(path), "replay", 2, out=tmp_path / "s")
    assert str(path) in str(info.value)
    assert not (tmp_path / "s" / "study.db").exists()


def test_default_spaces(tiny):
    bench = load_benchmark(tiny)
    assert set(tuning.default_space("naive", bench)) == {"lr"}
    assert set(tuning.default_space("replay", bench)) == {"lr"}  # declared: the buffer is part of the comparison
    ewc = tuning.default_space("ewc", bench)
    assert set(ewc) == {"lr", "ewc_lambda"} and ewc["ewc_lambda"]["log"]
    for name in ("naive", "replay", "ewc", "si", "lwf", "agem"):
        space = tuning.default_space(name, bench)
        assert tuning.validate_space(space, name, bench) == space


def test_default_space_of_a_neuroplastic_strategy_uses_only_its_parameters(tiny):
    from isocl.bench import registry

    from isocl.bench.spaces import NEURO

    defaults = {"prune_threshold": 0.05, "prune_criterion": "sv", "grow_count": 4, "min_width": 2,
                "finetune_epochs": 0, "log_structure": True, "momentum_reset": 0.5}
    registry.register_strategy("test-tuning-neuro", defaults=defaults, neuroplastic=True)(lambda ctx, **kw: None)
    try:
        bench = load_benchmark(tiny)  # 1 epoch: fine-tune epochs (counted in it) cannot be searched
        space = tuning.default_space("test-tuning-neuro", bench)
        assert set(space) == {"lr", "model.intrinsic", "prune_threshold", "prune_criterion", "grow_count",
                              "min_width"}
        assert space["prune_threshold"] == NEURO["prune_threshold"]  # the one declared range
        assert space["prune_threshold"]["low"] < 0.05 < space["prune_threshold"]["high"]
        assert space["prune_criterion"]["choices"] == ["sv", "sv_out"]
        assert space["grow_count"] == NEURO["grow_count"] and space["grow_count"]["type"] == "int"
        assert space["grow_count"]["low"] <= 4 <= space["grow_count"]["high"]
        assert space["min_width"]["low"] <= 2 <= space["min_width"]["high"]
        assert tuning.validate_space(space, "test-tuning-neuro", bench) == space
        three = load_benchmark(tiny).replace()
        three.training["epochs"] = 3  # below 3 epochs: 0..2
        assert tuning.default_space("test-tuning-neuro", three)["finetune_epochs"] == {
            "type": "int", "low": 0, "high": 2, "log": False}
    finally:
        registry._REGISTRY.pop("test-tuning-neuro", None)


def test_default_spaces_of_the_neuro_strategies(tiny, tmp_path):
    from isocl.bench.registry import get_strategy, list_strategies

    bench = load_benchmark(tiny)
    neuro = [s.name for s in list_strategies() if s.neuroplastic]
    if not neuro:
        pytest.skip("no neuroplastic strategy registered in this checkout")
    for name in neuro:
        spec = get_strategy(name)
        space = tuning.default_space(name, bench)
        assert set(space) - {"lr", "model.intrinsic"} <= set(spec.defaults), name
        assert tuning.validate_space(space, name, bench) == space
        mode = spec.defaults.get("grow_mode")
        if mode == "buffer" or (mode is None and "grow_count" not in spec.defaults):
            assert "grow_count" not in space
        elif "grow_count" in spec.defaults:
            assert "grow_count" in space and "buffer_size" not in space, name
    if "neuro-grow-prune" in neuro:
        # the growth parameters follow the mode the benchmark configures
        path = _with(tmp_path, "[strategy.replay]", '[strategy.neuro-grow-prune]\ngrow_mode = "buffer"\n\n[strategy.replay]')
        space = tuning.default_space("neuro-grow-prune", load_benchmark(path))
        assert {"buffer_size", "scaffold_threshold"} <= set(space) and "grow_count" not in space


def test_space_to_toml_round_trips(tiny):
    import tomllib

    bench = load_benchmark(tiny)
    for name in ("replay", "ewc", "naive"):
        space = tuning.default_space(name, bench)
        parsed = tomllib.loads(tuning.space_to_toml(name, space))["search"][name]
        assert tuning.validate_space(parsed, name, bench) == space
    declared = tuning.validate_space(bench.search["replay"], "replay", bench)
    parsed = tomllib.loads(tuning.space_to_toml("replay", declared))["search"]["replay"]
    assert tuning.validate_space(parsed, "replay", bench) == declared


# --------------------------------------------------------------------------
# Errors: strategy, storage, CLI exit codes; an existing study is never touched


def test_unknown_strategy_and_missing_validation_split(tiny, tmp_path):
    with pytest.raises(ConfigError, match=r"unknown strategy 'no-such'") as info:
        tuning.tune(load_benchmark(tiny), "no-such", 2, out=tmp_path / "s")
    assert str(tiny) in str(info.value)
    path = _with(tmp_path, "validation_fraction = 0.2", "validation_fraction = 0.0")
    with pytest.raises(ConfigError, match="validation_fraction"):
        tuning.tune(load_benchmark(path), "replay", 2, out=tmp_path / "s")
    with pytest.raises(ConfigError, match="--trials"):
        tuning.tune(load_benchmark(tiny), "replay", 0, out=tmp_path / "s")


def test_bad_storage(tiny, tmp_path):
    bench = load_benchmark(tiny)
    (tmp_path / "afile").write_text("x")
    for url, match in [
        ("postgresql://nobody@127.0.0.1:1/x", "cannot open the study storage"),
        (f"sqlite:///{tmp_path}/afile/sub/x.db", "does not exist"),
        (f"sqlite:///{tmp_path}/missing/x.db", "does not exist"),
        (f"journal:{tmp_path}/missing/j.log", "does not exist"),
        ("study.db", "not a storage URL"),
    ]:
        with pytest.raises(ConfigError, match=match):
            tuning.tune(bench, "replay", 2, storage=url, out=tmp_path / "o")
    assert not (tmp_path / "missing").exists()


def test_cli_errors_exit_2_and_leave_the_study_alone(tiny, tmp_path, capsys):
    from isocl.cli import main

    out = tmp_path / "s"
    tuning.tune(load_benchmark(tiny), "replay", 1, out=out, objective_factory=fast_objective, plots=False)
    db = _digest(out / "study.db")
    bad_space = _with(tmp_path, "low = 1e-4, high = 1e-2", "low = 1e-2, high = 1e-4")
    incompatible = _with(tmp_path, 'choices = ["constant", "trainable"]', 'choices = ["trainable"]', "inc.toml")
    cases = [
        ["tune", str(bad_space), "--strategy", "replay", "--trials", "2", "--out", str(out)],
        ["tune", str(incompatible), "--strategy", "replay", "--trials", "2", "--out", str(out), "--study", "tiny-replay"],
        ["tune", str(tiny), "--strategy", "nope", "--trials", "2", "--out", str(out)],
        ["tune", str(tiny), "--strategy", "replay", "--trials", "2", "--out", str(out),
         "--storage", "postgresql://nobody@127.0.0.1:1/x"],
        ["tune", str(tiny), "--strategy", "replay", "--trials", "2", "--out", str(out), "--sampler", "cmaes",
         "--multi-objective"],
        ["tune", str(tiny), "--strategy", "replay", "--trials", "0", "--out", str(out)],
        ["evaluate", str(tmp_path / "missing.toml")],
    ]
    for argv in cases:
        capsys.readouterr()
        assert main(argv) == 2, argv
        err = capsys.readouterr().err.strip()
        assert err.startswith(f"isocl {argv[0]}: error:") and "\n" not in err, err
    assert _digest(out / "study.db") == db
    assert len(_load(out).trials) == 1


def test_cli_help_mentions_resume_and_multi_objective_pruning(capsys):
    from isocl.cli import main

    with pytest.raises(SystemExit):
        main(["tune", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "resumes the study" in text and "Optuna does not prune multi-objective trials" in text
    for flag in ("--storage", "--study", "--jobs", "--timeout", "--out", "--pruner", "--sampler",
                 "--multi-objective", "--seed"):
        assert flag in text
