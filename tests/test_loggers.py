"""Avalanche's loggers per unit (isocl.bench.loggers): [logging] / --logger, files under DIR/logs/<unit>/."""

from __future__ import annotations

import warnings
from pathlib import Path

import pandas as pd
import pytest

import isocl.bench.runner as runner
from isocl.bench.config import ConfigError, load_benchmark, parse_benchmark
from isocl.bench.loggers import parse_logger_names
from isocl.bench.metrics import default_evaluator
from isocl.bench.scenarios import synthetic_tensors
from isocl.cli import build_parser

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def synthetic():
    return synthetic_tensors(30, 20, seed=1)


def tiny(loggers):
    bench = load_benchmark(REPO / "benchmarks" / "smoke.toml")
    bench.scenario.update(train_per_class=30, test_per_class=20, n_experiences=2)
    bench.model["widths"] = [16]
    bench.training.update(seeds=[0], epochs=2, batch_size=32)
    bench.logging["loggers"] = loggers
    bench.output["save_models"] = False
    return bench


def test_tensorboard_csv_and_text_logs_land_under_the_unit(tmp_path, synthetic):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    out = tmp_path / "res"
    df = runner.run_benchmark(tiny(["text", "csv", "tensorboard"]), out, strategies=["naive", "replay"],
                              data=synthetic, progress=False, jobs=1)
    plain = runner.run_benchmark(tiny([]), tmp_path / "plain", strategies=["naive", "replay"], data=synthetic,
                                 progress=False)
    assert df.final_accuracy.tolist() == plain.final_accuracy.tolist()  # loggers change nothing
    assert not (tmp_path / "plain" / "logs").exists()
    for unit in ("naive-seed0", "replay-seed0"):
        logs = out / "logs" / unit
        events = list((logs / "tensorboard").glob("events.out.tfevents.*"))
        assert len(events) == 1
        acc = EventAccumulator(str(events[0])).Reload()
        tags = acc.Tags()["scalars"]
        assert "Top1_Acc_Exp/eval_phase/test_stream/Task000/Exp000" in tags
        assert "Top1_Acc_Epoch/train_phase/train_stream/Task000" in tags
        assert "Params/train_phase/Exp001" in tags
        last = acc.Scalars("Top1_Acc_Exp/eval_phase/test_stream/Task000/Exp001")[-1].value
        record = pd.read_csv(out / "metrics.csv").query(f"strategy == '{unit[:-6]}' and trained_exp == 1 "
                                                        "and eval_exp == 1")
        assert last == pytest.approx(float(record.accuracy.iloc[0]), abs=1e-6)
        assert "Top1_Acc_Exp" in (logs / "log.txt").read_text()
        assert len(pd.read_csv(logs / "csv" / "eval_results.csv")) > 0
        assert len(pd.read_csv(logs / "csv" / "training_results.csv")) == 2 * 2  # 2 experiences x 2 epochs


def test_wandb_logs_offline_into_the_unit_folder(tmp_path, synthetic, monkeypatch):
    monkeypatch.delenv("WANDB_MODE", raising=False)
    monkeypatch.setenv("WANDB_SILENT", "true")
    out = tmp_path / "res"
    df = runner.run_benchmark(tiny(["wandb"]), out, strategies=["naive"], data=synthetic, progress=False)
    assert df.status.tolist() == ["ok"], df.error.tolist()
    runs = list((out / "logs" / "naive-seed0" / "wandb").rglob("offline-run-*"))
    assert runs, sorted((out / "logs").rglob("*"))
    assert any(p.suffix == ".wandb" for p in runs[0].iterdir())


def test_no_logger_means_no_avalanche_warning():
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        default_evaluator()
    assert not [w for w in caught if "No loggers specified" in str(w.message)]


def test_logger_names_are_checked():
    assert parse_logger_names("tensorboard, csv,tensorboard") == ["tensorboard", "csv"]
    with pytest.raises(ValueError, match="unknown logger 'mlflow'"):
        parse_logger_names("csv,mlflow")
    assert build_parser().parse_args(["run", "b.toml", "--logger", "text,wandb"]).logger == ["text", "wandb"]
    with pytest.raises(SystemExit):
        build_parser().parse_args(["run", "b.toml", "--logger", "mlflow"])
    raw = {"name": "x", "strategies": ["naive"], "logging": {"loggers": ["tensorboard"]}}
    assert parse_benchmark(raw).logging["loggers"] == ["tensorboard"]
    with pytest.raises(ConfigError, match="logging.loggers"):
        parse_benchmark({**raw, "logging": {"loggers": ["mlflow"]}})
    with pytest.raises(ConfigError, match="logging.level"):
        parse_benchmark({**raw, "logging": {"level": 1}})
