"""Parameter edits that keep an optimiser consistent with the model (doc §5).

Every structural move in :mod:`isocl.nn.moves` is built from the edits here.
Each edit changes a parameter **in place** (``param.data`` is replaced, so
the Parameter object, its name and every optimiser reference stay valid:
Avalanche's name-and-identity matching in ``update_optimizer`` sees nothing
stale) and applies the matching change to that parameter's optimiser state:

- ``transform`` (default): first moments rotate exactly (``m <- Q^T m``),
  second moments approximately (``v <- (Q^T)^2 v``, elementwise squares, as
  the paper author's code does), new entries start at zero, deleted entries
  are dropped.
- ``reset``: the edited parameter's state is cleared.

Every edit takes a parameter or a :class:`~isocl.nn.protocol.MatrixView` of
one (a conv kernel seen as rows or input-channel columns): the state is
mapped through the same view, so it follows any storage layout.

Unknown per-coordinate state (an optimiser whose state keys are not listed
below) is reset rather than guessed. Gradients of edited parameters are
cleared. Hand-written because no library edits optimiser state under basis
changes.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor

from isocl.nn.protocol import MatrixView

__all__ = ["ParamEditor", "optimizer_params_match_model"]

# State tensors that transform linearly with the parameter (first moments).
FIRST_MOMENT_KEYS = frozenset({"exp_avg", "momentum_buffer", "grad_avg"})
# State tensors of squared gradients (second moments).
SECOND_MOMENT_KEYS = frozenset({"exp_avg_sq", "max_exp_avg_sq", "square_avg", "sum", "acc_delta"})
STATE_MODES = ("transform", "reset")


class ParamEditor:
    """Applies in-place parameter edits and mirrors them in optimisers' state."""

    def __init__(self, optimizers: Sequence[torch.optim.Optimizer] | torch.optim.Optimizer | None = None,
                 state: str = "transform") -> None:
        if state not in STATE_MODES:
            raise ValueError(f"state must be one of {STATE_MODES}, instead got state = {state!r}")
        if isinstance(optimizers, torch.optim.Optimizer):
            optimizers = [optimizers]
        self.optimizers = list(optimizers or [])
        self.state = state
        # Per-event memo of the moves (isocl.nn.moves keeps each layer's factorisation here, so that
        # one structural event factorises a layer once); every entry checks itself against the
        # parameter's current value before it is used, so a stale entry is never read.
        self.memo: dict[Any, Any] = {}

    # -- state plumbing -------------------------------------------------
    def _states(self, p: Tensor) -> list[dict]:
        return [opt.state[p] for opt in self.optimizers if p in opt.state and opt.state[p]]

    def _apply(self, target: Tensor | MatrixView, new: Tensor, first, second) -> None:
        """Set the parameter to ``new`` (matrix form) and map its state tensors with ``first`` / ``second``.

        ``first`` and ``second`` act on the matrix form of each state tensor; the
        view's maps only move entries, so second moments stay elementwise squares.
        """
        view = target if isinstance(target, MatrixView) else MatrixView(target)
        p = view.param
        old_shape = p.shape
        for st in self._states(p):
            per_coord = [k for k, v in st.items() if torch.is_tensor(v) and v.shape == old_shape and v.dim() > 0]
            unknown = [k for k in per_coord if k not in FIRST_MOMENT_KEYS | SECOND_MOMENT_KEYS]
            if self.state == "reset" or unknown or first is None:
                st.clear()
                continue
            for k in per_coord:
                fn = first if k in FIRST_MOMENT_KEYS else second
                st[k] = view.tensor(fn(view.matrix(st[k])))
        p.data = view.tensor(new)
        p.grad = None

    @staticmethod
    def _matrix(target: Tensor | MatrixView) -> Tensor:
        return target.matrix() if isinstance(target, MatrixView) else target.data

    def _rotate(self, target: Tensor | MatrixView, mat: Tensor, product, new: Tensor | None) -> None:
        """Rotate a parameter and its moments in one batched product (doc §3(a), §5).

        ``product(ts, mats)`` maps a stack of matrices by a stack of ``mat`` (for the
        parameter and first moments) and ``mat * mat`` (second moments). ``new``: the
        parameter's rotated value, when the caller has computed it already (a
        diagonalisation writes its exact rows); only the moments are rotated then.
        """
        view = target if isinstance(target, MatrixView) else MatrixView(target)
        p = view.param
        parts = [] if new is not None else [view.matrix()]
        mats = [mat] * len(parts)
        slots: list[tuple[dict, str]] = []
        mat2 = None
        for st in self._states(p):
            per_coord = [k for k, v in st.items() if torch.is_tensor(v) and v.shape == p.shape and v.dim() > 0]
            if self.state == "reset" or any(k not in FIRST_MOMENT_KEYS | SECOND_MOMENT_KEYS for k in per_coord):
                st.clear()
                continue
            for k in per_coord:
                if k not in FIRST_MOMENT_KEYS and mat2 is None:
                    mat2 = mat * mat
                parts.append(view.matrix(st[k]).to(mat))
                mats.append(mat if k in FIRST_MOMENT_KEYS else mat2)
                slots.append((st, k))
        out: list[Tensor] = []
        if parts:
            vector = parts[0].dim() == 1  # a bias: rotate it as one column
            stacked = product(torch.stack([t[:, None] if vector else t for t in parts]), torch.stack(mats))
            out = [t[:, 0] if vector else t for t in stacked.unbind(0)]
        if new is None:
            new = out.pop(0)
        for (st, k), t in zip(slots, out):
            st[k] = view.tensor(t).to(st[k].dtype)
        p.data = view.tensor(new.to(p.dtype))
        p.grad = None

    # -- edits (``p``: a parameter, edited as stored, or a MatrixView of one) ---------
    @torch.no_grad()
    def rotate_rows(self, p: Tensor | MatrixView, q: Tensor, new: Tensor | None = None) -> None:
        """p <- Q^T p along dim 0 (a layer's incoming rows or bias), doc §3(a).

        ``new``: the rotated rows, already computed by the caller (a diagonalisation
        computes ``U^T W`` itself); the optimiser state is rotated by Q all the same.
        """
        m = self._matrix(p)
        qt = q.T.to(m)
        if new is not None and tuple(new.shape) != tuple(m.shape):
            raise ValueError(f"new rows must have shape {tuple(m.shape)}, instead got {tuple(new.shape)}")
        self._rotate(p, qt, lambda ts, mats: torch.matmul(mats, ts), None if new is None else new.to(m))

    @torch.no_grad()
    def rotate_cols(self, p: Tensor | MatrixView, q: Tensor, n: int) -> None:
        """p[:, :n] <- p[:, :n] Q (a consumer's neuron columns), doc §3(a)."""
        m = self._matrix(p)

        def rot(ts: Tensor, mats: Tensor) -> Tensor:
            out = ts.clone()
            out[:, :, :n] = torch.matmul(ts[:, :, :n], mats)
            return out

        self._rotate(p, q.to(m), rot, None)

    @torch.no_grad()
    def insert(self, p: Tensor | MatrixView, dim: int, at: int, values: Tensor) -> None:
        """Insert ``values`` before index ``at`` along ``dim``; new state is zero."""
        m = self._matrix(p)
        values = values.to(m)

        def ins(t: Tensor, fill: Tensor) -> Tensor:
            return torch.cat([t.narrow(dim, 0, at), fill, t.narrow(dim, at, t.shape[dim] - at)], dim=dim)

        zeros = torch.zeros_like(values)
        self._apply(p, ins(m, values), lambda t: ins(t, zeros), lambda v: ins(v, zeros))

    @torch.no_grad()
    def keep(self, p: Tensor | MatrixView, dim: int, index: Tensor) -> None:
        """Keep only ``index`` along ``dim`` (deleting neurons)."""
        m = self._matrix(p)
        index = index.to(m.device)
        self._apply(p, m.index_select(dim, index), lambda t: t.index_select(dim, index),
                    lambda v: v.index_select(dim, index))

    @torch.no_grad()
    def assign(self, p: Tensor | MatrixView, new: Tensor, changed: Tensor | None = None) -> None:
        """Overwrite p (matrix form); the state of the ``changed`` entries (bool mask, default all) resets."""
        m = self._matrix(p)
        new = new.to(m)
        if changed is None:
            self._apply(p, new.clone(), None, None)
            return
        keep = (~changed).to(m)
        self._apply(p, new.clone(), lambda t: t * keep, lambda v: v * keep)


def optimizer_params_match_model(optimizer: torch.optim.Optimizer, model: torch.nn.Module) -> bool:
    """True when the optimiser holds exactly the model's trainable parameters.

    Frozen parameters (``requires_grad=False``) may or may not be present;
    no tensor that is not a model parameter may be, and the state of every
    held parameter has the parameter's shape.
    """
    model_params = {id(p): p for p in model.parameters()}
    trainable = {id(p) for p in model.parameters() if p.requires_grad}
    held = {id(p) for g in optimizer.param_groups for p in g["params"]}
    if not held <= set(model_params) or not trainable <= held:
        return False
    for p in (model_params[i] for i in held):
        for v in optimizer.state.get(p, {}).values():
            if torch.is_tensor(v) and v.dim() > 0 and v.shape != p.shape:
                return False
    return True
