"""Isotropic activations f(h) = s(r)/r * h and their elementwise twins (doc §1-2).

An isotropic activation acts on a layer's whole vector: it rescales h by the
scalar ``s(r)/r`` with ``r = ||[h; o]||``, where ``o`` is the layer's optional
intrinsic length (doc §2). It is O(n)-equivariant, which is what makes the
structural moves in :mod:`isocl.nn.moves` exact. Every shape here is
1-Lipschitz (radial slope ``s'(r) <= 1`` and tangential slope ``s(r)/r <= 1``),
which the pruning bound of doc §3(d) relies on.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch
from torch import Tensor

__all__ = [
    "ELEMENTWISE_ONLY",
    "SHAPES",
    "ElementwiseActivation",
    "IsotropicActivation",
    "isotropic",
    "elementwise_fn",
    "radial_ratio",
    "shape_spec",
]


@dataclass(frozen=True)
class _Shape:
    """A radial profile s(r), given as its ratio s(r)/r."""

    ratio: Callable[[Tensor], Tensor]  # s(r)/r for r > 0 (r already clamped away from 0)
    series: Callable[[Tensor, Tensor], Tensor]  # s(r)/r near 0, from (r, r^2)
    elementwise: Callable[[Tensor], Tensor]  # the neuron-by-neuron twin s(x)
    bounded: bool


def _log1p_signed(x: Tensor) -> Tensor:
    return torch.sign(x) * torch.log1p(x.abs())


SHAPES: dict[str, _Shape] = {
    # tanh(r)/r = 1 - r^2/3 + 2 r^4/15 - ...
    "tanh": _Shape(
        ratio=lambda r: torch.tanh(r) / r,
        series=lambda r, r2: 1 - r2 / 3 + 2 * r2 * r2 / 15,
        elementwise=torch.tanh,
        bounded=True,
    ),
    # softsign: s(r) = r / (1 + r); the ratio 1/(1+r) needs no series.
    "softsign": _Shape(
        ratio=lambda r: 1 / (1 + r),
        series=lambda r, r2: 1 / (1 + r),
        elementwise=torch.nn.functional.softsign,
        bounded=True,
    ),
    # log1p(r)/r = 1 - r/2 + r^2/3 - r^3/4 + ...  (unbounded, slowly growing)
    "log1p": _Shape(
        ratio=lambda r: torch.log1p(r) / r,
        series=lambda r, r2: 1 - r / 2 + r2 / 3 - r * r2 / 4,
        elementwise=_log1p_signed,
        bounded=False,
    ),
    # asinh(r)/r = 1 - r^2/6 + 3 r^4/40 - ...  (unbounded, logarithmic)
    "asinh": _Shape(
        ratio=lambda r: torch.asinh(r) / r,
        series=lambda r, r2: 1 - r2 / 6 + 3 * r2 * r2 / 40,
        elementwise=torch.asinh,
        bounded=False,
    ),
}


# Elementwise activations with no isotropic form (ReLU's radial profile s(r) = r would make the
# isotropic layer linear): only an elementwise layer (``isotropic=False``) may use them, e.g. the
# ReLU backbone of the naive-relu baseline.
ELEMENTWISE_ONLY: dict[str, Callable[[Tensor], Tensor]] = {"relu": torch.relu}


def elementwise_fn(name: str) -> Callable[[Tensor], Tensor]:
    """The elementwise activation called ``name``: an isotropic shape's twin s(x), or one of
    :data:`ELEMENTWISE_ONLY`."""
    if name in ELEMENTWISE_ONLY:
        return ELEMENTWISE_ONLY[name]
    try:
        return SHAPES[name].elementwise
    except KeyError:
        raise ValueError(
            f"unknown elementwise activation {name!r}; expected one of {sorted(SHAPES) + sorted(ELEMENTWISE_ONLY)}"
        ) from None


def shape_spec(name: str) -> _Shape:
    """The radial profile named ``name`` (one of :data:`SHAPES`); ``ValueError`` for another name."""
    try:
        return SHAPES[name]
    except KeyError:
        raise ValueError(
            f"unknown activation shape {name!r}; expected one of {sorted(SHAPES)}"
        ) from None


def radial_ratio(r2: Tensor, shape: str = "tanh") -> Tensor:
    """s(r)/r as a function of r^2, finite with finite gradients at r = 0 (doc §1).

    Below a small radius the truncated Taylor series is used (its error there
    is below float64 rounding); elsewhere the closed form on a clamped r. The
    clamp makes the unused branch's gradient finite, so ``torch.where`` never
    mixes in a NaN.
    """
    spec = shape_spec(shape)
    tiny = 1e-4 if r2.dtype == torch.float64 else 1e-2  # radius of the series branch
    small = r2 < tiny * tiny
    r2_small = torch.where(small, r2, torch.zeros_like(r2))
    r_small = torch.sqrt(torch.clamp(r2_small, min=torch.finfo(r2.dtype).tiny))
    r_big = torch.sqrt(torch.clamp(r2, min=tiny * tiny))
    return torch.where(small, spec.series(r_small, r2_small), spec.ratio(r_big))


def isotropic(h: Tensor, o: Tensor | None = None, shape: str = "tanh") -> tuple[Tensor, Tensor | None]:
    """Apply f over the last dimension of ``h`` (any leading dims), doc §1-2.

    With an intrinsic length ``o`` (a scalar tensor, o >= 0) the radius is
    ``r = sqrt(||h||^2 + o^2)`` and the intrinsic output ``a_o = s(r)/r * o``
    is returned as well (shape ``h.shape[:-1] + (1,)``); without it ``a_o`` is
    None.
    """
    r2 = (h * h).sum(dim=-1, keepdim=True)  # (..., 1)
    if o is not None:
        r2 = r2 + o * o
    ratio = radial_ratio(r2, shape)
    a = ratio * h
    a_o = None if o is None else ratio * o
    return a, a_o


class IsotropicActivation(torch.nn.Module):
    """Module form of :func:`isotropic` (no intrinsic length; see layers for that)."""

    def __init__(self, shape: str = "tanh") -> None:
        super().__init__()
        shape_spec(shape)
        self.shape = shape

    def forward(self, h: Tensor) -> Tensor:
        return isotropic(h, None, self.shape)[0]

    def extra_repr(self) -> str:
        return f"shape={self.shape!r}"


class ElementwiseActivation(torch.nn.Module):
    """The neuron-by-neuron twin s(h_i) of an isotropic shape: the baseline (doc §1)."""

    def __init__(self, shape: str = "tanh") -> None:
        super().__init__()
        self.fn = elementwise_fn(shape)
        self.shape = shape

    def forward(self, h: Tensor) -> Tensor:
        return self.fn(h)

    def extra_repr(self) -> str:
        return f"shape={self.shape!r}"
