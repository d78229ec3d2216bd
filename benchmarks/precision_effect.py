"""The accuracy effect of ``training.precision = "bf16"`` (autocast of the forward passes) against float32.

Runs ``naive`` (or ``--strategy``) on a benchmark file's scenario in both
precisions for each seed, paired, and prints the final average accuracy of
each and their difference (bf16 - float32): mean and the range over seeds.
It measures accuracy, not speed (bf16 is for GPUs; on a CPU without bf16
units it can be slower). Asserts nothing.

Usage::

    python benchmarks/precision_effect.py [BENCH.toml] [--strategy S] [--seeds 0,1,2] [--device D]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import warnings
from collections.abc import Sequence
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("benchmark", nargs="?", default=str(HERE / "split_cifar10_class_il.toml"))
    parser.add_argument("--strategy", default="naive")
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args(argv)
    seeds = [int(s) for s in args.seeds.split(",") if s]
    if not seeds:
        parser.error(f"--seeds must list some ints, got {args.seeds!r}")

    from isocl.bench.config import load_benchmark
    from isocl.bench.data import load_cifar10
    from isocl.bench.runner import build_scenario, run_unit

    warnings.filterwarnings("ignore", message="No loggers specified")
    bench = load_benchmark(args.benchmark)
    data = load_cifar10()
    diffs = []
    print(f"{args.strategy} on {bench.name}, device {args.device}: final average accuracy")
    for seed in seeds:
        scenario = build_scenario(bench, data, seed)
        acc = {}
        for precision in ("float32", "bf16"):
            b = bench.replace()
            b.training["precision"] = precision
            res = run_unit(b, args.strategy, seed, scenario=scenario, device=args.device)
            if res.status != "ok":
                raise RuntimeError(f"{args.strategy} seed {seed} {precision} failed: {res.error}")
            acc[precision] = res.final_accuracy
        diffs.append(acc["bf16"] - acc["float32"])
        print(f"  seed {seed}: float32 {acc['float32']:.4f}, bf16 {acc['bf16']:.4f}, difference {diffs[-1]:+.4f}")
    print(f"bf16 - float32: mean {statistics.mean(diffs):+.4f}, range [{min(diffs):+.4f}, {max(diffs):+.4f}] "
          f"over {len(seeds)} seed(s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
