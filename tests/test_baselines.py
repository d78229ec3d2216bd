"""Every shipped baseline's mechanism acts: no silent no-op (the worst bug a benchmark can have).

Each test trains a baseline for two experiences on CIFAR-shaped synthetic
data and measures its mechanism directly: a regulariser's term in the loss, a
projection that changes the gradient, a buffer that feeds old classes, masks
and frozen columns that keep old tasks' outputs bit for bit.
"""

from __future__ import annotations

import math

import pytest
import torch
from avalanche.models.utils import avalanche_forward
from avalanche.training.plugins import SupervisedPlugin

import isocl.bench.runner as runner
from isocl.bench.config import parse_benchmark
from isocl.bench.context import StrategyContext
from isocl.bench.metrics import default_evaluator
from isocl.bench.registry import get_strategy
from isocl.bench.scenarios import make_split_cifar10, synthetic_tensors

DATA = synthetic_tensors(n_train_per_class=24, n_test_per_class=8, seed=3)


def bench_for(strategy, setting="class_il", epochs=2, widths=(16, 16), params=None):
    return parse_benchmark({
        "name": "tiny", "strategies": [strategy],
        "scenario": {"setting": setting, "validation_fraction": 0.0},
        "training": {"epochs": epochs, "batch_size": 16, "seeds": [0], "lr": 1e-3},
        "model": {"widths": list(widths)},
        "strategy": {strategy: dict(params or {})} if params else {},
    })


def build(strategy, setting="class_il", epochs=2, **params):
    bench = bench_for(strategy, setting, epochs, params=params)
    scenario = make_split_cifar10(DATA, setting=setting, seed=0)
    torch.manual_seed(0)
    ctx = StrategyContext(bench=bench, seed=0, device=torch.device("cpu"), evaluator=default_evaluator(),
                          epochs=epochs, generator=torch.Generator().manual_seed(0))
    spec = get_strategy(strategy)
    return spec.factory(ctx, **spec.resolve(params)), list(scenario.train_stream), list(scenario.test_stream)


class ExtraLoss(SupervisedPlugin):
    """Appended last: per iteration, the loss minus the plain cross-entropy (what the plugins added)."""

    def __init__(self):
        super().__init__()
        self.extra: dict[int, list[float]] = {}

    def before_backward(self, strategy, **kwargs):
        plain = float(strategy._criterion(strategy.mb_output, strategy.mb_y))
        exp = strategy.experience.current_experience
        self.extra.setdefault(exp, []).append(float(strategy.loss) - plain)


def regulariser_terms(strategy_name, **params):
    strat, train, _ = build(strategy_name, **params)
    probe = ExtraLoss()
    strat.plugins.append(probe)
    for exp in train[:2]:
        strat.train(exp)
    return probe.extra


@pytest.mark.parametrize("name, params", [
    ("ewc", {"ewc_lambda": 100.0}),
    ("si", {"si_lambda": 1e4}),
    ("lwf", {"alpha": 1.0}),
])
def test_regularisers_add_a_penalty_after_the_first_experience(name, params):
    extra = regulariser_terms(name, **params)
    assert max(abs(v) for v in extra[0]) < 1e-6, f"{name}: no penalty may act on the first experience"
    assert min(extra[1][1:]) > 1e-6, f"{name}: its penalty must act on every iteration of the second experience"


def test_si_snapshots_are_copies_so_importances_are_not_zero():
    """Avalanche 0.6's SI took views of the live weights: importances were exactly 0 (the penalty too)."""
    strat, train, _ = build("si", si_lambda=1.0)
    strat.train(train[0])
    si = next(p for p in strat.plugins if type(p).__name__ == "SynapticIntelligence")
    importance = torch.cat([v.data.flatten() for v in si.ewc_data[1].values()])
    assert float(importance.abs().max()) > 0
    assert int((importance != 0).sum()) > importance.numel() // 2


def _matrix(strategy, **params):
    bench = bench_for(strategy, params=params)
    scenario = make_split_cifar10(DATA, setting="class_il", seed=0)
    res = runner.run_unit(bench, strategy, 0, scenario=scenario)
    assert res.status == "ok", res.error
    return [r["accuracy"] for r in res.matrix if not math.isnan(r["accuracy"])]


def test_si_accuracy_matrix_differs_from_naive():
    naive = _matrix("naive")
    si = _matrix("si", si_lambda=1e4)
    assert len(naive) == len(si) == 15
    assert naive[0] == si[0]  # the first experience: no penalty yet, same seed, same training
    assert sum(abs(a - b) for a, b in zip(naive, si)) > 0.05


class GradProbe(SupervisedPlugin):
    """Records the flattened gradient at after_backward (placed before and after A-GEM's hook)."""

    def __init__(self, agem=None):
        super().__init__()
        self.agem = agem
        self.grads: list[torch.Tensor] = []
        self.refs: list[torch.Tensor] = []

    def after_backward(self, strategy, **kwargs):
        if strategy.experience.current_experience == 1:
            self.grads.append(torch.cat([p.grad.flatten().clone() for p in strategy.model.parameters()
                                         if p.grad is not None]))
            if self.agem is not None:  # this iteration's reference gradient (A-GEM draws one per iteration)
                self.refs.append(torch.cat([r.flatten() for r in self.agem.reference_gradients]).clone())


def test_agem_projects_conflicting_gradients():
    strat, train, _ = build("agem", patterns_per_exp=64, sample_size=32)
    agem = next(p for p in strat.plugins if type(p).__name__ == "AGEMPlugin")
    before, after = GradProbe(), GradProbe(agem)
    strat.plugins.insert(0, before)
    strat.plugins.append(after)
    for exp in train[:2]:
        strat.train(exp)
    assert len(before.grads) == len(after.grads) == len(after.refs) > 0
    projected = 0
    for g, g_proj, ref in zip(before.grads, after.grads, after.refs):
        if float(torch.dot(g, ref)) < 0:  # a conflicting gradient is projected onto the reference's half-space
            projected += 1
            assert not torch.equal(g, g_proj)
            assert abs(float(torch.dot(g_proj, ref))) <= 1e-4 * float(g.norm() * ref.norm())
        else:
            assert torch.equal(g, g_proj)
    assert projected > 0, "no gradient conflicted with the reference: the test data does not exercise A-GEM"


class BatchClasses(SupervisedPlugin):
    def __init__(self):
        super().__init__()
        self.seen: dict[int, set[int]] = {}

    def before_forward(self, strategy, **kwargs):
        exp = strategy.experience.current_experience
        self.seen.setdefault(exp, set()).update(strategy.mb_y.tolist())


def test_replay_buffer_feeds_old_classes():
    strat, train, _ = build("replay", mem_size=40)
    probe = BatchClasses()
    strat.plugins.append(probe)
    for exp in train[:2]:
        strat.train(exp)
    replay = next(p for p in strat.plugins if type(p).__name__ == "ReplayPlugin")
    assert len(replay.storage_policy.buffer) == 40
    old = set(train[0].classes_in_this_experience)
    assert old <= probe.seen[1], "the second experience's mini-batches hold no replayed old classes"


def _task_outputs(model, test_exp, task):
    x = torch.stack([test_exp.dataset[i][0] for i in range(16)])
    t = torch.full((16,), task, dtype=torch.long)
    model.eval()
    with torch.no_grad():
        return avalanche_forward(model, x, t).clone()


@pytest.mark.parametrize("name", ["pnn", "pnn-linear", "packnet", "frozen-backbone"])
def test_task_il_isolation_keeps_old_task_outputs_bit_for_bit(name):
    """PNN's frozen columns, PackNet's masks and the frozen backbone: task 0's outputs survive task 1."""
    strat, train, test = build(name, setting="task_il", epochs=2)
    strat.train(train[0])
    strat.eval([test[0]])
    first = _task_outputs(strat.model, test[0], 0)
    weights0 = {k: v.clone() for k, v in strat.model.state_dict().items()}
    strat.train(train[1])
    strat.eval([test[0], test[1]])
    assert torch.equal(_task_outputs(strat.model, test[0], 0), first)
    trained = [k for k, v in strat.model.state_dict().items()
               if k not in weights0 or v.shape != weights0[k].shape or not torch.equal(v, weights0[k])]
    assert trained, f"{name}: nothing new trained on the second task"


def test_packnet_prunes_and_masks():
    strat, train, _ = build("packnet", setting="task_il", epochs=2, prune_proportion=0.5)
    strat.train(train[0])
    index = [m.task_index for m in strat.model.modules() if hasattr(m, "task_index")]
    assert index, "no PackNet-wrapped layers"
    kept = sum(int((t == 0).sum()) for t in index) / sum(t.numel() for t in index)
    assert 0.4 < kept < 0.6, f"task 0 kept {kept:.2f} of the weights after pruning half, expected about 0.5"


def test_frozen_backbone_trains_only_heads_after_the_first_task():
    strat, train, _ = build("frozen-backbone", setting="task_il")
    strat.train(train[0])
    backbone = {k: v.clone() for k, v in strat.model.backbone.state_dict().items()}
    strat.train(train[1])
    assert all(torch.equal(v, backbone[k]) for k, v in strat.model.backbone.state_dict().items())
    assert len(strat.model.head.classifiers) == 2


def test_pnn_linear_has_far_fewer_parameters_than_mlp_adapters():
    counts = {}
    for name in ("pnn", "pnn-linear"):
        strat, train, _ = build(name, setting="task_il", epochs=1)
        for exp in train[:3]:
            strat.train(exp)
        counts[name] = sum(p.numel() for p in strat.model.parameters())
    assert counts["pnn-linear"] < counts["pnn"]


def test_every_shipped_strategy_declares_a_search_space_with_the_learning_rate():
    from isocl.bench.registry import list_strategies, shipped_dir
    from isocl.tuning import validate_space

    shipped = [s for s in list_strategies() if "/strategies/" in s.source.replace("\\", "/")
               or s.source.startswith("isocl_strategies.")]
    # every module of the shipped folder is here under its name (strategies/my_method.py -> "my-method")
    modules = {p.stem.replace("_", "-") for p in shipped_dir("strategies").glob("*.py") if not p.name.startswith("_")}
    assert modules and modules <= {s.name for s in shipped}
    for spec in shipped:
        assert "lr" in spec.search, f"{spec.name} declares no learning-rate range"
        assert not {"mem_size"} & set(spec.search), f"{spec.name}: memory must not be tuned (matched budgets)"
        unknown = set(spec.search) - set(spec.defaults) - {"lr"} - {k for k in spec.search if k.startswith("model.")}
        assert not unknown, f"{spec.name}: search keys {unknown} are not parameters of the strategy"
        setting = spec.settings[0]
        validate_space(spec.search, spec.name, bench_for(spec.name, setting, epochs=5), f"search space of {spec.name}")
