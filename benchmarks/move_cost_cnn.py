"""Cost of a structural move on an isotropic CNN, as a fraction of one training epoch (docs/convolutions.md).

An isotropic CNN (CIFAR-sized input, conv channels 64-128-256 by default,
3x3, 2x2 average pooling, dense 256, 10 classes) trains one epoch on 10,000
random 3x32x32 images (batch 128, Adam lr 1e-3, cross-entropy on
``model.logits_all``). Then one structural move: for every conv layer,
``diagonalise_layer``, ``grow_layer(k=8)`` and ``prune_layer(threshold=0.05,
probe=<64 images>)`` with a ``ParamEditor`` carrying Adam's state. Prints
both times and their ratio; asserts nothing about time.

Usage::

    python benchmarks/move_cost_cnn.py [--quick] [--threads N] [--device cpu|cuda] [--channels 64,128,256]

``--quick``: tiny sizes, seconds (used by tests/test_conv_harness.py).
"""

from __future__ import annotations

import argparse
import time

import torch

from isocl.nn.cnn import CNNConfig, build_cnn
from isocl.nn.moves import diagonalise_layer, grow_layer, prune_layer
from isocl.nn.optim import ParamEditor, optimizer_params_match_model


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def train_epoch(model, opt, images: int, batch: int, device: torch.device, gen: torch.Generator) -> float:
    """Seconds for one epoch over ``images`` random CIFAR-sized samples."""
    _sync(device)
    start = time.perf_counter()
    for first in range(0, images, batch):
        n = min(batch, images - first)
        x = torch.randn(n, 3, 32, 32, generator=gen).to(device)
        y = torch.randint(0, 10, (n,), generator=gen).to(device)
        opt.zero_grad()
        torch.nn.functional.cross_entropy(model.logits_all(x), y).backward()
        opt.step()
    _sync(device)
    return time.perf_counter() - start


def structural_move(model, opt, probe: torch.Tensor, n_conv: int, device: torch.device) -> tuple[float, list]:
    """Seconds for diagonalise + grow + prune of every conv layer (Adam state carried)."""
    editor = ParamEditor(opt)
    _sync(device)
    start = time.perf_counter()
    records = []
    for i in range(n_conv):
        diagonalise_layer(model, i, editor)
        records.append(grow_layer(model, i, 8, editor=editor, generator=torch.Generator().manual_seed(i)))
        records.append(prune_layer(model, i, 0.05, probe=probe, editor=editor, min_width=8))
    _sync(device)
    return time.perf_counter() - start, records


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes (seconds)")
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--channels", default="64,128,256")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    channels = [8, 8] if args.quick else [int(c) for c in args.channels.split(",")]
    images = 256 if args.quick else 10_000
    torch.manual_seed(0)
    cfg = CNNConfig(channels=channels, widths=[32 if args.quick else 256], initial_classes=10)
    model = build_cnn(cfg).to(device)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    gen = torch.Generator().manual_seed(0)
    epoch = train_epoch(model, opt, images, 128, device, gen)
    probe = torch.randn(64, 3, 32, 32, generator=gen).to(device)
    move, records = structural_move(model, opt, probe, len(channels), device)
    assert optimizer_params_match_model(opt, model)
    train_epoch(model, opt, 128, 128, device, gen)  # training continues on the edited model
    print(f"model: CNN channels {channels}, dense {cfg.widths}, {images} images per epoch, {device}, "
          f"{torch.get_num_threads()} threads")
    print(f"widths after the move: {model.widths}")
    print(f"one epoch: {epoch:.3f} s; structural move (diagonalise + grow + prune of {len(channels)} conv layers, "
          f"Adam state carried): {move:.3f} s")
    print(f"move / epoch ratio: {move / epoch:.4f}")
    worst = max(((r.max_logit_change or 0.0) / r.bound for r in records if r.kind == "prune" and r.bound), default=0.0)
    print(f"largest measured / bound among the prunes: {worst:.3g}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
