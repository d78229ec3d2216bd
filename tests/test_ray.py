"""`isocl run --executor ray`: units as Ray tasks on a local Ray instance (isocl.bench.ray_executor).

One embedded Ray instance for the module (2 CPUs, no dashboard); the data are
CIFAR-shaped synthetic tensors put once into Ray's object store.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from pandas.testing import assert_frame_equal

pytest.importorskip("ray", reason="Ray is an optional extra: pip install 'isocl[ray]'")

import isocl.bench.runner as runner  # noqa: E402
from isocl.bench.config import load_benchmark  # noqa: E402
from isocl.bench.scenarios import synthetic_tensors  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
PLUGINS = REPO / "tests" / "fixtures" / "ray_strategies"


def tiny(seeds=(0, 1)):
    bench = load_benchmark(REPO / "benchmarks" / "smoke.toml")
    bench.scenario.update(train_per_class=30, test_per_class=20, n_experiences=2)
    bench.model["widths"] = [16, 16]
    bench.training.update(seeds=list(seeds), epochs=1, batch_size=32)
    bench.strategy_params = {}
    bench.controls = False
    return bench


pytestmark = pytest.mark.slow  # a local Ray instance per module: see tox -e fast


@pytest.fixture(scope="module")
def data():
    return synthetic_tensors(30, 20, seed=1)


@pytest.fixture(scope="module")
def ray_executor(data):
    from isocl.bench.ray_executor import RayExecutor

    mp = pytest.MonkeyPatch()
    mp.setenv("ISOCL_STRATEGY_PATH", str(PLUGINS))  # before ray.init: its workers get the environment
    executor = RayExecutor(task_cpus=1, data=data, max_retries=0, num_cpus=2, include_dashboard=False,
                           object_store_memory=100 * 2**20)
    yield executor
    executor.shutdown(cancel_futures=True)
    mp.undo()


def records(out: Path) -> dict[str, dict]:
    units = {}
    for path in sorted((out / "units").glob("*.json")):
        rec = json.loads(path.read_text())
        rec.pop("wall_time_s")
        for row in rec["experiences"]:
            row.pop("wall_time_s")
        units[path.name] = rec
    return units


def test_ray_reproduces_a_sequential_run_and_resumes(tmp_path, data, ray_executor, monkeypatch):
    names = ["naive", "neuro-grow-prune"]  # with its fixed-width twins: submitted once the parent is done
    seq, ray_out = tmp_path / "seq", tmp_path / "ray"
    runner.run_benchmark(tiny(), seq, strategies=names, data=data, progress=False)
    df = runner.run_benchmark(tiny(), ray_out, strategies=names, data=data, progress=False, jobs=2,
                              executor=ray_executor)
    assert (df.status == "ok").all(), df.error.tolist()
    assert len(df) >= 6
    assert records(ray_out) == records(seq)
    for model in (seq / "models").glob("*.safetensors"):
        assert (ray_out / "models" / model.name).read_bytes() == model.read_bytes()
    for name in ("metrics.csv", "structure.csv"):
        assert (ray_out / name).read_text() == (seq / name).read_text()
    assert_frame_equal(pd.read_csv(ray_out / "summary.csv").drop(columns="wall_time_s"),
                       pd.read_csv(seq / "summary.csv").drop(columns="wall_time_s"))

    submitted = []
    real_submit = ray_executor.submit
    monkeypatch.setattr(ray_executor, "submit", lambda *a, **k: submitted.append(a) or real_submit(*a, **k))
    runner.run_benchmark(tiny(), ray_out, strategies=names, data=data, progress=False, jobs=2,
                         executor=ray_executor)
    assert submitted == []  # everything finished: resuming runs nothing


def test_a_lost_task_is_a_failed_unit_and_the_others_finish(tmp_path, data, ray_executor):
    out = tmp_path / "out"
    df = runner.run_benchmark(tiny([0]), out, strategies=["ray-crash", "naive"], data=data, progress=False, jobs=2,
                              executor=ray_executor)
    status = dict(zip(zip(df.strategy, df.seed), df.status))
    assert status == {("ray-crash", 0): "failed", ("naive", 0): "ok"}
    error = df[df.strategy == "ray-crash"].error.iloc[0]
    assert "Worker" in error or "worker" in error, error
    assert json.loads((out / "units" / "ray-crash-seed0.json").read_text())["traceback"]


def test_capacity_and_cli_options(ray_executor):
    from isocl.cli import build_parser

    assert ray_executor.capacity == 2  # 2 CPUs, 1 per task
    args = build_parser().parse_args(["run", "b.toml", "--executor", "ray", "--address", "auto"])
    assert (args.executor, args.address) == ("ray", "auto")
    with pytest.raises(SystemExit):
        build_parser().parse_args(["run", "b.toml", "--executor", "dask"])
