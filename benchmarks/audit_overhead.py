"""What the audit of structural events costs: a neuroplastic unit with ``training.audit`` on vs off.

Prints ratios; asserts nothing about time. For the MLP and the CNN benchmark
(``benchmarks/split_cifar10_class_il.toml`` and ``..._cnn.toml``, their own
scenario, model and training settings), one unit of ``neuro-grow-prune``
(growth before, pruning after each experience: every kind of audited event)
runs with the audit on and off, alternating (on first in even pairs, off first
in odd ones, so that neither side always pays for running first), and the
process CPU time of each is compared (median of ``--repeats``). Target: on / off <= 1.10 (issue 18).

The audit changes no training (its probe draws from its own generator): both
runs must end at the same accuracy, and the script says so.

Usage::

    python benchmarks/audit_overhead.py [--repeats R] [--threads N] [--train-per-class N] [--quick]

``--quick`` runs 2 experiences of synthetic data at tiny sizes (seconds; used by
tests/test_audit_overhead_script.py) and gives no verdict. CIFAR-10 is read from
``ISOCL_DATA`` (isocl.bench.data).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
import warnings
from collections.abc import Sequence
from pathlib import Path

import torch

TARGET = 1.10  # audit on / audit off, unit CPU time
STRATEGY = "neuro-grow-prune"
BENCHMARKS = {"mlp": "split_cifar10_class_il.toml", "cnn": "split_cifar10_class_il_cnn.toml"}
HERE = Path(__file__).resolve().parent


def judge(ratio: float, full: bool) -> str:
    if not full:
        return "no verdict at --quick sizes"
    return "ok" if ratio <= TARGET else "MISSED"


def _bench(kind: str, quick: bool, train_per_class: int | None):
    from isocl.bench.config import load_benchmark

    bench = load_benchmark(HERE / BENCHMARKS[kind])
    if quick:
        bench.scenario.update(n_experiences=2, train_per_class=12, test_per_class=6, validation_fraction=0.0)
        bench.training.update(epochs=1, batch_size=8)
        if kind == "cnn":
            bench.model.update(channels=[4, 4], widths=[8])
        else:
            bench.model.update(widths=[16, 16])
    elif train_per_class is not None:
        bench.scenario["train_per_class"] = train_per_class
    bench.training["seeds"] = [0]
    return bench


def run_once(bench, scenario, audit: bool):
    """One unit; returns (CPU seconds, UnitResult)."""
    from isocl.bench.runner import run_unit

    b = bench.replace()
    b.training["audit"] = audit
    c0 = time.process_time()
    result = run_unit(b, STRATEGY, 0, scenario=scenario, eval_stream="test")
    cpu = time.process_time() - c0
    if result.status != "ok":
        raise RuntimeError(f"{STRATEGY} failed: {result.error}")
    return cpu, result


def measure(kind: str, repeats: int, quick: bool, train_per_class: int | None) -> dict:
    from isocl.bench.runner import build_scenario
    from isocl.bench.data import load_cifar10
    from isocl.bench.scenarios import synthetic_tensors

    bench = _bench(kind, quick, train_per_class)
    data = synthetic_tensors(12, 6) if quick else load_cifar10()
    scenario = build_scenario(bench, data, 0)
    run_once(bench, scenario, False)  # warm-up: plug-ins, allocator, caches
    on, off, results = [], [], {}
    for i in range(repeats):
        pair = ((True, on), (False, off))
        for audit, bucket in pair if i % 2 == 0 else pair[::-1]:  # ABBA: neither side always runs first
            cpu, res = run_once(bench, scenario, audit)
            bucket.append(cpu)
            results[audit] = res
    probed = sum(1 for e in results[True].structure if e["acc_before"] != "")
    unprobed = sum(1 for e in results[False].structure if e["acc_before"] == "" and e["bound"] == "")
    return {"on": statistics.median(on), "off": statistics.median(off), "events": len(results[True].structure),
            "probed": probed, "unprobed": unprobed, "events_off": len(results[False].structure),
            "acc_on": results[True].final_accuracy, "acc_off": results[False].final_accuracy}


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=5, help="median of R alternating on/off pairs (default 5)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1: CPU time is then honest)")
    parser.add_argument("--train-per-class", type=int, default=None,
                        help="override the benchmarks' training images per class (default: theirs)")
    parser.add_argument("--models", default="mlp,cnn", help="comma-separated: mlp, cnn (default both)")
    parser.add_argument("--quick", action="store_true", help="tiny synthetic sizes, for tests")
    args = parser.parse_args(argv)
    if args.repeats < 1 or args.threads < 1:
        parser.error(f"--repeats and --threads must be >= 1, got {args.repeats} and {args.threads}")
    models = [m for m in args.models.split(",") if m]
    if not models or set(models) - set(BENCHMARKS):
        parser.error(f"--models must list some of {sorted(BENCHMARKS)}, got {args.models!r}")
    args.models = models
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    warnings.filterwarnings("ignore", message="No loggers specified")
    print(f"audit overhead of {STRATEGY}: process CPU time, {args.threads} torch thread(s), "
          f"median of {args.repeats}{' (--quick: synthetic, tiny)' if args.quick else ''}")
    for kind in args.models:
        m = measure(kind, args.repeats, args.quick, args.train_per_class)
        ratio = m["on"] / m["off"]
        same = "same final accuracy" if m["acc_on"] == m["acc_off"] else "FINAL ACCURACY DIFFERS"
        print(f"{kind}: {BENCHMARKS[kind]}: audit on {m['on']:.2f} s, off {m['off']:.2f} s; "
              f"ratio {ratio:.2f}x (target <= {TARGET:.2f}x) [{judge(ratio, not args.quick)}]")
        print(f"  {m['events']} events, {m['probed']} probed with the audit on; {m['events_off']} events, "
              f"{m['unprobed']} unprobed with it off; {same} ({m['acc_on']:.4f} vs {m['acc_off']:.4f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
