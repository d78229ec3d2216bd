"""Faults during a run (issue 13): a unit SIGKILLed mid-experience, a worker pool broken by a killed
worker, a full disk, an unwritable results folder, damaged unit records. Each time the run resumes or
stops with one clear line, and no finished unit is lost or duplicated. (The clean interrupt is
tests/test_runner.py::test_interrupted_run_resumes_the_missing_unit.)

How faults are simulated: SIGKILL is real (a subprocess kills itself in the third training batch of its
second unit); the broken pool is an executor whose future raises ``BrokenProcessPool``, what
``concurrent.futures`` reports when a worker is killed; the full disk is ``os.replace`` raising
``OSError(ENOSPC)`` for one unit record (chmod does not stop root, and tests may run as root); the
unwritable folder is a path whose parent is a file."""

from __future__ import annotations

import errno
import json
import os
import signal
import subprocess
import sys
import textwrap
from concurrent.futures import Future
from concurrent.futures.process import BrokenProcessPool

import pandas as pd
import pytest

import isocl.bench.results as results
import isocl.bench.runner as runner
from isocl.bench.executors import InlineExecutor
from isocl.bench.results import RunStopped
from isocl.bench.scenarios import synthetic_tensors

from _badinput import REPO, call, one_line_error, snapshot, write_bench

DATA = (10, 10, 1)  # synthetic_tensors arguments: the same data in the subprocess and here


@pytest.fixture
def synthetic(monkeypatch):
    data = synthetic_tensors(*DATA)
    monkeypatch.setattr(runner, "load_cifar10", lambda: data)
    monkeypatch.setattr(runner, "find_batches_dir", lambda: None)  # --jobs N: the workers' data is there
    return data


def run_argv(bench, out, *extra):
    return ["run", str(bench), "--out", str(out), "--quiet", "--no-plot", *extra]


def units(out):
    return {p.name: p.read_bytes() for p in sorted((out / "units").iterdir())}


def calls_of(monkeypatch) -> list[tuple[str, int]]:
    seen: list[tuple[str, int]] = []
    real = runner.run_unit

    def counting(bench, strategy, seed, **kw):
        seen.append((strategy, seed))
        return real(bench, strategy, seed, **kw)

    monkeypatch.setattr(runner, "run_unit", counting)
    return seen


def assert_complete(out):
    summary = pd.read_csv(out / "summary.csv")
    assert sorted(zip(summary.strategy, summary.seed)) == [("naive", 0), ("replay", 0)]  # each unit once
    assert (summary.status == "ok").all()
    assert len(pd.read_csv(out / "metrics.csv")) == 2 * 2 * 2
    assert not list(out.rglob("*.tmp"))


KILLER = textwrap.dedent("""
    import os, signal, sys
    import torch.nn.functional as F
    import isocl.bench.runner as runner
    from isocl.bench.scenarios import synthetic_tensors

    data = synthetic_tensors(*{data})
    runner.load_cifar10 = lambda: data
    real_unit, real_loss = runner.run_unit, F.cross_entropy
    armed = []

    def run_unit(bench, strategy, seed, **kw):
        if strategy == "replay":
            armed.append(0)
        return real_unit(bench, strategy, seed, **kw)

    def loss(*a, **k):  # the third training batch of the replay unit: mid-experience 0
        if armed and F.cross_entropy is loss:
            armed.append(0)
            if len(armed) == 4:
                os.kill(os.getpid(), signal.SIGKILL)
        return real_loss(*a, **k)

    runner.run_unit, F.cross_entropy = run_unit, loss
    from isocl.cli import main
    sys.exit(main(sys.argv[1:]))
""")


@pytest.mark.slow  # see tox -e fast
def test_unit_killed_mid_experience_resumes(tmp_path, synthetic, monkeypatch):
    bench, out = write_bench(tmp_path), tmp_path / "out"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]),
           "OMP_NUM_THREADS": "1"}
    proc = subprocess.run([sys.executable, "-c", KILLER.format(data=DATA), *run_argv(bench, out, "--threads", "1")],
                          env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == -signal.SIGKILL, proc.stderr[-2000:]
    assert sorted(units(out)) == ["naive-seed0.json"]  # the finished unit is saved, the killed one is not
    assert set(pd.read_csv(out / "summary.csv").strategy) == {"naive"}
    naive = units(out)["naive-seed0.json"]

    seen = calls_of(monkeypatch)
    code, _, err = call(run_argv(bench, out))
    assert code == 0, err
    assert seen == [("replay", 0)]  # only the killed unit reruns
    assert units(out)["naive-seed0.json"] == naive
    assert_complete(out)


class DyingPool(InlineExecutor):
    """Runs the first ``alive`` jobs, then reports what a pool with a SIGKILLed worker reports."""

    def __init__(self, alive: int):
        self.alive = alive

    def submit(self, fn, /, *args, **kwargs) -> Future:
        if self.alive > 0:
            self.alive -= 1
            return super().submit(fn, *args, **kwargs)
        future: Future = Future()
        future.set_exception(BrokenProcessPool("A process in the process pool was terminated abruptly"))
        return future


@pytest.mark.slow  # see tox -e fast
def test_killed_worker_stops_the_run_with_one_line_and_it_resumes(tmp_path, synthetic, monkeypatch):
    bench, out = write_bench(tmp_path), tmp_path / "out"
    monkeypatch.setattr(runner, "make_executor", lambda *a, **k: DyingPool(alive=1))
    code, _, err = call(run_argv(bench, out, "--jobs", "2"))
    assert code == 1
    line = one_line_error(err, "run")
    assert "a worker process died (killed, e.g. out of memory) while running replay seed 0" in line
    assert "1 of 2 units saved" in line and "rerun the same command to resume" in line
    assert sorted(units(out)) == ["naive-seed0.json"]
    naive = units(out)["naive-seed0.json"]

    monkeypatch.setattr(runner, "make_executor", lambda *a, **k: InlineExecutor())
    seen = calls_of(monkeypatch)
    code, _, err = call(run_argv(bench, out, "--jobs", "2"))
    assert code == 0, err
    assert seen == [("replay", 0)] and units(out)["naive-seed0.json"] == naive
    assert_complete(out)


@pytest.mark.parametrize("full_at, says, saved", [
    ("replay-seed0.json", "cannot write the record of replay seed 0 (No space left on device)", ["naive-seed0.json"]),
    ("summary.csv", "cannot write the CSV files (No space left on device)", ["naive-seed0.json"]),
])
def test_full_disk_stops_the_run_keeps_finished_units_and_it_resumes(tmp_path, synthetic, monkeypatch, full_at,
                                                                      says, saved):
    bench, out = write_bench(tmp_path), tmp_path / "out"
    real_replace = os.replace

    def full_disk(src, dst):
        if str(dst).endswith(full_at):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(dst))
        return real_replace(src, dst)

    monkeypatch.setattr(results.os, "replace", full_disk)
    code, _, err = call(run_argv(bench, out))
    assert code == 1
    line = one_line_error(err, "run")
    assert says in line, line
    assert f"{len(saved)} of 2 units saved" in line and "rerun the same command to resume" in line
    assert sorted(units(out)) == saved  # and no temporary file left
    assert not list(out.rglob("*.tmp"))
    naive = units(out)["naive-seed0.json"]

    monkeypatch.setattr(results.os, "replace", real_replace)  # space freed
    seen = calls_of(monkeypatch)
    assert call(run_argv(bench, out))[0] == 0
    assert seen == [("replay", 0)] and units(out)["naive-seed0.json"] == naive
    assert_complete(out)


def test_unwritable_results_folder_is_refused_before_anything_runs(tmp_path, synthetic, monkeypatch):
    bench = write_bench(tmp_path)
    (tmp_path / "disk").write_text("a file where a folder should be")
    seen = calls_of(monkeypatch)
    before = snapshot(tmp_path)
    code, _, err = call(run_argv(bench, tmp_path / "disk" / "out"))
    assert code == 2 and "cannot create the folder" in one_line_error(err, "run")
    assert seen == [] and snapshot(tmp_path) == before


def test_damaged_unit_records_are_set_aside_and_rerun(tmp_path, synthetic, monkeypatch):
    bench, out = write_bench(tmp_path), tmp_path / "out"
    assert call(run_argv(bench, out))[0] == 0
    naive = units(out)["naive-seed0.json"]
    replay = out / "units" / "replay-seed0.json"
    replay.write_bytes(replay.read_bytes()[: len(replay.read_bytes()) // 2])  # truncated: a crash of old
    (out / "units" / "naive-seed0 (copy).json").write_bytes(naive)  # a copy: must not count twice
    (out / "units" / "naive-seed1.json").write_text(json.dumps(["not", "a", "record"]))

    seen = calls_of(monkeypatch)
    code, _, err = call(run_argv(bench, out))
    assert code == 0
    warnings = [line for line in err.splitlines() if "is damaged" in line]
    assert len(warnings) == 3, err
    assert any("replay-seed0.json is damaged (unreadable (JSONDecodeError" in w for w in warnings)
    assert any("holds unit naive seed 0, not the one its name says" in w for w in warnings)
    assert any("not a unit record (a JSON list)" in w for w in warnings)
    assert seen == [("replay", 0)]  # the damaged unit reruns, the finished one does not
    assert units(out)["naive-seed0.json"] == naive
    assert sorted(units(out)) == ["naive-seed0 (copy).json.damaged", "naive-seed0.json",
                                  "naive-seed1.json.damaged", "replay-seed0.json",
                                  "replay-seed0.json.damaged"]
    assert_complete(out)


def test_damaged_config_is_one_line(tmp_path, synthetic):
    bench, out = write_bench(tmp_path), tmp_path / "out"
    assert call(run_argv(bench, out))[0] == 0
    (out / "config.toml").write_text("name = \n")
    before = snapshot(tmp_path)
    code, _, err = call(run_argv(bench, out))
    assert code == 2 and "config.toml is damaged (TOMLDecodeError" in one_line_error(err, "run")
    assert snapshot(tmp_path) == before


def test_run_stopped_is_raised_by_the_api(tmp_path, synthetic):
    from isocl.bench.config import load_benchmark

    bench = load_benchmark(write_bench(tmp_path))
    with pytest.raises(RunStopped, match="0 of 2 units saved"):
        runner.run_benchmark(bench, tmp_path / "api", progress=False, executor=DyingPool(alive=0))
