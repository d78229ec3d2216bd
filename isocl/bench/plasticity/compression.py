"""Neurodegeneration (doc §3(d), §4): after each experience, diagonalise every hidden layer, prune
by threshold, merge exactly, then optionally fine-tune on the experience.

Every event is audited; the measured change of the logits must stay within the a-priori bound of
the pruned rows (:func:`~isocl.bench.plasticity.audit.check_within_bound`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from avalanche.training.plugins import SupervisedPlugin

from isocl.bench.plasticity.audit import (Auditor, check_exact, check_within_bound, logits_scale, probe_inputs,
                                          release_graph)
from isocl.bench.plasticity.declared import DeclaredConfig, declared
from isocl.nn import moves
from isocl.nn.optim import ParamEditor

if TYPE_CHECKING:
    from isocl.bench.plasticity.consolidation import ConsolidationPlugin

__all__ = ["CompressionConfig", "CompressionPlugin"]


@dataclass(frozen=True)
class CompressionConfig(DeclaredConfig):
    """What :class:`CompressionPlugin` prunes; defaults and ranges are the strategy parameters'."""

    threshold: float = declared("prune_threshold")  # relative to the largest score, or absolute
    mode: str = declared("prune_mode")  # relative | absolute
    criterion: str = declared("prune_criterion")  # sv | sv_out
    min_width: int = declared("min_width")  # never prune a layer below this
    finetune_epochs: int = declared("finetune_epochs")  # epochs on the experience after pruning


class CompressionPlugin(SupervisedPlugin):
    """Neurodegeneration after each experience, then an optional fine-tune (doc §3(d), §4).

    ``consolidation``: a :class:`~isocl.bench.plasticity.consolidation.ConsolidationPlugin` of the
    same strategy; compression then acts within the new block only, and commits the experience
    after pruning. ``prune=False`` is the diag-only control: every layer is rotated into its
    diagonal basis where pruning would act, and nothing is removed. ``state``: ``"transform"``
    carries the optimiser state along, ``"reset"`` resets it (the reset control).
    """

    def __init__(
        self,
        auditor: Auditor,
        config: CompressionConfig = CompressionConfig(),
        *,
        consolidation: ConsolidationPlugin | None = None,
        prune: bool = True,
        state: str = "transform",
    ) -> None:
        super().__init__()
        self.auditor, self.config, self.consolidation = auditor, config, consolidation
        self.prune, self.state = prune, state

    def after_training_exp(self, strategy, **kwargs) -> None:
        cfg = self.config
        model = strategy.model
        release_graph(strategy)
        editor = ParamEditor(strategy.optimizer, self.state)
        batch = self.auditor.probe(strategy)
        logits, acc = self.auditor.measure(strategy, batch)  # then each layer's "after" is the next one's "before"
        for layer in range(len(model.widths)):
            start = self.consolidation.frozen_width(layer) if self.consolidation else 0
            if start >= model.widths[layer]:
                continue
            if not self.prune:
                rec = moves.diagonalise_layer(model, layer, editor, start=start)  # the diag-only control (doc §4)
            else:
                rec = moves.prune_layer(model, layer, cfg.threshold, mode=cfg.mode, criterion=cfg.criterion,
                                        min_width=cfg.min_width, probe=probe_inputs(batch), editor=editor, start=start,
                                        compare=False, probe_input=self.auditor.input_of(layer, batch))
            after, acc_after = self.auditor.measure(strategy, batch)
            rec.max_logit_change = moves.max_change(logits, after)
            self.auditor.record(strategy, rec, acc, acc_after)
            if not self.prune:
                check_exact(rec, logits_scale(logits), model)
            else:
                check_within_bound(rec, logits_scale(logits), model)
            logits, acc = after, acc_after
        if self.consolidation is not None:
            self.consolidation.refresh(strategy)
        for _ in range(cfg.finetune_epochs):
            strategy.training_epoch()
            if self.consolidation is not None:
                self.consolidation.restore(strategy)
        if self.consolidation is not None:
            self.consolidation.commit(strategy)
