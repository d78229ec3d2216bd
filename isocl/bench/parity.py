"""Parity with Avalanche alone: one baseline through isocl and through Avalanche's own strategy.

The same network (a plain elementwise-tanh MLP 3072-W-W with Avalanche's
``IncrementalClassifier``), the same data subset, class order, epochs,
optimiser and seeds go (a) through isocl's runner (its scenario, tensor
loaders, evaluation of seen experiences) and (b) through Avalanche alone
(``nc_benchmark`` on the same tensors, ``Naive`` or ``Replay`` with its own
data loaders). Final accuracy is the mean over the test experiences after
the last one, evaluated on seen experiences only in both. The two differ by
mini-batch order, so equality is "within seed noise": the paired difference
over seeds and its 95% interval (scipy) are printed.

Run: ``python -m isocl.bench.parity --epochs 5 --seeds 0,1,2`` (the brief's
protocol: all data, class order 0-9, Adam 1e-3, batch 128, where Avalanche
alone measured 18.2% for naive).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

__all__ = ["avalanche_alone", "isocl_run", "main", "plain_tanh_mlp"]

NATURAL_ORDER = list(range(10))


def plain_tanh_mlp(width: int, n_layers: int = 2, initial_classes: int = 2) -> nn.Module:
    """A plain elementwise-tanh MLP with Avalanche's growing single head."""
    from avalanche.models import IncrementalClassifier

    class PlainMLP(nn.Module):
        def __init__(self):
            super().__init__()
            layers, fan_in = [nn.Flatten()], 3 * 32 * 32
            for _ in range(n_layers):
                layers += [nn.Linear(fan_in, width), nn.Tanh()]
                fan_in = width
            self.backbone = nn.Sequential(*layers)
            self.head = IncrementalClassifier(fan_in, initial_classes)

        def forward(self, x):
            return self.head(self.backbone(x))

    return PlainMLP()


def _bench(strategy: str, train_per_class: int, epochs: int, width: int, mem_size: int):
    from isocl.bench.config import parse_benchmark

    return parse_benchmark({
        "name": "parity", "strategies": [strategy], "twins": False, "controls": False,
        "scenario": {"setting": "class_il", "class_order": NATURAL_ORDER, "vary_with_seed": False,
                     "validation_fraction": 0.0, "train_per_class": train_per_class},
        "training": {"epochs": epochs, "batch_size": 128, "optimizer": "adam", "lr": 1e-3},
        "model": {"widths": [width, width]},
        "strategy": {strategy: {"mem_size": mem_size}} if strategy == "parity-replay" else {},
    })


def _register_parity_strategies() -> None:
    from avalanche.training.plugins import ReplayPlugin

    from isocl.bench.registry import is_registered, register_strategy

    if is_registered("parity-naive"):
        return

    @register_strategy("parity-naive", description="plain tanh MLP, fine-tuning (parity check)")
    def naive(ctx):
        return ctx.template(plain_tanh_mlp(ctx.model_config().widths[0]).to(ctx.device))

    @register_strategy("parity-replay", defaults={"mem_size": 500}, description="plain tanh MLP + replay (parity)")
    def replay(ctx, mem_size):
        return ctx.template(plain_tanh_mlp(ctx.model_config().widths[0]).to(ctx.device), [ReplayPlugin(mem_size)])


def isocl_run(data, strategy: str, seed: int, train_per_class: int, epochs: int, width: int,
              mem_size: int = 500) -> float:
    """Final accuracy of ``strategy`` (naive | replay) on the plain MLP through isocl's runner."""
    from isocl.bench.runner import run_unit
    from isocl.bench.scenarios import build_scenario

    _register_parity_strategies()
    name = f"parity-{strategy}"
    bench = _bench(name, train_per_class, epochs, width, mem_size)
    res = run_unit(bench, name, seed, scenario=build_scenario(bench, data, seed))
    if res.status != "ok":
        raise RuntimeError(f"isocl unit failed: {res.error}")
    return res.final_accuracy


def avalanche_alone(data, strategy: str, seed: int, train_per_class: int, epochs: int, width: int,
                    mem_size: int = 500) -> float:
    """Final accuracy of Avalanche's own ``Naive`` / ``Replay`` on the same data and network."""
    from avalanche.benchmarks.scenarios.supervised import class_incremental_benchmark
    from avalanche.benchmarks.utils import as_classification_dataset
    from avalanche.evaluation.metrics import accuracy_metrics
    from avalanche.training import Naive, Replay
    from avalanche.training.plugins import EvaluationPlugin
    from torch.utils.data import TensorDataset

    from isocl.bench.data import subset_indices_per_class

    idx = subset_indices_per_class(data.y_train, train_per_class, 0) if train_per_class else slice(None)
    train = TensorDataset(data.x_train[idx], data.y_train[idx])
    test = TensorDataset(data.x_test, data.y_test)
    train.targets, test.targets = data.y_train[idx].tolist(), data.y_test.tolist()
    bm = class_incremental_benchmark(
        {"train": as_classification_dataset(train), "test": as_classification_dataset(test)},
        class_order=NATURAL_ORDER, num_experiences=5)
    torch.manual_seed(seed)
    np.random.seed(seed)
    model = plain_tanh_mlp(width)
    common = dict(optimizer=torch.optim.Adam(model.parameters(), lr=1e-3), criterion=nn.CrossEntropyLoss(),
                  train_mb_size=128, train_epochs=epochs, eval_mb_size=1024,
                  evaluator=EvaluationPlugin(accuracy_metrics(experience=True), loggers=[]))
    strat = Replay(model, mem_size=mem_size, **common) if strategy == "replay" else Naive(model, **common)
    for i, exp in enumerate(bm.train_stream):
        strat.train(exp)
        res = strat.eval(bm.test_stream[: i + 1])  # seen experiences only, as isocl does
    accs = [v for k, v in res.items() if k.startswith("Top1_Acc_Exp/eval_phase/test_stream/")]
    if len(accs) != 5:
        raise RuntimeError(f"expected 5 experience accuracies from Avalanche, got {len(accs)}")
    return float(np.mean(accs))


def compare(data, strategy: str, seeds: list[int], train_per_class: int, epochs: int, width: int,
            progress=print) -> dict:
    """Both pipelines on every seed; the paired difference with its 95% t interval."""
    from scipy import stats

    rows = []
    for seed in seeds:
        t0 = time.perf_counter()
        a = isocl_run(data, strategy, seed, train_per_class, epochs, width)
        b = avalanche_alone(data, strategy, seed, train_per_class, epochs, width)
        rows.append({"seed": seed, "isocl": a, "avalanche": b, "diff": a - b,
                     "seconds": round(time.perf_counter() - t0, 1)})
        progress(f"{strategy} seed {seed}: isocl {100 * a:.2f}%  avalanche {100 * b:.2f}%  "
                 f"diff {100 * (a - b):+.2f} points ({rows[-1]['seconds']} s)")
    diffs = np.array([r["diff"] for r in rows])
    out = {"strategy": strategy, "train_per_class": train_per_class, "epochs": epochs, "width": width,
           "seeds": seeds, "rows": rows, "mean_isocl": float(np.mean([r["isocl"] for r in rows])),
           "mean_avalanche": float(np.mean([r["avalanche"] for r in rows])), "mean_diff": float(diffs.mean())}
    if len(rows) >= 2 and np.ptp(diffs) > 0:
        ci = stats.ttest_1samp(diffs, 0.0).confidence_interval(0.95)
        out.update(ci_low=float(ci.low), ci_high=float(ci.high))
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m isocl.bench.parity", description=__doc__.split("\n\n")[0])
    p.add_argument("--strategies", default="naive,replay", help="naive and/or replay")
    p.add_argument("--seeds", default="0,1,2")
    p.add_argument("--epochs", type=int, default=5)
    p.add_argument("--train-per-class", type=int, default=0, help="0: all 5,000")
    p.add_argument("--width", type=int, default=256)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--out", help="write the comparison as JSON here")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    from isocl.bench.data import load_cifar10

    data = load_cifar10()
    seeds = [int(s) for s in args.seeds.split(",")]
    results = [compare(data, s, seeds, args.train_per_class, args.epochs, args.width)
               for s in args.strategies.split(",")]
    for r in results:
        ci = f" [{100 * r['ci_low']:+.2f}, {100 * r['ci_high']:+.2f}]" if "ci_low" in r else ""
        print(f"{r['strategy']}: isocl {100 * r['mean_isocl']:.2f}%  avalanche alone {100 * r['mean_avalanche']:.2f}%  "
              f"paired difference {100 * r['mean_diff']:+.2f} points{ci} (95% t interval, {len(seeds)} seeds)")
    if args.out:
        from isocl.bench.results import atomic_write_text

        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(Path(args.out), json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
