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
from avalanche.training.plugins import AGEMPlugin, SupervisedPlugin

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
    ("mas", {"lambda_reg": 1.0}),
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


def test_agem_refuses_a_sample_smaller_than_its_stored_experiences():
    """Avalanche draws sample_size // (stored experiences) images from each; below one per experience
    it would build a loader of batch size 0 at the second experience: refused with one clear line."""
    from isocl.bench.config import ConfigError

    with pytest.raises(ConfigError, match=r"sample_size = 3 is below the 4 experiences A-GEM stores"):
        build("agem", patterns_per_exp=16, sample_size=3)
    strat, train, _ = build("agem", patterns_per_exp=16, sample_size=4)  # one image from each: trains
    for exp in train:
        strat.train(exp)
    assert len(next(p for p in strat.plugins if isinstance(p, AGEMPlugin)).buffers) == len(train)


def test_agem_projects_conflicting_gradients():
    strat, train, _ = build("agem", patterns_per_exp=64, sample_size=32)
    agem = next(p for p in strat.plugins if isinstance(p, AGEMPlugin))
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


@pytest.mark.parametrize("name", ["pnn", "pnn-linear", "pnn-iso", "packnet", "packnet-iso", "frozen-backbone"])
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


@pytest.mark.parametrize("name", ["packnet", "packnet-iso"])
def test_packnet_prunes_and_masks(name):
    strat, train, _ = build(name, setting="task_il", epochs=2, prune_proportion=0.5)
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


# --- the field's strong baselines (issue 17): DER++, ER-ACE, iCaRL, GDumb, MAS; one backbone per comparison


def _buffer(strat):
    """(images, labels) held in a replay strategy's memory, whichever of Avalanche's places it lives in."""
    if type(strat).__name__.endswith("ICaRL"):
        icarl = next(p for p in strat.plugins if type(p).__name__ == "_ICaRLPlugin")
        return torch.cat(icarl.x_memory), [int(y) for ys in icarl.y_memory for y in ys]
    owner = strat if hasattr(strat, "storage_policy") else next(
        p for p in strat.plugins if hasattr(p, "storage_policy"))
    buf = owner.storage_policy.buffer
    return torch.stack([buf[i][0] for i in range(len(buf))]), [int(buf[i][1]) for i in range(len(buf))]


class SeenLabels(SupervisedPlugin):
    """Labels that reach the loss per experience: the mini-batch after the strategy's own before_forward
    (DER concatenates its replay there), plus ER-ACE's separate replay batch."""

    def __init__(self):
        super().__init__()
        self.seen: dict[int, set[int]] = {}

    def after_forward(self, strategy, **kwargs):
        seen = self.seen.setdefault(strategy.experience.current_experience, set())
        seen.update(strategy.mb_y.tolist())
        if getattr(strategy, "replay_loader", None) is not None and hasattr(strategy, "mb_buffer_y"):
            seen.update(strategy.mb_buffer_y.tolist())


@pytest.mark.parametrize("name, params, held", [
    ("der", {"mem_size": 20}, 20),
    ("er-ace", {"mem_size": 20}, 20),
    ("gdumb", {"mem_size": 20}, 20),
    ("icarl", {"mem_size": 20}, 20),
    ("bic", {"mem_size": 22, "stage_2_epochs": 2}, 20),  # 20 replayed + 2 held out for bias correction
])
def test_replay_family_buffers_hold_old_classes_that_reach_the_loss(name, params, held):
    strat, train, _ = build(name, **params)
    probe = SeenLabels()
    strat.plugins.append(probe)
    for exp in train[:2]:
        strat.train(exp)
    x, y = _buffer(strat)
    assert len(y) == len(x) == held, f"{name}: the memory holds {len(y)} samples, expected {held}"
    old = {int(c) for c in train[0].classes_in_this_experience}
    assert old <= set(y), f"{name}: the memory lost an old class ({sorted(old - set(y))})"
    assert old <= probe.seen[1], f"{name}: no old class reached the second experience's loss"


class DerTerms(SupervisedPlugin):
    """At before_backward of the second experience: DER++'s loss less its two cross-entropies (the logit term)."""

    def __init__(self):
        super().__init__()
        self.logit_terms: list[tuple[float, float]] = []  # (loss less the cross-entropies, alpha * MSE)
        self.batch_logits: list[torch.Tensor] = []

    def before_backward(self, strategy, **kwargs):
        if strategy.experience.current_experience != 1:
            return
        m, out, y = strategy.batch_size_mem, strategy.mb_output, strategy.mb_y
        ce = torch.nn.functional.cross_entropy
        rest = ce(out[m:], y[m:]) + strategy.beta * ce(out[:m], y[:m])
        mse = torch.nn.functional.mse_loss(out[:m], strategy.batch_logits)
        self.logit_terms.append((float(strategy.loss - rest), float(strategy.alpha * mse)))
        self.batch_logits.append(strategy.batch_logits.clone())


@pytest.mark.parametrize("setting, width", [("class_il", 10), ("task_il", 2)])
def test_der_replays_stored_logits_with_a_logit_matching_term(setting, width):
    strat, train, _ = build("der", setting=setting, mem_size=20, alpha=0.5, beta=0.5)
    strat.train(train[0])
    x, _ = _buffer(strat)
    strat.model.eval()
    with torch.no_grad():  # the model that just finished experience 0 produced the stored logits
        now = avalanche_forward(strat.model, x, torch.zeros(len(x), dtype=torch.long))
    buf = strat.storage_policy.buffer
    stored = torch.stack([buf[i][3] for i in range(len(buf))])
    assert stored.shape == (20, width) and torch.allclose(stored, now, atol=1e-5)
    assert float(stored.abs().max()) < 100, "stored logits hold the head's mask value for unseen classes"
    probe = DerTerms()
    strat.plugins.append(probe)
    strat.train(train[1])
    assert probe.logit_terms, "DER replayed nothing in the second experience"
    for extra, term in probe.logit_terms:
        assert extra == pytest.approx(term, abs=1e-6)
    # The first step's term is 0 (the model that stored the logits has not moved yet); then it pulls back.
    assert max(term for _, term in probe.logit_terms) > 1e-4, "DER's logit-matching term never acted"
    assert all(t.shape == (strat.batch_size_mem, width) for t in probe.batch_logits)


class AceTerms(SupervisedPlugin):
    def __init__(self):
        super().__init__()
        self.rows: list[tuple[float, float, float]] = []

    def before_backward(self, strategy, **kwargs):
        if strategy.experience.current_experience != 1:
            return
        ce = torch.nn.functional.cross_entropy
        out, y = strategy.mb_output, strategy.mb_y
        present = torch.unique(y)
        remap = {int(c): i for i, c in enumerate(present.tolist())}
        masked = ce(out[:, present], torch.tensor([remap[int(c)] for c in y]))  # only the batch's own classes
        replay = ce(strategy.mb_buffer_out, strategy.mb_buffer_y)
        self.rows.append((float(strategy.loss), float((masked + replay) / 2), float((ce(out, y) + replay) / 2)))


def test_er_ace_masks_absent_classes_in_the_incoming_batch_loss():
    strat, train, _ = build("er-ace", mem_size=20, batch_size_mem=8)
    strat.train(train[0])
    probe = AceTerms()
    strat.plugins.append(probe)
    strat.train(train[1])
    assert probe.rows, "ER-ACE replayed nothing in the second experience"
    for loss, ace, plain in probe.rows:
        assert loss == pytest.approx(ace, rel=1e-5)
    assert max(abs(ace - plain) for _, ace, plain in probe.rows) > 1e-4, "the asymmetric loss equals plain replay"


def test_icarl_classifies_by_the_nearest_mean_of_its_exemplars():
    strat, train, test = build("icarl", mem_size=20)
    for exp in train[:2]:
        strat.train(exp)
    model = strat.model
    seen = sorted({int(c) for exp in train[:2] for c in exp.classes_in_this_experience})
    x, y = _buffer(strat)
    model.eval()
    unit = torch.nn.functional.normalize
    with torch.no_grad():
        # iCaRL's class mean: the mean unit feature of a class's exemplars and of their mirror images, as a
        # unit vector (classes not seen yet: the zero vector); a test image goes to the nearest mean.
        feats, mirrored = unit(model.feature_extractor(x), dim=1), unit(model.feature_extractor(x.flip(3)), dim=1)
        labels = torch.tensor(y)
        means = torch.zeros(10, feats.shape[1])
        for c in seen:
            means[c] = unit((feats[labels == c].mean(0) + mirrored[labels == c].mean(0)) / 2, dim=0)
        xt = torch.stack([test[1].dataset[i][0] for i in range(16)])
        by_hand = torch.cdist(unit(model.feature_extractor(xt), dim=1), means).argmin(1)
        predicted = model(xt).argmax(1)
        head = model.train_classifier(model.feature_extractor(xt)).argmax(1)
    assert sorted(set(y)) == seen and all(y.count(c) == 5 for c in seen), "20 exemplars: 5 for each of 4 classes"
    assert torch.equal(predicted, by_hand), "evaluation is not the nearest-mean-of-exemplars classifier"
    assert not torch.equal(predicted, head), "the nearest-mean classifier agrees with the head everywhere: untested"


class FirstWeights(SupervisedPlugin):
    """The model's weights and training-set size when each experience's training starts."""

    def __init__(self):
        super().__init__()
        self.at_start: dict[int, tuple[dict[str, torch.Tensor], int]] = {}

    def before_training_epoch(self, strategy, **kwargs):
        exp = strategy.experience.current_experience
        if exp not in self.at_start:
            self.at_start[exp] = ({k: v.clone() for k, v in strategy.model.backbone.state_dict().items()},
                                  len(strategy.adapted_dataset))


def test_gdumb_retrains_from_its_initial_weights_on_the_buffer_alone():
    strat, train, _ = build("gdumb", mem_size=20)
    initial = {k: v.clone() for k, v in strat.model.backbone.state_dict().items()}
    probe = FirstWeights()
    strat.plugins.append(probe)
    for exp in train[:2]:
        strat.train(exp)
    trained = strat.model.backbone.state_dict()
    assert any(not torch.equal(trained[k], v) for k, v in initial.items()), "GDumb trained nothing"
    for exp in (0, 1):
        weights, n = probe.at_start[exp]
        assert all(torch.equal(weights[k], v) for k, v in initial.items()), f"experience {exp} did not start afresh"
        assert n == 20, f"experience {exp} trained on {n} samples, not on the 20 of the buffer"


def test_isotropic_backbones_differ_from_their_relu_twins_only_in_the_activation():
    from isocl.nn.activations import IsotropicActivation
    from isocl.nn.layers import IsotropicLayer

    iso, train, test = build("pnn-iso", setting="task_il", epochs=1)
    lin, _, _ = build("pnn-linear", setting="task_il", epochs=1)
    for strat in (iso, lin):
        strat.train(train[0])
    a, b = iso.model.state_dict(), lin.model.state_dict()
    assert {k: v.shape for k, v in a.items()} == {k: v.shape for k, v in b.items()}
    assert isinstance(iso.model.activation, IsotropicActivation)
    lin.model.load_state_dict(a)  # the same weights through ReLU columns give other outputs
    assert not torch.equal(_task_outputs(iso.model, test[0], 0), _task_outputs(lin.model, test[0], 0))

    pk, _, _ = build("packnet-iso", setting="task_il")
    layers = [m for m in pk.model.modules() if isinstance(m, IsotropicLayer)]
    assert len(layers) == 2 and all(m.isotropic and m.intrinsic == "constant" for m in layers)
    assert not [n for n, _ in pk.model.named_parameters() if "o_raw" in n], "an unmasked intrinsic length trains"


def test_naive_relu_is_the_elementwise_relu_mlp_at_the_isotropic_widths():
    from isocl.nn.activations import ELEMENTWISE_ONLY, ElementwiseActivation
    from isocl.nn.layers import IsotropicLayer

    relu, _, _ = build("naive-relu")
    iso, _, _ = build("naive")
    assert relu.model.widths == iso.model.widths == [16, 16]
    assert all(not m.isotropic and m.elementwise.fn is ELEMENTWISE_ONLY["relu"] for m in relu.model.layers)
    h = torch.linspace(-2, 2, 9).reshape(1, 9)
    assert torch.equal(ElementwiseActivation("relu")(h), h.clamp(min=0))
    with pytest.raises(ValueError, match="relu"):
        IsotropicLayer(4, 3, shape="relu", isotropic=True)  # ReLU has no isotropic form


def test_backbones_are_declared_on_every_non_isotropic_baseline():
    from isocl.bench.registry import BACKBONES, list_strategies, register_strategy

    backbones = {s.name: s.backbone for s in list_strategies()}
    assert {n: backbones[n] for n in ("pnn", "pnn-linear", "packnet", "naive-relu", "naive-tanh")} == {
        "pnn": "relu", "pnn-linear": "relu", "packnet": "relu", "naive-relu": "relu", "naive-tanh": "tanh"}
    for name in ("naive", "pnn-iso", "packnet-iso", "der", "er-ace", "mas", "icarl", "gdumb", "bic", "replay"):
        assert backbones[name] == BACKBONES[0] == "isotropic"
    with pytest.raises(ValueError, match="backbone"):
        register_strategy("x-bad-backbone", backbone="sigmoid")


class BiCProbe(SupervisedPlugin):
    """Appended last: the second experience's loss less its cross-entropy, and evaluation outputs with the
    raw model outputs beside them."""

    def __init__(self):
        super().__init__()
        self.extra: list[float] = []
        self.evals: list[tuple[torch.Tensor, torch.Tensor]] = []

    def before_backward(self, strategy, **kwargs):
        if strategy.experience.current_experience == 1:
            self.extra.append(float(strategy.loss - strategy._criterion(strategy.mb_output, strategy.mb_y)))

    def after_eval_forward(self, strategy, **kwargs):
        with torch.no_grad():
            self.evals.append((strategy.mb_output.clone(), strategy.model(strategy.mb_x).clone()))


def test_bic_distils_and_corrects_the_new_classes_logits_at_evaluation():
    strat, train, test = build("bic", mem_size=44, stage_2_epochs=30)
    bic = next(p for p in strat.plugins if type(p).__name__ == "BiCPlugin")
    assert bic.mem_size == 40 and int(bic.val_percentage * bic.mem_size) == 4  # 40 + 4 held out <= 44
    probe = BiCProbe()
    strat.plugins.append(probe)
    for exp in train[:2]:
        strat.train(exp)
    assert probe.extra and min(abs(v) for v in probe.extra) > 1e-6, "no distillation term in the second experience"
    layer = bic.bias_layer
    assert sorted(layer.clss.tolist()) == sorted(int(c) for c in train[1].classes_in_this_experience)
    assert (float(layer.alpha), float(layer.beta)) != (1.0, 0.0), "stage 2 fitted nothing"
    probe.evals.clear()
    strat.eval([test[1]])
    out, raw = probe.evals[0]
    assert torch.allclose(out, layer(raw)) and not torch.allclose(out, raw), "evaluation skips the bias layer"
