"""Calibration runs beside the published figures they reproduce (docs/field-protocol.md).

A calibration benchmark (``benchmarks/calibration_*.toml``) re-runs a published experiment of Avalanche's
reference baselines; :func:`calibration_summary` reads its unit records (``units/*.json``, possibly from
several folders when seeds ran in separate processes) and sets the seeds' final average accuracy (mean,
standard deviation, the 95% t-interval of the mean) beside the published figure. The README and
``benchmarks/calibration_table.py`` both read it from here.
"""

from __future__ import annotations

import json
import math
import statistics
import tomllib
from dataclasses import dataclass
from pathlib import Path

from scipy import stats

from isocl.bench.online import forgetting_from_matrix

# benchmark name -> (published final average accuracy, source)
PUBLISHED = {
    "calibration-online-replay": (0.50, "continual-learning-baselines README, Online Replay, Split CIFAR-10 "
                                        "(experiments/split_cifar10/online_replay.py)"),
    "calibration-er-ace": (0.45, "continual-learning-baselines README, ER-ACE, Split CIFAR-10 "
                                 "(experiments/split_cifar10/er_ace.py; the paper's 0.52)"),
}


@dataclass(frozen=True)
class Calibration:
    """One calibration benchmark's seeds against its published figure (accuracies as fractions)."""

    name: str
    seeds: tuple[int, ...]
    accuracies: tuple[float, ...]
    forgetting: float
    unit_hours: float
    published: float
    source: str

    @property
    def mean(self) -> float:
        return statistics.mean(self.accuracies)

    @property
    def sd(self) -> float:
        return statistics.stdev(self.accuracies) if len(self.accuracies) > 1 else math.nan

    @property
    def interval(self) -> tuple[float, float]:
        """The 95% t-interval of the mean over seeds (NaN with fewer than two seeds)."""
        n = len(self.accuracies)
        if n < 2:
            return math.nan, math.nan
        half = stats.t.ppf(0.975, n - 1) * self.sd / math.sqrt(n)
        return self.mean - half, self.mean + half

    @property
    def inside(self) -> bool | None:
        """Whether the published figure lies inside the interval (None with fewer than two seeds)."""
        lo, hi = self.interval
        return None if math.isnan(lo) else bool(lo <= self.published <= hi)


def benchmark_name(folder: Path) -> str:
    return tomllib.loads((folder / "config.toml").read_text(encoding="utf-8"))["name"]


def calibration_summary(*folders: Path) -> list[Calibration]:
    """One :class:`Calibration` per benchmark among ``folders``, over its successful seeds."""
    units: dict[str, dict[int, dict]] = {}
    for folder in map(Path, folders):
        by_seed = units.setdefault(benchmark_name(folder), {})
        for p in sorted((folder / "units").glob("*.json")):
            u = json.loads(p.read_text(encoding="utf-8"))
            if u.get("status") == "ok":
                by_seed[u["seed"]] = u
    out = []
    for name, by_seed in units.items():
        ok = [by_seed[s] for s in sorted(by_seed)]
        published, source = PUBLISHED.get(name, (math.nan, "?"))
        # forgetting from the accuracy matrix: runs before the online fix recorded 0 in the unit's field
        forgetting = [forgetting_from_matrix(u["matrix"])[0] for u in ok]
        out.append(Calibration(
            name=name, seeds=tuple(u["seed"] for u in ok), accuracies=tuple(u["final_accuracy"] for u in ok),
            forgetting=statistics.mean(forgetting) if forgetting else math.nan,
            unit_hours=sum(u["wall_time_s"] for u in ok) / 3600, published=published, source=source))
    return out


def calibration_table(*folders: Path) -> str:
    """The Markdown table of :func:`calibration_summary`."""
    lines = ["| benchmark | seeds | isocl ACC: mean ± sd [95% t-interval] | published ACC | inside | forgetting | "
             "unit-hours | source |", "|---|---|---|---|---|---|---|---|"]
    for c in calibration_summary(*folders):
        if len(c.accuracies) >= 2:
            lo, hi = c.interval
            cell = f"{c.mean:.3f} ± {c.sd:.3f} [{lo:.3f}, {hi:.3f}]"
        else:
            cell = f"{c.accuracies[0]:.3f} (one seed)" if c.accuracies else "none yet"
        inside = "-" if c.inside is None else "yes" if c.inside else "no"
        fgt = "-" if math.isnan(c.forgetting) else f"{c.forgetting:.3f}"
        lines.append(f"| {c.name} | {','.join(map(str, c.seeds))} | {cell} | {c.published:.2f} | {inside} | "
                     f"{fgt} | {c.unit_hours:.2f} | {c.source} |")
    return "\n".join(lines)
