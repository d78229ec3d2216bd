"""Quiet output (isocl.bench.quiet): known-harmless third-party warnings are filtered one by one,
in the command and in its --jobs workers; --verbose shows them."""

from __future__ import annotations

import os
import subprocess
import sys
import warnings
from pathlib import Path

import pytest
import tomli_w

from isocl.bench.quiet import KNOWN_HARMLESS, install

REPO = Path(__file__).resolve().parents[1]

TINY = {
    "name": "tiny", "strategies": ["replay", "si"], "twins": False, "controls": False,
    "scenario": {"n_experiences": 2, "train_per_class": 20, "test_per_class": 10},
    "training": {"epochs": 1, "batch_size": 32, "seeds": [0]},
    "model": {"widths": [8]},
    "strategy": {"replay": {"mem_size": 20}},
    "output": {"save_models": False},
}


def isocl_run(tmp_path: Path, data: Path, *extra: str) -> subprocess.CompletedProcess:
    bench = tmp_path / "tiny.toml"
    bench.write_text(tomli_w.dumps(TINY), encoding="utf-8")
    env = {**os.environ, "ISOCL_DATA": str(data), "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1",
           "PYTHONWARNINGS": "default"}  # Python itself would show every warning: only isocl's filters hide them
    env.pop("ISOCL_VERBOSE", None)
    out = tmp_path / f"out{len(list(tmp_path.glob('out*')))}"
    cmd = [sys.executable, "-m", "isocl.cli", "run", str(bench), "--out", str(out), "--no-plot", "--quiet",
           "--threads", "1", *extra]
    res = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    assert "replay" in res.stdout and "si" in res.stdout
    return res


@pytest.mark.slow  # see tox -e fast
def test_a_run_shows_no_known_warning_and_verbose_shows_them(tmp_path, cifar10_source):
    quiet = isocl_run(tmp_path, cifar10_source)
    for known in KNOWN_HARMLESS:
        assert known.message.replace("\\", "") not in quiet.stderr, known.name
    assert "Warning" not in quiet.stderr, quiet.stderr
    verbose = isocl_run(tmp_path, cifar10_source, "--verbose")
    assert "Call to deprecated function update" in verbose.stderr  # Avalanche's replay storage policy
    assert "__array_wrap__ must accept context" in verbose.stderr  # numpy 2 in Avalanche's SI
    assert "No loggers specified" not in verbose.stderr  # not filtered: not raised (isocl passes a null logger)


def test_filters_name_each_warning_and_leave_the_rest():
    assert len({k.name for k in KNOWN_HARMLESS}) == len(KNOWN_HARMLESS)
    assert all(k.why and k.message and k.module for k in KNOWN_HARMLESS)
    with warnings.catch_warnings(record=True) as caught:
        warnings.resetwarnings()
        warnings.simplefilter("always")
        install(verbose=False)
        for known in KNOWN_HARMLESS:
            warnings.warn_explicit(known.message.replace("\\", "") + " (test)", known.category, "x.py", 1,
                                   module=known.module.replace("\\", "").rstrip(".") + ".sub")
        warnings.warn_explicit("No loggers specified", UserWarning, "x.py", 1, module="mylib")  # not Avalanche's
        warnings.warn_explicit("something else", DeprecationWarning, "x.py", 1, module="avalanche.models")
    assert [str(w.message) for w in caught] == ["No loggers specified", "something else"]
    with warnings.catch_warnings(record=True) as caught:
        install(verbose=True)
        warnings.warn_explicit("Call to deprecated function update", DeprecationWarning, "x.py", 2,
                               module="avalanche.training")
    assert len(caught) == 1
    install(verbose=False)
    os.environ.pop("ISOCL_VERBOSE", None)


@pytest.mark.slow  # see tox -e fast
def test_jobs_workers_install_the_filters(tmp_path, capfd, monkeypatch):
    """--jobs N: spawned workers start from Python's filters (here PYTHONWARNINGS=default) and install isocl's."""
    from isocl.bench import quiet
    from isocl.bench.config import parse_benchmark
    from isocl.bench.runner import run_benchmark
    from isocl.bench.scenarios import synthetic_tensors

    monkeypatch.setenv("PYTHONWARNINGS", "default")
    monkeypatch.setenv("PYTHONPATH", str(REPO))
    monkeypatch.setattr(quiet, "_VERBOSE", False)
    quiet.install(verbose=False)
    bench = parse_benchmark({**TINY, "strategies": ["replay"]})  # one unit: one worker process to start
    df = run_benchmark(bench, tmp_path / "out", data=synthetic_tensors(20, 10), progress=False, jobs=2, threads=1)
    assert df.status.tolist() == ["ok"]
    err = capfd.readouterr().err
    assert "Warning" not in err, err
    monkeypatch.delenv("ISOCL_VERBOSE", raising=False)


@pytest.mark.parametrize("verbose", [False, True])
def test_workers_inherit_the_choice(verbose, monkeypatch):
    from isocl.bench import quiet

    monkeypatch.delenv("ISOCL_VERBOSE", raising=False)
    with warnings.catch_warnings():
        quiet.install(verbose)
        assert quiet.is_verbose() is verbose  # spawned workers and Ray tasks read it from the environment
