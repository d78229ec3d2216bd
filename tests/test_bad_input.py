"""Bad input never crashes and never destroys (issue 13): every command-line option is checked like
the benchmark file (one line, exit 2, nothing written), and isocl writes only into a new or empty
folder or one it wrote itself; a user's file in a target folder survives byte for byte, for every
command that writes. On synthetic data, sizes of a few images: seconds."""

from __future__ import annotations

import argparse
import json

import pytest
import torch

import isocl.bench.runner as runner
from isocl.bench.config import OPTIONS, ConfigError, check_option, check_options
from isocl.bench.results import check_output_folder, claim_output_folder, folder_kind
from isocl.bench.scenarios import synthetic_tensors
from isocl.cli import build_parser, check_args

from _badinput import USER_BYTES, call, manifest, one_line_error, snapshot, tiny_raw, user_folder, write_bench


@pytest.fixture
def synthetic(monkeypatch):
    data = synthetic_tensors(10, 10, seed=1)
    monkeypatch.setattr(runner, "load_cifar10", lambda: data)
    monkeypatch.setattr(runner, "find_batches_dir", lambda: None)
    return data


@pytest.fixture
def bench(tmp_path):
    return write_bench(tmp_path)


# --------------------------------------------------------------------------------------------------------
# The table: each row exits 2 with one line naming the option, the value and what is expected


@pytest.mark.parametrize("args, says", [
    (["--epochs", "-1"], "--epochs -1 is invalid; expected an int >= 1"),
    (["--threads", "-2"], "--threads -2 is invalid; expected an int in [1, 1024]"),
    (["--device", "tpu"], "--device tpu is invalid; expected 'cpu' or 'cuda[:N]'"),
    (["--out", "FILE"], "exists and is not a folder"),
    (["--out", "USER"], "the folder exists and was not written by isocl (it holds notes, summary.csv)"),
    # more of the same path
    (["--seeds", "0,-1"], "--seeds 0,-1 is invalid; expected a non-empty list of ints in [0, 2**32 - 1]"),
    (["--seeds", str(2**40)], "--seeds 1099511627776 is invalid"),
    (["--epochs", str(10**30)], "is invalid; expected an int >= 1 (at most 2**31 - 1)"),
    (["--jobs", "0"], "--jobs 0 is invalid; expected an int in [1, 1024]"),
    (["--threads", "0"], "--threads 0 is invalid"),
    (["--strategies", ","], "--strategies '' is invalid; expected a comma-separated list of strategy names"),
    (["--strategies", "naive,nope"], "unknown strategy 'nope'"),
    (["--device", "cuda:x"], "--device cuda:x is invalid"),
    (["--out", ""], "--out '' is invalid; expected a path"),
    (["--out", "a\0b"], "--out 'a\\x00b' is invalid"),
    (["--out", "x" * 300], "is invalid; expected a path (non-empty, no NUL byte, names of at most 255 bytes)"),
    (["--out", "FILE/sub"], "cannot create the folder"),
    (["--epochs", "two"], "argument --epochs: invalid int value: 'two'"),
])
def test_bad_run_options_exit_2_with_one_line_and_write_nothing(tmp_path, bench, synthetic, args, says):
    (tmp_path / "afile").write_bytes(USER_BYTES)
    user_folder(tmp_path / "user")
    args = [a.replace("FILE", str(tmp_path / "afile")).replace("USER", str(tmp_path / "user")) for a in args]
    if "--out" not in args:
        args += ["--out", str(tmp_path / "out")]
    before = snapshot(tmp_path)
    code, _, err = call(["run", str(bench), "--quiet", "--no-plot", *args])
    assert code == 2
    line = one_line_error(err, "run")
    assert says in line, line
    assert snapshot(tmp_path) == before  # nothing written, the user's files byte for byte


def test_the_same_value_is_refused_by_the_file_and_by_the_option(tmp_path, synthetic):
    raw = tiny_raw()
    raw["training"]["epochs"] = -1
    code, _, err = call(["run", str(write_bench(tmp_path, raw, "bad.toml")), "--out", str(tmp_path / "o")])
    assert code == 2 and "training.epochs = -1 is invalid; expected an int >= 1" in one_line_error(err, "run")
    code, _, err = call(["run", str(write_bench(tmp_path)), "--epochs", "-1", "--out", str(tmp_path / "o")])
    assert code == 2 and "--epochs -1 is invalid; expected an int >= 1" in one_line_error(err, "run")
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize("argv, says", [
    (["tune", "B", "--strategy", "replay", "--trials", "0"], "--trials 0 is invalid; expected an int >= 1"),
    (["tune", "B", "--strategy", "replay", "--trials", "1", "--timeout", "nan"], "--timeout nan is invalid"),
    (["tune", "B", "--strategy", "replay", "--trials", "1", "--timeout", "-3"], "a finite number of seconds > 0"),
    (["tune", "B", "--strategy", "replay", "--trials", "1", "--jobs", "-1"], "--jobs -1 is invalid"),
    (["tune", "B", "--strategy", "replay", "--trials", "1", "--seed", "-1"], "--seed -1 is invalid"),
    (["tune", "B", "--strategy", "replay", "--trials", "1", "--epochs", "0"], "--epochs 0 is invalid"),
    (["tune", "B", "--strategy", "replay", "--trials", "1", "--device", "tpu"], "--device tpu is invalid"),
    (["tune", "B", "--strategy", "", "--trials", "1"], "--strategy '' is invalid"),
    (["tune", "B", "--strategy", "fixed-final:replay", "--trials", "1"], "twins are not tuned on their own"),
    (["tune", "B", "--strategy", "replay", "--trials", "1", "--study", " "], "--study ' ' is invalid"),
    (["tune", "B", "--strategy", "replay", "--trials", "1", "--storage", "a\0"], "--storage 'a\\x00' is invalid"),
    (["tune", "B", "--strategy", "replay", "--trials", "1", "--pruner", "nope"], "invalid choice: 'nope'"),
    (["evaluate", "B", "--seeds", "-3"], "--seeds -3 is invalid"),
    (["evaluate", "B", "--device", "gpu"], "--device gpu is invalid"),
    (["plot", "NOPE"], "not an isocl results directory"),
    (["plot", "R", "--format", "jpg"], "invalid choice: 'jpg'"),
    (["plot", "R", "--out", "a\0"], "--out 'a\\x00' is invalid"),
    (["speed", "--repeats", "0"], "--repeats 0 is invalid; expected an int in [1, 1000]"),
    (["speed", "--train-per-class", "6000"], "--train-per-class 6000 is invalid; expected an int in [1, 5000]"),
    (["list", "--benchmarks", ""], "--benchmarks '' is invalid"),
])
def test_bad_options_of_every_command(tmp_path, bench, argv, says):
    results = tmp_path / "R"
    results.mkdir()
    (results / "summary.csv").write_text("strategy,seed,status\n")
    (results / "config.toml").write_text('name = "x"\n')
    argv = [{"B": str(bench), "R": str(results), "NOPE": str(tmp_path / "nope")}.get(a, a) for a in argv]
    before = snapshot(tmp_path)
    code, _, err = call(argv)
    assert code == 2
    assert says in one_line_error(err, argv[0]), err
    assert snapshot(tmp_path) == before


def test_every_option_of_every_command_has_a_check():
    """A new option plugs into the one validation path with one line in isocl.bench.config.OPTIONS."""
    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    for command, p in sub.choices.items():
        for action in p._actions:
            if action.nargs == 0 or action.choices is not None or action.dest in ("help", "func"):
                continue  # flags and argparse choices check themselves
            assert action.dest in OPTIONS.get(command, {}), f"isocl {command} {action.option_strings}: no check"


def test_options_added_later_are_checked_when_present():
    """--executor and --logger (another branch adds them): checked as soon as the parser has them."""
    for dest, bad, good in [("executor", "slurm", "ray"), ("logger", "text,stdout", "text,csv"),
                            ("logger", ["csv", "x"], ["tensorboard", "wandb"]), ("address", "", "auto")]:
        with pytest.raises(ConfigError, match=f"--{dest} .* is invalid; expected"):
            check_option("run", dest, bad)
        check_option("run", dest, good)
    with pytest.raises(ConfigError, match="--executor slurm is invalid; expected 'local' or 'ray'"):
        check_args(argparse.Namespace(command="run", executor="slurm", jobs=1))
    check_args(argparse.Namespace(command="run"))  # options this version lacks: nothing to check
    check_options("export", {"out": "x"})  # a command without a table yet


def test_valid_edge_values_pass_the_checks():
    for dest, value in [("epochs", 2**31 - 1), ("seeds", [0, 2**32 - 1]), ("device", "cuda:3"), ("threads", 1024),
                        ("jobs", 1), ("out", "résultats/é 名"), ("strategies", ["naive", "fixed-final:neuro-grow"])]:
        assert check_option("run", dest, value) == value
    for dest, value in [("timeout", 0.5), ("trials", 1), ("seed", 0), ("study", "s-1")]:
        assert check_option("tune", dest, value) == value


# --------------------------------------------------------------------------------------------------------
# Never destroy what isocl did not write: a user's file survives, for every command that writes


def _results(tmp_path, synthetic):
    out = tmp_path / "results"
    code, _, err = call(["run", str(write_bench(tmp_path)), "--strategies", "naive", "--out", str(out),
                         "--quiet", "--no-plot"])
    assert code == 0, err
    return out


def _tuned(tmp_path):
    best = tmp_path / "best.toml"
    best.write_text("# isocl tune\n" + (tmp_path / "tiny.toml").read_text())
    return best


@pytest.mark.parametrize("command", ["run", "run-default-out", "evaluate", "tune", "tune-all", "plot",
                                     "plot-default-out"])
def test_a_users_folder_is_refused_and_survives_byte_for_byte(tmp_path, synthetic, monkeypatch, command):
    monkeypatch.chdir(tmp_path)
    bench = write_bench(tmp_path)
    user = tmp_path / "user"
    argv = {
        "run": ["run", str(bench), "--out", str(user), "--quiet", "--no-plot"],
        "run-default-out": ["run", str(bench), "--quiet", "--no-plot"],  # results/tiny
        "evaluate": ["evaluate", "BEST", "--out", str(user), "--quiet"],
        "tune": ["tune", str(bench), "--strategy", "replay", "--trials", "1", "--out", str(user)],
        "tune-all": ["tune", str(bench), "--strategy", "all", "--trials", "1", "--out", str(user)],
        "plot": ["plot", "RESULTS", "--out", str(user)],
        "plot-default-out": ["plot", "RESULTS", "RESULTS2"],  # comparison/ next to the first
    }[command]
    if command == "run-default-out":
        user = tmp_path / "results" / "tiny"
    if command.startswith("plot"):
        results = _results(tmp_path, synthetic)
        results2 = tmp_path / "results2"
        results2.mkdir()
        for name in ("summary.csv", "config.toml", "manifest.json"):
            (results2 / name).write_bytes((results / name).read_bytes())
        argv = [{"RESULTS": str(results), "RESULTS2": str(results2)}.get(a, a) for a in argv]
        if command == "plot-default-out":
            user = tmp_path / "comparison"
    argv = [str(_tuned(tmp_path)) if a == "BEST" else a for a in argv]
    user_folder(user)
    before = snapshot(tmp_path)
    code, _, err = call(argv)
    assert code == 2, err
    assert "was not written by isocl" in one_line_error(err, argv[0])
    assert snapshot(tmp_path) == before
    assert (user / "summary.csv").read_bytes() == USER_BYTES


def test_an_empty_folder_is_used_and_an_isocl_folder_resumes(tmp_path, synthetic):
    out = tmp_path / "out"
    out.mkdir()
    bench = write_bench(tmp_path)
    argv = ["run", str(bench), "--strategies", "naive", "--out", str(out), "--quiet", "--no-plot"]
    assert call(argv)[0] == 0
    assert manifest(out)["kind"] == "run"
    record = (out / "units" / "naive-seed0.json").read_bytes()
    code, _, err = call(argv[:-2] + ["--seeds", "0,1", "--quiet", "--no-plot"])  # resume, one more seed
    assert code == 0, err
    assert (out / "units" / "naive-seed0.json").read_bytes() == record
    assert sorted(p.name for p in (out / "units").iterdir()) == ["naive-seed0.json", "naive-seed1.json"]
    # a run manifest from before "kind" still resumes
    m = manifest(out)
    del m["kind"]
    (out / "manifest.json").write_text(json.dumps(m))
    assert call(argv)[0] == 0 and manifest(out)["kind"] == "run"


def test_plot_writes_into_its_results_folder_and_claims_a_new_out(tmp_path, synthetic):
    results = _results(tmp_path, synthetic)
    run_manifest = (results / "manifest.json").read_bytes()
    code, _, err = call(["plot", str(results)])
    assert code == 0, err
    assert (results / "report.md").is_file() and (results / "manifest.json").read_bytes() == run_manifest
    code, _, err = call(["plot", str(results), "--out", str(tmp_path / "figs")])
    assert code == 0, err
    assert manifest(tmp_path / "figs")["kind"] == "plot"
    assert call(["plot", str(results), "--out", str(tmp_path / "figs")])[0] == 0  # its own folder again
    code, _, err = call(["run", str(tmp_path / "tiny.toml"), "--out", str(tmp_path / "figs"), "--quiet"])
    assert code == 2 and "holds plots of isocl, not run results" in one_line_error(err, "run")


def test_claim_output_folder_kinds(tmp_path):
    """The guard `isocl export` (and any command that writes a folder) calls."""
    assert claim_output_folder(tmp_path / "e", "export", ["isocl", "export", "R"]) == "new"
    m = manifest(tmp_path / "e")
    assert m["kind"] == "export" and m["command"] == "isocl export R" and m["isocl"]
    assert claim_output_folder(tmp_path / "e", "export") == "resume"
    with pytest.raises(ConfigError, match="holds an export of isocl, not run results"):
        check_output_folder(tmp_path / "e", "run")
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / ".manifest.json.x1.tmp").write_text("{")  # left by a killed atomic write
    assert check_output_folder(tmp_path / "empty", "run") == "empty"
    user_folder(tmp_path / "user")
    with pytest.raises(ConfigError, match="--unit-out .*user: the folder exists and was not written by isocl"):
        claim_output_folder(tmp_path / "user", "export", option="--unit-out")
    assert folder_kind(tmp_path / "user") is None
    # folders isocl wrote before manifests had a kind: tune studies, `--strategy all` roots, plots
    study = tmp_path / "study"
    study.mkdir()
    (study / ".tune.lock").write_text("")
    (study / "study.db").write_bytes(b"SQLite format 3\0")
    root = tmp_path / "all"
    (root / "s1").mkdir(parents=True)
    (root / "s1" / "best.toml").write_text("# isocl tune (Optuna): study 's1'\n")
    plot = tmp_path / "plot"
    (plot / "figures").mkdir(parents=True)
    (plot / "report.md").write_text("# t\n\nGenerated now by `isocl plot` from `x`.\n")
    (plot / "report.html").write_text("<html>")
    assert [folder_kind(p) for p in (study, root, plot)] == ["tune", "tune", "plot"]
    assert claim_output_folder(study, "tune") == "resume" and manifest(study)["kind"] == "tune"


def test_a_run_into_a_tune_study_is_refused(tmp_path, synthetic):
    claim_output_folder(tmp_path / "study", "tune")
    code, _, err = call(["run", str(write_bench(tmp_path)), "--out", str(tmp_path / "study"), "--quiet"])
    assert code == 2 and "holds a tune study of isocl, not run results" in one_line_error(err, "run")


def test_strategy_tables_are_checked_like_the_training_and_model_sections(tmp_path, synthetic):
    for table, says in [({"lr": float("nan")}, "training.lr = nan is invalid"),
                        ({"epochs": 0}, "training.epochs = 0 is invalid"),
                        ({"model.widths": [0]}, "model.widths = [0] is invalid"),
                        ({"model.colour": "red"}, "model.colour: unknown key"),
                        ({"mem_size": 8, "lr": float("inf")}, "training.lr = inf is invalid")]:
        raw = tiny_raw()
        raw["strategy"] = {"replay": table}
        code, _, err = call(["run", str(write_bench(tmp_path, raw, "t.toml")), "--out", str(tmp_path / "o")])
        assert code == 2, (table, err)
        assert says in one_line_error(err, "run") and "[strategy.replay]" in err
    assert not (tmp_path / "o").exists()


def test_nan_and_inf_in_the_file_are_refused(tmp_path):
    for section, key in [("training", "lr"), ("scenario", "validation_fraction"), ("model", "o_init"),
                         ("training", "weight_decay")]:
        for value in (float("nan"), float("inf"), float("-inf")):
            raw = tiny_raw()
            raw[section][key] = value
            code, _, err = call(["run", str(write_bench(tmp_path, raw, "t.toml")), "--out", str(tmp_path / "o")])
            assert code == 2 and f"{section}.{key} = {value!r} is invalid" in one_line_error(err, "run")
    raw = tiny_raw()
    raw["strategy"] = {"replay": {"mem_size": 8}, "ewc": {"ewc_lambda": float("nan")}}
    raw["strategies"] = ["ewc"]
    code, _, err = call(["run", str(write_bench(tmp_path, raw, "t.toml")), "--out", str(tmp_path / "o")])
    assert code == 2 and "ewc_lambda = nan" in one_line_error(err, "run")


def test_threads_option_sets_torch_threads_only_when_valid(tmp_path, synthetic):
    before = torch.get_num_threads()
    try:
        code, _, _ = call(["run", str(write_bench(tmp_path)), "--threads", "0", "--out", str(tmp_path / "o")])
        assert code == 2 and torch.get_num_threads() == before
    finally:
        torch.set_num_threads(before)


def test_tune_stopped_after_opening_its_study_leaves_no_folder(tmp_path, monkeypatch):
    """`isocl tune` opens its study (creating the folder) before the last checks; on bad input it
    removes what it created, and a new study folder is marked as isocl's once it is used."""
    import isocl.bench.data
    from isocl.bench.data import DataError

    def no_data(*a, **k):
        raise DataError("CIFAR-10 not found")

    monkeypatch.setattr(isocl.bench.data, "find_batches_dir", no_data)
    bench = write_bench(tmp_path)
    code, _, err = call(["tune", str(bench), "--strategy", "replay", "--trials", "1", "--out", str(tmp_path / "a/b")])
    assert code == 2 and "CIFAR-10 not found" in one_line_error(err, "tune")
    assert not (tmp_path / "a").exists()
    (tmp_path / "empty").mkdir()
    assert call(["tune", str(bench), "--strategy", "replay", "--trials", "1", "--out", str(tmp_path / "empty")])[0] == 2
    assert list((tmp_path / "empty").iterdir()) == []


def test_missing_data_is_one_line_before_anything_is_written(tmp_path, monkeypatch):
    from isocl.bench.data import DataError

    def no_data(*a, **k):
        raise DataError("CIFAR-10 not found; point ISOCL_DATA at it")

    monkeypatch.setattr(runner, "load_cifar10", no_data)
    monkeypatch.setattr(runner, "find_batches_dir", no_data)
    bench = write_bench(tmp_path)
    for jobs in ("1", "2"):
        code, _, err = call(["run", str(bench), "--jobs", jobs, "--out", str(tmp_path / "o"), "--quiet"])
        assert code == 2 and "CIFAR-10 not found" in one_line_error(err, "run")
        assert not (tmp_path / "o").exists()
