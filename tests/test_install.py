"""A built wheel works from any directory: shipped strategies and benchmarks, a run by name.

The wheel is built offline from a copy of the source (no build isolation:
the test venv has setuptools) and installed with ``--target`` without
dependencies (the venv has them); the commands then run from an empty
directory with only that target on ``PYTHONPATH``, so nothing of the
checkout can be found.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pandas as pd
import pytest

from isocl.bench import registry
from isocl.bench.config import ConfigError

REPO = Path(__file__).resolve().parents[1]
SHIPPED_STRATEGIES = sorted(p.stem.replace("_", "-") for p in (REPO / "strategies").glob("*.py"))
SHIPPED_BENCHMARKS = sorted(p.name for p in (REPO / "benchmarks").glob("*.toml"))

# Runs ``isocl`` on synthetic data: a subprocess cannot be monkeypatched, and the
# CIFAR-10 archive costs ~10 s to decode. Everything else is the installed CLI.
SYNTHETIC_MAIN = """
import sys
import isocl.bench.runner, isocl.bench.scenarios
isocl.bench.runner.load_cifar10 = lambda: isocl.bench.scenarios.synthetic_tensors(100, 50)
from isocl.cli import main
sys.exit(main(sys.argv[1:]))
"""


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Path:
    """The wheel built from a clean copy of the source, installed into a target directory."""
    base = tmp_path_factory.mktemp("wheel")
    src = base / "src"
    src.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO / name, src / name)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    for name in ("isocl", "strategies", "benchmarks"):
        shutil.copytree(REPO / name, src / name, ignore=ignore)
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "-q"]
    subprocess.run([*pip, "wheel", "--no-deps", "--no-build-isolation", "-w", str(base / "dist"), str(src)],
                   check=True, capture_output=True, timeout=300)
    (wheel,) = (base / "dist").glob("isocl-*.whl")
    target = base / "target"
    subprocess.run([*pip, "install", "--no-deps", "--target", str(target), str(wheel)], check=True,
                   capture_output=True, timeout=300)
    return wheel


def _isocl(wheel: Path, cwd: Path, *args: str, synthetic: bool = False) -> subprocess.CompletedProcess:
    """The installed console script (or the installed CLI on synthetic data) with PYTHONPATH=target only."""
    target = wheel.parent.parent / "target"
    env = {k: v for k, v in os.environ.items() if k not in ("ISOCL_STRATEGY_PATH", "PYTHONPATH")}
    env["PYTHONPATH"] = str(target)
    cmd = [sys.executable, "-c", SYNTHETIC_MAIN] if synthetic else [str(target / "bin" / "isocl")]
    return subprocess.run([*cmd, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


def test_wheel_holds_every_package_and_the_shipped_files(installed):
    names = set(zipfile.ZipFile(installed).namelist())
    sources = {str(p.relative_to(REPO)) for p in (REPO / "isocl").rglob("*.py") if "__pycache__" not in p.parts}
    assert sources <= names, f"missing from the wheel (add the package to pyproject): {sorted(sources - names)}"
    assert {f"isocl/shipped/benchmarks/{b}" for b in SHIPPED_BENCHMARKS} <= names
    assert {f"isocl/shipped/strategies/{p.name}" for p in (REPO / "strategies").glob("*.py")} <= names
    entry = next(n for n in names if n.endswith("entry_points.txt"))
    assert "isocl = isocl.cli:main" in zipfile.ZipFile(installed).read(entry).decode()


@pytest.mark.slow
def test_installed_isocl_lists_and_runs_from_an_empty_directory(installed, tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    listed = _isocl(installed, empty, "list")
    assert listed.returncode == 0, listed.stderr
    target = installed.parent.parent / "target"
    for bench in SHIPPED_BENCHMARKS:
        assert str(target / "isocl" / "shipped" / "benchmarks" / bench) in listed.stdout
    names = {line.split()[0] for line in listed.stdout.split("strategies:")[1].splitlines() if line.startswith("  ")
             and not line.strip().startswith("params:")}
    assert set(SHIPPED_STRATEGIES) <= names
    # a shipped benchmark by name, its units on (synthetic) data, results in the working directory
    ran = _isocl(installed, empty, "run", "smoke", "--strategies", "naive", "--no-plot", "--quiet",
                 "--threads", "1", synthetic=True)
    assert ran.returncode == 0, ran.stderr
    summary = pd.read_csv(empty / "results" / "smoke" / "summary.csv")
    assert list(summary.strategy) == ["naive"] and list(summary.status) == ["ok"]
    manifest = json.loads((empty / "results" / "smoke" / "manifest.json").read_text())
    assert manifest["benchmark"] == "smoke"
    assert sorted(p.name for p in empty.iterdir()) == ["results"]  # nothing else written


def test_find_benchmark_by_path_name_and_local_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    shipped = registry.shipped_dir("benchmarks")
    assert registry.find_benchmark("smoke") == shipped / "smoke.toml"
    assert registry.find_benchmark("smoke.toml") == shipped / "smoke.toml"
    (tmp_path / "benchmarks").mkdir()
    (tmp_path / "benchmarks" / "smoke.toml").write_text("name = 'mine'\n")
    assert registry.find_benchmark("smoke") == Path("benchmarks") / "smoke.toml"  # ./benchmarks first
    assert registry.find_benchmark(str(shipped / "smoke.toml")) == shipped / "smoke.toml"
    with pytest.raises(ConfigError, match=r"nosuch: no such benchmark file.*known benchmarks: .*smoke"):
        registry.find_benchmark("nosuch")


def test_source_checkout_uses_the_top_level_folders_once():
    assert registry.shipped_dir("strategies") == REPO / "strategies"
    assert registry.shipped_dir("benchmarks") == REPO / "benchmarks"
    dirs = registry.strategy_dirs()
    assert sum(d.resolve() == (REPO / "strategies") for d in dirs) == 1
