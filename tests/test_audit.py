"""The audit of structural events: its switch, its probe and its fused measurement (issue 18)."""

import importlib.util
import re
import sys
from pathlib import Path

import pytest
import torch
from avalanche.models.utils import avalanche_forward

from isocl.bench.config import parse_benchmark
from isocl.bench.context import StrategyContext
from isocl.bench.metrics import default_evaluator
from isocl.bench.plasticity import PROBE_SIZE, Auditor
from isocl.bench.registry import get_strategy
from isocl.bench.scenarios import make_split_cifar10, stream_tensors, synthetic_tensors

DATA = synthetic_tensors(n_train_per_class=24, n_test_per_class=8, seed=0)
SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "audit_overhead.py"


def make(strategy, setting="class_il", audit=True, **params):
    bench = parse_benchmark({
        "name": "tiny", "strategies": [strategy],
        "scenario": {"setting": setting, "validation_fraction": 0.0},
        "training": {"epochs": 1, "batch_size": 16, "seeds": [0], "audit": audit},
        "model": {"widths": [16, 16]},
    })
    scenario = make_split_cifar10(DATA, setting=setting, seed=0)
    torch.manual_seed(0)
    ctx = StrategyContext(bench=bench, seed=0, device=torch.device("cpu"), evaluator=default_evaluator(),
                          epochs=1, generator=torch.Generator().manual_seed(0))
    spec = get_strategy(strategy)
    return spec.factory(ctx, **spec.resolve(params)), scenario, ctx


def test_audit_is_on_by_default():
    bench = parse_benchmark({"name": "x", "strategies": ["naive"]})
    assert bench.training["audit"] is True


@pytest.mark.parametrize("strategy,params", [
    ("neuro-grow-prune", {"grow_count": 4, "prune_threshold": 0.3, "min_width": 4}),
    ("neuro-adaptive", {"buffer_size": 3, "min_width": 4}),
])
def test_audit_off_records_every_event_unprobed_and_trains_the_same(strategy, params):
    runs = {}
    for audit in (True, False):
        strat, scenario, ctx = make(strategy, audit=audit, **params)
        for exp in list(scenario.train_stream)[:3]:
            strat.train(exp)
        runs[audit] = (strat.model, ctx.audit)
    (m_on, ev_on), (m_off, ev_off) = runs[True], runs[False]
    assert [(e["event"], e["layer"], e["neurons_before"], e["neurons_after"], e["sigmas"]) for e in ev_on] == \
        [(e["event"], e["layer"], e["neurons_before"], e["neurons_after"], e["sigmas"]) for e in ev_off]
    assert len(ev_on) >= 2
    assert all(isinstance(e["acc_before"], float) and isinstance(e["max_logit_change"], float) for e in ev_on)
    assert all(isinstance(e["bound"], float) for e in ev_on if e["event"] in ("prune", "adaptive_prune"))
    for e in ev_off:
        assert e["acc_before"] == e["acc_after"] == e["bound"] == e["max_logit_change"] == ""
    for p_on, p_off in zip(m_on.parameters(), m_off.parameters(), strict=True):
        assert torch.equal(p_on, p_off)  # the probe draws from its own generator: training is untouched


def test_probe_is_a_fixed_draw_of_the_experience_and_gathered_once():
    strat, scenario, _ = make("neuro-grow-prune")
    exp = scenario.train_stream[1]
    strat.experience = exp
    auditor = Auditor([])
    batch = auditor.probe(strat)
    x, y, t = stream_tensors(exp.dataset)
    idx = torch.randperm(len(y), generator=torch.Generator().manual_seed(0))[:PROBE_SIZE]
    assert len(batch[1]) == min(PROBE_SIZE, len(y)) == len(idx)
    assert torch.equal(batch[0], x[idx]) and torch.equal(batch[1], y[idx]) and torch.equal(batch[2], t[idx])
    assert auditor.probe(strat) is batch  # growth before and compression after the experience share it
    strat.experience = scenario.train_stream[2]
    assert auditor.probe(strat) is not batch
    assert Auditor([], enabled=False).probe(strat) is None


@pytest.mark.parametrize("setting", ["class_il", "task_il"])
def test_one_pass_measure_equals_the_two_forward_passes(setting):
    strat, scenario, _ = make("neuro-grow-prune", setting=setting)
    strat.train(scenario.train_stream[0])
    strat.experience = scenario.train_stream[0]  # probe the trained experience: its head exists
    model = strat.model
    auditor = Auditor([])
    batch = auditor.probe(strat)
    logits, acc = auditor.measure(strat, batch)
    model.eval()
    with torch.no_grad():
        assert torch.equal(logits, model.logits_all(batch[0]))
        out = avalanche_forward(model, batch[0], batch[2])
    assert acc == float((out.argmax(dim=1) == batch[1]).float().mean())
    assert 0.0 <= acc <= 1.0
    with torch.no_grad():  # the pass also kept every hidden layer's input, what the pruning bound reads
        for i in range(len(model.layers)):
            assert torch.equal(auditor.input_of(i, batch), model.backbone.layer_input(batch[0], i))
    assert auditor.measure(strat, None) == (None, None)
    assert auditor.input_of(0, None) is None


def _load_script():
    spec = importlib.util.spec_from_file_location("audit_overhead", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    try:
        spec.loader.exec_module(module)
    finally:
        del sys.modules[spec.name]
    return module


def test_audit_overhead_script_quick_run(capsys, monkeypatch):
    threads = torch.get_num_threads()
    script = _load_script()
    try:
        assert script.main(["--quick", "--repeats", "1"]) == 0
    finally:
        torch.set_num_threads(threads)
    out = capsys.readouterr().out
    lines = re.findall(r"^(mlp|cnn): .+: audit on [\d.]+ s, off [\d.]+ s; ratio [\d.]+x \(target <= 1\.10x\) "
                       r"\[no verdict at --quick sizes\]$", out, flags=re.M)
    assert lines == ["mlp", "cnn"], out
    counts = re.findall(r"^  (\d+) events, (\d+) probed with the audit on; (\d+) events, (\d+) unprobed with it off; "
                        r"same final accuracy", out, flags=re.M)
    assert len(counts) == 2, out
    for on, probed, off, unprobed in counts:
        assert int(on) == int(probed) == int(off) == int(unprobed) > 0
    assert script.judge(1.05, True) == "ok" and script.judge(1.2, True) == "MISSED"


def test_cnn_pruning_bound_from_the_auditors_pass_equals_the_bound_from_its_own():
    import copy

    from isocl.nn.cnn import CNNConfig, build_cnn
    from isocl.nn.moves import prune_layer

    torch.manual_seed(0)
    model = build_cnn(CNNConfig(in_channels=3, image_size=8, channels=[4, 6], widths=[8], initial_classes=3))
    x = torch.randn(16, 3, 8, 8)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.5 * torch.randn_like(p))  # away from the orthogonal start: a spread of sigmas
    twin = copy.deepcopy(model)
    pruned = 0
    with torch.no_grad():
        for i in range(len(model.layers)):
            given = prune_layer(model, i, 0.75, probe=x, probe_input=model.backbone.layer_input(x, i), min_width=2)
            own = prune_layer(twin, i, 0.75, probe=x, min_width=2)
            assert given.bound == own.bound and given.neurons_after == own.neurons_after
            pruned += given.neurons_before - given.neurons_after
            assert (given.bound > 0) == (given.neurons_after < given.neurons_before)
    assert pruned > 0
