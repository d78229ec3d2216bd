"""Consolidation (doc §5): protect what earlier experiences learned.

``mode="exact"`` is doc §5's design: frozen old rows, no new-to-old reads, old heads read only old
neurons, compression within the new block. ``mode="damp"`` scales old rows' gradients instead.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from avalanche.models import MultiTaskModule
from avalanche.training.plugins import SupervisedPlugin

from isocl.bench.plasticity.declared import DeclaredConfig, declared

__all__ = ["ConsolidationConfig", "ConsolidationPlugin"]


@dataclass(frozen=True)
class ConsolidationConfig(DeclaredConfig):
    """How :class:`ConsolidationPlugin` protects old neurons; defaults and ranges are the strategy
    parameters'."""

    mode: str = declared("consolidation")  # exact | damp
    damping: float = declared("damping")  # damp: factor of old rows' gradients


class ConsolidationPlugin(SupervisedPlugin):
    """Protect neurons that earlier experiences kept (doc §5).

    ``exact``: the incoming rows of old neurons are frozen (gradients zeroed
    and values restored after every update, so no optimiser or weight decay
    moves them), old neurons never read new ones, old heads never read new
    neurons, and compression acts within the new block only. Needs bias-free
    hidden layers and heads and no intrinsic length (checked). ``damp``:
    old rows' gradients are multiplied by ``damping`` (class-incremental).
    Growth and compression of the same strategy call its public methods
    (:meth:`zero_out_rows`, :meth:`frozen_width`, :meth:`refresh`,
    :meth:`restore`, :meth:`commit`); nothing else reaches into it.
    """

    def __init__(self, config: ConsolidationConfig = ConsolidationConfig(), *,
                 commit_after_training: bool = True) -> None:
        """``commit_after_training=False`` when a :class:`~isocl.bench.plasticity.compression.CompressionPlugin`
        of the same strategy commits the experience after pruning (the neurons pruning keeps are then the old
        ones)."""
        super().__init__()
        self.config, self.commit_after_training = config, commit_after_training
        self.frozen: list[int] = []  # per hidden layer: neurons 0..frozen-1 are old
        self.old_heads: list[torch.nn.Linear] = []  # head Linears trained on earlier experiences
        self.snapshots: dict[int, tuple[torch.Tensor, torch.Tensor, torch.Tensor]] = {}

    def frozen_width(self, layer: int) -> int:
        return self.frozen[layer] if layer < len(self.frozen) else 0

    def before_training(self, strategy, **kwargs) -> None:
        model = strategy.model
        cfg = getattr(model, "cfg", None)
        exact = self.config.mode == "exact"
        if exact and cfg is not None and (cfg.hidden_bias or cfg.head_bias or cfg.intrinsic != "off"):
            raise ValueError(
                "exact consolidation (doc §5) needs hidden_bias = false, head_bias = false and intrinsic = 'off'; "
                f"got hidden_bias={cfg.hidden_bias}, head_bias={cfg.head_bias}, intrinsic={cfg.intrinsic!r}"
            )
        if exact and not isinstance(model, MultiTaskModule):
            raise ValueError(
                "exact consolidation (doc §5) keeps task-incremental predictions and needs a multi-head model "
                "(scenario.setting = 'task_il'); use consolidation = 'damp' for class-incremental benchmarks"
            )
        if not self.frozen:
            self.frozen = [0] * len(model.widths)

    def zero_out_rows(self, strategy, layer: int) -> list[int] | None:
        """For growth of ``layer``: rows of its consumers that must not read new neurons (exact mode)."""
        if self.config.mode != "exact":
            return None
        model = strategy.model
        if layer < len(model.widths) - 1:
            return [self.frozen_width(layer + 1)]
        return [h.weight.shape[0] if self._is_old(h) else 0 for h in model.head_linears()]

    def _is_old(self, head) -> bool:
        return any(head is old for old in self.old_heads)

    def _masks(self, strategy) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """(parameter, bool mask of protected entries)."""
        model = strategy.model
        out = []
        for i, layer in enumerate(model.layers):
            view = layer.incoming()  # rows = neurons (channels), any storage layout (isocl.nn.protocol)
            m = torch.zeros(view.shape, dtype=torch.bool, device=view.param.device)
            m[: self.frozen_width(i)] = True
            out.append((view.param, view.tensor(m)))
        for h in model.head_linears():
            if self._is_old(h):
                out.append((h.weight, torch.ones_like(h.weight, dtype=torch.bool)))
        return out

    def refresh(self, strategy) -> None:
        """Snapshot protected values after a structural change."""
        self.snapshots = {id(p): (p, m, p.detach().clone()) for p, m in self._masks(strategy)}

    def before_training_exp(self, strategy, **kwargs) -> None:
        self.refresh(strategy)

    def after_backward(self, strategy, **kwargs) -> None:
        factor = 0.0 if self.config.mode == "exact" else self.config.damping
        for p, m, _ in self.snapshots.values():
            if p.grad is not None and p.grad.shape == m.shape:
                p.grad[m] *= factor

    def after_update(self, strategy, **kwargs) -> None:
        self.restore(strategy)

    @torch.no_grad()
    def restore(self, strategy) -> None:
        if self.config.mode != "exact":
            return
        for p, m, snap in self.snapshots.values():
            if p.shape == snap.shape:
                p.data[m] = snap[m]

    def commit(self, strategy) -> None:
        """After an experience (and its compression): every current neuron and head is old."""
        model = strategy.model
        self.frozen = list(model.widths)
        self.old_heads = list(model.head_linears())
        self.refresh(strategy)

    def after_training_exp(self, strategy, **kwargs) -> None:
        # Without a CompressionPlugin the commit happens here; with one, it commits after pruning.
        if self.commit_after_training:
            self.commit(strategy)
