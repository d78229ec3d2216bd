"""Fuzzing bad input (issue 13) with Hypothesis: the ``isocl`` command line (run, tune, plot) and the
benchmark file's values. Every generated input either runs (exit 0, a complete results folder or
study) or exits 2 with one line and writes nothing: no traceback, no exit 1, no partial folder; the
inputs drawn only from valid values (the ``..._valid_values_run`` tests) must run: exit 0, every unit ok.

Deterministic (``derandomize=True``, no example database) with a small budget: "runs" are real
runs on a few synthetic images (10 per class, a 4-neuron layer), about 0.1 s each, and the values
a fuzzer may draw are sized so that a valid one stays cheap (epochs, seeds and widths up to a few;
huge numbers are drawn beyond the limits, where they must be refused). The whole file takes well
under a minute. ``pytest --hypothesis-show-statistics`` lists the outcome of each input class.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

import pandas as pd
import pytest
import tomli_w
import torch
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

import isocl.bench.runner as runner
import isocl.tuning
import isocl.tuning.cli
from isocl.bench.config import SECTIONS
from isocl.bench.executors import InlineExecutor
from isocl.bench.scenarios import synthetic_tensors

from _badinput import call, manifest, one_line_error, snapshot, tiny_raw, user_folder, write_bench

FUZZ = settings(derandomize=True, database=None, deadline=None, print_blob=False,
                suppress_health_check=list(HealthCheck))


@pytest.fixture(scope="module")
def patched():
    """Synthetic data for runs and tuning studies; units in this process whatever --jobs says."""
    data = synthetic_tensors(10, 10, seed=1)
    real_tune = isocl.tuning.tune

    def tune(*args, **kwargs):
        return real_tune(*args, **{**kwargs, "data": data, "plots": False, "log": lambda *_: None})

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(runner, "load_cifar10", lambda: data)
        mp.setattr(runner, "make_executor", lambda *a, **k: InlineExecutor())
        mp.setattr(runner, "find_batches_dir", lambda: None)
        mp.setattr(isocl.tuning, "tune", tune)
        mp.setattr(isocl.tuning.cli, "tune", tune)
        yield data


@contextlib.contextmanager
def sandbox():
    """A fresh folder as the working directory, holding the tiny benchmark, a file, a user's folder,
    an empty folder; torch's thread count restored afterwards (--threads sets it)."""
    threads = torch.get_num_threads()
    with tempfile.TemporaryDirectory() as tmp, contextlib.chdir(tmp):
        root = Path(tmp)
        write_bench(root)
        (root / "afile").write_text("a file\n")
        user_folder(root / "user")
        (root / "empty").mkdir()
        try:
            yield root
        finally:
            torch.set_num_threads(threads)


def check_outcome(root: Path, command: str, code: int, err: str, before: dict, out: Path | None,
                  must_run: bool = False) -> None:
    """Runs (exit 0 and, for a run, a complete results folder) or one line, exit 2 and nothing written;
    ``must_run``: a valid input, which must run (exit 0)."""
    event(f"{command}: exit {code}")
    assert "Traceback" not in err, err
    assert code in ((0,) if must_run else (0, 2)), err
    if code == 2:
        line = one_line_error(err, None)
        event(f"{command}: refused: {line.split(': error: ')[-1].split(' is invalid')[0][:40]}")
        assert snapshot(root) == before, "an input that was refused wrote something"
        return
    assert (root / "user" / "summary.csv").read_bytes() == before["user/summary.csv"]
    if command == "run":
        assert manifest(out)["kind"] == "run" and manifest(out)["finished"]
        summary = pd.read_csv(out / "summary.csv")
        assert len(summary) == len(list((out / "units").glob("*.json"))) > 0
        event(f"run: units {'all ok' if (summary.status == 'ok').all() else 'some failed (recorded)'}")
        if must_run:
            assert (summary.status == "ok").all(), summary


# -- values ----------------------------------------------------------------------------------------------

NAME_CHARS = st.characters(blacklist_categories=("Cs",), blacklist_characters="/")
COMPONENT = st.one_of(
    st.text(NAME_CHARS, min_size=1, max_size=10),
    st.sampled_from(["é", "名前", " ", "a b", "x" * 300, "new\nline", "nul\0", "-", "--out", "~"]),
).filter(lambda c: c not in (".", ".."))
NEW_PATH = st.lists(COMPONENT, min_size=1, max_size=3).map("/".join)
OUT = st.one_of(NEW_PATH, st.sampled_from(["user", "afile", "afile/sub", "empty", "", "user/notes"]))
HUGE = st.one_of(st.integers(2**31, 2**80), st.integers(-(2**80), -(2**31)))
TEXT = st.text(max_size=12)


def int_text(valid: st.SearchStrategy[int], bad: st.SearchStrategy[int]) -> st.SearchStrategy[str]:
    """An int option as typed: a cheap valid value (half the time), a small bad one, a huge one, any text."""
    odd = st.one_of(bad.map(str), HUGE.map(str), TEXT, st.sampled_from(["1.5", "1e3", "nan", "0x10", "٣", " 1"]))
    return st.one_of(valid.map(str), odd)


def comma_list(items: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    return st.lists(items, max_size=4).map(",".join)


STRATEGY_NAMES = st.sampled_from(["naive", "replay", "naive-tanh", "pnn", "nope", "fixed-final:naive", "",
                                  "diag-only:neuro-grow", "ewc"])


def options(**opts: st.SearchStrategy) -> st.SearchStrategy[list[str]]:
    """A random subset of the options, each with a generated value (flags: True/False)."""
    def one(flag, strat):  # left out half the time
        return st.one_of(st.just([]), strat.map(lambda v: [flag] if v is True else [] if v is False else [flag, v]))

    return st.tuples(*(one(f, s) for f, s in opts.items())).map(lambda parts: [a for p in parts for a in p])


# -- the command line ------------------------------------------------------------------------------------

RUN_OPTIONS = options(**{
    "--epochs": int_text(st.integers(1, 2), st.integers(-3, 0)),
    "--seeds": st.one_of(st.lists(st.integers(0, 3), min_size=1, max_size=2).map(lambda v: ",".join(map(str, v))),
                         comma_list(int_text(st.integers(0, 3), st.integers(-3, -1))), TEXT),
    "--device": st.one_of(st.just("cpu"), st.sampled_from(["cuda", "cuda:0", "cuda:x", "tpu", "", "CPU", "cpu "]),
                          TEXT),
    "--threads": int_text(st.integers(1, 2), st.integers(-2, 0)),
    "--jobs": int_text(st.integers(1, 2), st.integers(-2, 0)),
    "--strategies": st.one_of(st.sampled_from(["naive", "replay", "naive,naive-tanh"]), comma_list(STRATEGY_NAMES),
                              TEXT),
    "--out": OUT,
})


# a path component that argparse reads as a path (not an option such as "--out")
VALID_PATH = NEW_PATH.filter(lambda p: "\0" not in p and all(len(c.encode()) <= 255 and not c.startswith("-")
                                                              for c in p.split("/")))

VALID_RUN_OPTIONS = options(**{  # only values that must run (exit 0): test_fuzz_run_command_line_valid_values_run
    "--epochs": st.integers(1, 2).map(str),
    "--seeds": st.lists(st.sampled_from([0, 1, 2**32 - 1]), min_size=1, max_size=2, unique=True).map(
        lambda v: ",".join(map(str, v))),
    "--device": st.just("cpu"),
    "--threads": st.integers(1, 2).map(str),
    "--jobs": st.integers(1, 2).map(str),
    "--strategies": st.sampled_from(["naive", "replay", "naive,naive-tanh", " naive , replay,"]),
    "--out": st.one_of(VALID_PATH, st.just("empty")),
})


def _run(opts: list[str], must_run: bool) -> None:
    with sandbox() as root:
        argv = ["run", "tiny.toml", "--quiet", "--no-plot", "--strategies", "naive", *opts]  # later wins
        out = Path(opts[opts.index("--out") + 1]) if "--out" in opts else Path("results") / "tiny"
        before = snapshot(root)
        code, _, err = call(argv)
        check_outcome(root, "run", code, err, before, root / out, must_run)


@settings(FUZZ, max_examples=35)
@given(RUN_OPTIONS)
def test_fuzz_run_command_line(patched, opts):
    _run(opts, must_run=False)


@pytest.mark.slow  # runs isocl end to end: see tox -e fast
@settings(FUZZ, max_examples=15)
@given(VALID_RUN_OPTIONS)
def test_fuzz_run_command_line_valid_values_run(patched, opts):
    _run(opts, must_run=True)


TUNE_OPTIONS = options(**{
    "--strategy": st.one_of(st.sampled_from(["naive", "replay", "all", "pnn", "nope", "fixed-final:naive", ""]),
                            TEXT),
    "--trials": int_text(st.integers(1, 2), st.integers(-1, 0)),
    "--jobs": int_text(st.just(1), st.integers(-1, 0)),
    "--timeout": st.one_of(st.sampled_from(["nan", "inf", "-inf", "0", "-1", "1e400", "600", "x"]), TEXT),
    "--seed": int_text(st.integers(0, 3), st.just(-1)),
    "--epochs": int_text(st.just(1), st.integers(-1, 0)),
    "--device": st.sampled_from(["cpu", "tpu", "cuda:", ""]),
    "--study": st.one_of(st.text(NAME_CHARS, min_size=1, max_size=12), TEXT, st.just(" ")),
    "--storage": st.one_of(st.sampled_from(["sqlite:///afile/x.db", "journal:nope/j.log", "study.db", "",
                                            "sqlite:///s.db", "journal:j.log"]), TEXT),
    "--pruner": st.sampled_from(["median", "hyperband", "none", "bogus"]),
    "--sampler": st.sampled_from(["tpe", "random", "nsga2", "cmaes", "bogus"]),
    "--multi-objective": st.booleans(),
    "--out": OUT,
})


VALID_TUNE_OPTIONS = options(**{
    "--strategy": st.sampled_from(["naive", "replay"]),
    "--seed": st.integers(0, 3).map(str),
    "--study": st.text(NAME_CHARS, min_size=1, max_size=12).map(str.strip).filter(lambda v: v and v[0] != "-"),
    "--sampler": st.sampled_from(["tpe", "random"]),
    "--out": st.just("new/study"),
})


def _tune(opts: list[str], must_run: bool = False) -> None:
    with sandbox() as root:
        argv = ["tune", "tiny.toml", "--strategy", "replay", "--trials", "1", *opts]
        before = snapshot(root)
        code, _, err = call(argv)
        check_outcome(root, "tune", code, err, before, None, must_run)
        if code == 0:
            out = opts[opts.index("--out") + 1] if "--out" in opts else None
            if out is not None:
                assert manifest(root / out)["kind"] == "tune"


@settings(FUZZ, max_examples=14)
@given(TUNE_OPTIONS)
def test_fuzz_tune_command_line(patched, opts):
    _tune(opts)


@pytest.mark.slow  # runs isocl end to end: see tox -e fast
@settings(FUZZ, max_examples=5)
@given(VALID_TUNE_OPTIONS)
def test_fuzz_tune_command_line_valid_values_run(patched, opts):
    _tune(opts, must_run=True)


@pytest.fixture(scope="module")
def results_dir(patched, tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("fuzz-results")
    out = root / "results"
    code, _, err = call(["run", str(write_bench(root)), "--strategies", "naive", "--out", str(out), "--quiet",
                         "--no-plot"])
    assert code == 0, err
    return out


@pytest.mark.slow  # runs isocl end to end: see tox -e fast
@settings(FUZZ, max_examples=12)
@given(st.one_of(st.just(["RESULTS"]), st.lists(st.one_of(
           st.sampled_from(["RESULTS", "RESULTS", "nope", "afile", "user", "empty", ""]), NEW_PATH),
           min_size=1, max_size=2)),
       options(**{"--out": OUT, "--format": st.sampled_from(["png", "svg", "jpg", ""])}))
def test_fuzz_plot_command_line(results_dir, dirs, opts):
    with sandbox() as root:
        import shutil

        shutil.copytree(results_dir, root / "results")
        argv = ["plot", *[str(root / "results") if d == "RESULTS" else d for d in dirs], *opts]
        before = snapshot(root)
        code, _, err = call(argv)
        check_outcome(root, "plot", code, err, before, None)


@settings(FUZZ, max_examples=15)
@given(st.one_of(NEW_PATH, st.sampled_from(["afile", "user", "empty", "", "nope.toml", "a\0b"])))
def test_fuzz_benchmark_path(patched, path):
    with sandbox() as root:
        before = snapshot(root)
        code, _, err = call(["run", path, "--out", "o", "--quiet", "--no-plot"])
        event(f"benchmark path: exit {code}")
        if code == 0:  # a name of a shipped benchmark: not run here (too big), so this is not drawn
            pytest.fail(f"{path!r} ran a real benchmark")
        assert code == 2 and "Traceback" not in err
        one_line_error(err, "run")
        assert snapshot(root) == before


# -- the benchmark file ----------------------------------------------------------------------------------

SCALAR = st.one_of(
    st.booleans(),
    st.integers(-3, 4),
    HUGE,
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([0.5, 1e-300, 9.99, 1e6, -0.0]),
    TEXT,
    st.sampled_from(["cpu", "cuda", "adam", "sgd", "tanh", "off", "class_il", "task_il", "naive", "replay"]),
)
VALUE = st.one_of(SCALAR, st.lists(SCALAR, max_size=5), st.lists(st.integers(-1, 9), min_size=1, max_size=10),
                  st.dictionaries(TEXT, SCALAR, max_size=2))
# every key of every section the config declares (so a new key is fuzzed the day it is declared)
SECTION_KEYS = [(section, key) for section, keys in SECTIONS.items() for key in keys]
WHERE = st.one_of(
    st.sampled_from([(None, k) for k in ("name", "description", "strategies", "twins", "controls", "scenario",
                                         "training", "model", "strategy", "search")]),
    st.sampled_from(SECTION_KEYS),
    st.sampled_from([("strategy.replay", "mem_size"), ("strategy.replay", "lr"), ("strategy.replay", "model.widths"),
                     ("strategy.replay", "epochs"), ("strategy.naive", "model.shape"), ("strategy.nope", "x")]),
    st.tuples(st.sampled_from([None, "scenario", "training", "model"]), TEXT),  # unknown keys, unicode
)


def mutate(raw: dict, where: tuple[str | None, str], value) -> None:
    section, key = where
    table = raw
    for part in (section.split(".") if section else []):
        if not isinstance(table.get(part), dict):
            table[part] = {}
        table = table[part]
    table[key] = value


@settings(FUZZ, max_examples=45)
@given(st.lists(st.tuples(WHERE, VALUE), min_size=1, max_size=3))
def test_fuzz_benchmark_file_values(patched, changes):
    raw = tiny_raw()
    raw["strategies"] = ["naive"]
    raw["training"]["seeds"] = [0]
    for where, value in changes:
        mutate(raw, where, value)
    with sandbox() as root:
        try:
            (root / "fuzz.toml").write_text(tomli_w.dumps(raw), encoding="utf-8")
        except (TypeError, ValueError):  # not expressible in TOML
            event("file: not TOML")
            return
        before = snapshot(root)
        code, _, err = call(["run", "fuzz.toml", "--out", "out", "--quiet", "--no-plot"])
        check_outcome(root, "run", code, err, before, root / "out")


@settings(FUZZ, max_examples=15)
@given(st.one_of(st.binary(max_size=200), st.text(max_size=200).map(str.encode),
                 st.sampled_from([b'name = "x"\nstrategies = ["naive"]\n[training]\nlr = nan\n',
                                  b'name = "x"\nstrategies = ["naive"]\n[training]\nepochs = 1e999\n',
                                  b"\xff\xfe", b'name = "\\u0000"\nstrategies = ["naive"]\n'])))
def test_fuzz_benchmark_file_bytes(patched, data):
    with sandbox() as root:
        (root / "fuzz.toml").write_bytes(data)
        before = snapshot(root)
        code, _, err = call(["run", "fuzz.toml", "--out", "out", "--quiet", "--no-plot"])
        check_outcome(root, "run", code, err, before, root / "out")
