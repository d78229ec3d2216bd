"""What a cheaper factorisation would cost in exactness (issue 18, moves): prints times and margins.

``isocl.nn.factors.factorise`` diagonalises a float32 layer through the
eigenvectors of its Gram matrix ``W W^T``: formed and decomposed in float32 for a
block of at least ``FLOAT32_EIGH_MIN_ROWS`` rows when every row comes out clearly
kept or clearly zeroed, else in float64. This script times the alternatives on
``speed_core.py``'s layer shapes and prints, for each, the two margins the moves
rely on:

- **null rows**: the largest norm of a row of ``U^T W`` beyond the rank,
  over the rank tolerance (``isocl.nn.factors.rank_tolerance``); a diagonalisation
  zeroes the rows under the tolerance, so a ratio well below 1 keeps
  compression to the rank exact;
- **orthogonality**: ``max |U^T U - I|`` of the float32 U that rotates the layer and
  its readers, beside the float32 rounding an exact move may leave in the logits
  (``isocl.bench.plasticity.rounding_tolerance``'s 2e-5 floor, relative to the logits).

Variants: Gram float64 / float32, eigh float64 / float32 (torch, MKL),
eigh float64 through numpy (OpenBLAS), and ``factorise`` itself, all on one thread, best of ``--repeats``
process-CPU times. Matrices: scaffold rows (zero) and duplicated rows at
1056 x 3072 and 1056 x 1024, a full-rank 1056 x 1024 (more rows than columns,
the null space a trained layer grown past its fan-in has), and a
1024 x 3072 with singular values spread over six decades. Asserts nothing.

Usage::

    python benchmarks/factorise_precision.py [--repeats 3] [--quick]
"""

from __future__ import annotations

import argparse
import os
import time

if __name__ == "__main__":  # before numpy and torch load their BLAS: one thread, as speed_core's --threads 1
    for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(_var, "1")

import numpy as np  # noqa: E402
import torch  # noqa: E402

from isocl.bench import quiet  # noqa: E402

quiet.install()
from isocl.bench.plasticity.audit import ROUNDING_FLOOR_FLOAT32  # noqa: E402
from isocl.nn.factors import factorise, rank_tolerance  # noqa: E402


def matrices(quick: bool) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    n, wide, square = (132, 384, 128) if quick else (1056, 3072, 1024)
    out = {}
    for d in (wide, square):
        w = torch.randn(n, d, generator=g) / d**0.5
        w[n - n // 19 :] = 0  # scaffold rows, as grow_layer appends
        w[n // 2 : n // 2 + n // 20] = w[: n // 20]  # exact duplicates
        out[f"{n}x{d} scaffold+dup"] = w
    out[f"{n}x{square} full rank, n > d"] = torch.randn(n, square, generator=g) / square**0.5
    m = n - n // 33
    u, _ = torch.linalg.qr(torch.randn(m, m, generator=g, dtype=torch.float64))
    v, _ = torch.linalg.qr(torch.randn(wide, m, generator=g, dtype=torch.float64))
    out[f"{m}x{wide} spectrum 1..1e-6"] = ((u * torch.logspace(0, -6, m, dtype=torch.float64)) @ v.T).float()
    return out


def variants():
    def gram(w, dtype):
        w = w.to(dtype)
        return w @ w.T

    return {
        "gram f64, eigh f64": lambda w: torch.linalg.eigh(gram(w, torch.float64))[1],
        "gram f32, eigh f64": lambda w: torch.linalg.eigh(gram(w, torch.float32).double())[1],
        "gram f64, eigh f32": lambda w: torch.linalg.eigh(gram(w, torch.float64).float())[1],
        "gram f32, eigh f32": lambda w: torch.linalg.eigh(gram(w, torch.float32))[1],
        "gram f64, numpy eigh f64": lambda w: torch.from_numpy(np.linalg.eigh(gram(w, torch.float64).numpy())[1]),
        "isocl's factorise": lambda w: factorise(w).u,
    }


def cpu_time(f, w, repeats: int):
    best, out = float("inf"), None
    for _ in range(repeats):
        t0 = time.process_time()
        out = f(w)
        best = min(best, time.process_time() - t0)
    return best, out


def margins(w: torch.Tensor, u: torch.Tensor) -> tuple[float, float, int]:
    """(largest null row / rank tolerance, max |U^T U - I|, rank) for the float32 U that would rotate ``w``."""
    u32 = u.float()
    rows = (u32.T @ w).double()
    norms = rows.norm(dim=1).sort(descending=True).values
    n, d = w.shape
    tol = rank_tolerance(norms[: min(n, d)].float(), (n, d))
    rank = int((norms > tol).sum())
    null = float(norms[rank]) / tol if rank < n else 0.0
    u64 = u32.double()
    orth = float((u64.T @ u64 - torch.eye(n, dtype=torch.float64)).abs().max())
    return null, orth, rank


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--repeats", type=int, default=3, help="timings per variant (best is printed), >= 1")
    ap.add_argument("--quick", action="store_true", help="small matrices (seconds)")
    args = ap.parse_args(argv)
    if args.repeats < 1:
        ap.error(f"--repeats must be >= 1, instead got {args.repeats}")
    torch.set_num_threads(1)
    print(f"torch {torch.__version__}, numpy {np.__version__}, 1 thread, process CPU time, best of {args.repeats}")
    print(f"null rows: largest row beyond the rank / rank tolerance (< 1: zeroed, exact); "
          f"orthogonality: max |U^T U - I| (float32 rounding floor of an exact move: {ROUNDING_FLOOR_FLOAT32:.0e})")
    for name, w in matrices(args.quick).items():
        print(f"\n{name}")
        base = None
        for label, f in variants().items():
            t, u = cpu_time(f, w, args.repeats)
            base = base or t
            null, orth, rank = margins(w, u)
            print(f"  {label:28s} {t * 1000:8.1f} ms ({t / base:4.2f}x)  rank {rank:5d}  "
                  f"null rows {null:8.1e}  orthogonality {orth:8.1e}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
