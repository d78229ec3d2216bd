"""``isocl run BENCH --dry-run``: the units a run would start and a wall-time estimate, nothing written.

The estimate comes from a short calibration on this machine: every distinct
unit name (strategy, twin, control) runs once for the first seed on the
benchmark's scenario shrunk to two small fractions of its training and test
images (:data:`CALIBRATION_FRACTIONS`), all experiences and epochs kept. A
unit's time is then fitted as ``fixed + per_image * fraction`` (the fixed part:
model building, structural moves and evaluation overheads that do not grow
with the data) and extrapolated to the whole scenario. Every seed of a unit
is taken to cost what the first seed costs; a twin or control is calibrated at
the benchmark's widths (its real widths come from its parent's run, so its
time can differ); a ``fixed-max`` twin is counted although a run skips it
when its parent never grew past its final widths. With ``--jobs N`` the
units' total is divided by N (a lower bound: units do not split evenly). The
time the calibration took to load CIFAR-10 is added; starting the interpreter
and writing the figures and report are not counted.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from isocl.bench.config import CIFAR10_TEST, CIFAR10_TRAIN, Benchmark

__all__ = ["CALIBRATION_FRACTIONS", "Estimate", "dry_run", "estimate_units", "format_seconds"]

# Fractions of the scenario's training and test images per class that the calibration runs on.
CALIBRATION_FRACTIONS = (0.025, 0.1)


@dataclass
class Estimate:
    """Seconds per unit name (one seed), the units, and the run's estimated wall time."""

    per_name: dict[str, float]
    calibration: dict[str, tuple[float, float]]  # name -> seconds at the two fractions
    units: list[tuple[str, int]]
    total_s: float  # sum over units
    wall_s: float  # total_s / jobs + load_s
    calibration_s: float
    load_s: float = 0.0  # loading CIFAR-10, which a run does too (0 when the data were given)


def format_seconds(seconds: float) -> str:
    seconds = max(0.0, float(seconds))
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"


def _scaled(bench: Benchmark, fraction: float) -> Benchmark:
    """``bench`` with ``fraction`` of its training and test images per class (at least 2 of each)."""
    b = bench.replace()
    sc = b.scenario
    train = sc["train_per_class"] or CIFAR10_TRAIN
    test = sc["test_per_class"] or CIFAR10_TEST
    sc["train_per_class"] = max(2, round(train * fraction))
    sc["test_per_class"] = max(2, round(test * fraction))
    return b


def estimate_units(bench: Benchmark, names: list[str], seeds: list[int], *, data=None, jobs: int = 1,
                   clock: Callable[[], float] = time.perf_counter,
                   progress: Callable[[str], None] | None = None) -> Estimate:
    """Calibrate every distinct name of the run's units and extrapolate (module docstring)."""
    from isocl.bench.data import load_cifar10
    from isocl.bench.runner import build_scenario, run_unit, unit_list

    start = clock()
    units = unit_list(bench, names, seeds)
    distinct = list(dict.fromkeys(n for n, _ in units))
    t_load = clock()
    data = data if data is not None else load_cifar10()
    load_s = clock() - t_load
    f1, f2 = CALIBRATION_FRACTIONS
    benches = {f: _scaled(bench, f) for f in (f1, f2)}
    scenarios = {f: build_scenario(benches[f], data, seeds[0]) for f in (f1, f2)}
    per_name: dict[str, float] = {}
    calibration: dict[str, tuple[float, float]] = {}
    for name in distinct:
        times = []
        for f in (f1, f2):
            t0 = clock()
            result = run_unit(benches[f], name, seeds[0], scenario=scenarios[f])
            times.append(clock() - t0)
            if result.status != "ok":
                raise RuntimeError(f"calibration of {name} failed: {result.error}")
        per_image = max(0.0, (times[1] - times[0]) / (f2 - f1))  # seconds per unit of fraction
        fixed = max(0.0, times[0] - per_image * f1)
        per_name[name] = fixed + per_image * 1.0
        calibration[name] = (times[0], times[1])
        if progress is not None:
            progress(f"  calibrated {name}: {times[0]:.1f} s at {f1:g}, {times[1]:.1f} s at {f2:g} of the data "
                     f"-> {format_seconds(per_name[name])} per unit")
    total = sum(per_name[n] for n, _ in units)
    return Estimate(per_name, calibration, units, total, total / max(1, jobs) + load_s, clock() - start, load_s)


def dry_run(bench: Benchmark, *, strategies: list[str] | None = None, seeds: list[int] | None = None,
            epochs: int | None = None, jobs: int = 1, data=None, calibrate: bool = True,
            echo: Callable[[str], None] = print) -> Estimate | None:
    """Print the units ``isocl run`` would start (and, with ``calibrate``, the estimate); write nothing."""
    from isocl.bench.runner import check_benchmark, unit_list
    from isocl.bench.units import split_companion

    names = check_benchmark(bench, strategies)
    seeds = list(seeds if seeds is not None else bench.training["seeds"])
    bench = bench.replace()
    if epochs is not None:
        bench.training["epochs"] = epochs
    units = unit_list(bench, names, seeds)
    echo(f"{bench.name}: {len(units)} units ({len(names)} strategies x {len(seeds)} seeds "
         f"{seeds}, with their twins and controls); {bench.scenario['n_experiences']} experiences, "
         f"{bench.training['epochs']} epoch(s) each")
    for name in dict.fromkeys(n for n, _ in units):
        prefix, base = split_companion(name)
        kind = "strategy" if prefix is None else ("twin" if prefix.startswith("fixed") else "control") + f" of {base}"
        echo(f"  {name} ({kind}): seeds {[s for n, s in units if n == name]}")
    if not calibrate:
        return None
    f1, f2 = CALIBRATION_FRACTIONS
    echo(f"calibrating on {f1:g} and {f2:g} of the data, seed {seeds[0]} ...")
    est = estimate_units(bench, names, seeds, data=data, jobs=jobs, progress=echo)
    echo(f"estimated wall time: {format_seconds(est.wall_s)} ({format_seconds(est.total_s)} of units"
         f"{f' over {jobs} jobs' if jobs > 1 else ''} + {format_seconds(est.load_s)} loading the data; "
         f"not counted: starting Python and writing the report; the calibration took "
         f"{format_seconds(est.calibration_s)})")
    return est
