"""Factorisations of a layer's incoming matrix, one per layer per structural event (doc §4).

:func:`factorise` diagonalises a block of rows (``W = U (U^T W)``, rows of
``U^T W`` orthogonal and sorted by norm); a :class:`~isocl.nn.optim.ParamEditor`
keeps what it made in its per-event ``memo`` under :func:`memo_key`, so that
:mod:`isocl.nn.moves` factorises a layer once per event: a prune after a
diagonalisation finds the diagonal form already written, and a layer factorised
for the pruning bound (:func:`incoming_norm`) is not factorised again by its own
diagonalisation. Every entry holds a copy of the matrix it describes and is used
only while the layer still equals it.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from isocl.nn.optim import ParamEditor

__all__ = ["AMBIGUOUS_BAND", "FLOAT32_EIGH_MIN_ROWS", "ORTHOGONALITY_LIMIT", "Factors", "factorise", "incoming_norm", "memo_key",
           "rank_tolerance"]


@dataclass
class Factors:
    """A factorisation of a layer's incoming block ``W`` (doc §4): ``rows = U^T W``, sorted by norm.

    ``source`` is a copy of the block it factorises: the entry is used only while the
    layer still equals it (:meth:`matches`), so a stale entry is never read. ``u is None``
    marks a block already in diagonal form (what a diagonalisation wrote): Q = I.
    ``top`` is the largest singular value of ``source`` in float64, or None when unknown.
    """

    source: Tensor
    u: Tensor | None
    rows: Tensor
    sigmas: Tensor
    top: float | None = None

    def matches(self, block: Tensor) -> bool:
        return (block.shape == self.source.shape and block.dtype == self.source.dtype
                and block.device == self.source.device and torch.equal(block, self.source))

    def diagonal_sigmas(self, block: Tensor) -> Tensor | None:
        """The sigmas when ``block`` is this diagonal form plus appended zero rows (scaffold neurons), else None."""
        m = self.source.shape[0]
        if self.u is not None or block.shape[0] < m or block.shape[1:] != self.source.shape[1:]:
            return None
        if not (self.matches(block[:m]) and not block[m:].any()):
            return None
        return torch.cat([self.sigmas, self.sigmas.new_zeros(block.shape[0] - m)])


def memo_key(view, start: int) -> tuple[str, int, int]:
    return ("factors", id(view.param), start)


FLOAT32_EIGH_MIN_ROWS = 512
"""A float32 block with at least this many rows is first factorised with a float32 Gram and eigh (2x faster
than float64 at 1056 rows, process CPU time, ``benchmarks/factorise_precision.py``); below it float64 costs
little and is used directly."""

AMBIGUOUS_BAND = 4.0
"""A float32 factorisation is kept only when no row norm lies within this factor of the rank tolerance
(:func:`rank_tolerance`): every row is then clearly kept or clearly zeroed, so the float32 rounding of U
(about 2e-6, ``factorise_precision.py``) cannot change which rows a diagonalisation zeroes. Otherwise the
block is factorised again in float64."""

ORTHOGONALITY_LIMIT = 1e-5
"""The largest ``|U^T U - I|`` kept from a float32 eigh: half the float32 rounding floor of an exact move
(``isocl.bench.plasticity.audit.ROUNDING_FLOOR_FLOAT32``), so the rotation stays within the exactness tolerance."""


def rank_tolerance(s: Tensor, shape: tuple[int, int]) -> float:
    """numpy's ``matrix_rank`` tolerance: ``max(s) * max(shape) * eps(dtype)``; a diagonalisation zeroes the rows under it."""
    if s.numel() == 0:
        return 0.0
    return float(s.max()) * max(shape) * torch.finfo(s.dtype).eps


def _eigen_factors(block: Tensor, gram_dtype: torch.dtype) -> tuple[Tensor, Tensor, Tensor, float]:
    w = block.to(gram_dtype)
    evals, evecs = torch.linalg.eigh(w @ w.T)
    u = evecs.to(block.dtype)
    rows = u.T @ block
    sig64 = rows.double().norm(dim=1)
    order = torch.argsort(sig64, descending=True, stable=True)
    top = float(evals.double().max().clamp_min(0).sqrt()) if evals.numel() else 0.0
    return u[:, order], rows[order], sig64[order].to(block.dtype), top


def _top_float64(block: Tensor, start: Tensor, steps: int = 2) -> float:
    """``||block||_2`` in float64 from an approximate top left singular vector (a float32 eigh's): a few
    power steps in float64 and the norm of ``block^T x``, correct to float64 rounding when ``start`` is
    within float32 precision of the top vector (the error is second order in its angle)."""
    w = block.double()
    x = start.double()
    for _ in range(steps):
        x = w @ (w.T @ x)
        x = x / x.norm()
    return float((w.T @ x).norm())


def _clear_cut(u: Tensor, sig: Tensor, shape: tuple[int, int]) -> bool:
    """Whether a float32 factorisation may stand (:data:`AMBIGUOUS_BAND`, :data:`ORTHOGONALITY_LIMIT`)."""
    n, d = shape
    tol = rank_tolerance(sig[: min(n, d)], shape)
    if bool(((sig > tol / AMBIGUOUS_BAND) & (sig < tol * AMBIGUOUS_BAND)).any()):
        return False
    eye = torch.eye(n, dtype=u.dtype, device=u.device)
    return float((u.T @ u - eye).abs().max()) <= ORTHOGONALITY_LIMIT


def factorise(block: Tensor) -> Factors:
    """``block = U (U^T block)`` with the rows of ``U^T block`` orthogonal and sorted by norm (doc §4).

    float64: an SVD (full U only when there are more rows than columns). float32
    and below: the eigenvectors of the n x n Gram matrix ``W W^T`` (3-4x faster than
    an SVD of the n x d matrix), then ``U^T W`` in the block's own dtype with the
    same U that rotates the readers. The Gram matrix and its eigh are float64 (which
    keeps the null space exact: rows beyond the rank come out at rounding level, so
    that they are zeroed exactly), except for a float32 block of at least
    :data:`FLOAT32_EIGH_MIN_ROWS` rows, tried in float32 first and kept only when
    :func:`_clear_cut` finds every row clearly kept or clearly zeroed and U orthogonal
    to :data:`ORTHOGONALITY_LIMIT`; otherwise it is redone in float64. The rounding of
    the float32 steps is covered by the float32 exactness tolerance
    (tests/test_moves.py::test_float32_diagonalisation_within_rounding_tolerance and
    the float32-eigh runs of the exactness tests).
    """
    n, d = block.shape
    if block.dtype == torch.float64:
        u, s, vh = torch.linalg.svd(block, full_matrices=n > d)  # u: (n, n), s: (min(n, d),)
        sig = torch.zeros(n, dtype=block.dtype, device=block.device)
        sig[: s.numel()] = s
        rows = torch.zeros_like(block)
        rows[: s.numel()] = s[:, None] * vh[: s.numel()]  # row i of U^T W is sigma_i v_i^T
        top = float(s[0]) if s.numel() else 0.0
        return Factors(block.clone(), u, rows, sig, top)
    if block.dtype == torch.float32 and n >= FLOAT32_EIGH_MIN_ROWS:
        u, rows, sig, _ = _eigen_factors(block, torch.float32)
        if _clear_cut(u, sig, (n, d)):
            return Factors(block.clone(), u, rows, sig, _top_float64(block, u[:, 0]))
    u, rows, sig, top = _eigen_factors(block, torch.float64)
    return Factors(block.clone(), u, rows, sig, top)


def incoming_norm(layer, ed: ParamEditor) -> float:
    """``||incoming matrix||_2`` of a layer, from its factorisation in this event (made here if there is none).

    The factorisation is kept: the next diagonalisation of the same layer, if its
    matrix is unchanged by then, reuses it instead of factorising again.
    """
    view = layer.incoming()
    m = view.matrix()
    if m.numel() == 0:
        return 0.0
    key = memo_key(view, 0)
    known = ed.memo.get(key)
    if known is None or known.top is None or not known.matches(m):
        known = factorise(m)
        ed.memo[key] = known
    return float(known.top)
