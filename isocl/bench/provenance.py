"""Provenance of a run: what ``manifest.json`` records (versions, platform, command, isocl's own
commit, plug-ins and overrides of shipped strategies)."""

from __future__ import annotations

import platform
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import torch

from isocl.bench.config import Benchmark
from isocl.bench.results import read_manifest

__all__ = ["EARLIER_RUN_KEYS", "earlier_runs", "git_commit", "run_manifest", "strategy_sources"]


def git_commit(root: Path | None = None) -> str:
    """The commit of isocl's own source tree, only when isocl runs from a git checkout of itself (its
    package's parent folder is the top of a work tree); "" for an install, even one inside another
    repository (whose HEAD is not isocl's commit)."""
    root = Path(root) if root is not None else Path(__file__).resolve().parents[2]  # .../isocl/bench/x.py -> top
    if not (root / ".git").exists():
        return ""
    try:
        top = subprocess.run(["git", "rev-parse", "--show-toplevel"], capture_output=True, text=True, timeout=5,
                             cwd=root).stdout.strip()
        if not top or Path(top).resolve() != root:
            return ""
        return subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5,
                              cwd=root).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return ""


EARLIER_RUN_KEYS = ("git_commit", "command", "started", "finished", "jobs")
"""What a resumed run's manifest keeps of each run before it (``earlier_runs``)."""


def earlier_runs(folder: Path) -> list[dict[str, Any]]:
    """The runs that wrote into ``folder`` before this one, oldest first: the ``earlier_runs`` of its manifest
    plus that manifest's own run (:data:`EARLIER_RUN_KEYS`), unless it only claimed the folder and never
    started; [] for a new folder or an unreadable manifest."""
    old = read_manifest(Path(folder)) or {}
    runs = [r for r in old.get("earlier_runs", []) if isinstance(r, dict)]
    if "started" in old:
        runs.append({k: old[k] for k in EARLIER_RUN_KEYS if k in old})
    return runs


def strategy_sources(names: list[str]) -> dict[str, Any]:
    """Where the run's strategies come from, for those that are not the shipped ones: plug-ins (their
    file or module) and shipped strategies a plug-in overrides (``override=True``)."""
    from isocl.bench.units import spec_of

    plugins, overrides = {}, {}
    for name in names:
        spec = spec_of(name)
        if not spec.shipped:
            plugins[spec.name] = spec.source
        if spec.overrides:
            overrides[spec.name] = {"plugin": spec.source, "replaces": spec.overrides}
    return {"plugins": plugins, "overrides": overrides}


def run_manifest(bench: Benchmark, device: str, command: list[str] | None) -> dict[str, Any]:
    import avalanche
    import optuna

    import isocl

    return {
        "isocl": isocl.__version__,
        "kind": "run",
        "torch": torch.__version__,
        "avalanche": getattr(avalanche, "__version__", ""),
        "optuna": optuna.__version__,
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "device": device,
        "torch_threads": torch.get_num_threads(),
        "git_commit": git_commit(),
        "command": " ".join(command or sys.argv),
        "benchmark": bench.name,
        **strategy_sources(bench.strategies),
        "started": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
