"""Speed of isocl's core on CPU: structural moves vs training, compressed vs dense inference.

Prints ratios; asserts nothing about time. Two measurements (doc §3-4):

1. Structural moves vs one training epoch. An isotropic MLP
   (in 3072, hidden [1024, 1024], 10 classes) trains one epoch on 10,000
   random CIFAR-sized samples (batch 128, Adam lr 1e-3, cross-entropy on
   ``model.logits_all``). Then, for every hidden layer: ``diagonalise_layer``,
   ``grow_layer(k=32)``, ``prune_layer(threshold=0.05, probe=<256 samples>)``,
   with one ``ParamEditor`` per pass (one structural event) so that Adam's
   state follows. Target: the moves cost <= 30% of the epoch. A per-move breakdown and the profiler's top
   operators show where the move time goes.
2. Compressed inference vs dense. An 8-hidden-layer width-1024 net (input
   1024 and input 3072): ``model.logits_all`` (eval, no_grad) against
   ``CompressedIsotropicMLP(model)``. Weight counts, time ratios
   (target <= 0.6x) and the max |difference| of the outputs.

Usage::

    python benchmarks/speed_core.py [--quick] [--threads N] [--profile-rows N]

``--quick`` runs tiny sizes (seconds; used by tests/test_speed_core_script.py).
"""

from __future__ import annotations

import argparse
import copy
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from isocl.bench import quiet

quiet.install()  # before isocl.nn pulls in Avalanche, whose imports (qpsolvers, jaxopt) warn

from isocl.nn.compressed import CompressedIsotropicMLP, dense_weight_count  # noqa: E402
from isocl.nn.models import MLPConfig, build_mlp  # noqa: E402
from isocl.nn.moves import diagonalise_layer, grow_layer, prune_layer  # noqa: E402
from isocl.nn.optim import ParamEditor  # noqa: E402

MOVES_TARGET = 0.30  # moves / epoch (issue 18)
COMPRESSED_TARGET = 0.6  # compressed / dense inference time
MOVE_NAMES = ("diagonalise", "grow", "prune")


@dataclass(frozen=True)
class Sizes:
    """Every size the benchmark uses (full run or --quick)."""

    image: tuple[int, int, int]  # C, H, W of the random samples
    widths: list[int]  # hidden widths of the moves model
    classes: int
    samples: int  # one epoch
    batch: int
    probe: int  # probe batch for prune_layer
    grow_k: int
    prune_threshold: float
    move_repeats: int  # median of this many move passes
    deep_width: int  # width of every hidden layer of the deep net (part 2)
    deep_depth: int
    deep_inputs: tuple[int, ...]  # in_features variants of the deep net
    infer_batches: tuple[int, ...]
    infer_repeats: int  # median of this many timed forward passes


FULL = Sizes(
    image=(3, 32, 32), widths=[1024, 1024], classes=10, samples=10_000, batch=128, probe=256, grow_k=32,
    prune_threshold=0.05, move_repeats=3, deep_width=1024, deep_depth=8, deep_inputs=(1024, 3072),
    infer_batches=(256, 1024), infer_repeats=15,
)
QUICK = Sizes(
    image=(3, 4, 4), widths=[32, 32], classes=10, samples=256, batch=32, probe=16, grow_k=4,
    prune_threshold=0.05, move_repeats=3, deep_width=32, deep_depth=8, deep_inputs=(32, 48),
    infer_batches=(16, 64), infer_repeats=3,
)


# ------------------------------------------------------------------ helpers
_CLOCK: Callable[[], float] = time.perf_counter  # --cpu-time switches to time.process_time


def _now() -> float:
    return _CLOCK()


def _fmt_s(seconds: float) -> str:
    if seconds >= 1.0:
        return f"{seconds:.2f} s"
    if seconds >= 1e-3:
        return f"{seconds * 1e3:.1f} ms"
    return f"{seconds * 1e6:.0f} us"


def _fmt_pct(ratio: float) -> str:
    pct = 100.0 * ratio
    return f"{pct:.2f}%" if pct < 10 else f"{pct:.0f}%"


def _cpu_name() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def judge(ratio: float, target: float, full: bool = True) -> str:
    """The verdict printed beside a ratio: ``ok`` or ``MISSED`` at the full sizes; tiny --quick sizes
    measure overheads, not the workload, so they get no verdict."""
    if not full:
        return "no verdict at --quick sizes"
    return "ok" if ratio <= target else "MISSED"


def _median_time(fn: Callable[[], object], repeats: int, warmup: int = 1) -> float:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        t0 = _now()
        fn()
        times.append(_now() - t0)
    return statistics.median(times)


def _clone_training(model: nn.Module, opt: torch.optim.Adam, lr: float) -> tuple[nn.Module, torch.optim.Adam]:
    """An independent copy of a model and its Adam (state included)."""
    model2 = copy.deepcopy(model)
    opt2 = torch.optim.Adam(model2.parameters(), lr=lr)
    opt2.load_state_dict(opt.state_dict())
    return model2, opt2


# ------------------------------------------------- part 1: moves vs training
def train_epoch(model: nn.Module, opt: torch.optim.Optimizer, x: Tensor, y: Tensor, batch: int) -> None:
    model.train()
    for start in range(0, x.shape[0], batch):
        xb, yb = x[start : start + batch], y[start : start + batch]
        loss = nn.functional.cross_entropy(model.logits_all(xb), yb)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()


def move_pass(model: nn.Module, opt: torch.optim.Optimizer, probe: Tensor, sizes: Sizes) -> dict:
    """diagonalise + grow + prune on every hidden layer; per-layer, per-move seconds and widths."""
    editor = ParamEditor(opt)
    gen = torch.Generator().manual_seed(0)
    layers = []
    for index in range(len(model.backbone.layers)):
        w0 = model.widths[index]
        t0 = _now()
        diagonalise_layer(model, index, editor=editor)
        t1 = _now()
        grow_layer(model, index, sizes.grow_k, generator=gen, editor=editor)
        t2 = _now()
        w1 = model.widths[index]
        rec = prune_layer(model, index, sizes.prune_threshold, probe=probe, editor=editor)
        t3 = _now()
        layers.append({
            "diagonalise": t1 - t0, "grow": t2 - t1, "prune": t3 - t2,
            "widths": (w0, w1, model.widths[index]), "bound": rec.bound, "change": rec.max_logit_change,
            "max_removed_sigma": max(rec.removed_sigmas, default=0.0),
        })
    return {"layers": layers, "total": sum(sum(lay[m] for m in MOVE_NAMES) for lay in layers)}


def _profile_moves(model: nn.Module, opt: torch.optim.Adam, probe: Tensor, sizes: Sizes, lr: float,
                   rows: int) -> None:
    """cProfile one move pass: time by component, then the isocl / torch.linalg calls with most cumulative time."""
    import cProfile
    import pstats

    m, o = _clone_training(model, opt, lr)
    prof = cProfile.Profile(_CLOCK)  # the same clock as the timings
    prof.enable()
    result = move_pass(m, o, probe, sizes)
    prof.disable()
    stats = pstats.Stats(prof).stats  # (file, line, name) -> (cc, ncalls, tottime, cumtime, callers)
    total = sum(v[2] for v in stats.values()) or 1.0

    def label(path: str, name: str) -> str | None:
        if "isocl" in path and "speed_core" not in path:
            return f"{os.path.splitext(os.path.basename(path))[0]}.{name}"
        if path == "~" and "linalg" in name:
            return name.strip("<>").replace("built-in method ", "").replace("torch._C._linalg.linalg_", "torch.linalg.")
        return None

    by_label: dict[str, tuple[float, int]] = {}
    for (path, _line, name), (_cc, ncalls, _tt, cum_t, _callers) in stats.items():
        lab = label(path, name)
        if lab is not None:
            by_label[lab] = (cum_t, ncalls)

    def cum(lab: str) -> float:
        return by_label.get(lab, (0.0, 0))[0]

    def calls(lab: str) -> int:
        return by_label.get(lab, (0.0, 0))[1]

    fac, rot = cum("factors.factorise"), cum("moves._rotate_basis")
    fac_bound = sum(v[3] for (path, _line, name), v in
                    next((st[4] for (p, _l, nm), st in stats.items() if nm == "factorise" and "isocl" in p), {}).items()
                    if name == "incoming_norm")  # factorise's time under incoming_norm (callers table)
    lip, probe_t = cum("moves.lipschitz_after") - fac_bound, cum("moves.probe_logits") + cum("moves._layer_input")
    # diagonalise_layer runs once per layer from move_pass and once more inside prune_layer.
    rediag = cum("moves.diagonalise_layer") - sum(lay["diagonalise"] for lay in result["layers"])
    rest = max(0.0, total - fac - rot - lip - probe_t)  # by difference; clock jitter can make it dip below 0
    print(f"  where the move time goes (cProfile of one pass, {_fmt_s(total)}):")
    print(f"    {_fmt_pct(fac / total):>6}  {_fmt_s(fac):>9}  factorisations (factors.factorise: Gram + eigh, "
          f"float32 where clear-cut, else float64, U^T W; {calls('factors.factorise')} calls, {_fmt_s(fac_bound)} of it for the bound's norms)")
    print(f"    {_fmt_pct(rot / total):>6}  {_fmt_s(rot):>9}  basis rotations of weights + Adam moments "
          f"(_rotate_basis, {calls('moves._rotate_basis')} calls)")
    print(f"    {_fmt_pct(lip / total):>6}  {_fmt_s(lip):>9}  the rest of the prune bound (lipschitz_after "
          f"less its factorisations: head norms)")
    print(f"    {_fmt_pct(probe_t / total):>6}  {_fmt_s(probe_t):>9}  probe forward passes "
          f"(probe_logits + _layer_input, {sizes.probe} samples)")
    rest_pct, rest_s = (_fmt_pct(rest / total), _fmt_s(rest)) if rest >= 0.01 * total else ("<1%", "~0")
    print(f"    {rest_pct:>6}  {rest_s:>9}  everything else (grow, merge, masks, copies; by difference)")
    print(f"    of the total, prune_layer's own diagonalisation of the layer (reusing the one just made) took "
          f"{_fmt_s(rediag)} ({_fmt_pct(rediag / total)})")
    top = sorted(((c, n, lab) for lab, (c, n) in by_label.items()), reverse=True)[:rows]
    print(f"  top {rows} calls by cumulative time (nested, so shares overlap):")
    for c, n, lab in top:
        print(f"    {_fmt_pct(c / total):>6}  {_fmt_s(c):>9}  {n:>3} call(s)  {lab}")


def bench_moves(sizes: Sizes, profile_rows: int | None) -> float:
    """Part 1. ``profile_rows=None``: profile (12 rows) only when a full-size run misses the target."""
    lr = 1e-3
    torch.manual_seed(0)
    cfg = MLPConfig(in_features=sizes.image[0] * sizes.image[1] * sizes.image[2], widths=list(sizes.widths),
                    initial_classes=sizes.classes)
    model = build_mlp(cfg)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    x = torch.randn(sizes.samples, *sizes.image)
    y = torch.randint(0, sizes.classes, (sizes.samples,))
    probe = torch.randn(sizes.probe, *sizes.image)
    print(f"model: in_features {cfg.in_features}, widths {cfg.widths}, {sizes.classes} classes, float32")

    # Warm up the training path on a throw-away copy, then time one epoch of the real model.
    m, o = _clone_training(model, opt, lr)
    train_epoch(m, o, x[: 4 * sizes.batch], y[: 4 * sizes.batch], sizes.batch)
    del m, o
    t0 = _now()
    train_epoch(model, opt, x, y, sizes.batch)
    epoch = _now() - t0

    # Each move pass runs on a fresh copy of the trained model + Adam, so every pass sees the same
    # shapes and state; one warm-up pass, then the median of sizes.move_repeats.
    passes = []
    for i in range(1 + sizes.move_repeats):
        m, o = _clone_training(model, opt, lr)
        result = move_pass(m, o, probe, sizes)
        if i > 0:
            passes.append(result)
    passes.sort(key=lambda r: r["total"])
    med = passes[len(passes) // 2]
    moves = med["total"]

    print("  per layer (the median pass):")
    for index, lay in enumerate(med["layers"]):
        w0, w1, w2 = lay["widths"]
        parts = ", ".join(f"{name} {_fmt_s(lay[name])}" for name in MOVE_NAMES)
        print(f"    layer {index}: {parts}  (width {w0} -> {w1} -> {w2})")
        print(f"      prune removed {w1 - w2} neuron(s), largest removed sigma {lay['max_removed_sigma']:.1e}: "
              f"max |dlogit| on the probe {lay['change']:.1e}, a-priori bound {lay['bound']:.1e}")
    share = {name: sum(lay[name] for lay in med["layers"]) / moves for name in MOVE_NAMES}
    print("    share of move time: " + ", ".join(f"{name} {_fmt_pct(share[name])}" for name in MOVE_NAMES))
    ratio = moves / epoch
    verdict = judge(ratio, MOVES_TARGET, sizes is FULL)
    print(f"moves (diagonalise+grow+prune, all layers): {_fmt_s(moves)}; one epoch ({sizes.samples:,} samples): "
          f"{_fmt_s(epoch)}; ratio {_fmt_pct(ratio)} (target <= {_fmt_pct(MOVES_TARGET)}) [{verdict}]")
    if profile_rows is None:
        profile_rows = 12 if ratio > MOVES_TARGET and sizes is FULL else 0
    if profile_rows > 0:
        _profile_moves(model, opt, probe, sizes, lr, profile_rows)
    return ratio


# ------------------------------------------- part 2: compressed vs dense
@torch.no_grad()
def _deep_model(in_features: int, sizes: Sizes) -> nn.Module:
    """Orthogonal init plus a seeded perturbation, so that no map is special (non-zero intrinsic columns)."""
    torch.manual_seed(0)
    cfg = MLPConfig(in_features=in_features, widths=[sizes.deep_width] * sizes.deep_depth,
                    initial_classes=sizes.classes)
    model = build_mlp(cfg)
    gen = torch.Generator().manual_seed(1)
    for layer in model.backbone.layers:
        w = layer.linear.weight
        w.add_(torch.randn(w.shape, generator=gen) * (0.3 / w.shape[1] ** 0.5))
        layer.linear.bias.normal_(0.0, 0.1, generator=gen)
    return model.eval()


def bench_compressed(sizes: Sizes) -> list[float]:
    ratios = []
    for in_features in sizes.deep_inputs:
        model = _deep_model(in_features, sizes)
        t0 = _now()
        compressed = CompressedIsotropicMLP(model).eval()
        build = _now() - t0
        dense_w, comp_w = dense_weight_count(model), compressed.weight_count()
        label = "equal width" if in_features == sizes.deep_width else "wider input"
        print(f"in_features {in_features} ({label}), {sizes.deep_depth} hidden layers of {sizes.deep_width}: "
              f"weights dense {dense_w:,}, compressed {comp_w:,} ({comp_w / dense_w:.3f}x); "
              f"compression took {_fmt_s(build)}")
        for batch in sizes.infer_batches:
            x = torch.randn(batch, in_features, generator=torch.Generator().manual_seed(batch))
            with torch.no_grad():
                dense_out = model.logits_all(x)
                comp_out = compressed(x)
                diff = float((dense_out - comp_out).abs().max())
                scale = float(dense_out.abs().max())

                def run_dense() -> Tensor:
                    with torch.no_grad():
                        return model.logits_all(x)

                def run_comp() -> Tensor:
                    return compressed(x)

                # Interleave the two so that drift in machine speed hits both alike.
                t_dense, t_comp = [], []
                for _ in range(3):
                    t_dense.append(_median_time(run_dense, max(1, sizes.infer_repeats // 3), warmup=2))
                    t_comp.append(_median_time(run_comp, max(1, sizes.infer_repeats // 3), warmup=2))
            dense_t, comp_t = statistics.median(t_dense), statistics.median(t_comp)
            ratio = comp_t / dense_t
            ratios.append(ratio)
            verdict = judge(ratio, COMPRESSED_TARGET, sizes is FULL)
            print(f"  batch {batch:>4}: dense {_fmt_s(dense_t)}, compressed {_fmt_s(comp_t)}; "
                  f"time ratio {ratio:.2f}x (target <= {COMPRESSED_TARGET}x) [{verdict}]; "
                  f"max |diff| {diff:.1e} (max |logit| {scale:.2f})")
    return ratios


# --------------------------------------------------------------------- main
def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="tiny sizes (a few seconds), for tests")
    parser.add_argument("--threads", type=int, default=None, metavar="N",
                        help="torch.set_num_threads(N) (default: torch's default)")
    parser.add_argument("--cpu-time", action="store_true",
                        help="time with this process's CPU time (time.process_time) instead of wall-clock time; "
                             "sums over threads, so pair it with --threads 1 on a shared machine")
    parser.add_argument("--profile-rows", type=int, default=None, metavar="N",
                        help="print the top N profiler ops of one move pass (default: 12 when the move "
                             "target is missed in a full run, else 0)")
    args = parser.parse_args(argv)
    if args.threads is not None and args.threads < 1:
        parser.error(f"--threads must be >= 1, got {args.threads}")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    global _CLOCK
    _CLOCK = time.process_time if args.cpu_time else time.perf_counter
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    sizes = QUICK if args.quick else FULL
    print(f"isocl speed_core{' (--quick: tiny sizes)' if args.quick else ''}: torch {torch.__version__}, "
          f"CPU {_cpu_name()} ({os.cpu_count()} logical cores), {torch.get_num_threads()} torch threads, "
          f"python {platform.python_version()}")
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"clock: {'process CPU time' if args.cpu_time else 'wall-clock'}; load average {load:.1f} at start")
    print()
    print("== 1. Structural moves vs one training epoch ==")
    bench_moves(sizes, args.profile_rows)
    print()
    print("== 2. Compressed inference vs dense ==")
    bench_compressed(sizes)
    return 0


if __name__ == "__main__":
    sys.exit(main())
