"""Invariance and equivariance checkers, shipped with the library (doc §1, §3, §5).

Use them in your own tests when you write a layer or a move:

>>> assert_equivariant(lambda h: isotropic(h)[0], n=8, dtype=torch.float64)
>>> record, err = assert_move_preserves(model, lambda m: grow_layer(m, 0, 4), probe)

Tolerances follow the precision: absolute 1e-10 in float64, relative 1e-5
(to the largest output magnitude) in float32.
"""

from __future__ import annotations

from typing import Any, Callable

import torch
from torch import Tensor

__all__ = [
    "InvarianceError",
    "assert_channel_equivariant",
    "assert_equivariant",
    "assert_move_preserves",
    "default_tolerance",
    "random_orthogonal",
]


class InvarianceError(AssertionError):
    """A move or layer changed what it must not change."""


def default_tolerance(dtype: torch.dtype) -> tuple[float, float]:
    """(atol, rtol) for exactness checks in ``dtype``."""
    if dtype == torch.float64:
        return 1e-10, 0.0
    if dtype == torch.float32:
        return 0.0, 1e-5
    raise TypeError(f"exactness checks need float32 or float64, instead got dtype = {dtype}")


def _within(err: float, scale: float, atol: float, rtol: float) -> bool:
    return err <= atol + rtol * max(scale, 1.0)


def random_orthogonal(n: int, *, dtype: torch.dtype = torch.float64, generator: torch.Generator | None = None) -> Tensor:
    """A Haar-random n x n orthogonal matrix (QR of a Gaussian with sign fix)."""
    a = torch.randn(n, n, dtype=torch.float64, generator=generator)
    q, r = torch.linalg.qr(a)
    q = q * torch.sign(torch.diagonal(r))
    return q.to(dtype)


def assert_equivariant(
    f: Callable[[Tensor], Tensor],
    n: int,
    *,
    dtype: torch.dtype = torch.float64,
    batch: int = 16,
    trials: int = 3,
    scale: float = 2.0,
    generator: torch.Generator | None = None,
    atol: float | None = None,
    rtol: float | None = None,
) -> float:
    """Check f(h Q^T) = f(h) Q^T (rows are samples) for random orthogonal Q; returns the max error."""
    d_atol, d_rtol = default_tolerance(dtype)
    atol = d_atol if atol is None else atol
    rtol = d_rtol if rtol is None else rtol
    worst = 0.0
    for _ in range(trials):
        q = random_orthogonal(n, dtype=dtype, generator=generator)
        h = scale * torch.randn(batch, n, dtype=dtype, generator=generator)
        lhs = f(h @ q.T)
        rhs = f(h) @ q.T
        err = float((lhs - rhs).abs().max())
        worst = max(worst, err)
        if not _within(err, float(rhs.abs().max()), atol, rtol):
            raise InvarianceError(f"f(Qh) != Q f(h): max error {err:.3e} in {dtype} (atol={atol}, rtol={rtol})")
    return worst


def assert_channel_equivariant(
    layer,
    *,
    spatial: tuple[int, int] = (3, 4),
    dtype: torch.dtype = torch.float64,
    batch: int = 4,
    trials: int = 3,
    generator: torch.Generator | None = None,
) -> float:
    """Check a conv layer's activation rotates with its channels at every position (doc §7).

    ``layer.activate`` on a map whose channels are rotated by Q equals the
    rotated activation; the intrinsic channel (if emitted) is unchanged.
    Returns the max error.
    """
    n, (hh, ww) = layer.width, spatial
    extra = int(layer.emits_intrinsic)

    def f(rows: Tensor) -> Tensor:  # rows: (batch*H*W, C): one channel vector per position
        out = layer.activate(rows.reshape(-1, hh, ww, n)).reshape(-1, n + extra)
        return out[:, :n]

    def invariant(rows: Tensor) -> Tensor:
        return layer.activate(rows.reshape(-1, hh, ww, n)).reshape(-1, n + extra)[:, n:]

    worst = assert_equivariant(f, n, dtype=dtype, batch=batch * hh * ww, trials=trials, generator=generator)
    if extra:
        h = 2.0 * torch.randn(batch * hh * ww, n, dtype=dtype, generator=generator)
        q = random_orthogonal(n, dtype=dtype, generator=generator)
        err = float((invariant(h @ q.T) - invariant(h)).abs().max())
        atol, rtol = default_tolerance(dtype)
        if not _within(err, 1.0, atol, rtol):
            raise InvarianceError(f"the intrinsic channel changed under a channel rotation by {err:.3e}")
        worst = max(worst, err)
    return worst


@torch.no_grad()
def _outputs(model, probe: Tensor) -> Tensor:
    model.eval()
    return model.logits_all(probe)


def assert_move_preserves(
    model,
    move: Callable[[Any], Any],
    probe: Tensor,
    *,
    atol: float | None = None,
    rtol: float | None = None,
) -> tuple[Any, float]:
    """Apply ``move(model)`` in place and assert every head's logits on ``probe`` are unchanged.

    Returns ``(what move returned, max |delta logit|)``. Tolerances default to
    :func:`default_tolerance` for the probe's dtype.
    """
    d_atol, d_rtol = default_tolerance(probe.dtype)
    atol = d_atol if atol is None else atol
    rtol = d_rtol if rtol is None else rtol
    before = _outputs(model, probe)
    result = move(model)
    after = _outputs(model, probe)
    if after.shape != before.shape:
        raise InvarianceError(f"the move changed the output shape from {tuple(before.shape)} to {tuple(after.shape)}")
    err = float((after - before).abs().max())
    if not _within(err, float(before.abs().max()), atol, rtol):
        raise InvarianceError(f"the move changed the logits by {err:.3e} in {probe.dtype} (atol={atol}, rtol={rtol})")
    return result, err
