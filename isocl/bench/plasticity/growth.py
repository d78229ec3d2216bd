"""Neurogenesis (doc §3(b), §5): scaffold neurons before each new experience (a fixed count, a count
per new class, or topping up a buffer of weak neurons), optionally an overabundant start, optionally
the author's buffer rule after every epoch.

Growth is exact: every event is audited and must leave the logits unchanged to float rounding
(:func:`~isocl.bench.plasticity.audit.check_exact`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch
from avalanche.training.plugins import SupervisedPlugin

from isocl.bench.plasticity.audit import Auditor, check_exact, logits_scale, probe_inputs, release_graph
from isocl.bench.plasticity.declared import DeclaredConfig, declared
from isocl.nn import moves
from isocl.nn.optim import ParamEditor

if TYPE_CHECKING:
    from isocl.bench.plasticity.consolidation import ConsolidationPlugin

__all__ = ["GrowthConfig", "GrowthPlugin"]


@dataclass(frozen=True)
class GrowthConfig(DeclaredConfig):
    """What :class:`GrowthPlugin` grows; defaults and ranges are the strategy parameters' (named in
    comments), ``every_epoch`` and ``grow_first`` are switches."""

    mode: str = declared("grow_mode")  # fixed | per_class | buffer
    count: int = declared("grow_count")  # neurons per layer (fixed) or per new class (per_class)
    buffer_size: int = declared("buffer_size")  # buffer mode and buffer rule: weak neurons to keep
    scaffold_threshold: float = declared("scaffold_threshold")  # sigma at or below which a neuron is weak
    out_scale: float = declared("out_scale")  # std of scaffold neurons' outgoing weights
    min_width: int = declared("min_width")  # the buffer rule never prunes a layer below this
    overabundant_start: int | None = declared("overabundant_start", off=True)  # width of every layer at the start
    every_epoch: bool = False  # the author's buffer rule after every epoch (doc §5)
    grow_first: bool = False  # grow before the first experience too


class GrowthPlugin(SupervisedPlugin):
    """Neurogenesis before each new experience (doc §3(b), §5).

    ``consolidation``: a :class:`~isocl.bench.plasticity.consolidation.ConsolidationPlugin` of the
    same strategy, asked which rows of the consumers must not read the new neurons and told to
    snapshot its protected values after growth. ``seed``: the scaffold draws' generator. ``state``:
    ``"transform"`` carries the optimiser state along, ``"reset"`` resets it (the reset control).
    """

    def __init__(
        self,
        auditor: Auditor,
        config: GrowthConfig = GrowthConfig(),
        *,
        consolidation: ConsolidationPlugin | None = None,
        seed: int = 0,
        state: str = "transform",
    ) -> None:
        super().__init__()
        self.auditor, self.config, self.consolidation, self.state = auditor, config, consolidation, state
        self.generator = torch.Generator().manual_seed(seed)  # scaffold draws: the unit's seed

    def _count(self, strategy, layer: int, editor: ParamEditor) -> int:
        cfg = self.config
        if cfg.mode == "fixed":
            return cfg.count
        if cfg.mode == "per_class":
            return cfg.count * len(strategy.experience.classes_in_this_experience)
        diag = moves.diagonalise_layer(strategy.model, layer, editor)
        weak = sum(1 for s in diag.sigmas if s <= cfg.scaffold_threshold)
        return max(cfg.buffer_size - weak, 0)

    def before_training_exp(self, strategy, **kwargs) -> None:
        cfg = self.config
        first = strategy.experience.current_experience == 0
        if first and not (cfg.grow_first or cfg.overabundant_start):
            return
        model = strategy.model
        release_graph(strategy)
        editor = ParamEditor(strategy.optimizer, self.state)
        batch = self.auditor.probe(strategy)
        logits, acc = None, None  # measured once, then each layer's "after" is the next one's "before"
        for layer in reversed(range(len(model.widths))):  # consumers first: zero_out_rows sees their old rows
            k = cfg.overabundant_start if first and cfg.overabundant_start else self._count(strategy, layer, editor)
            if k <= 0:
                continue
            if logits is None:
                logits, acc = self.auditor.measure(strategy, batch)
            zero_rows = self.consolidation.zero_out_rows(strategy, layer) if self.consolidation else None
            rec = moves.grow_layer(model, layer, k, out_scale=cfg.out_scale, generator=self.generator,
                                   editor=editor, zero_out_rows=zero_rows)
            after, acc_after = self.auditor.measure(strategy, batch)
            rec.max_logit_change = moves.max_change(logits, after)
            self.auditor.record(strategy, rec, acc, acc_after)
            check_exact(rec, logits_scale(logits), model)
            logits, acc = after, acc_after
        if self.consolidation is not None:
            self.consolidation.refresh(strategy)

    def after_training_epoch(self, strategy, **kwargs) -> None:
        cfg = self.config
        if not cfg.every_epoch:
            return
        model = strategy.model
        release_graph(strategy)
        batch = self.auditor.probe(strategy)
        acc0 = self.auditor.accuracy(strategy, batch)
        records = moves.buffer_rule(model, threshold=cfg.scaffold_threshold, buffer=cfg.buffer_size,
                                    out_scale=cfg.out_scale, min_width=cfg.min_width, probe=probe_inputs(batch),
                                    generator=self.generator, editor=ParamEditor(strategy.optimizer, self.state))
        acc1 = self.auditor.accuracy(strategy, batch)
        for rec in records:
            self.auditor.record(strategy, rec, acc0, acc1, epoch=strategy.clock.train_exp_epochs)
