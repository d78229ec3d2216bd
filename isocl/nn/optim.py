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

Unknown per-coordinate state (an optimiser whose state keys are not listed
below) is reset rather than guessed. Gradients of edited parameters are
cleared. Hand-written because no library edits optimiser state under basis
changes.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

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

    # -- state plumbing -------------------------------------------------
    def _states(self, p: Tensor) -> list[dict]:
        return [opt.state[p] for opt in self.optimizers if p in opt.state and opt.state[p]]

    def _apply(self, p: Tensor, new: Tensor, first, second) -> None:
        """Set p to ``new`` and map its state tensors with ``first`` / ``second``."""
        old_shape = p.shape
        for st in self._states(p):
            per_coord = [k for k, v in st.items() if torch.is_tensor(v) and v.shape == old_shape and v.dim() > 0]
            unknown = [k for k in per_coord if k not in FIRST_MOMENT_KEYS | SECOND_MOMENT_KEYS]
            if self.state == "reset" or unknown or first is None:
                st.clear()
                continue
            for k in per_coord:
                st[k] = (first if k in FIRST_MOMENT_KEYS else second)(st[k])
        p.data = new
        p.grad = None

    # -- edits ------------------------------------------------------------
    @torch.no_grad()
    def rotate_rows(self, p: Tensor, q: Tensor) -> None:
        """p <- Q^T p along dim 0 (a layer's incoming rows or bias), doc §3(a)."""
        qt = q.T.to(p)
        self._apply(p, qt @ p.data,
                    lambda m: qt @ m, lambda v: (qt * qt) @ v)

    @torch.no_grad()
    def rotate_cols(self, p: Tensor, q: Tensor, n: int) -> None:
        """p[:, :n] <- p[:, :n] Q (a consumer's neuron columns), doc §3(a)."""
        q = q.to(p)
        q2 = q * q

        def rot(m: Tensor, mat: Tensor) -> Tensor:
            out = m.clone()
            out[:, :n] = m[:, :n] @ mat
            return out

        self._apply(p, rot(p.data, q), lambda m: rot(m, q), lambda v: rot(v, q2))

    @torch.no_grad()
    def insert(self, p: Tensor, dim: int, at: int, values: Tensor) -> None:
        """Insert ``values`` before index ``at`` along ``dim``; new state is zero."""
        values = values.to(p)

        def ins(m: Tensor, fill: Tensor) -> Tensor:
            return torch.cat([m.narrow(dim, 0, at), fill, m.narrow(dim, at, m.shape[dim] - at)], dim=dim)

        zeros = torch.zeros_like(values)
        self._apply(p, ins(p.data, values), lambda m: ins(m, zeros), lambda v: ins(v, zeros))

    @torch.no_grad()
    def keep(self, p: Tensor, dim: int, index: Tensor) -> None:
        """Keep only ``index`` along ``dim`` (deleting neurons)."""
        index = index.to(p.device)
        self._apply(p, p.data.index_select(dim, index), lambda m: m.index_select(dim, index),
                    lambda v: v.index_select(dim, index))

    @torch.no_grad()
    def assign(self, p: Tensor, new: Tensor, changed: Tensor | None = None) -> None:
        """Overwrite p; the state of the ``changed`` entries (bool mask, default all) resets."""
        new = new.to(p)
        if changed is None:
            self._apply(p, new.clone(), None, None)
            return
        keep = (~changed).to(p)
        self._apply(p, new.clone(), lambda m: m * keep, lambda v: v * keep)


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
