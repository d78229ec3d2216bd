"""Twins and controls beside neuroplastic strategies, paired seeds, matched compute (isocl.bench.runner)."""

from __future__ import annotations

import pandas as pd
import pytest
import torch

import isocl.bench.runner as runner
from isocl.bench import results, scenarios, units
from isocl.bench.config import ConfigError, parse_benchmark
from isocl.bench.scenarios import synthetic_tensors

DATA = synthetic_tensors(24, 8, seed=2)


def bench(strategies, epochs=2, **extra):
    raw = {
        "name": "tiny", "strategies": strategies,
        "scenario": {"validation_fraction": 0.0},
        "training": {"epochs": epochs, "batch_size": 16, "seeds": [0, 1], "lr": 1e-3},
        "model": {"widths": [16, 16]},
    }
    for key, value in extra.items():
        raw.setdefault(key, {}).update(value) if isinstance(value, dict) else raw.__setitem__(key, value)
    return parse_benchmark(raw)


def run(b, out, **kw):
    return runner.run_benchmark(b, out, data=DATA, progress=False, command=["isocl", "test"], **kw)


def test_controls_run_beside_each_neuroplastic_strategy(tmp_path):
    b = bench(["neuro-grow-prune"], strategy={"neuro-grow-prune": {"grow_count": 4, "min_width": 4}})
    assert units.companions(b, "neuro-grow-prune") == [
        "fixed-final:neuro-grow-prune", "fixed-max:neuro-grow-prune",
        "diag-only:neuro-grow-prune", "reset:neuro-grow-prune",
    ]
    assert units.companions(b, "naive") == []
    assert units.companions(b.replace(controls=False), "neuro-grow-prune") == [
        "fixed-final:neuro-grow-prune", "fixed-max:neuro-grow-prune"]
    run(b, tmp_path / "r", seeds=[0])
    recs = {u["strategy"]: u for u in results.load_units(tmp_path / "r")}
    parent, diag, reset = recs["neuro-grow-prune"], recs["diag-only:neuro-grow-prune"], recs["reset:neuro-grow-prune"]
    assert all(u["status"] == "ok" for u in recs.values())
    # diag-only: the strategy's final widths throughout, only diagonalisations, at the same points as its prunes
    assert {e["widths"] for e in diag["experiences"]} == {"-".join(map(str, parent["final_widths"]))}
    assert {e["event"] for e in diag["structure"]} == {"diagonalise"}
    prune_points = sorted({(e["experience"], e["layer"]) for e in parent["structure"] if e["event"] == "prune"})
    diag_points = sorted({(e["experience"], e["layer"]) for e in diag["structure"]})
    assert diag_points == prune_points
    assert max(float(e["max_logit_change"]) for e in diag["structure"]) < 1e-4  # rotations are exact
    # reset: the same moves (same kinds, same experiences), different optimiser state -> other numbers
    assert [(e["experience"], e["event"]) for e in reset["structure"]][:4] == \
        [(e["experience"], e["event"]) for e in parent["structure"]][:4]
    assert reset["matrix"] != parent["matrix"]


def test_reset_control_clears_adam_state_at_moves():
    from isocl.bench.context import StrategyContext
    from isocl.bench.metrics import default_evaluator
    from isocl.bench.registry import get_strategy
    from isocl.bench.scenarios import make_split_cifar10

    b = bench(["neuro-grow-prune"])
    states = {}
    for control in (None, "reset"):
        ctx = StrategyContext(bench=b, seed=0, device=torch.device("cpu"), evaluator=default_evaluator(), epochs=2,
                              generator=torch.Generator().manual_seed(0), control=control)
        spec = get_strategy("neuro-grow-prune")
        strat = spec.factory(ctx, **spec.resolve({"grow_count": 4}))
        exp0 = next(iter(make_split_cifar10(DATA, setting="class_il", seed=0).train_stream))
        strat.train(exp0)  # ends with a prune (diagonalise + cut), Adam state edited or reset
        w = strat.model.layers[0].linear.weight
        states[control] = strat.optimizer.state.get(w, {})
    assert float(states[None]["exp_avg"].abs().max()) > 0
    assert "exp_avg" not in states["reset"] or float(states["reset"]["exp_avg"].abs().max()) == 0


def test_finetune_epochs_count_against_the_epoch_budget():
    from isocl.bench.context import StrategyContext
    from isocl.bench.metrics import default_evaluator
    from isocl.bench.registry import get_strategy

    b = bench(["neuro-prune"], epochs=3)
    ctx = StrategyContext(bench=b, seed=0, device=torch.device("cpu"), evaluator=default_evaluator(), epochs=3)
    spec = get_strategy("neuro-prune")
    strat = spec.factory(ctx, **spec.resolve({"finetune_epochs": 1}))
    assert strat.train_epochs == 2  # 2 before pruning + 1 after = the budget of 3
    with pytest.raises(ConfigError, match=r"finetune_epochs = 3 must be below the training epochs \(3\)"):
        spec.factory(ctx, **spec.resolve({"finetune_epochs": 3}))


def test_seeds_vary_the_scenario_and_pair_strategies():
    b = bench(["naive"])
    s0, s1 = scenarios.build_scenario(b, DATA, 0), scenarios.build_scenario(b, DATA, 1)
    order = lambda sc: [tuple(e.classes_in_this_experience) for e in sc.train_stream]  # noqa: E731
    assert order(s0) != order(s1)  # class order follows the unit's seed
    assert order(scenarios.build_scenario(b, DATA, 0)) == order(s0)  # every strategy of seed 0 sees the same
    fixed = b.replace()
    fixed.scenario["vary_with_seed"] = False
    assert order(scenarios.build_scenario(fixed, DATA, 0)) == order(scenarios.build_scenario(fixed, DATA, 1))


def test_twins_have_their_own_learning_rate_and_controls_inherit_the_strategy_s():
    b = bench(["neuro-grow-prune-replay"], strategy={
        "neuro-grow-prune-replay": {"lr": 3e-3, "mem_size": 60},
        "fixed-final:neuro-grow-prune-replay": {"lr": 5e-4},
    })
    parent_bench, spec, params, control = units.resolve_unit(b, "neuro-grow-prune-replay")
    assert parent_bench.training["lr"] == 3e-3 and params["mem_size"] == 60 and control is None
    twin_bench, twin, twin_params, _ = units.resolve_unit(b, "fixed-final:neuro-grow-prune-replay")
    assert twin.name == "replay" and twin_params == {"mem_size": 60}  # the buffer is passed on ...
    assert twin_bench.training["lr"] == 5e-4  # ... the learning rate is the twin's own
    max_bench, _, _, _ = units.resolve_unit(b, "fixed-max:neuro-grow-prune-replay")
    assert max_bench.training["lr"] == 1e-3  # no table of its own: the benchmark's, never the strategy's
    diag_bench, diag_spec, diag_params, control = units.resolve_unit(b, "diag-only:neuro-grow-prune-replay")
    assert control == "diag-only" and diag_bench.training["lr"] == 3e-3 and diag_params == params


def test_a_companion_table_with_a_wrong_parameter_is_refused():
    b = bench(["neuro-grow-prune"], strategy={"fixed-final:neuro-grow-prune": {"prune_threshold": 0.1}})
    with pytest.raises(ConfigError, match=r"\[strategy.fixed-final:neuro-grow-prune\]: unknown parameter "
                                          r"'prune_threshold' for strategy 'naive'"):
        units.check_benchmark(b)


@pytest.mark.slow  # see tox -e fast
def test_parallel_jobs_give_the_sequential_results(tmp_path):
    """--jobs 2: spawned workers, one torch thread each, give bit-identical records."""
    b = bench(["naive", "neuro-grow-prune"], epochs=1, strategy={"neuro-grow-prune": {"grow_count": 4}})
    b.twins = False
    seq = run(b, tmp_path / "seq", threads=1)
    par = run(b, tmp_path / "par", jobs=2, threads=1)
    assert len(seq) == len(par) == 2 * 4  # 2 seeds x (naive, neuro-grow-prune, diag-only, reset)
    for name in ("metrics", "structure"):
        a, p = pd.read_csv(tmp_path / "seq" / f"{name}.csv"), pd.read_csv(tmp_path / "par" / f"{name}.csv")
        pd.testing.assert_frame_equal(a, p)
    (tmp_path / "par" / "units" / "naive-seed1.json").unlink()
    calls = []
    real = runner.run_unit_job
    runner.run_unit_job = lambda *a, **k: calls.append(a[1:3]) or real(*a, **k)
    try:
        run(b, tmp_path / "par", threads=1)  # resumes the parallel run's folder: only the missing unit runs
    finally:
        runner.run_unit_job = real
    assert calls == [("naive", 1)]
    pd.testing.assert_frame_equal(pd.read_csv(tmp_path / "seq" / "metrics.csv"),
                                  pd.read_csv(tmp_path / "par" / "metrics.csv"))
