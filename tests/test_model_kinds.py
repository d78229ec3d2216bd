"""Model kinds (isocl.nn.kinds): every registered kind builds, trains on tiny data and reports its size."""

from __future__ import annotations

import pytest
import torch

from isocl.bench.checkpoints import evaluate_saved_model, read_metadata
from isocl.bench.config import ConfigError, parse_benchmark
from isocl.bench.context import StrategyContext
from isocl.bench.runner import run_unit
from isocl.bench.scenarios import build_scenario
from isocl.bench.units import check_benchmark
from isocl.bench.scenarios import synthetic_tensors
from isocl.nn.kinds import ISOTROPIC_KINDS, KIND_MODULES, MODEL_KINDS, build_model, model_kind
from isocl.nn.models import parameter_count

SMALL = {"mlp": {"widths": [16]}, "cnn": {"channels": [4], "widths": [8]}}

# the published sizes with a 10-class head: SlimResNet18 (GEM, Avalanche) and the CIFAR ResNet-18 (11.17M)
PARAMS_10_CLASSES = {"slim_resnet18": 1_094_750, "resnet18": 11_173_962}


def _bench(kind: str, setting: str = "class_il", strategy: str = "naive", **training):
    return parse_benchmark({
        "name": "kinds", "strategies": [strategy], "twins": False, "controls": False,
        "scenario": {"setting": setting, "n_experiences": 5, "validation_fraction": 0.0},
        "training": {"epochs": 1, "batch_size": 8, **training},
        "model": {"kind": kind, **SMALL.get(kind, {})},
    })


def test_every_listed_kind_registers_under_its_name():
    assert MODEL_KINDS == tuple(KIND_MODULES)
    for name in MODEL_KINDS:
        kind = model_kind(name)
        assert kind.name == name
        assert kind.isotropic == (name in ISOTROPIC_KINDS)


@pytest.mark.parametrize("setting", ["class_il", "task_il"])
@pytest.mark.parametrize("kind", MODEL_KINDS)
def test_kind_builds_from_the_benchmark_with_one_head_or_one_per_task(kind, setting):
    bench = _bench(kind, setting)
    ctx = StrategyContext(bench=bench, seed=0, device=torch.device("cpu"), evaluator=None, epochs=1)
    cfg = ctx.model_config()
    assert cfg.multi_head == (setting == "task_il") and cfg.initial_classes == 2
    model = build_model(cfg)
    x = torch.randn(3, 3, 32, 32)
    out = model(x, torch.zeros(3, dtype=torch.long)) if setting == "task_il" else model(x)
    assert out.shape == (3, 2)


@pytest.mark.parametrize("kind", sorted(PARAMS_10_CLASSES))
def test_resnet_kinds_train_on_tiny_data_and_report_the_published_parameter_count(kind):
    data = synthetic_tensors(3, 2, seed=0)
    bench = _bench(kind, optimizer="sgd", lr=0.05)
    result = run_unit(bench, "naive", 0, scenario=build_scenario(bench, data, 0))
    assert result.status == "ok", result.error
    assert len(result.experiences) == 5
    assert result.params == PARAMS_10_CLASSES[kind]  # after 5 experiences the head holds 10 classes
    body = PARAMS_10_CLASSES[kind] - 10 * (8 * model_kind(kind).config_cls().nf + 1)  # without the head
    head_rows = [(e["params"] - body) // (8 * model_kind(kind).config_cls().nf + 1) for e in result.experiences]
    assert head_rows == sorted(head_rows) and 2 <= head_rows[0] < 10 == head_rows[-1]  # a head growing to 10


@pytest.mark.parametrize("setting", ["class_il", "task_il"])
def test_a_saved_resnet_is_rebuilt_with_its_grown_heads_and_scores_as_it_did(tmp_path, setting):
    data = synthetic_tensors(3, 2, seed=0)
    bench = _bench("slim_resnet18", setting, optimizer="sgd", lr=0.05)
    result = run_unit(bench, "naive", 0, scenario=build_scenario(bench, data, 0), save_models="final")
    assert result.status == "ok", result.error
    (name, blob), = [(k, v) for k, v in result.files.items() if k.startswith("models/")]
    path = tmp_path / "model.safetensors"
    path.write_bytes(blob)
    assert read_metadata(path)["model_kind"] == "slim_resnet18"
    scores = evaluate_saved_model(path, data=data)["accuracy"]
    assert scores == [r["accuracy"] for r in result.matrix if r["trained_exp"] == 4]


def test_resnet_kinds_refuse_the_mlp_keys_and_the_neuroplastic_strategies():
    with pytest.raises(ConfigError, match=r"model.widths: does not apply to kind = 'resnet18'; expected no key"):
        parse_benchmark({"name": "x", "strategies": ["naive"], "model": {"kind": "resnet18", "widths": [8]}})
    with pytest.raises(ConfigError, match=r"model.kind = 'vgg' is invalid; expected one of mlp, cnn, slim_resnet18"):
        parse_benchmark({"name": "x", "strategies": ["naive"], "model": {"kind": "vgg"}})
    for strategy in ("neuro-grow-prune", "naive-tanh"):
        with pytest.raises(ConfigError, match=rf"strategy '{strategy}' runs only on model.kind = mlp or cnn; "
                                               r"this benchmark's model.kind is 'slim_resnet18'"):
            check_benchmark(_bench("slim_resnet18", strategy=strategy))
    assert check_benchmark(_bench("slim_resnet18", strategy="replay")) == ["replay"]


@pytest.mark.parametrize("strategy", ["der", "er-ace", "icarl"])
def test_the_fields_buffer_baselines_train_a_resnet_with_augmentation(strategy):
    data = synthetic_tensors(4, 2, seed=0)
    bench = parse_benchmark({
        "name": "kinds", "strategies": [strategy], "twins": False, "controls": False,
        "scenario": {"n_experiences": 5, "validation_fraction": 0.0, "augment": "crop-flip"},
        "training": {"epochs": 1, "batch_size": 8, "optimizer": "sgd", "lr": 0.05},
        "model": {"kind": "slim_resnet18"}, "strategy": {strategy: {"mem_size": 20}},
    })
    result = run_unit(bench, strategy, 0, scenario=build_scenario(bench, data, 0))
    assert result.status == "ok", result.error
    assert result.params == PARAMS_10_CLASSES["slim_resnet18"]
