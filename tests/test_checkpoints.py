"""Saved models (isocl.bench.checkpoints): safetensors round trip of a grown and pruned model,
per-experience saves, `isocl evaluate MODEL.safetensors`, `isocl export --compressed`."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pandas as pd
import pytest
import torch
from avalanche.models.utils import avalanche_model_adaptation

import isocl.bench.data
import isocl.bench.runner as runner
from isocl.bench.checkpoints import (evaluate_saved_model, export_compressed, load_compressed, load_model,
                                     read_metadata, save_model)
from isocl.bench.config import ConfigError, load_benchmark
from isocl.bench.scenarios import make_split_cifar10, synthetic_tensors
from isocl.cli import main
from isocl.nn.models import MLPConfig, build_mlp
from isocl.nn.moves import grow_layer, prune_layer

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def synthetic():
    return synthetic_tensors(30, 20, seed=1)


def grown_and_pruned(setting: str, dtype=torch.float32):
    """An isotropic MLP whose heads grew over 3 experiences (Avalanche's adaptation) and whose
    hidden widths changed by growth and pruning."""
    torch.manual_seed(0)
    scenario = make_split_cifar10(synthetic_tensors(4, 2), setting=setting, n_experiences=5, seed=0)
    model = build_mlp(MLPConfig(widths=[12, 10], multi_head=setting == "task_il")).to(dtype)
    for exp in list(scenario.train_stream)[:3]:
        model.train()
        avalanche_model_adaptation(model, exp)
        grow_layer(model, 0, 5)
        with torch.no_grad():
            for p in model.parameters():
                p.add_(0.1 * torch.randn_like(p))
    prune_layer(model, 1, 0.5)
    assert model.widths[0] == 27 and model.widths[1] < 10
    return model.eval()


@pytest.mark.parametrize("setting", ["class_il", "task_il"])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_grown_and_pruned_model_round_trips_exactly(tmp_path, setting, dtype):
    model = grown_and_pruned(setting, dtype)
    path = save_model(model, tmp_path / "m.safetensors", strategy="naive", seed=0, experience=2)
    loaded, meta = load_model(path)
    assert meta["config"]["widths"] == model.widths and meta["experience"] == 2
    assert loaded.widths == model.widths
    x = torch.randn(16, 3, 32, 32, dtype=dtype)
    with torch.no_grad():
        if setting == "class_il":
            assert torch.equal(loaded(x), model(x))
        else:
            for t in range(3):
                assert torch.equal(loaded(x, t), model(x, t))
            if dtype == torch.float32:  # Avalanche's mixed-task forward writes into a float32 buffer
                tasks = torch.tensor([0, 1, 2, 1] * 4)
                assert torch.equal(loaded(x, tasks), model(x, tasks))
        assert torch.equal(loaded.logits_all(x), model.logits_all(x))
    assert all(p.dtype == dtype for p in loaded.parameters())


def test_a_foreign_file_is_a_clear_error(tmp_path):
    from safetensors.torch import save_file

    save_file({"w": torch.zeros(2)}, str(tmp_path / "x.safetensors"))
    with pytest.raises(ConfigError, match="without isocl metadata"):
        read_metadata(tmp_path / "x.safetensors")
    with pytest.raises(ConfigError, match="no such model file"):
        load_model(tmp_path / "absent.safetensors")


def tiny(setting="class_il", **output):
    bench = load_benchmark(REPO / "benchmarks" / "smoke.toml")
    bench.scenario.update(train_per_class=30, test_per_class=20, n_experiences=2 if setting == "class_il" else 5,
                          setting=setting)
    bench.model["widths"] = [16, 16]
    bench.training.update(seeds=[0], epochs=1, batch_size=32)
    bench.output.update(output)
    bench.twins = bench.controls = False
    return bench


def test_units_save_models_and_evaluate_reproduces_the_run(tmp_path, synthetic, monkeypatch):
    out = tmp_path / "res"
    runner.run_benchmark(tiny(save_every_experience=True), out, strategies=["naive", "neuro-grow-prune"],
                         data=synthetic, progress=False)
    models = sorted(str(p.relative_to(out)) for p in (out / "models").rglob("*.safetensors"))
    assert models == ["models/naive-seed0.safetensors", "models/naive-seed0/exp0.safetensors",
                      "models/naive-seed0/exp1.safetensors", "models/neuro-grow-prune-seed0.safetensors",
                      "models/neuro-grow-prune-seed0/exp0.safetensors", "models/neuro-grow-prune-seed0/exp1.safetensors"]
    metrics = pd.read_csv(out / "metrics.csv")
    summary = pd.read_csv(out / "summary.csv").set_index("strategy")
    for name in ("naive", "neuro-grow-prune"):
        meta = read_metadata(out / "models" / f"{name}-seed0.safetensors")
        assert "-".join(map(str, meta["config"]["widths"])) == summary.loc[name, "widths"]
        for exp in (0, 1):
            res = evaluate_saved_model(out / "models" / f"{name}-seed0" / f"exp{exp}.safetensors", data=synthetic)
            want = metrics[(metrics.strategy == name) & (metrics.trained_exp == exp)].accuracy.dropna().tolist()
            assert res["accuracy"] == pytest.approx(want, abs=1e-12)
    assert (out / "models" / "naive-seed0.safetensors").read_bytes() == \
        (out / "models" / "naive-seed0" / "exp1.safetensors").read_bytes()

    # isocl export --compressed: the alternating-diagonal form, same logits (up to rounding), fewer weights
    dest, meta = export_compressed(out, "neuro-grow-prune-seed0")
    assert dest == out / "export" / "neuro-grow-prune-seed0.compressed.safetensors"
    comp, meta = load_compressed(dest)
    model, _ = load_model(out / "models" / "neuro-grow-prune-seed0.safetensors")
    x = torch.randn(8, 3, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(comp(x), model.logits_all(x), rtol=1e-4, atol=1e-4)
    assert meta["weight_count"] < meta["dense_weight_count"] and sum(meta["head_sizes"]) == comp(x).shape[1]

    # the commands
    monkeypatch.setattr(isocl.bench.data, "load_cifar10", lambda *a, **k: synthetic)
    assert main(["evaluate", str(out / "models" / "naive-seed0.safetensors")]) == 0
    assert main(["evaluate", str(out / "models" / "naive-seed0.safetensors"), "--seeds", "1"]) == 2
    assert main(["export", str(out), "--unit", "naive-seed0", "--out", str(tmp_path / "n.safetensors")]) == 0
    assert load_model(tmp_path / "n.safetensors")[1]["strategy"] == "naive"
    assert main(["export", str(out), "--unit", "nope-seed0"]) == 2
    # an earlier export is replaced; a user's file at --out survives byte for byte (issue 13)
    assert main(["export", str(out), "--unit", "naive-seed0", "--out", str(tmp_path / "n.safetensors")]) == 0
    mine = tmp_path / "notes.safetensors"
    mine.write_bytes(b"my own data \x00\x01")
    assert main(["export", str(out), "--unit", "naive-seed0", "--out", str(mine)]) == 2
    assert mine.read_bytes() == b"my own data \x00\x01"


def test_task_il_model_evaluates_as_recorded(tmp_path, synthetic):
    out = tmp_path / "res"
    runner.run_benchmark(tiny("task_il"), out, strategies=["naive"], data=synthetic, progress=False)
    res = evaluate_saved_model(out / "models" / "naive-seed0.safetensors", data=synthetic)
    metrics = pd.read_csv(out / "metrics.csv")
    assert res["accuracy"] == pytest.approx(metrics[metrics.trained_exp == 4].accuracy.tolist(), abs=1e-12)
    assert not (out / "models" / "naive-seed0").exists()  # final model only by default


def test_save_models_can_be_switched_off(tmp_path, synthetic):
    out = tmp_path / "res"
    runner.run_benchmark(tiny(save_models=False), out, strategies=["naive"], data=synthetic, progress=False)
    assert not (out / "models").exists()


def test_reference_models_are_git_ignored():
    probe = "results/reference/split_cifar10_class_il/models/naive-seed0.safetensors"
    res = subprocess.run(["git", "check-ignore", "-q", probe], cwd=REPO)
    assert res.returncode == 0, f"{probe} is not git-ignored"
