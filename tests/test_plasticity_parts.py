"""Neuroplasticity as small parts (issue 20.5): typed configs derived from NEURO_PARAMS, and the
composition that wires their plugins together."""

from __future__ import annotations

import ast
import dataclasses
import pathlib

import pytest
import torch

import isocl.bench.plasticity as plasticity
from isocl.bench.config import ConfigError, parse_benchmark
from isocl.bench.context import StrategyContext
from isocl.bench.metrics import default_evaluator
from isocl.bench.plasticity import (CompressionConfig, CompressionPlugin, ConsolidationConfig, ConsolidationPlugin,
                                    GrowthConfig, GrowthPlugin, neuroplastic)
from isocl.bench.plasticity.compose import PARTS
from isocl.bench.registry import get_strategy, list_strategies
from isocl.bench.spaces import NEURO_PARAMS

DECLARED = [(cfg, f) for cfg in PARTS for f in dataclasses.fields(cfg) if f.metadata.get("param")]
NEURO_STRATEGIES = [s.name for s in list_strategies() if s.name.startswith("neuro-")]
# Strategy parameters that are no config's field: the composition's (start_width) and replay's buffer.
NOT_A_FIELD = {"start_width", "mem_size"}


def other_value(name: str):
    """A valid value of NEURO_PARAMS[name] other than its default."""
    p = NEURO_PARAMS[name]
    if p.choices is not None:
        return next(c for c in p.choices if c != p.default)
    if p.type is int:
        return p.default + 1 if p.high is None or p.default + 1 <= p.high else p.default - 1
    return p.default / 2 if p.default else 0.5


@pytest.mark.parametrize("cfg,f", DECLARED, ids=[f"{c.__name__}.{f.name}" for c, f in DECLARED])
def test_a_declared_field_defaults_to_its_parameter(cfg, f):
    param = f.metadata["param"]
    value = getattr(cfg(), f.name)
    if f.name == "overabundant_start":  # an optional part: off unless the strategy parameter is given
        assert value is None and NEURO_PARAMS[param].default == 256
    else:
        assert value == NEURO_PARAMS[param].default and type(value) is NEURO_PARAMS[param].type


def test_configs_restate_no_default():
    """Every field of a config is either a declared parameter or a bool switch off by default."""
    for cfg in PARTS:
        for f in dataclasses.fields(cfg):
            assert "param" in f.metadata or f.default is False, f"{cfg.__name__}.{f.name}"


@pytest.mark.parametrize("cfg", PARTS, ids=[c.__name__ for c in PARTS])
def test_from_params_maps_every_declared_parameter(cfg):
    names = cfg.param_names()
    given = {param: other_value(param) for param in names.values()}
    built = cfg.from_params({**given, "start_width": 7, "mem_size": 40})  # other strategies' keys are ignored
    for field_name, param in names.items():
        assert getattr(built, field_name) == given[param] != NEURO_PARAMS[param].default
    assert cfg.from_params({}) == cfg()


@pytest.mark.parametrize("strategy", NEURO_STRATEGIES)
def test_every_parameter_of_a_neuro_strategy_reaches_a_config(strategy):
    mapped = {param for cfg in PARTS for param in cfg.param_names().values()}
    assert set(get_strategy(strategy).params) - NOT_A_FIELD <= mapped


def test_growth_config_renames_once():
    assert GrowthConfig.param_names() == {
        "mode": "grow_mode", "count": "grow_count", "buffer_size": "buffer_size",
        "scaffold_threshold": "scaffold_threshold", "out_scale": "out_scale", "min_width": "min_width",
        "overabundant_start": "overabundant_start"}
    assert GrowthConfig.from_params({"grow_count": 3}, mode="buffer", every_epoch=True) == \
        GrowthConfig(mode="buffer", count=3, every_epoch=True)


def expected(param: str) -> str:
    return NEURO_PARAMS[param].expected()


@pytest.mark.parametrize("build,message", [
    (lambda: GrowthConfig(count=-1),
     f"GrowthConfig.count = -1 (strategy parameter grow_count) is invalid; expected {expected('grow_count')}"),
    (lambda: GrowthConfig(mode="sometimes"),
     "GrowthConfig.mode = 'sometimes' (strategy parameter grow_mode) is invalid; "
     "expected one of 'fixed', 'per_class', 'buffer'"),
    (lambda: GrowthConfig(overabundant_start=0),
     "GrowthConfig.overabundant_start = 0 (strategy parameter overabundant_start) is invalid; "
     f"expected {expected('overabundant_start')}"),
    (lambda: GrowthConfig(every_epoch="yes"), "GrowthConfig.every_epoch = 'yes' is invalid; expected true or false"),
    (lambda: CompressionConfig.from_params({"prune_criterion": "norm"}),
     "CompressionConfig.criterion = 'norm' (strategy parameter prune_criterion) is invalid; "
     "expected one of 'sv', 'sv_out'"),
    (lambda: CompressionConfig(finetune_epochs=1.5),
     "CompressionConfig.finetune_epochs = 1.5 (strategy parameter finetune_epochs) is invalid; wrong type; "
     f"expected {expected('finetune_epochs')}"),
    (lambda: ConsolidationConfig(damping=2.0),
     "ConsolidationConfig.damping = 2.0 (strategy parameter damping) is invalid; expected a finite number in [0, 1]"),
])
def test_a_bad_value_is_refused_in_one_line(build, message):
    with pytest.raises(ConfigError) as err:
        build()
    assert str(err.value) == message


def test_configs_are_frozen():
    with pytest.raises(dataclasses.FrozenInstanceError):
        GrowthConfig().count = 4


# -- the composition


def context(strategies=("neuro-grow-prune-consolidate",), setting="task_il", control=None, epochs=2):
    bench = parse_benchmark({
        "name": "tiny", "strategies": list(strategies),
        "scenario": {"setting": setting, "validation_fraction": 0.0},
        "training": {"epochs": epochs, "batch_size": 16, "seeds": [0]},
        "model": {"widths": [16, 16]},
    })
    return StrategyContext(bench=bench, seed=0, device=torch.device("cpu"), evaluator=default_evaluator(),
                           epochs=epochs, generator=torch.Generator().manual_seed(0), control=control)


def ours(strategy):
    return [p for p in strategy.plugins if isinstance(p, (GrowthPlugin, CompressionPlugin, ConsolidationPlugin))]


def test_the_parts_are_wired_to_one_consolidation():
    spec = get_strategy("neuro-grow-prune-consolidate")
    strat = spec.factory(context(), **spec.resolve({"grow_count": 5, "finetune_epochs": 1}))
    cons, grow, prune = ours(strat)
    assert (type(cons), type(grow), type(prune)) == (ConsolidationPlugin, GrowthPlugin, CompressionPlugin)
    assert grow.consolidation is cons and prune.consolidation is cons
    assert not cons.commit_after_training  # the compression commits after pruning
    assert grow.config.count == 5 and prune.config.finetune_epochs == 1 and cons.config.mode == "exact"
    assert strat.train_epochs == 1  # the fine-tune epoch comes out of the budget of 2
    assert grow.auditor is prune.auditor
    cfg = strat.model.cfg
    assert (cfg.hidden_bias, cfg.head_bias, cfg.intrinsic) == (False, False, "off")  # exact consolidation


def test_the_order_of_parts_does_not_matter():
    ctx = context(setting="class_il")
    a = ours(neuroplastic(ctx, ConsolidationConfig(mode="damp"), CompressionConfig(), GrowthConfig(count=2)))
    b = ours(neuroplastic(ctx, GrowthConfig(count=2), CompressionConfig(), ConsolidationConfig(mode="damp")))
    assert [type(p) for p in a] == [type(p) for p in b] == [ConsolidationPlugin, GrowthPlugin, CompressionPlugin]
    assert [p.config for p in a] == [p.config for p in b]


@pytest.mark.parametrize("control,kinds,prunes,state", [
    ("diag-only", [CompressionPlugin], False, "transform"),
    ("reset", [GrowthPlugin, CompressionPlugin], True, "reset"),
])
def test_controls_change_the_wiring_only(control, kinds, prunes, state):
    strat = neuroplastic(context(setting="class_il", control=control), GrowthConfig(), CompressionConfig(),
                         start_width=24)
    plugins = ours(strat)
    assert [type(p) for p in plugins] == kinds
    assert plugins[-1].prune is prunes and {p.state for p in plugins} == {state}
    assert strat.model.widths == ([16, 16] if control == "diag-only" else [24, 24])  # diag-only keeps its widths


def test_neuroplastic_refuses_what_is_not_one_part_of_each():
    ctx = context(setting="class_il")
    with pytest.raises(TypeError, match=r"neuroplastic: two GrowthConfig parts; compose at most one of each"):
        neuroplastic(ctx, GrowthConfig(), GrowthConfig(count=1))
    with pytest.raises(TypeError, match=r"neuroplastic: a part must be one of GrowthConfig, CompressionConfig, "
                                        r"ConsolidationConfig, instead got \{'count': 4\}"):
        neuroplastic(ctx, {"count": 4})
    with pytest.raises(ConfigError, match=r"finetune_epochs = 2 must be below the training epochs \(2\)"):
        neuroplastic(ctx, CompressionConfig(finetune_epochs=2))


def private_sets(path: pathlib.Path) -> list[str]:
    """Assignments to an underscore attribute of anything but ``self`` (``other._x = ...``)."""
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        targets = node.targets if isinstance(node, ast.Assign) else \
            [node.target] if isinstance(node, (ast.AugAssign, ast.AnnAssign)) else []
        for target in targets:
            for a in ast.walk(target):
                if isinstance(a, ast.Attribute) and a.attr.startswith("_") and not a.attr.startswith("__") and \
                        not (isinstance(a.value, ast.Name) and a.value.id == "self"):
                    found.append(f"{path.name}:{a.lineno} sets {ast.unparse(a)}")
    return found


def test_plugins_set_no_private_attribute_of_another_object():
    """Issue 20.2: a plugin reaches another only through its public methods."""
    bad = [f for path in sorted(pathlib.Path(plasticity.__file__).parent.glob("*.py")) for f in private_sets(path)]
    assert not bad, "\n".join(bad)


def test_private_set_checker_can_fail(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text("def f(self, cons):\n    self._ok = 1\n    cons._attached = True\n    cons.x._n += 1\n")
    assert private_sets(bad) == ["bad.py:3 sets cons._attached", "bad.py:4 sets cons.x._n"]
