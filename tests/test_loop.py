"""The harness's training loop: the lean evaluator skips only callbacks nobody listens to (issue 18)."""

import io

import torch
from avalanche.evaluation.metrics import accuracy_metrics, bwt_metrics, forgetting_metrics, loss_metrics
from avalanche.logging import TextLogger
from avalanche.training.plugins import EvaluationPlugin

from isocl.bench.config import parse_benchmark
from isocl.bench.context import StrategyContext
from isocl.bench.loggers import NullLogger
from isocl.bench.metrics import TRAINING_ITERATION_CALLBACKS, ModelSizeMetric, default_evaluator
from isocl.bench.registry import get_strategy
from isocl.bench.scenarios import make_split_cifar10, synthetic_tensors

DATA = synthetic_tensors(n_train_per_class=16, n_test_per_class=8, seed=0)


def test_only_unheard_training_callbacks_are_skipped():
    lean = default_evaluator()
    assert lean._isocl_silent == TRAINING_ITERATION_CALLBACKS
    assert lean.after_training_iteration(None) is None
    assert lean.after_eval_iteration.__name__ == "fun"  # evaluation callbacks still reach the metrics
    with_loggers = default_evaluator([TextLogger(io.StringIO())])  # training accuracy per epoch listens
    assert with_loggers._isocl_silent == frozenset()


def _run(evaluator):
    bench = parse_benchmark({
        "name": "tiny", "strategies": ["naive"],
        "scenario": {"setting": "class_il", "validation_fraction": 0.0},
        "training": {"epochs": 2, "batch_size": 16, "seeds": [0]},
        "model": {"widths": [16]},
    })
    scenario = make_split_cifar10(DATA, setting="class_il", seed=0)
    torch.manual_seed(0)
    ctx = StrategyContext(bench=bench, seed=0, device=torch.device("cpu"), evaluator=evaluator,
                          epochs=2, generator=torch.Generator().manual_seed(0))
    spec = get_strategy("naive")
    strat = spec.factory(ctx, **spec.resolve({}))
    results = []
    for i, exp in enumerate(list(scenario.train_stream)[:3]):
        strat.train(exp)
        results.append(strat.eval(scenario.test_stream[: i + 1]))
    return results


def test_lean_evaluator_reports_what_avalanches_reports():
    full = EvaluationPlugin(accuracy_metrics(experience=True), loss_metrics(experience=True),
                            forgetting_metrics(stream=True), bwt_metrics(stream=True), ModelSizeMetric(),
                            loggers=[NullLogger()])
    assert _run(default_evaluator()) == _run(full)
