"""isocl's calibration runs beside the published figures they reproduce (docs/field-protocol.md).

Reads the unit records of each results folder (``units/*.json``), and prints
a markdown table: the final average accuracy over the seeds (mean, standard
deviation, the 95% t-interval of the mean), the published figure, whether
the figure lies inside the interval, the mean forgetting (from the accuracy
matrix) and the unit-hours.

    python benchmarks/calibration_table.py results/reference/calibration/online_replay [more folders ...]
"""

from __future__ import annotations

import json
import math
import statistics
import sys
from pathlib import Path

from scipy import stats

from isocl.bench.online import forgetting_from_matrix

# benchmark name -> (published ACC, source)
PUBLISHED = {
    "calibration-online-replay": (0.50, "continual-learning-baselines README, Online Replay, Split CIFAR-10 "
                                        "(experiments/split_cifar10/online_replay.py)"),
    "calibration-er-ace": (0.45, "continual-learning-baselines README, ER-ACE, Split CIFAR-10 "
                                 "(experiments/split_cifar10/er_ace.py; the paper's 0.52)"),
}


def _name(folder: Path) -> str:
    config = (folder / "config.toml").read_text(encoding="utf-8")
    return next(line.split("=", 1)[1].strip().strip('"') for line in config.splitlines() if line.startswith("name"))


def row(name: str, units: list[dict]) -> str:
    ok = [u for u in units if u.get("status") == "ok"]
    accs = [u["final_accuracy"] for u in ok]
    hours = sum(u["wall_time_s"] for u in ok) / 3600
    forgetting = [forgetting_from_matrix(u["matrix"])[0] for u in ok]  # runs before the online fix recorded 0
    published, source = PUBLISHED.get(name, (math.nan, "?"))
    if len(accs) >= 2:
        mean, sd = statistics.mean(accs), statistics.stdev(accs)
        half = stats.t.ppf(0.975, len(accs) - 1) * sd / math.sqrt(len(accs))
        inside = "yes" if mean - half <= published <= mean + half else "no"
        cell = f"{mean:.3f} ± {sd:.3f} [{mean - half:.3f}, {mean + half:.3f}]"
    else:
        cell, inside = (f"{accs[0]:.3f} (one seed)" if accs else "none yet"), "-"
    seeds = ",".join(str(u["seed"]) for u in ok)
    fgt = f"{statistics.mean(forgetting):.3f}" if forgetting else "-"
    return f"| {name} | {seeds} | {cell} | {published:.2f} | {inside} | {fgt} | {hours:.2f} | {source} |"


def main(argv: list[str]) -> None:
    """One row per benchmark; its seeds may come from several folders (seeds run in separate processes)."""
    units: dict[str, dict[int, dict]] = {}
    for folder in map(Path, argv):
        for p in sorted((folder / "units").glob("*.json")):
            u = json.loads(p.read_text())
            units.setdefault(_name(folder), {})[u["seed"]] = u
        units.setdefault(_name(folder), {})
    print("| benchmark | seeds | isocl ACC: mean ± sd [95% t-interval] | published ACC | inside | forgetting | "
          "unit-hours | source |")
    print("|---|---|---|---|---|---|---|---|")
    for name, by_seed in units.items():
        print(row(name, [by_seed[s] for s in sorted(by_seed)]))


if __name__ == "__main__":
    main(sys.argv[1:])
