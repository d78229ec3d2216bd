"""``isocl speed``: the harness against a plain PyTorch loop on the same training.

Both sides train the same fixed-width isotropic MLP (3072-256-256, tanh
profile, :func:`isocl.nn.models.build_mlp`) on the same data: the
class-incremental split of CIFAR-10 into 5 experiences (2 classes each,
``train_per_class`` training images per class, the full 1,000 test images per
class), batch 128, Adam with lr 1e-3, ``epochs`` epochs per experience, and
both evaluate the test experiences seen so far (accuracy and loss of each)
after each experience:

(a) the harness: :func:`isocl.bench.runner.run_unit` of the ``naive`` strategy
    (Avalanche's ``SupervisedTemplate`` with isocl's tensor-batch loaders, the
    default evaluator, the NaN guard, a growing ``IncrementalClassifier``
    head);
(b) a plain loop over the tensors that :func:`isocl.bench.scenarios.stream_tensors`
    reads from the same experience datasets: shuffled mini-batches by
    slicing, one 10-output head read through ``model.logits_all`` (the same
    FLOPs as the harness's fully grown head, slightly more than its early
    2-to-8-output heads), batched inference for the evaluation.

The data are loaded and split once, outside the timings. One untimed run of
each side comes first (a process's first run pays one-time costs). Runs then
alternate (harness, plain, harness, plain, ...) and the median of ``repeats``
is reported: wall time of the whole run (training + evaluation; the headline
ratio), wall time of training alone, and process CPU time; plus the best run
of each, the least disturbed by other load. On a busy machine with few cores,
intra-op threads fight other processes (OpenMP oversubscription) and wall
times of the same run vary several-fold: compare with ``OMP_NUM_THREADS=1``
(or on an idle machine) and look at the CPU-time ratio.
"""

from __future__ import annotations

import statistics
import time
import warnings
from dataclasses import dataclass
from typing import Any

import torch

__all__ = ["SpeedResult", "plain_loop", "speed_benchmark", "speed_command", "sync", "time_harness"]

WIDTHS = [256, 256]
TARGET = 1.10


@dataclass
class SpeedResult:
    """One timed run: wall seconds in all, wall seconds training, process CPU seconds, final average accuracy."""

    total_s: float
    train_s: float
    final_accuracy: float
    cpu_s: float = float("nan")


def speed_benchmark(epochs: int = 1, train_per_class: int = 1000, test_per_class: int = 0, device: str = "cpu"):
    """The Benchmark both sides run (built in code, validated like a TOML file)."""
    from isocl.bench.config import parse_benchmark

    return parse_benchmark(
        {
            "name": "speed",
            "description": "harness vs plain loop: naive fine-tuning, class-IL split CIFAR-10",
            "strategies": ["naive"],
            "scenario": {
                "setting": "class_il",
                "n_experiences": 5,
                "seed": 0,
                "validation_fraction": 0.0,
                "train_per_class": train_per_class,
                "test_per_class": test_per_class,
            },
            "training": {
                "epochs": epochs,
                "batch_size": 128,
                "eval_batch_size": 2048,
                "optimizer": "adam",
                "lr": 1e-3,
                "seeds": [0],
                "device": device,
            },
            "model": {"widths": list(WIDTHS)},
        },
        source="<isocl speed>",
    )


def time_harness(bench, scenario, seed: int = 0) -> SpeedResult:
    """(a) ``run_unit(bench, "naive", seed)`` on the prepared scenario, test stream."""
    from isocl.bench.runner import run_unit

    warnings.filterwarnings("ignore", message="No loggers specified")
    device = bench.training["device"]
    sync(device)
    t0, c0 = time.perf_counter(), time.process_time()
    result = run_unit(bench, "naive", seed, scenario=scenario, eval_stream="test")
    sync(device)
    total, cpu = time.perf_counter() - t0, time.process_time() - c0
    if result.status != "ok":
        raise RuntimeError(f"harness run failed: {result.error}")
    train = sum(e["wall_time_s"] for e in result.experiences)
    return SpeedResult(total, train, result.final_accuracy, cpu)


def plain_loop(
    bench,
    train_tensors: list[tuple[torch.Tensor, torch.Tensor]],
    test_tensors: list[tuple[torch.Tensor, torch.Tensor]],
    seed: int = 0,
) -> SpeedResult:
    """(b) The same training and evaluation as a plain PyTorch loop."""
    from isocl.nn.models import MLPConfig, build_mlp

    tr = bench.training
    device = torch.device(tr["device"])
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    sync(device)
    t_start, c_start = time.perf_counter(), time.process_time()
    cfg = MLPConfig(in_features=3 * 32 * 32, **{**bench.model, "multi_head": False, "initial_classes": 10})
    model = build_mlp(cfg).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=tr["lr"], weight_decay=tr["weight_decay"])
    criterion = torch.nn.CrossEntropyLoss()
    bs, ebs = tr["batch_size"], tr["eval_batch_size"]
    train_time = 0.0
    avg = float("nan")
    seen: list[tuple[torch.Tensor, torch.Tensor]] = []  # test experiences, moved to the device once (as the harness does)
    for trained, (x, y) in enumerate(train_tensors):
        t0 = time.perf_counter()
        x, y = x.to(device), y.to(device)  # each experience once, as the harness's loader does
        model.train()
        for _ in range(tr["epochs"]):
            order = torch.randperm(len(y), generator=gen).to(device)
            for start in range(0, len(y), bs):
                idx = order[start : start + bs]
                optimizer.zero_grad()
                loss = criterion(model.logits_all(x[idx]), y[idx])
                loss.backward()
                optimizer.step()
        sync(device)
        train_time += time.perf_counter() - t0
        # Evaluation of the test experiences seen so far (as the harness does): accuracy and mean loss.
        model.eval()
        accs = []
        seen.append(tuple(t.to(device) for t in test_tensors[trained]))
        with torch.no_grad():
            for xt, yt in seen:
                correct, loss_sum = 0, 0.0
                for start in range(0, len(yt), ebs):
                    logits = model.logits_all(xt[start : start + ebs])
                    target = yt[start : start + ebs]
                    loss_sum += float(torch.nn.functional.cross_entropy(logits, target, reduction="sum"))
                    correct += int((logits.argmax(1) == target).sum())
                accs.append(correct / len(yt))
                _ = loss_sum / len(yt)
        avg = sum(accs[: trained + 1]) / (trained + 1)
    sync(device)
    return SpeedResult(time.perf_counter() - t_start, train_time, avg, time.process_time() - c_start)


def sync(device) -> None:
    """Wait for the device's queued work (CUDA runs asynchronously), so that a clock read after it is honest."""
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize(device)


def _tensors(stream) -> list[tuple[torch.Tensor, torch.Tensor]]:
    from isocl.bench.scenarios import stream_tensors

    out = []
    for exp in stream:
        x, y, _ = stream_tensors(exp.dataset)
        out.append((x, y))
    return out


def _median(values: list[float]) -> float:
    return float(statistics.median(values))


def speed_command(args: Any) -> int:
    """Entry point of ``isocl speed [--epochs N] [--train-per-class N] [--repeats R] [--device D]``."""
    from isocl.bench.config import ConfigError
    from isocl.bench.data import load_cifar10
    from isocl.bench.registry import get_strategy
    from isocl.bench.scenarios import build_scenario

    epochs = int(getattr(args, "epochs", 1) or 1)
    per_class = int(getattr(args, "train_per_class", 1000))
    repeats = int(getattr(args, "repeats", 3) or 1)
    test_per_class = int(getattr(args, "test_per_class", 0) or 0)
    device = str(getattr(args, "device", None) or "cpu")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError(f"isocl speed: --device {device}: CUDA is not available on this machine")
    if epochs < 1 or repeats < 1 or not 1 <= per_class <= 5000:
        raise ConfigError(
            f"isocl speed: expected --epochs >= 1, --repeats >= 1 and 1 <= --train-per-class <= 5000, "
            f"instead got {epochs}, {repeats}, {per_class}"
        )
    bench = speed_benchmark(epochs, per_class, test_per_class, device)
    get_strategy("naive")  # plug-in discovery happens here, not inside the first timing
    data = load_cifar10()
    scenario = build_scenario(bench, data)
    train_t = _tensors(scenario.train_stream)
    test_t = _tensors(scenario.test_stream)
    n_train = sum(len(y) for _, y in train_t)
    n_test = sum(len(y) for _, y in test_t)
    print(
        f"naive fine-tuning, MLP 3072-{'-'.join(map(str, WIDTHS))}, class-IL split CIFAR-10 in 5 experiences: "
        f"{n_train} training images ({per_class}/class), {epochs} epoch(s), batch 128, Adam lr 1e-3; "
        f"test experiences seen so far (of {n_test} images) evaluated after each experience by both; "
        f"device {device}, {torch.get_num_threads()} torch threads, {repeats} repeat(s)"
    )
    # One untimed run of each side first: the first run in a process pays one-time costs (lazy imports
    # inside Avalanche and torch, first-call initialisation, allocator growth) that the harness has more
    # of, and that a benchmark run pays once per worker process, not once per unit. On the idle machine
    # the first timed harness run took 2.4 s against 1.0-1.4 s for the next ones.
    warm_h, warm_p = time_harness(bench, scenario), plain_loop(bench, train_t, test_t)
    print(f"  warm-up (not counted): harness {warm_h.total_s:.2f} s, plain loop {warm_p.total_s:.2f} s")
    harness: list[SpeedResult] = []
    plain: list[SpeedResult] = []
    for r in range(repeats):
        harness.append(time_harness(bench, scenario))
        plain.append(plain_loop(bench, train_t, test_t))
        print(
            f"  repeat {r + 1}: harness {harness[-1].total_s:.2f} s (train {harness[-1].train_s:.2f} s, "
            f"CPU {harness[-1].cpu_s:.2f} s, final acc {harness[-1].final_accuracy:.3f}); "
            f"plain loop {plain[-1].total_s:.2f} s (train {plain[-1].train_s:.2f} s, CPU {plain[-1].cpu_s:.2f} s, "
            f"final acc {plain[-1].final_accuracy:.3f})"
        )
    h, p = _median([x.total_s for x in harness]), _median([x.total_s for x in plain])
    ht, pt = _median([x.train_s for x in harness]), _median([x.train_s for x in plain])
    hc, pc = _median([x.cpu_s for x in harness]), _median([x.cpu_s for x in plain])
    print(f"training only (wall): harness {ht:.2f} s, plain loop {pt:.2f} s, ratio {ht / pt:.2f}")
    print(f"process CPU time (training + evaluation): harness {hc:.2f} s, plain loop {pc:.2f} s, ratio {hc / pc:.2f}")
    hb, pb = min(x.total_s for x in harness), min(x.total_s for x in plain)
    print(f"best of {repeats} (least disturbed by other load): harness {hb:.2f} s, plain loop {pb:.2f} s, "
          f"ratio {hb / pb:.2f}")
    print(f"harness: {h:.2f} s, plain loop: {p:.2f} s, ratio {h / p:.2f} (target <= {TARGET:.2f}; "
          f"wall time of training + evaluation of the seen test experiences after each, median of {repeats})")
    return 0
