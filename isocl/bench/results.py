"""Results directory I/O (format: docs/results-format.md). Every write is atomic."""

from __future__ import annotations

import json
import math
import os
import re
import tempfile
from pathlib import Path
from typing import Any

import pandas as pd

__all__ = [
    "atomic_write_text",
    "collate",
    "load_units",
    "unit_path",
    "METRICS_COLUMNS",
    "EXPERIENCE_COLUMNS",
    "SUMMARY_COLUMNS",
    "STRUCTURE_COLUMNS",
]

METRICS_COLUMNS = ["strategy", "seed", "trained_exp", "eval_exp", "accuracy", "loss"]
EXPERIENCE_COLUMNS = ["strategy", "seed", "experience", "avg_accuracy", "params", "widths", "wall_time_s"]
SUMMARY_COLUMNS = [
    "strategy", "seed", "status", "final_accuracy", "avg_incremental_accuracy", "forgetting", "bwt",
    "params", "max_params", "widths", "wall_time_s", "error",
]
STRUCTURE_COLUMNS = [
    "strategy", "seed", "experience", "epoch", "layer", "event", "neurons_before", "neurons_after",
    "bound", "max_logit_change", "acc_before", "acc_after", "removed_sigmas", "sigmas",
]


def atomic_write_text(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` via a temporary file in the same folder and a rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp creates 0600; results are meant to be shared
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def unit_path(out: Path, strategy: str, seed: int) -> Path:
    safe = re.sub(r"[^A-Za-z0-9_.-]+", "_", strategy)
    return Path(out) / "units" / f"{safe}-seed{seed}.json"


def _clean(v: Any) -> Any:
    if isinstance(v, float) and not math.isfinite(v):
        return None
    if isinstance(v, dict):
        return {k: _clean(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_clean(x) for x in v]
    return v


def write_unit(out: Path, record: dict[str, Any]) -> Path:
    path = unit_path(out, record["strategy"], record["seed"])
    atomic_write_text(path, json.dumps(_clean(record), indent=1))
    return path


def load_units(out: Path) -> list[dict[str, Any]]:
    units = []
    for path in sorted((Path(out) / "units").glob("*.json")):
        try:
            units.append(json.loads(path.read_text(encoding="utf-8")))
        except json.JSONDecodeError:
            continue  # a foreign or damaged file: the unit reruns
    return units


def _csv(df: pd.DataFrame, path: Path, columns: list[str]) -> None:
    atomic_write_text(path, df.reindex(columns=columns).to_csv(index=False))


def collate(out: Path, order: list[tuple[str, int]] | None = None) -> pd.DataFrame:
    """Rewrite metrics.csv, experiences.csv, summary.csv and structure.csv from the unit files."""
    units = load_units(out)
    if order is not None:
        rank = {key: i for i, key in enumerate(order)}
        units.sort(key=lambda u: rank.get((u["strategy"], u["seed"]), len(rank)))
    metrics, exps, summary, structure = [], [], [], []
    for u in units:
        s, seed = u["strategy"], u["seed"]
        for row in u.get("matrix", []):
            metrics.append({"strategy": s, "seed": seed, **row})
        for row in u.get("experiences", []):
            exps.append({"strategy": s, "seed": seed, **row})
        for row in u.get("structure", []):
            structure.append({"strategy": s, "seed": seed, **row})
        summary.append({k: u.get(k) for k in SUMMARY_COLUMNS})
    out = Path(out)
    _csv(pd.DataFrame(metrics), out / "metrics.csv", METRICS_COLUMNS)
    _csv(pd.DataFrame(exps), out / "experiences.csv", EXPERIENCE_COLUMNS)
    _csv(pd.DataFrame(structure), out / "structure.csv", STRUCTURE_COLUMNS)
    df = pd.DataFrame(summary).reindex(columns=SUMMARY_COLUMNS)
    _csv(df, out / "summary.csv", SUMMARY_COLUMNS)
    return df


def summary_table(df: pd.DataFrame) -> str:
    """Mean +- std over seeds per strategy, as a plain-text table."""
    ok = df[df["status"] == "ok"].copy()
    if ok.empty:
        return "no finished units"
    rows = []
    for name, g in ok.groupby("strategy", sort=False):
        def ms(col, scale=100.0):
            v = g[col].astype(float) * scale
            return f"{v.mean():6.2f} ± {v.std(ddof=1) if len(v) > 1 else 0.0:5.2f}"
        rows.append([name, str(len(g)), ms("final_accuracy"), ms("forgetting"), ms("bwt"),
                     f"{int(g['params'].astype(float).mean()):,}"])
    failed = df[df["status"] != "ok"]
    head = ["strategy", "seeds", "final acc (%)", "forgetting (%)", "BWT (%)", "params"]
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(head)]
    line = lambda cells: "  ".join(c.ljust(w) for c, w in zip(cells, widths))  # noqa: E731
    text = "\n".join([line(head), line(["-" * w for w in widths])] + [line(r) for r in rows])
    for _, r in failed.iterrows():
        text += f"\nFAILED {r['strategy']} seed {r['seed']}: {r['error']}"
    return text
