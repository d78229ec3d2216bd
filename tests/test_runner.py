"""End-to-end runs of the harness (isocl.bench.runner): results files, resume, failures, task-IL baselines.

Tiny sizes: the smoke benchmark shrunk to 30 training / 20 test images per
class and hidden widths [16, 16]. The first test uses the real CIFAR-10 (skipped
without it); the others use CIFAR-shaped synthetic data so they always run.
"""

from __future__ import annotations

import json
import tomllib
import math
import uuid
from pathlib import Path

import pandas as pd
import pytest
import torch
from avalanche.training.plugins import SupervisedPlugin

import isocl.bench.runner as runner
from isocl.bench import registry, units
from isocl.bench.config import ConfigError, load_benchmark, parse_benchmark
from isocl.bench.context import StrategyContext
from isocl.bench.provenance import EARLIER_RUN_KEYS
from isocl.bench.registry import register_strategy
from isocl.bench.results import METRICS_COLUMNS, STRUCTURE_COLUMNS, SUMMARY_COLUMNS
from isocl.bench.scenarios import synthetic_tensors

REPO = Path(__file__).resolve().parents[1]
SMOKE = REPO / "benchmarks" / "smoke.toml"
N_EXP = 5


def tiny_bench(**training):
    bench = load_benchmark(SMOKE)
    bench.scenario.update(train_per_class=30, test_per_class=20)
    bench.model["widths"] = [16, 16]
    bench.training.update({"seeds": [0], "epochs": 1, "batch_size": 32, **training})
    bench.strategies = ["naive", "replay"]
    bench.strategy_params = {"replay": {"mem_size": 40}}
    return bench




@pytest.fixture(scope="module")
def synthetic():
    return synthetic_tensors(30, 20, seed=1)


@pytest.fixture
def isolated_registry(monkeypatch):
    registry.discover()
    monkeypatch.setattr(registry, "_REGISTRY", dict(registry._REGISTRY))
    monkeypatch.setattr(registry, "_LOADED", set(registry._LOADED))


def run(bench, out, data, **kw):
    kw.setdefault("strategies", ["naive", "replay"])
    return runner.run_benchmark(bench, out, data=data, progress=False, command=["isocl", "run", "test"], **kw)


def count_calls(monkeypatch) -> list[tuple[str, int]]:
    calls: list[tuple[str, int]] = []
    real = runner.run_unit

    def counting(bench, strategy, seed, **kw):
        calls.append((strategy, seed))
        return real(bench, strategy, seed, **kw)

    monkeypatch.setattr(runner, "run_unit", counting)
    return calls


def unit_files(out: Path) -> dict[str, str]:
    return {p.name: p.read_text() for p in sorted((out / "units").glob("*"))}


def test_smoke_run_writes_the_results_directory(tmp_path, cifar10):
    out = tmp_path / "res"
    df = run(tiny_bench(), out, cifar10)
    for name in ("config.toml", "manifest.json", "metrics.csv", "experiences.csv", "summary.csv", "structure.csv"):
        assert (out / name).is_file(), name
    assert not list(out.rglob("*.tmp"))  # atomic writes leave no temporaries

    cfg = parse_benchmark(tomllib.loads((out / "config.toml").read_text()), "config.toml")
    assert cfg.strategies == ["naive", "replay"] and cfg.training["seeds"] == [0]
    assert cfg.scenario["train_per_class"] == 30 and cfg.model["widths"] == [16, 16]
    assert cfg.training["momentum"] == 0.9  # defaults are written out too

    manifest = json.loads((out / "manifest.json").read_text())
    for key in ("isocl", "torch", "avalanche", "python", "platform", "device", "git_commit", "command",
                "benchmark", "started", "finished"):
        assert key in manifest, key
    assert manifest["torch"] == torch.__version__
    assert manifest["command"] == "isocl run test"
    assert manifest["device"] == "cpu"

    metrics = pd.read_csv(out / "metrics.csv")
    assert list(metrics.columns) == METRICS_COLUMNS
    assert len(metrics) == 2 * 1 * N_EXP * N_EXP
    seen = metrics["eval_exp"] <= metrics["trained_exp"]
    assert metrics.loc[seen, "accuracy"].between(0, 1).all()
    assert metrics.loc[seen, "loss"].notna().all()
    # experiences not yet trained are not evaluated (no eval-time adaptation on them)
    assert metrics.loc[~seen, "accuracy"].isna().all()
    for (s, seed), g in metrics.groupby(["strategy", "seed"]):
        assert sorted(zip(g.trained_exp, g.eval_exp)) == [(i, j) for i in range(N_EXP) for j in range(N_EXP)]

    summary = pd.read_csv(out / "summary.csv")
    assert list(summary.columns) == SUMMARY_COLUMNS
    assert list(summary.strategy) == ["naive", "replay"]
    assert (summary.status == "ok").all()
    assert summary.error.isna().all()
    for _, row in summary.iterrows():
        m = metrics[(metrics.strategy == row.strategy) & (metrics.seed == row.seed)]
        last = m[m.trained_exp == N_EXP - 1]
        assert row.final_accuracy == pytest.approx(last.accuracy.mean(), abs=1e-9)
        assert 0 <= row.final_accuracy <= 1
        for col in ("forgetting", "bwt", "avg_incremental_accuracy"):
            assert math.isfinite(row[col]), col
        # the 3072-16-16 isotropic MLP with a 10-class head (+ intrinsic parameters)
        assert row.params > 3072 * 16 + 16 * 16 + 16 * 10
        assert row.widths == "16-16"
    assert pd.DataFrame(df).shape[0] == 2

    exps = pd.read_csv(out / "experiences.csv")
    assert len(exps) == 2 * N_EXP
    assert exps.avg_accuracy.between(0, 1).all()
    structure = pd.read_csv(out / "structure.csv")
    assert list(structure.columns) == STRUCTURE_COLUMNS and len(structure) == 0

    assert sorted(p.name for p in (out / "units").glob("*.json")) == ["naive-seed0.json", "replay-seed0.json"]


def test_resume_skips_finished_units(tmp_path, synthetic, monkeypatch):
    out = tmp_path / "res"
    run(tiny_bench(), out, synthetic)
    before = unit_files(out)
    metrics_before = (out / "metrics.csv").read_text()
    calls = count_calls(monkeypatch)
    run(tiny_bench(), out, synthetic)
    assert calls == []
    assert unit_files(out) == before
    assert (out / "metrics.csv").read_text() == metrics_before
    # a new seed runs only the new unit
    run(tiny_bench(), out, synthetic, strategies=["naive"], seeds=[0, 1])
    assert calls == [("naive", 1)]
    assert sorted(unit_files(out)) == ["naive-seed0.json", "naive-seed1.json", "replay-seed0.json"]
    assert unit_files(out)["naive-seed0.json"] == before["naive-seed0.json"]


def test_a_resumed_run_keeps_each_units_commit_and_the_earlier_runs(tmp_path, synthetic, monkeypatch):
    """A folder resumed at another commit says which units came from which commit, and keeps the earlier
    runs' commits, commands and times in its manifest."""
    out = tmp_path / "res"
    real_manifest = runner.run_manifest
    monkeypatch.setattr(runner, "run_manifest", lambda *a: {**real_manifest(*a), "git_commit": "a" * 40})
    run(tiny_bench(), out, synthetic, strategies=["naive"])
    first = json.loads((out / "manifest.json").read_text())
    assert first["earlier_runs"] == []
    monkeypatch.setattr(runner, "run_manifest", lambda *a: {**real_manifest(*a), "git_commit": "b" * 40})
    run(tiny_bench(), out, synthetic)  # replay runs now, naive is kept
    units = {name: json.loads(text)["git_commit"] for name, text in unit_files(out).items()}
    assert units == {"naive-seed0.json": "a" * 40, "replay-seed0.json": "b" * 40}
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["git_commit"] == "b" * 40
    assert manifest["earlier_runs"] == [{k: first[k] for k in EARLIER_RUN_KEYS}]
    assert set(EARLIER_RUN_KEYS) == {"git_commit", "command", "started", "finished", "jobs"}


def test_interrupted_run_resumes_the_missing_unit(tmp_path, synthetic, monkeypatch):
    out = tmp_path / "res"
    real = runner.run_unit

    def interrupt_second(bench, strategy, seed, **kw):
        if strategy == "replay":  # the second unit: stopped in the middle of experience 2's evaluation
            def stop(i, avg):
                if i == 2:
                    raise KeyboardInterrupt

            return real(bench, strategy, seed, on_experience=stop, **kw)
        return real(bench, strategy, seed, **kw)

    monkeypatch.setattr(runner, "run_unit", interrupt_second)
    with pytest.raises(KeyboardInterrupt):
        run(tiny_bench(), out, synthetic)
    assert sorted(unit_files(out)) == ["naive-seed0.json"]
    assert not list(out.rglob("*.tmp"))
    assert set(pd.read_csv(out / "metrics.csv").strategy) == {"naive"}
    naive_before = unit_files(out)["naive-seed0.json"]

    monkeypatch.setattr(runner, "run_unit", real)
    calls = count_calls(monkeypatch)
    run(tiny_bench(), out, synthetic)
    assert calls == [("replay", 0)]
    assert unit_files(out)["naive-seed0.json"] == naive_before
    metrics = pd.read_csv(out / "metrics.csv")
    assert len(metrics) == 2 * N_EXP * N_EXP
    summary = pd.read_csv(out / "summary.csv")
    assert list(summary.strategy) == ["naive", "replay"] and (summary.status == "ok").all()
    assert json.loads((out / "manifest.json").read_text())["finished"]


def test_task_il_pnn_and_packnet(tmp_path, synthetic):
    bench = tiny_bench(epochs=2)
    bench.scenario["setting"] = "task_il"
    bench.strategies = ["pnn", "packnet"]
    bench.strategy_params = {"packnet": {"post_prune_epochs": 1}}
    out = tmp_path / "res"
    run(bench, out, synthetic, strategies=["pnn", "packnet"])
    summary = pd.read_csv(out / "summary.csv")
    assert list(summary.strategy) == ["pnn", "packnet"]
    assert (summary.status == "ok").all(), summary.error.tolist()
    metrics = pd.read_csv(out / "metrics.csv")
    assert len(metrics) == 2 * N_EXP * N_EXP
    seen = metrics.eval_exp <= metrics.trained_exp
    assert metrics.accuracy[seen].between(0, 1).all()
    # pnn ends with one 3072-16-16 column per task, and grows one column per task (not at evaluation)
    assert summary.set_index("strategy").loc["pnn", "params"] >= N_EXP * (3072 * 16 + 16 * 16)
    exps = pd.read_csv(out / "experiences.csv")
    pnn_params = exps[exps.strategy == "pnn"].params.tolist()
    assert all(a < b for a, b in zip(pnn_params, pnn_params[1:]))


class _PoisonAt(SupervisedPlugin):
    """Sets every weight to NaN at the start of experience ``at``."""

    def __init__(self, at: int) -> None:
        super().__init__()
        self.at = at

    def before_training_iteration(self, strategy, **kwargs):
        if strategy.experience.current_experience == self.at:
            with torch.no_grad():
                for p in strategy.model.parameters():
                    p.fill_(float("nan"))


def test_nan_loss_fails_the_unit_and_the_others_finish(tmp_path, synthetic, isolated_registry, monkeypatch):
    name = f"poisoned-{uuid.uuid4().hex[:6]}"

    @register_strategy(name, defaults={"at": 1})
    def build(ctx, at):
        return ctx.template(ctx.make_model(), [_PoisonAt(at)])

    bench = tiny_bench()
    bench.strategies = [name, "naive"]
    out = tmp_path / "res"
    run(bench, out, synthetic, strategies=[name, "naive"])
    summary = pd.read_csv(out / "summary.csv").set_index("strategy")
    assert summary.loc[name, "status"] == "failed"
    assert "NonFiniteLoss" in summary.loc[name, "error"] and "experience 1" in summary.loc[name, "error"]
    assert math.isnan(summary.loc[name, "final_accuracy"])
    assert summary.loc["naive", "status"] == "ok" and math.isfinite(summary.loc["naive", "final_accuracy"])
    text = runner.print_summary(pd.read_csv(out / "summary.csv"), out)
    assert f"FAILED {name} seed 0" in text and "naive" in text
    # a rerun retries the failed unit only
    calls = count_calls(monkeypatch)
    run(bench, out, synthetic, strategies=[name, "naive"])
    assert calls == [(name, 0)]


def test_cuda_without_cuda_is_a_config_error(tmp_path, synthetic):
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    out = tmp_path / "res"
    with pytest.raises(ConfigError, match="cuda.*not available"):
        run(tiny_bench(), out, synthetic, device="cuda")
    assert not out.exists()
    bench = tiny_bench(device="cuda:0")  # also when the file asks for it
    with pytest.raises(ConfigError, match="cuda:0"):
        run(bench, out, synthetic)
    assert not out.exists()


def test_twins_follow_neuroplastic_strategies(isolated_registry):
    name = f"grower-{uuid.uuid4().hex[:6]}"
    register_strategy(name, neuroplastic=True)(lambda ctx: None)
    bench = tiny_bench()
    listed = units.unit_list(bench, ["naive", name], [0, 1])
    assert listed == [
        ("naive", 0), ("naive", 1),
        (name, 0), (f"fixed-final:{name}", 0), (f"fixed-max:{name}", 0),
        (name, 1), (f"fixed-final:{name}", 1), (f"fixed-max:{name}", 1),
    ]
    no_twins = bench.replace(twins=False)
    assert units.unit_list(no_twins, [name], [0]) == [(name, 0)]


def test_resume_refuses_a_changed_configuration(tmp_path, synthetic):
    out = tmp_path / "res"
    run(tiny_bench(), out, synthetic, strategies=["naive"])
    before = (out / "config.toml").read_text()
    with pytest.raises(ConfigError, match=r"holds results of another configuration \(differs in training.epochs\)"):
        run(tiny_bench(epochs=2), out, synthetic, strategies=["naive"])
    assert (out / "config.toml").read_text() == before  # nothing rewritten
    run(tiny_bench(), out, synthetic, strategies=["naive"], seeds=[0, 1])  # more seeds: same configuration
    assert len(pd.read_csv(out / "summary.csv")) == 2


def test_peak_params_count_a_width_pruned_inside_the_experience(synthetic):
    """An overabundant start (16 -> 64 neurons, pruned after the first experience) is the unit's peak: its
    max_params is the 64-wide network's size, not the largest size seen after an experience."""
    bench = tiny_bench()
    bench.strategies = ["neuro-prune"]
    result = runner.run_unit(bench, "neuro-prune", 0, data=synthetic,
                             params={"overabundant_start": 48, "prune_threshold": 0.5, "min_width": 4})
    assert result.status == "ok", result.error
    after_experiences = max(e["params"] for e in result.experiences)
    assert result.max_widths == [64, 64] and max(int(w) for w in result.widths.split("-")) < 64
    wide = bench.replace()
    wide.model["widths"] = [64, 64]
    ctx = StrategyContext(bench=wide, seed=0, device=torch.device("cpu"), evaluator=None, epochs=1)
    backbone = sum(p.numel() for n, p in ctx.make_model().named_parameters() if n.startswith("backbone."))
    head = result.max_params - backbone  # the head as it was then: 2 to 10 outputs on 64 neurons (+ intrinsic)
    assert 2 * 66 <= head <= 10 * 66, head
    assert result.max_params > after_experiences
