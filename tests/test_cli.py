"""The `isocl` command line: list, run (shrunken smoke benchmark), errors, speed."""

from __future__ import annotations

import argparse
import re
import shutil
import tomllib
from pathlib import Path

import pandas as pd
import pytest
import tomli_w

import isocl.bench.data
import isocl.bench.runner
from isocl.bench.config import OPTIONS
from isocl.bench.registry import list_strategies
from isocl.cli import build_parser, main
from isocl.bench.scenarios import synthetic_tensors

REPO = Path(__file__).resolve().parents[1]




def small_smoke(tmp_path: Path, **scenario) -> Path:
    """A copy of benchmarks/smoke.toml with small per-class numbers and widths."""
    raw = tomllib.loads((REPO / "benchmarks" / "smoke.toml").read_text(encoding="utf-8"))
    raw["scenario"].update({"train_per_class": 30, "test_per_class": 20, **scenario})
    raw["model"]["widths"] = [16, 16]
    raw["strategies"] = ["naive", "replay"]
    raw["strategy"] = {"replay": {"mem_size": 40}}
    path = tmp_path / "smoke.toml"
    path.write_text(tomli_w.dumps(raw), encoding="utf-8")
    return path


def test_list_shows_benchmarks_and_strategies(tmp_path, capsys):
    folder = tmp_path / "benchmarks"
    folder.mkdir()
    shutil.copy(REPO / "benchmarks" / "smoke.toml", folder / "smoke.toml")
    (folder / "broken.toml").write_text('name = "broken"\nstrategies = ["naive"]\n[training]\nepochs = "5"\n')
    assert main(["list", "--benchmarks", str(folder)]) == 0
    out = capsys.readouterr().out
    assert "benchmarks:" in out and "strategies:" in out
    assert str(folder / "smoke.toml") in out and "class_il" in out
    broken = next(line for line in out.splitlines() if "broken.toml" in line)
    assert "INVALID" in broken and "training.epochs" in broken
    lines = out.split("strategies:")[1].splitlines()
    shown = {line.split()[0]: line for line in lines if line.startswith("  ") and not line.strip().startswith("params:")}
    specs = {spec.name: spec for spec in list_strategies()}  # the registry, shipped strategies included
    assert set(shown) == set(specs) and len(specs) >= len(list((REPO / "strategies").glob("*.py")))
    for name, spec in specs.items():  # each line says what the registry declares
        assert ("[task_il only]" in shown[name]) == (spec.settings == ("task_il",)), name
        assert ("[neuroplastic]" in shown[name]) == spec.neuroplastic, name
        for key, value in spec.defaults.items():
            assert f"{key}={value!r}" in out, (name, key)


def test_list_default_folder_is_relative_to_cwd(capsys, monkeypatch):
    monkeypatch.chdir(REPO)
    assert main(["list"]) == 0
    assert "benchmarks/smoke.toml" in capsys.readouterr().out


def test_run_small_smoke(tmp_path, capsys, monkeypatch, cifar10):
    monkeypatch.setattr(isocl.bench.runner, "load_cifar10", lambda: cifar10)  # the session's copy, loaded once
    bench = small_smoke(tmp_path)
    out = tmp_path / "out"
    code = main(["run", str(bench), "--strategies", "naive", "--out", str(out), "--no-plot", "--quiet"])
    assert code == 0
    text = capsys.readouterr().out
    assert "final acc" in text and "forgetting" in text
    row = next(line for line in text.splitlines() if line.startswith("naive"))
    acc = float(re.split(r"\s{2,}", row)[2].split("±")[0])
    assert 0 <= acc <= 100
    assert f"results: {out}" in text
    summary = pd.read_csv(out / "summary.csv")
    assert list(summary.strategy) == ["naive"] and (summary.status == "ok").all()
    assert not (out / "report.md").exists()  # --no-plot
    assert float(summary.final_accuracy[0]) * 100 == pytest.approx(acc, abs=0.006)


def test_run_flags_reach_the_runner(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(isocl.bench.runner, "load_cifar10", lambda: synthetic_tensors(30, 20))
    bench = small_smoke(tmp_path, n_experiences=2)
    out = tmp_path / "out"
    code = main(["run", str(bench), "--strategies", "naive", "--seeds", "3,4", "--epochs", "2",
                 "--out", str(out), "--no-plot", "--quiet"])
    assert code == 0
    assert "naive" in capsys.readouterr().out
    summary = pd.read_csv(out / "summary.csv")
    assert sorted(summary.seed) == [3, 4]
    config = tomllib.loads((out / "config.toml").read_text())
    assert config["training"]["epochs"] == 2 and config["training"]["seeds"] == [3, 4]
    assert config["strategies"] == ["naive"]
    assert len(pd.read_csv(out / "metrics.csv")) == 2 * 2 * 2


def test_run_unknown_strategy_exits_2(tmp_path, capsys):
    out = tmp_path / "out"
    code = main(["run", str(small_smoke(tmp_path)), "--strategies", "naive,nope", "--out", str(out), "--quiet"])
    assert code == 2
    err = capsys.readouterr().err
    assert "unknown strategy 'nope'" in err and "naive" in err
    assert not out.exists()


def test_run_missing_file_exits_2(tmp_path, capsys):
    assert main(["run", str(tmp_path / "absent.toml"), "--out", str(tmp_path / "o"), "--quiet"]) == 2
    assert "no such benchmark file" in capsys.readouterr().err


def test_bad_seeds_argument_is_an_argparse_error(capsys):
    with pytest.raises(SystemExit) as info:
        main(["run", "x.toml", "--seeds", "a,b"])
    assert info.value.code == 2
    assert "comma-separated ints" in capsys.readouterr().err


def test_speed_command_prints_the_ratio(capsys, monkeypatch):
    """`isocl speed` on tiny synthetic data: both loops run and the ratio line is printed."""
    from isocl.bench import speed

    monkeypatch.setattr(isocl.bench.data, "load_cifar10", lambda *a, **k: synthetic_tensors(12, 6))
    monkeypatch.setattr(speed, "WIDTHS", [16, 16])
    assert main(["speed", "--epochs", "1", "--train-per-class", "12", "--repeats", "2"]) == 0
    out = capsys.readouterr().out
    assert "120 training images" in out and "(of 60 images)" in out
    assert out.count("repeat ") == 2
    assert out.count("warm-up (not counted)") == 1  # before the repeats, outside the medians
    assert out.index("warm-up (not counted)") < out.index("repeat 1")
    m = re.search(rf"harness: ([\d.]+) s, plain loop: ([\d.]+) s, ratio ([\d.]+) \(target <= {speed.TARGET:.2f}", out)
    assert m, out
    assert float(m.group(1)) > 0 and float(m.group(2)) > 0
    assert "training only (wall)" in out
    args = build_parser().parse_args(["speed"])
    assert {k: getattr(args, k) for k in OPTIONS["speed"]} == {k: spec[1] for k, spec in OPTIONS["speed"].items()}


def test_parser_defaults_are_the_declared_ones():
    """Every default the parser fills in is the one ``isocl.bench.config.OPTIONS`` declares (None: not given)."""
    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    checked = 0
    for command, parser in sub.choices.items():
        for action in parser._actions:
            if action.dest in OPTIONS.get(command, {}) and action.default is not None:
                assert action.default == OPTIONS[command][action.dest][1], (command, action.dest)
                checked += 1
    assert checked >= 5  # run/tune --jobs, run --executor, speed's three
