"""``isocl evaluate``: a tuned configuration measured on the test set."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any


def evaluate(best_toml: str | Path, *, seeds: list[int] | None = None, out: str | Path | None = None,
             device: str | None = None, progress: bool = True, data: Any = None):
    """Run a (tuned) benchmark file on the TEST set with several seeds; returns (summary frame, out dir)."""
    from isocl.bench.config import load_benchmark
    from isocl.bench.runner import run_benchmark

    best_toml = Path(best_toml)
    bench = load_benchmark(best_toml)
    out_dir = Path(out) if out is not None else best_toml.parent / f"eval-{best_toml.stem}"
    df = run_benchmark(bench, out_dir, seeds=seeds, device=device, progress=progress, data=data, command=sys.argv)
    return df, out_dir


