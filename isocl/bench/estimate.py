"""``isocl run BENCH --dry-run``: the units a run would start and a wall-time estimate, nothing written.

The estimate comes from a short calibration on this machine: every distinct
unit name (strategy, twin, control) runs once for the first seed on the
benchmark's scenario shrunk to two small fractions of its training and test
images (:data:`CALIBRATION_FRACTIONS`), all experiences and epochs kept. A
unit's time is then fitted as ``fixed + per_image * fraction`` (the fixed part:
model building, structural moves and evaluation overheads that do not grow
with the data) and extrapolated to the whole scenario. Every seed of a unit
is taken to cost what the first seed costs. A twin or control is calibrated as
a run starts it: at the widths its parent reached in the same calibration
(``companion_overrides``), and a ``fixed-max`` twin whose parent never grew
past its final widths there costs nothing, as a run skips it (a parent can
grow differently on the whole scenario). With ``--jobs N`` the
units' total is divided by N (a lower bound: units do not split evenly). The
time the calibration took to load CIFAR-10 is added, and so is the time of
writing the figures and report, measured by writing them for the calibration's
larger-fraction units (one seed) in a temporary folder: figures grow with the
strategies, hardly with the seeds. Starting the interpreter is not counted.
"""

from __future__ import annotations

import math
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from isocl.bench.config import CIFAR10_TEST, CIFAR10_TRAIN, Benchmark

__all__ = ["CALIBRATION_FRACTIONS", "Estimate", "dry_run", "estimate_units", "format_seconds", "report_seconds"]

# Fractions of the scenario's training and test images per class that the calibration runs on.
CALIBRATION_FRACTIONS = (0.025, 0.1)


@dataclass
class Estimate:
    """Seconds per unit name (one seed), the units, and the run's estimated wall time."""

    per_name: dict[str, float]
    calibration: dict[str, tuple[float, float]]  # name -> seconds at the two fractions
    units: list[tuple[str, int]]
    total_s: float  # sum over units
    wall_s: float  # total_s / jobs + load_s + report_s
    calibration_s: float
    load_s: float = 0.0  # loading CIFAR-10, which a run does too (0 when the data were given)
    report_s: float = 0.0  # writing the figures and report (0 when not measured)


def format_seconds(seconds: float) -> str:
    seconds = max(0.0, float(seconds))
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"


def _scaled(bench: Benchmark, fraction: float, at_least: int = 2) -> tuple[Benchmark, float]:
    """``bench`` with about ``fraction`` of its training and test images per class, and the fraction of its
    training images it really has: at least ``at_least`` training images per class (and enough that the
    validation split keeps one of them), at least 2 test images, at most all of them."""
    b = bench.replace()
    sc = b.scenario
    train = sc["train_per_class"] or CIFAR10_TRAIN
    test = sc["test_per_class"] or CIFAR10_TEST
    vf = float(sc.get("validation_fraction") or 0.0)
    floor = max(2, at_least, math.ceil(1 / vf) + 1 if vf > 0 else 0)  # int(vf * n) >= 1 validation image
    sc["train_per_class"] = min(train, max(floor, round(train * fraction)))
    sc["test_per_class"] = min(test, max(2, round(test * fraction)))
    return b, sc["train_per_class"] / train


Report = Callable[[list[Path]], Any]  # writes a results folder's figures and report (isocl.analysis.report.build_report)


def report_seconds(bench: Benchmark, records: list[dict[str, Any]], report: Report,
                   clock: Callable[[], float] = time.perf_counter) -> float:
    """Seconds ``report`` takes on a results folder holding ``records`` (unit records, as ``UnitResult.to_dict()``
    gives them), written to a temporary folder that is removed afterwards. The report is passed in: the bench
    layer does not import the analysis layer above it."""
    from isocl.bench.config import to_toml
    from isocl.bench.results import atomic_write_text, collate, write_unit

    with tempfile.TemporaryDirectory(prefix="isocl-dry-run-") as tmp:
        out = Path(tmp)
        atomic_write_text(out / "config.toml", to_toml(bench.to_dict()))
        for record in records:
            write_unit(out, record)
        collate(out, [(r["strategy"], r["seed"]) for r in records])
        t0 = clock()
        report([out])
        return clock() - t0


def estimate_units(bench: Benchmark, names: list[str], seeds: list[int], *, data=None, jobs: int = 1,
                   clock: Callable[[], float] = time.perf_counter,
                   progress: Callable[[str], None] | None = None, report: Report | None = None) -> Estimate:
    """Calibrate every distinct name of the run's units and extrapolate (module docstring)."""
    from isocl.bench.data import load_cifar10
    from isocl.bench.runner import build_scenario, run_unit, unit_list
    from isocl.bench.units import companion_overrides, split_companion

    start = clock()
    units = unit_list(bench, names, seeds)
    distinct = list(dict.fromkeys(n for n, _ in units))
    t_load = clock()
    data = data if data is not None else load_cifar10()
    load_s = clock() - t_load
    small, f1 = _scaled(bench, CALIBRATION_FRACTIONS[0])
    # the larger calibration has more images than the smaller one wherever the benchmark has them
    large, f2 = _scaled(bench, CALIBRATION_FRACTIONS[1], at_least=small.scenario["train_per_class"] + 1)
    benches = {f1: small, f2: large}
    scenarios = {f: build_scenario(benches[f], data, seeds[0]) for f in (f1, f2)}
    per_name: dict[str, float] = {}
    calibration: dict[str, tuple[float, float]] = {}
    records: list[dict[str, Any]] = []  # the larger fraction's units, for timing the report
    calibrated: dict[tuple[str, float], dict[str, Any]] = {}  # (name, fraction) -> its record: a companion's parent
    for name in distinct:
        prefix, parent = split_companion(name)
        overrides = {f: companion_overrides(name, calibrated[parent, f]) if prefix is not None else {} for f in (f1, f2)}
        if any(o is None for o in overrides.values()):  # a run skips it (fixed-max of a parent that never grew)
            per_name[name], calibration[name] = 0.0, (0.0, 0.0)
            if progress is not None:
                progress(f"  {name}: skipped, as a run skips it (its parent's peak widths are its final widths)")
            continue
        times = []
        for f in (f1, f2):
            t0 = clock()
            result = run_unit(benches[f], name, seeds[0], scenario=scenarios[f], model_overrides=overrides[f] or None)
            times.append(clock() - t0)
            if result.status != "ok":
                raise RuntimeError(f"calibration of {name} failed: {result.error}")
            calibrated[name, f] = result.to_dict()
        records.append(calibrated[name, f2])
        # seconds per unit of fraction (none to fit when both calibrations hold all of a tiny benchmark's images)
        per_image = max(0.0, (times[1] - times[0]) / (f2 - f1)) if f2 > f1 else 0.0
        fixed = max(0.0, times[0] - per_image * f1) if f2 > f1 else times[1]
        per_name[name] = fixed + per_image * 1.0
        calibration[name] = (times[0], times[1])
        if progress is not None:
            progress(f"  calibrated {name}: {times[0]:.1f} s at {f1:.3g}, {times[1]:.1f} s at {f2:.3g} of the data "
                     f"-> {format_seconds(per_name[name])} per unit")
    total = sum(per_name[n] for n, _ in units)
    report_s = report_seconds(benches[f2], records, report, clock) if report is not None else 0.0
    return Estimate(per_name, calibration, units, total, total / max(1, jobs) + load_s + report_s,
                    clock() - start, load_s, report_s)


def dry_run(bench: Benchmark, *, strategies: list[str] | None = None, seeds: list[int] | None = None,
            epochs: int | None = None, jobs: int = 1, data=None, calibrate: bool = True,
            report: Report | None = None, echo: Callable[[str], None] = print) -> Estimate | None:
    """Print the units ``isocl run`` would start (and, with ``calibrate``, the estimate, counting the figures
    and report when ``report`` is given: a run without ``--no-plot`` writes them); write nothing in the
    user's folders."""
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
    est = estimate_units(bench, names, seeds, data=data, jobs=jobs, progress=echo, report=report)
    echo(f"estimated wall time: {format_seconds(est.wall_s)} ({format_seconds(est.total_s)} of units"
         f"{f' over {jobs} jobs' if jobs > 1 else ''} + {format_seconds(est.load_s)} loading the data"
         f"{f' + {format_seconds(est.report_s)} writing the figures and report' if report is not None else ''}; "
         f"not counted: starting Python; "
         f"the calibration took "
         f"{format_seconds(est.calibration_s)})")
    return est
