"""model.kind = "cnn" in benchmark files: validation, and every shipped strategy on a tiny CNN (synthetic data)."""

from pathlib import Path

import pytest
import torch

from isocl.bench.config import ConfigError, load_benchmark, parse_benchmark
from isocl.bench.context import StrategyContext
from isocl.bench.metrics import default_evaluator
from isocl.bench.registry import get_strategy, list_strategies
from isocl.bench.units import check_benchmark
from isocl.bench.scenarios import make_split_cifar10, synthetic_tensors
from isocl.nn.cnn import CNNConfig

DATA = synthetic_tensors(n_train_per_class=8, n_test_per_class=4, seed=0)
TINY = {"kind": "cnn", "channels": [3, 4], "widths": [6], "pool": 4}


def bench(strategies, setting="class_il", model=None, **top):
    return parse_benchmark({
        "name": "tiny-cnn", "strategies": strategies, **top,
        "scenario": {"setting": setting, "validation_fraction": 0.0, "n_experiences": 2},
        "training": {"epochs": 2, "batch_size": 16, "seeds": [0]},
        "model": dict(TINY if model is None else model),
    })


def test_cnn_keys_validate_and_mlp_tables_stay_as_they_were():
    b = bench(["naive"])
    assert b.model["kind"] == "cnn" and b.model["channels"] == [3, 4] and b.model["padding"] == -1
    mlp = bench(["naive"], model={"widths": [8]})
    assert "kind" not in mlp.model and "channels" not in mlp.model


@pytest.mark.parametrize("model,message", [
    ({"kind": "resnet"}, "model.kind = 'resnet' is invalid; expected one of mlp, cnn, slim_resnet18, resnet18"),
    ({"channels": [8]}, "model.channels: applies only to kind = 'cnn'"),
    ({**TINY, "channels": []}, "model.channels = [] is invalid"),
    ({**TINY, "channels": [16385]}, "model.channels = [16385] is invalid; expected a non-empty list of ints >= 1"),
    ({**TINY, "kernel_size": 0}, "model.kernel_size = 0 is invalid"),
    ({**TINY, "padding": -2}, "model.padding = -2 is invalid"),
    ({**TINY, "channels": [4] * 6, "pool": 2}, "model: the feature map vanishes"),
])
def test_bad_cnn_values_are_one_line(model, message):
    with pytest.raises(ConfigError, match=message.replace("[", r"\[").replace("]", r"\]")) as err:
        bench(["naive"], model=model)
    assert "\n" not in str(err.value)


def test_pnn_refuses_cnn_benchmarks_in_one_line():
    with pytest.raises(ConfigError, match="strategy 'pnn' runs only on model.kind = mlp"):
        check_benchmark(bench(["pnn"], setting="task_il"))


def make(name, setting, **params):
    b = bench([name], setting=setting)
    scenario = make_split_cifar10(DATA, setting=setting, seed=0, n_experiences=2)
    torch.manual_seed(0)
    ctx = StrategyContext(bench=b, seed=0, device=torch.device("cpu"), evaluator=default_evaluator(),
                          epochs=2, generator=torch.Generator().manual_seed(0))
    spec = get_strategy(name)
    return spec.factory(ctx, **spec.resolve(params)), scenario, ctx


# One case per (setting, strategy) that runs on a CNN: a failure names its strategy and hides no other.
RUNNABLE = [(setting, s.name) for setting in ("class_il", "task_il") for s in list_strategies()
            if setting in s.settings and "cnn" in s.models]


def test_the_cnn_cases_cover_every_strategy_but_the_mlp_only_ones():
    covered = {name for _, name in RUNNABLE}
    assert covered == {s.name for s in list_strategies() if "cnn" in s.models}
    assert "pnn" not in covered and "neuro-grow-prune" in covered


@pytest.mark.parametrize("setting,name", RUNNABLE, ids=[f"{s}-{n}" for s, n in RUNNABLE])
def test_strategy_trains_a_cnn(setting, name):
    defaults = get_strategy(name).defaults
    params = {k: v for k, v in {"grow_count": 2, "min_width": 2}.items() if k in defaults}
    if name == "neuro-grow-prune-consolidate" and setting == "class_il":
        params["consolidation"] = "damp"
    strat, scenario, ctx = make(name, setting, **params)
    for exp in scenario.train_stream:
        strat.train(exp)
    strat.eval(scenario.test_stream)
    for e in ctx.audit:
        if e["event"] in ("grow", "diagonalise", "adaptive_grow"):
            assert e["max_logit_change"] <= 2e-5 * 10, e
        if e["event"] in ("prune", "adaptive_prune") and e["bound"] != "":
            assert e["max_logit_change"] <= e["bound"] + 1e-4, e
    if name.startswith("neuro-grow"):
        assert any(e["event"] == "grow" for e in ctx.audit)


def test_twin_widths_set_conv_channels_and_dense_widths():
    b = bench(["naive"])
    ctx = StrategyContext(bench=b, seed=0, device=torch.device("cpu"), evaluator=None, epochs=1,
                          model_overrides={"widths": [5, 7, 9]})
    cfg = ctx.model_config()
    assert isinstance(cfg, CNNConfig) and (cfg.channels, cfg.widths) == ([5, 7], [9])
    assert ctx.make_model().widths == [5, 7, 9]


@pytest.mark.parametrize("path", sorted(p.name for p in (Path(__file__).parent.parent / "benchmarks").glob("*_cnn*.toml")))
def test_shipped_cnn_benchmarks_validate(path):
    from conftest import REPO_ROOT

    b = load_benchmark(REPO_ROOT / "benchmarks" / path)
    assert b.model["kind"] == "cnn"
    check_benchmark(b)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_a_neuroplastic_cnn_unit_runs_on_cuda():
    b = bench(["neuro-grow-prune"])
    scenario = make_split_cifar10(DATA, setting="class_il", seed=0, n_experiences=2)
    ctx = StrategyContext(bench=b, seed=0, device=torch.device("cuda"), evaluator=default_evaluator(),
                          epochs=1, generator=torch.Generator().manual_seed(0))
    spec = get_strategy("neuro-grow-prune")
    strat = spec.factory(ctx, **spec.resolve({"grow_count": 2, "min_width": 2}))
    for exp in scenario.train_stream:
        strat.train(exp)
    assert next(strat.model.parameters()).is_cuda and any(e["event"] == "grow" for e in ctx.audit)


def test_move_cost_script_prints_its_ratio(capsys):
    import importlib.util

    from conftest import REPO_ROOT

    spec = importlib.util.spec_from_file_location("move_cost_cnn", REPO_ROOT / "benchmarks" / "move_cost_cnn.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    threads = torch.get_num_threads()
    try:
        assert module.main(["--quick", "--threads", "1"]) == 0
    finally:
        torch.set_num_threads(threads)
    assert "move / epoch ratio:" in capsys.readouterr().out
