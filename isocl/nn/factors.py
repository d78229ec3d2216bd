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

__all__ = ["Factors", "factorise", "incoming_norm", "memo_key"]


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


def factorise(block: Tensor) -> Factors:
    """``block = U (U^T block)`` with the rows of ``U^T block`` orthogonal and sorted by norm (doc §4).

    float64: an SVD (full U only when there are more rows than columns). float32
    and below: the eigenvectors of the n x n Gram matrix ``W W^T``, formed and
    decomposed in float64 (3-4x faster than an SVD of the n x d matrix, and
    float64 keeps the null space exact: rows beyond the rank come out at rounding
    level, so that they are zeroed exactly), then ``U^T W`` in the block's own
    dtype with the same float32 U that rotates the readers. That product is the
    one float32 step; its rounding is covered by the float32 exactness tolerance
    (tests/test_moves.py::test_float32_diagonalisation_within_rounding_tolerance).
    """
    n, d = block.shape
    if block.dtype == torch.float64:
        u, s, vh = torch.linalg.svd(block, full_matrices=n > d)  # u: (n, n), s: (min(n, d),)
        sig = torch.zeros(n, dtype=block.dtype, device=block.device)
        sig[: s.numel()] = s
        rows = torch.zeros_like(block)
        rows[: s.numel()] = s[:, None] * vh[: s.numel()]  # row i of U^T W is sigma_i v_i^T
        top = float(s[0]) if s.numel() else 0.0
    else:
        w64 = block.double()
        evals, evecs = torch.linalg.eigh(w64 @ w64.T)
        u = evecs.to(block.dtype)
        rows = u.T @ block
        sig64 = rows.double().norm(dim=1)
        order = torch.argsort(sig64, descending=True, stable=True)
        u, rows, sig = u[:, order], rows[order], sig64[order].to(block.dtype)
        top = float(evals.max().clamp_min(0).sqrt()) if evals.numel() else 0.0
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
