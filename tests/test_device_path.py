"""The GPU path, run on the CPU: device-resident batches, bf16 autocast, ``isocl speed --device`` (issue 18)."""

import tomllib

import pytest
import torch

from isocl.bench.config import parse_benchmark, to_toml
from isocl.bench.context import AutocastPlugin, StrategyContext, TensorBatches, to_device
from isocl.bench.metrics import default_evaluator
from isocl.bench.registry import get_strategy
from isocl.bench.runner import _comparable
from isocl.bench.scenarios import make_split_cifar10, synthetic_tensors

DATA = synthetic_tensors(n_train_per_class=16, n_test_per_class=8, seed=0)


def make(precision="float32", strategy="naive"):
    bench = parse_benchmark({
        "name": "tiny", "strategies": [strategy],
        "scenario": {"setting": "class_il", "validation_fraction": 0.0},
        "training": {"epochs": 1, "batch_size": 16, "seeds": [0], "precision": precision},
        "model": {"widths": [16]},
    })
    scenario = make_split_cifar10(DATA, setting="class_il", seed=0)
    torch.manual_seed(0)
    ctx = StrategyContext(bench=bench, seed=0, device=torch.device("cpu"), evaluator=default_evaluator(),
                          epochs=1, generator=torch.Generator().manual_seed(0))
    spec = get_strategy(strategy)
    return spec.factory(ctx, **spec.resolve({})), scenario


def test_batches_index_the_resident_tensors_in_the_generators_order():
    x, y, t = torch.randn(10, 3), torch.arange(10), torch.zeros(10, dtype=torch.long)
    x, y, t = to_device((x, y, t), "cpu")
    batches = list(TensorBatches(x, y, t, 4, True, torch.Generator().manual_seed(3)))
    order = torch.randperm(10, generator=torch.Generator().manual_seed(3))
    assert [b[1].tolist() for b in batches] == [order[:4].tolist(), order[4:8].tolist(), order[8:].tolist()]
    assert all(torch.equal(b[0], x[b[1]]) for b in batches)
    assert to_device((x,), "cpu")[0] is x  # already there: no copy


def test_strategy_loaders_hold_the_experience_on_the_strategy_device():
    from avalanche.training.plugins import SupervisedPlugin

    devices = []

    class Spy(SupervisedPlugin):
        def before_training_epoch(self, strategy, **kwargs):
            devices.append((type(strategy.dataloader).__name__, strategy.dataloader.x.device))

    strat, scenario = make()
    strat.plugins.append(Spy())
    strat.train(scenario.train_stream[0])
    assert devices == [("TensorBatches", torch.device(strat.device))]
    strat.eval(scenario.test_stream[:1])
    cached = scenario.test_stream[0]._isocl_eval_tensors
    assert cached[0].device == torch.device(strat.device)


def test_bf16_autocast_trains_in_bf16_and_hands_float32_to_the_loss():
    seen = []

    class Spy(AutocastPlugin):
        def after_forward(self, strategy, **kwargs):
            seen.append((torch.is_autocast_enabled("cpu"), strategy.mb_output.dtype))
            super().after_forward(strategy, **kwargs)
            seen.append((torch.is_autocast_enabled("cpu"), strategy.mb_output.dtype))

    strat, scenario = make("bf16")
    assert sum(isinstance(p, AutocastPlugin) for p in strat.plugins) == 1
    strat.plugins = [Spy("cpu") if isinstance(p, AutocastPlugin) else p for p in strat.plugins]
    strat.train(scenario.train_stream[0])
    assert seen[0] == (True, torch.bfloat16)  # the forward ran under autocast
    assert seen[1] == (False, torch.float32)  # the loss sees float32, autocast left
    assert all(p.dtype == torch.float32 for p in strat.model.parameters())
    res = strat.eval(scenario.test_stream[:1])
    assert 0.0 <= res["Top1_Acc_Exp/eval_phase/test_stream/Task000/Exp000"] <= 1.0
    plain, _ = make("float32")
    assert not any(isinstance(p, AutocastPlugin) for p in plain.plugins)


def test_bf16_changes_the_logits_by_bf16_rounding_only():
    strat, scenario = make()
    model = strat.model.eval()
    x = DATA.x_train[:32]
    with torch.no_grad():
        ref = model.backbone(x)  # the untrained head reads zeros; the backbone's features do not
        with torch.autocast("cpu", dtype=torch.bfloat16):
            low = model.backbone(x).float()
    err = float((low - ref).abs().max())
    assert 0 < err <= 2.0 ** -6 * max(1.0, float(ref.abs().max()))  # bf16 keeps 8 bits of mantissa


def test_precision_defaults_to_float32_and_old_folders_compare_equal():
    bench = parse_benchmark({"name": "x", "strategies": ["naive"]})
    assert bench.training["precision"] == "float32"
    new = tomllib.loads(to_toml(bench.to_dict()))
    old = tomllib.loads(to_toml(bench.to_dict()))
    del old["training"]["precision"], old["training"]["audit"]  # written before the keys existed
    assert _comparable(old) == _comparable(new)
    old["training"]["precision"] = "bf16"
    assert _comparable(old) != _comparable(new)
    with pytest.raises(Exception, match="precision"):
        parse_benchmark({"name": "x", "strategies": ["naive"], "training": {"precision": "fp16"}})


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the refusal on a machine without CUDA")
def test_speed_refuses_cuda_without_it(capsys):
    from isocl import cli

    assert cli.main(["speed", "--device", "cuda", "--repeats", "1"]) == 2
    err = capsys.readouterr().err
    assert "--device cuda: CUDA is not available on this machine" in err and len(err.strip().splitlines()) == 1


def test_plain_loop_runs_on_the_given_device():
    from isocl.bench.speed import plain_loop, speed_benchmark

    bench = speed_benchmark(device="cpu")
    bench.model["widths"] = [8]
    train = [(DATA.x_train[:32], DATA.y_train[:32])] * 2
    test = [(DATA.x_test[:16], DATA.y_test[:16])] * 2
    res = plain_loop(bench, train, test)
    assert 0.0 <= res.final_accuracy <= 1.0 and res.train_s > 0
