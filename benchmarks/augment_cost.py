"""What ``[scenario] augment = "crop-flip"`` costs per training epoch, as a ratio (CPU time).

For each model kind it trains one epoch of N CIFAR-shaped images (batch B,
SGD, the harness's own TensorBatches loader) with and without the
augmentation plugin's batch transform, alternating the two (R repeats, the
median taken), and prints the ratio augmented / plain, plus the augmentation
alone as a share of the plain epoch. CPU time (``time.process_time``) on one
torch thread, so a loaded machine changes the numbers less than wall time.

    python benchmarks/augment_cost.py [--images 2048] [--batch 128] [--repeats 3] [--kinds cnn,slim_resnet18]
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from isocl.bench.augment import AugmentPlugin
from isocl.bench.context import TensorBatches
from isocl.nn.kinds import build_model, model_kind

SIZES = {"cnn": {"channels": [32, 64, 64], "widths": [128]}, "mlp": {"widths": [256, 256]}}


def _epoch(model, batches, plugin: AugmentPlugin | None) -> tuple[float, float]:
    """CPU seconds of one training epoch and of its augmentation alone."""
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    loss_fn = torch.nn.CrossEntropyLoss()
    aug_time, start = 0.0, time.process_time()
    model.train()
    for x, y, _ in batches:
        if plugin is not None:
            t0 = time.process_time()
            holder = type("S", (), {})()
            holder.mbatch = [x]
            plugin.before_forward(holder)
            x = holder.mbatch[0]
            aug_time += time.process_time() - t0
        opt.zero_grad()
        loss_fn(model(x), y).backward()
        opt.step()
    return time.process_time() - start, aug_time


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=2048)
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--kinds", default="cnn,slim_resnet18")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(args.images, 3, 32, 32, generator=gen)
    y = torch.randint(0, 10, (args.images,), generator=gen)
    t = torch.zeros_like(y)
    print(f"{'kind':<15} {'plain s/epoch':>14} {'augmented':>10} {'ratio':>7} {'augment alone':>14}")
    for name in args.kinds.split(","):
        kind = model_kind(name)
        model = build_model(kind.config({**SIZES.get(name, {}), "initial_classes": 10}))
        plain, augmented, alone = [], [], []
        for r in range(args.repeats):
            batches = TensorBatches(x, y, t, args.batch, True, torch.Generator().manual_seed(r))
            plain.append(_epoch(model, batches, None)[0])
            total, aug = _epoch(model, batches, AugmentPlugin(seed=r))
            augmented.append(total)
            alone.append(aug)
        p, a, s = statistics.median(plain), statistics.median(augmented), statistics.median(alone)
        print(f"{name:<15} {p:>14.2f} {a:>10.2f} {a / p:>7.3f} {s / p:>13.1%}")


if __name__ == "__main__":
    main()
