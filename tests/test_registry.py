"""The strategy registry: shipped baselines, plug-in discovery, parameter resolution."""

from __future__ import annotations

import math
import shutil
import sys
import uuid
from importlib.metadata import EntryPoint
from pathlib import Path

import pytest

from isocl.bench import registry
from isocl.bench.config import ConfigError, load_benchmark
from isocl.bench.registry import UnknownStrategy, get_strategy, list_strategies, register_strategy

REPO = Path(__file__).resolve().parents[1]

BASELINES = ["naive", "naive-tanh", "ewc", "si", "lwf", "replay", "agem", "cumulative", "pnn", "packnet"]
TASK_IL_ONLY = {"pnn", "packnet"}




@pytest.fixture(autouse=True)
def isolated_registry(monkeypatch):
    """Each test sees (and may change) a private copy of the registry's globals."""
    registry.discover()  # the shipped strategies, loaded once into the real registry
    monkeypatch.setattr(registry, "_REGISTRY", dict(registry._REGISTRY))
    monkeypatch.setattr(registry, "_LOADED", set(registry._LOADED))
    monkeypatch.delenv("ISOCL_STRATEGY_PATH", raising=False)


def unique(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:8]}"


def plugin_dir(tmp_path: Path, monkeypatch, *extra: Path) -> Path:
    folder = tmp_path / unique("strategies")
    folder.mkdir()
    monkeypatch.setenv("ISOCL_STRATEGY_PATH", ":".join(str(p) for p in (folder, *extra)))
    return folder


DECORATOR_STYLE = '''
"""A test plug-in registering two names with the decorator."""
from isocl.bench.registry import register_strategy


@register_strategy("{name}", defaults={{"alpha": 0.5, "steps": 3}}, settings=("task_il",),
                   description="decorated test strategy")
def build(ctx, alpha, steps):
    return ("built", alpha, steps)


@register_strategy("{name}-b")
def build_b(ctx):
    """Second name from the same file (description from the docstring)."""
    return "b"
'''

CONVENTIONAL_STYLE = '''
"""Conventional plug-in: first docstring line is not the description."""
DESCRIPTION = "conventional test strategy"
DEFAULTS = {"beta": 2.0, "mode": "x"}


def build(ctx, beta, mode):
    return ("conv", beta, mode)
'''


def test_shipped_baselines_registered_with_settings():
    names = {s.name for s in list_strategies()}
    assert set(BASELINES) <= names
    for name in BASELINES:
        spec = get_strategy(name)
        assert spec.name == name and callable(spec.factory)
        assert spec.description, name
        if name in TASK_IL_ONLY:
            assert spec.settings == ("task_il",), name
        else:
            assert spec.settings == ("class_il", "task_il"), name
        assert not spec.neuroplastic, name


def test_shipped_defaults():
    assert get_strategy("naive").defaults == {}
    assert get_strategy("replay").defaults == {"mem_size": 500}
    assert get_strategy("ewc").defaults == {"ewc_lambda": 1000.0, "mode": "separate", "decay_factor": 0.9}
    assert get_strategy("packnet").defaults == {"post_prune_epochs": 1, "prune_proportion": 0.5}
    assert set(get_strategy("agem").defaults) == {"patterns_per_exp", "sample_size"}


def test_unknown_strategy_lists_known_names():
    with pytest.raises(UnknownStrategy) as info:
        get_strategy("nope")
    msg = str(info.value)
    assert "'nope'" in msg
    for name in ("naive", "replay", "ewc", "packnet"):
        assert name in msg
    assert "isocl.strategies" in msg  # says where plug-ins are looked for


def test_decorator_style_plugin_from_env_path(tmp_path, monkeypatch):
    folder = plugin_dir(tmp_path, monkeypatch)
    name = unique("deco").replace("_", "-")
    stem = unique("deco_file")
    (folder / f"{stem}.py").write_text(DECORATOR_STYLE.format(name=name), encoding="utf-8")
    assert folder in registry.strategy_dirs()
    spec = get_strategy(name)
    assert spec.defaults == {"alpha": 0.5, "steps": 3}
    assert spec.settings == ("task_il",)
    assert spec.description == "decorated test strategy"
    assert spec.factory(None, **spec.resolve({"steps": 7})) == ("built", 0.5, 7)
    # the file's second registration, with the docstring's first line as description
    b = get_strategy(f"{name}-b")
    assert b.description.startswith("Second name from the same file")
    assert b.settings == ("class_il", "task_il")
    # the decorator registrations win: the file name itself is not registered
    with pytest.raises(UnknownStrategy):
        get_strategy(stem.replace("_", "-"))


def test_conventional_style_plugin_named_after_file(tmp_path, monkeypatch):
    folder = plugin_dir(tmp_path, monkeypatch)
    (folder / "my_method.py").write_text(CONVENTIONAL_STYLE, encoding="utf-8")
    spec = get_strategy("my-method")
    assert spec.defaults == {"beta": 2.0, "mode": "x"}
    assert spec.description == "conventional test strategy"
    assert spec.settings == ("class_il", "task_il")
    assert "my_method" in spec.source  # (the module name; registry drops the file path it is given)
    assert spec.factory(None, **spec.resolve({"beta": 3})) == ("conv", 3.0, "x")
    assert "my-method" in {s.name for s in list_strategies()}


def test_plugins_from_several_folders_and_cwd(tmp_path, monkeypatch):
    other = tmp_path / unique("more")
    other.mkdir()
    folder = plugin_dir(tmp_path, monkeypatch, other)
    a, b, c = unique("first_plugin"), unique("second_plugin"), unique("cwd_plugin")
    (folder / f"{a}.py").write_text(CONVENTIONAL_STYLE, encoding="utf-8")
    (other / f"{b}.py").write_text(CONVENTIONAL_STYLE, encoding="utf-8")
    work = tmp_path / unique("work")
    (work / "strategies").mkdir(parents=True)
    (work / "strategies" / f"{c}.py").write_text(CONVENTIONAL_STYLE, encoding="utf-8")
    # private helpers (leading underscore) and modules without build() are skipped
    (folder / f"_{unique('helper')}.py").write_text("raise RuntimeError('must not be imported')\n")
    (folder / f"{unique('not_a_strategy')}.py").write_text("X = 1\n")
    monkeypatch.chdir(work)
    names = {s.name for s in list_strategies()}
    for stem in (a, b, c):
        assert stem.replace("_", "-") in names
    assert not any(n.startswith("not-a-strategy") for n in names)


def test_broken_plugin_names_its_file(tmp_path, monkeypatch):
    folder = plugin_dir(tmp_path, monkeypatch)
    bad = folder / f"{unique('broken')}.py"
    bad.write_text("import this_module_does_not_exist_xyz\n", encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        get_strategy(unique("anything"))
    assert str(bad) in str(info.value) and "ModuleNotFoundError" in str(info.value)


def test_entry_point_module_and_factory(tmp_path, monkeypatch):
    mod = unique("ep_module")
    (tmp_path / f"{mod}.py").write_text(CONVENTIONAL_STYLE, encoding="utf-8")
    monkeypatch.syspath_prepend(str(tmp_path))
    mod_name, fac_name = unique("ep-mod"), unique("ep-fac")
    eps = [
        EntryPoint(name=mod_name, value=mod, group=registry.ENTRY_POINT_GROUP),
        EntryPoint(name=fac_name, value=f"{mod}:build", group=registry.ENTRY_POINT_GROUP),
    ]
    monkeypatch.setattr(registry, "entry_points", lambda group: eps if group == registry.ENTRY_POINT_GROUP else [])
    try:
        assert get_strategy(mod_name).defaults == {"beta": 2.0, "mode": "x"}
        fac = get_strategy(fac_name)
        assert fac.factory(None, beta=1.0, mode="y") == ("conv", 1.0, "y")
    finally:
        sys.modules.pop(mod, None)


def test_register_strategy_in_user_code():
    name = unique("user")

    @register_strategy(name, defaults={"k": 1})
    def build(ctx, k):
        return k

    assert get_strategy(name).factory(None, **get_strategy(name).resolve({"k": 4})) == 4
    with pytest.raises(ValueError, match="settings"):
        register_strategy(unique("bad"), settings=("domain_il",))


def test_resolve_defaults_and_errors():
    replay = get_strategy("replay")
    assert replay.resolve(None) == {"mem_size": 500}
    assert replay.resolve({"mem_size": 64}) == {"mem_size": 64}
    ewc = get_strategy("ewc")
    got = ewc.resolve({"ewc_lambda": 10})  # an int for a float default becomes a float
    assert got["ewc_lambda"] == 10.0 and isinstance(got["ewc_lambda"], float)
    assert got["mode"] == "separate" and math.isclose(got["decay_factor"], 0.9)
    with pytest.raises(ConfigError, match="unknown parameter 'mem_sise'.*expected one of \\['mem_size'\\]"):
        replay.resolve({"mem_sise": 1}, "bench.toml: [strategy.replay]")
    with pytest.raises(ConfigError, match="bench.toml: \\[strategy.replay\\].*mem_size = 1.5.*wrong type.*int"):
        replay.resolve({"mem_size": 1.5}, "bench.toml: [strategy.replay]")
    with pytest.raises(ConfigError, match="wrong type"):
        ewc.resolve({"ewc_lambda": True})  # a bool is not a number here
    with pytest.raises(ConfigError, match="wrong type"):
        ewc.resolve({"mode": 3})
    with pytest.raises(ConfigError, match="expected one of none"):
        get_strategy("naive").resolve({"lr": 0.1})


def test_example_plugin_runs_through_run_unit(tmp_path, monkeypatch):
    """examples/my_method.py, copied into a strategies folder, trains on tiny data."""
    from isocl.bench.runner import run_unit
    from isocl.bench.scenarios import build_scenario
    from isocl.bench.scenarios import synthetic_tensors

    folder = plugin_dir(tmp_path, monkeypatch)
    shutil.copy(REPO / "examples" / "my_method.py", folder / "my_method.py")
    spec = get_strategy("my-method")
    assert spec.defaults == {"max_grad_norm": 1.0, "lr_decay": 0.9}
    assert "clipping" in spec.description

    bench = load_benchmark(REPO / "benchmarks" / "smoke.toml")
    bench.scenario.update(train_per_class=20, test_per_class=10)
    bench.model["widths"] = [16, 16]
    bench.training.update(epochs=2, batch_size=16)
    scenario = build_scenario(bench, synthetic_tensors(20, 10))
    result = run_unit(bench, "my-method", 0, scenario=scenario, params={"max_grad_norm": 0.5})
    assert result.status == "ok", result.error
    assert result.params_used == {"max_grad_norm": 0.5, "lr_decay": 0.9}
    assert len(result.matrix) == 25
    assert all(0.0 <= r["accuracy"] <= 1.0 for r in result.matrix if r["eval_exp"] <= r["trained_exp"])
    assert 0.0 <= result.final_accuracy <= 1.0
    with pytest.raises(ConfigError, match="lr_decay"):
        run_unit(bench, "my-method", 0, scenario=scenario, params={"lr_decay": 1.5})


def test_example_plugin_clips_gradients():
    """The example's plugin really bounds the gradient norm."""
    import importlib.util

    import torch

    spec = importlib.util.spec_from_file_location(unique("example"), REPO / "examples" / "my_method.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    model = torch.nn.Linear(4, 3)
    (model(torch.randn(8, 4) * 100).pow(2).sum()).backward()

    class FakeStrategy:
        pass

    s = FakeStrategy()
    s.model = model
    plugin = mod.GradClipPlugin(0.25)
    plugin.after_backward(s)
    assert plugin.last_norm > 0.25
    total = torch.sqrt(sum(p.grad.pow(2).sum() for p in model.parameters()))
    assert float(total) == pytest.approx(0.25, rel=1e-4)
