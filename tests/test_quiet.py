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


# --------------------------------------------------------------------------
# each message once, errors as plain text, filters that reach new interpreters


RAY_ERROR = ("\x1b[36mray::run_unit_job()\x1b[39m (pid=4242, ip=127.0.0.1)\n"
             "  File \"\x1b[35m/x/runner.py\x1b[0m\", line \x1b[35m12\x1b[0m\n"
             "\x1b[1;31mValueError\x1b[0m: \x1b[1mboom\x1b[0m")


def test_plain_text_removes_ray_colours():
    from isocl.bench.quiet import plain_text

    text = plain_text(RAY_ERROR)
    assert "\x1b" not in text and "[36m" not in text
    assert text.endswith("ValueError: boom") and 'File "/x/runner.py", line 12' in text
    assert plain_text(None) is None and plain_text("no colour") == "no colour"


def test_a_failed_task_is_stored_without_ansi_codes():
    import isocl.bench.runner as runner

    record = runner._failed_record("naive", 0, RuntimeError(RAY_ERROR))
    assert record["status"] == "failed"
    assert "\x1b" not in record["error"] and "\x1b" not in record["traceback"]
    assert "ValueError: boom" in record["error"]


def test_pythonwarnings_silences_known_warnings_in_a_new_interpreter():
    """What a Ray or --jobs worker inherits: the known warnings are ignored from its first line on,
    an unknown warning still shows."""
    from isocl.bench.quiet import pythonwarnings

    env = {**os.environ, "PYTHONWARNINGS": pythonwarnings("default")}
    code = ("import warnings\n"
            "warnings.warn('no QP solver found on your system, you can install solvers', UserWarning)\n"
            "warnings.warn('JAXopt is no longer maintained. See https://docs.jax.dev', DeprecationWarning)\n"
            "warnings.warn('something new', UserWarning)\n")
    res = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)
    assert "no QP solver" not in res.stderr and "JAXopt" not in res.stderr
    assert "something new" in res.stderr
    # and without the entries, Python itself would show them: the check can fail
    res = subprocess.run([sys.executable, "-c", code], env={**os.environ, "PYTHONWARNINGS": "default"},
                         capture_output=True, text=True, timeout=60)
    assert "no QP solver" in res.stderr
    assert pythonwarnings(pythonwarnings("")) == pythonwarnings("")  # each entry once


def test_a_failed_unit_is_reported_once(tmp_path, capsys, monkeypatch):
    """A unit that fails in the command's own process: one line on the terminal, not two."""
    import isocl.bench.runner as runner
    from isocl.bench import registry
    from isocl.bench.config import load_benchmark
    from isocl.bench.scenarios import synthetic_tensors

    registry.discover()
    monkeypatch.setattr(registry, "_REGISTRY", dict(registry._REGISTRY))

    @registry.register_strategy("always-fails-quiet-test", defaults={})
    def build(ctx):
        raise RuntimeError("\x1b[31mbroken on purpose\x1b[0m")

    bench = load_benchmark(REPO / "benchmarks" / "smoke.toml")
    bench.scenario.update(train_per_class=10, test_per_class=5)
    bench.model["widths"] = [8]
    bench.training.update({"seeds": [0], "epochs": 1, "batch_size": 32})
    bench.strategies = ["always-fails-quiet-test"]
    bench.twins = bench.controls = False
    df = runner.run_benchmark(bench, tmp_path / "res", data=synthetic_tensors(10, 5, seed=0), progress=True,
                              strategies=["always-fails-quiet-test"], command=["isocl", "run", "test"])
    err = capsys.readouterr()
    lines = [ln for ln in (err.out + err.err).splitlines() if "always-fails-quiet-test seed 0 failed" in ln]
    assert len(lines) == 1, err.err
    row = df.set_index("strategy").loc["always-fails-quiet-test"]
    assert row["status"] == "failed" and row["error"] == "RuntimeError: broken on purpose"  # stored plain
