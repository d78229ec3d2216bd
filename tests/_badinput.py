"""Helpers of the bad-input tests (test_bad_input, test_faults, test_fuzz): a tiny benchmark on
synthetic data, the ``isocl`` command called in-process with its exit code and output, and a
snapshot of a folder tree to show that nothing was written."""

from __future__ import annotations

import io
import json
import tomllib
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

import tomli_w

REPO = Path(__file__).resolve().parents[1]
USER_BYTES = "strategy,seed,my own numbers\nmine,0,0.93\n".encode() + bytes(range(256))  # not even UTF-8


def tiny_raw(**scenario) -> dict:
    """benchmarks/smoke.toml shrunk: 2 experiences, 10 images per class, a 4-neuron layer, naive + replay."""
    raw = tomllib.loads((REPO / "benchmarks" / "smoke.toml").read_text(encoding="utf-8"))
    raw["scenario"].update({"train_per_class": 10, "test_per_class": 10, "n_experiences": 2, **scenario})
    raw["training"].update({"batch_size": 4, "seeds": [0]})
    raw["model"]["widths"] = [4]
    raw["strategies"] = ["naive", "replay"]
    raw["strategy"] = {"replay": {"mem_size": 8}}
    raw["search"] = {"replay": {"lr": {"type": "float", "low": 1e-4, "high": 1e-2, "log": True}}}
    return raw


def write_bench(folder: Path, raw: dict | None = None, name: str = "tiny.toml") -> Path:
    path = Path(folder) / name
    path.write_text(tomli_w.dumps(raw if raw is not None else tiny_raw()), encoding="utf-8")
    return path


def call(argv: list[str]) -> tuple[int, str, str]:
    """``isocl ARGV`` in this process: (exit code, stdout, stderr); argparse's exits included."""
    from isocl.cli import main

    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        try:
            code = main(argv)
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
    return code, out.getvalue(), err.getvalue()


def one_line_error(err: str, command: str | None = None) -> str:
    """The single line of an ``isocl COMMAND: error: ...`` message (asserts there is exactly one)."""
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    prefix = f"isocl {command}: error: " if command else "isocl"
    assert lines[0].startswith(prefix), err
    assert "Traceback" not in err
    return lines[0]


def snapshot(root: Path) -> dict[str, bytes | None]:
    """Every path under ``root`` with its bytes (None for a folder)."""
    root = Path(root)
    return {str(p.relative_to(root)): (None if p.is_dir() else p.read_bytes()) for p in sorted(root.rglob("*"))}


def user_folder(path: Path) -> Path:
    """A user's own folder holding a summary.csv of theirs (and a subfolder)."""
    path.mkdir(parents=True)
    (path / "summary.csv").write_bytes(USER_BYTES)
    (path / "notes").mkdir()
    (path / "notes" / "todo.txt").write_text("keep me\n")
    return path


def manifest(folder: Path) -> dict:
    return json.loads((Path(folder) / "manifest.json").read_text())
