"""Avalanche plugins for neurogenesis, neurodegeneration and consolidation (doc §5).

- :class:`GrowthPlugin`: scaffold neurons before each new experience (fixed
  count, count per new class, or topping up the buffer of weak neurons),
  optionally an overabundant start, optionally the author's buffer rule after
  every epoch.
- :class:`CompressionPlugin`: after an experience, diagonalise, prune by
  threshold, merge exactly, optionally fine-tune.
- :class:`ConsolidationPlugin`: protects what earlier experiences learned;
  ``mode="exact"`` is doc §5's design (frozen old rows, no new-to-old reads,
  old heads read only old neurons, compression within the new block), and
  ``mode="damp"`` scales old rows' gradients instead.

Structural moves edit parameters in place and carry the optimiser state
along (:class:`~isocl.nn.optim.ParamEditor` on ``strategy.optimizer``), so
they are safe in any hook, also after Avalanche has rebuilt the optimiser.
Every event is appended to an audit list (the runner writes it to
``structure.csv``); growth must be exact, else :class:`StructuralError`.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from avalanche.models import MultiTaskModule
from avalanche.training.plugins import SupervisedPlugin

from isocl.bench.config import ConfigError
from isocl.bench.names import CONTROL_PREFIXES
from isocl.nn import moves
from isocl.nn.optim import ParamEditor
from isocl.bench.scenarios import stream_tensors

__all__ = ["CONTROLS", "CompressionPlugin", "ConsolidationPlugin", "GrowthPlugin", "StructuralError", "Auditor"]

GROWTH_MODES = ("fixed", "per_class", "buffer")


class StructuralError(RuntimeError):
    """An exact structural move changed the logits beyond float rounding."""


def _model_dtype(model) -> torch.dtype:
    return next(model.parameters()).dtype


class Auditor:
    """Probe batch, accuracy before/after and the audit rows of structural events."""

    def __init__(self, sink: list[dict[str, Any]], probe_size: int = 512) -> None:
        self.sink = sink
        self.probe_size = probe_size

    def probe(self, strategy) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        x, y, t = stream_tensors(strategy.experience.dataset)
        g = torch.Generator().manual_seed(0)
        idx = torch.randperm(len(y), generator=g)[: self.probe_size]
        dev = strategy.device
        return x[idx].to(dev, _model_dtype(strategy.model)), y[idx].to(dev), t[idx].to(dev)

    @torch.no_grad()
    def accuracy(self, strategy, batch) -> float:
        x, y, t = batch
        model = strategy.model
        was = model.training
        model.eval()
        from avalanche.models.utils import avalanche_forward

        out = avalanche_forward(model, x, t)
        model.train(was)
        return float((out.argmax(dim=1) == y).float().mean())

    def record(self, strategy, rec: moves.MoveRecord, acc_before: float | None, acc_after: float | None,
               epoch: int | None = None) -> None:
        self.sink.append({
            "experience": strategy.experience.current_experience,
            "epoch": epoch if epoch is not None else "",
            "layer": rec.layer,
            "event": rec.kind,
            "neurons_before": rec.neurons_before,
            "neurons_after": rec.neurons_after,
            "bound": "" if rec.bound is None else rec.bound,
            "max_logit_change": "" if rec.max_logit_change is None else rec.max_logit_change,
            "acc_before": "" if acc_before is None else acc_before,
            "acc_after": "" if acc_after is None else acc_after,
            "removed_sigmas": ";".join(f"{s:.6g}" for s in rec.removed_sigmas),
            "sigmas": ";".join(f"{s:.6g}" for s in rec.sigmas),
        })


def release_graph(strategy) -> None:
    """Drop the last mini-batch's autograd graph before a structural move.

    A live graph keeps each parameter's cached gradient accumulator, which
    remembers the parameter's old shape; the next backward after an in-place
    reshape would then fail.
    """
    for name in ("mb_output", "loss"):
        value = getattr(strategy, name, None)
        if torch.is_tensor(value):
            setattr(strategy, name, value.detach())


def rounding_tolerance(model, logits_scale: float) -> float:
    """The float rounding an exact move (rotation, merge, growth) may leave in the logits:
    16 eps sqrt(fan-in) of the widest incoming matrix (at least 1e-9 in float64, 2e-5 in
    float32), times the logits' scale. A 3072-input float32 layer rotated by an SVD's U
    changes the logits by a few 1e-5 (measured up to 3.9e-5 when tuning), all rounding."""
    dtype = _model_dtype(model)
    fan_in = max((layer.incoming().shape[1] for layer in getattr(model, "layers", [])), default=1)
    floor = 1e-9 if dtype == torch.float64 else 2e-5
    return max(floor, 16 * torch.finfo(dtype).eps * math.sqrt(fan_in)) * max(1.0, logits_scale)


def _check_exact(rec: moves.MoveRecord, logits_scale: float, model) -> None:
    tol = rounding_tolerance(model, logits_scale)
    if rec.max_logit_change is not None and rec.max_logit_change > tol:
        raise StructuralError(
            f"{rec.kind} of hidden layer {rec.layer} changed the logits by {rec.max_logit_change:.3e} "
            f"(> {tol:.1e}); growth must be exact (doc §3(b))"
        )


class GrowthPlugin(SupervisedPlugin):
    """Neurogenesis before each new experience (doc §3(b), §5)."""

    def __init__(
        self,
        auditor: Auditor,
        *,
        mode: str = "fixed",
        count: int = 16,
        buffer_size: int = 5,
        scaffold_threshold: float = 0.95,
        overabundant_start: int = 0,
        every_epoch: bool = False,
        min_width: int = 4,
        out_scale: float = 0.05,
        grow_first: bool = False,
        consolidation: "ConsolidationPlugin | None" = None,
        seed: int = 0,
        state: str = "transform",
    ) -> None:
        super().__init__()
        if mode not in GROWTH_MODES:
            raise ValueError(f"growth mode must be one of {GROWTH_MODES}, instead got mode = {mode!r}")
        if count < 0 or buffer_size < 0 or overabundant_start < 0:
            raise ValueError(f"count, buffer_size and overabundant_start must be >= 0, instead got "
                             f"{count}, {buffer_size}, {overabundant_start}")
        self.auditor, self.mode, self.count = auditor, mode, count
        self.buffer_size, self.scaffold_threshold = buffer_size, scaffold_threshold
        self.overabundant_start, self.every_epoch = overabundant_start, every_epoch
        self.min_width, self.out_scale, self.grow_first = min_width, out_scale, grow_first
        self.consolidation, self.state = consolidation, state
        self.generator = torch.Generator().manual_seed(seed)  # scaffold draws: the unit's seed

    def _count(self, strategy, layer: int) -> int:
        if self.mode == "fixed":
            return self.count
        if self.mode == "per_class":
            return self.count * len(strategy.experience.classes_in_this_experience)
        diag = moves.diagonalise_layer(strategy.model, layer, ParamEditor(strategy.optimizer, self.state))
        weak = sum(1 for s in diag.sigmas if s <= self.scaffold_threshold)
        return max(self.buffer_size - weak, 0)

    def before_training_exp(self, strategy, **kwargs) -> None:
        exp = strategy.experience.current_experience
        first = exp == 0
        if first and not (self.grow_first or self.overabundant_start):
            return
        model = strategy.model
        release_graph(strategy)
        editor = ParamEditor(strategy.optimizer, self.state)
        batch = self.auditor.probe(strategy)
        for layer in reversed(range(len(model.widths))):  # consumers first: zero_out_rows sees their old rows
            k = self.overabundant_start if first and self.overabundant_start else self._count(strategy, layer)
            if k <= 0:
                continue
            acc0 = self.auditor.accuracy(strategy, batch)
            before = moves.probe_logits(model, batch[0])
            zero_rows = self.consolidation.zero_out_rows(strategy, layer) if self.consolidation else None
            rec = moves.grow_layer(model, layer, k, out_scale=self.out_scale, generator=self.generator,
                                   editor=editor, zero_out_rows=zero_rows)
            after = moves.probe_logits(model, batch[0])
            rec.max_logit_change = moves.max_change(before, after)
            self.auditor.record(strategy, rec, acc0, self.auditor.accuracy(strategy, batch))
            _check_exact(rec, float(before.abs().max()), model)
        if self.consolidation is not None:
            self.consolidation.refresh(strategy)

    def after_training_epoch(self, strategy, **kwargs) -> None:
        if not self.every_epoch:
            return
        model = strategy.model
        release_graph(strategy)
        batch = self.auditor.probe(strategy)
        acc0 = self.auditor.accuracy(strategy, batch)
        records = moves.buffer_rule(model, threshold=self.scaffold_threshold, buffer=self.buffer_size,
                                    out_scale=self.out_scale, min_width=self.min_width, probe=batch[0],
                                    generator=self.generator, editor=ParamEditor(strategy.optimizer, self.state))
        acc1 = self.auditor.accuracy(strategy, batch)
        for rec in records:
            self.auditor.record(strategy, rec, acc0, acc1, epoch=strategy.clock.train_exp_epochs)


class CompressionPlugin(SupervisedPlugin):
    """Neurodegeneration after each experience, then an optional fine-tune (doc §3(d), §4)."""

    def __init__(
        self,
        auditor: Auditor,
        *,
        threshold: float = 0.1,
        mode: str = "relative",
        criterion: str = "sv",
        min_width: int = 4,
        finetune_epochs: int = 0,
        consolidation: "ConsolidationPlugin | None" = None,
        prune: bool = True,
        state: str = "transform",
    ) -> None:
        super().__init__()
        if criterion not in moves.CRITERIA:
            raise ValueError(f"criterion must be one of {moves.CRITERIA}, instead got criterion = {criterion!r}")
        if finetune_epochs < 0:
            raise ValueError(f"finetune_epochs must be >= 0, instead got {finetune_epochs}")
        self.auditor, self.threshold, self.mode, self.criterion = auditor, threshold, mode, criterion
        self.min_width, self.finetune_epochs, self.consolidation = min_width, finetune_epochs, consolidation
        self.prune, self.state = prune, state  # prune=False: the diagonalise-only control

    def after_training_exp(self, strategy, **kwargs) -> None:
        model = strategy.model
        release_graph(strategy)
        editor = ParamEditor(strategy.optimizer, self.state)
        batch = self.auditor.probe(strategy)
        for layer in range(len(model.widths)):
            start = self.consolidation.frozen_width(layer) if self.consolidation else 0
            if start >= model.widths[layer]:
                continue
            if not self.prune:
                self._diagonalise_only(strategy, layer, editor, batch, start)
                continue
            acc0 = self.auditor.accuracy(strategy, batch)
            scale = float(moves.probe_logits(model, batch[0]).abs().max())
            rec = moves.prune_layer(model, layer, self.threshold, mode=self.mode, criterion=self.criterion,
                                    min_width=self.min_width, probe=batch[0], editor=editor, start=start)
            self.auditor.record(strategy, rec, acc0, self.auditor.accuracy(strategy, batch))
            # The bound covers the removed rows; the exact parts (rotation, merge) add float rounding.
            rounding = rounding_tolerance(model, scale)
            if rec.bound is not None and rec.max_logit_change is not None and rec.max_logit_change > rec.bound + rounding:
                raise StructuralError(f"pruning hidden layer {layer} changed the logits by {rec.max_logit_change:.3e}, "
                                      f"above its a-priori bound {rec.bound:.3e} (doc §3(d))")
        if self.consolidation is not None:
            self.consolidation.refresh(strategy)
        for _ in range(self.finetune_epochs):
            strategy.training_epoch()
            if self.consolidation is not None:
                self.consolidation.restore(strategy)
        if self.consolidation is not None:
            self.consolidation.commit(strategy)

    def _diagonalise_only(self, strategy, layer: int, editor: ParamEditor, batch, start: int) -> None:
        """The control's move: the same rotation as before pruning (doc §4), no neuron removed."""
        model = strategy.model
        acc0 = self.auditor.accuracy(strategy, batch)
        before = moves.probe_logits(model, batch[0])
        rec = moves.diagonalise_layer(model, layer, editor, start=start)
        after = moves.probe_logits(model, batch[0])
        rec.max_logit_change = moves.max_change(before, after)
        self.auditor.record(strategy, rec, acc0, self.auditor.accuracy(strategy, batch))
        _check_exact(rec, float(before.abs().max()), model)


class ConsolidationPlugin(SupervisedPlugin):
    """Protect neurons that earlier experiences kept (doc §5).

    ``exact``: the incoming rows of old neurons are frozen (gradients zeroed
    and values restored after every update, so no optimiser or weight decay
    moves them), old neurons never read new ones, old heads never read new
    neurons, and compression acts within the new block only. Needs bias-free
    hidden layers and heads and no intrinsic length (checked). ``damp``:
    old rows' gradients are multiplied by ``damping`` (class-incremental).
    """

    def __init__(self, mode: str = "exact", damping: float = 0.1, commit_after_training: bool = True) -> None:
        """``commit_after_training=False`` when a :class:`CompressionPlugin` of the same strategy commits
        the experience after pruning (the neurons pruning keeps are then the old ones)."""
        super().__init__()
        self.commit_after_training = commit_after_training
        if mode not in ("exact", "damp"):
            raise ValueError(f"consolidation mode must be 'exact' or 'damp', instead got mode = {mode!r}")
        if not 0 <= damping <= 1:
            raise ValueError(f"damping must be in [0, 1], instead got damping = {damping}")
        self.mode, self.damping = mode, damping
        self.frozen: list[int] = []  # per hidden layer: neurons 0..frozen-1 are old
        self.old_heads: list[torch.nn.Linear] = []  # head Linears trained on earlier experiences
        self.snapshots: dict[int, tuple[torch.Tensor, torch.Tensor, torch.Tensor]] = {}

    def frozen_width(self, layer: int) -> int:
        return self.frozen[layer] if layer < len(self.frozen) else 0

    def before_training(self, strategy, **kwargs) -> None:
        model = strategy.model
        cfg = getattr(model, "cfg", None)
        if self.mode == "exact" and cfg is not None and (cfg.hidden_bias or cfg.head_bias or cfg.intrinsic != "off"):
            raise ValueError(
                "exact consolidation (doc §5) needs hidden_bias = false, head_bias = false and intrinsic = 'off'; "
                f"got hidden_bias={cfg.hidden_bias}, head_bias={cfg.head_bias}, intrinsic={cfg.intrinsic!r}"
            )
        if self.mode == "exact" and not isinstance(model, MultiTaskModule):
            raise ValueError(
                "exact consolidation (doc §5) keeps task-incremental predictions and needs a multi-head model "
                "(scenario.setting = 'task_il'); use consolidation = 'damp' for class-incremental benchmarks"
            )
        if not self.frozen:
            self.frozen = [0] * len(model.widths)

    def zero_out_rows(self, strategy, layer: int) -> list[int] | None:
        """For growth of ``layer``: rows of its consumers that must not read new neurons (exact mode)."""
        if self.mode != "exact":
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
        factor = 0.0 if self.mode == "exact" else self.damping
        for p, m, _ in self.snapshots.values():
            if p.grad is not None and p.grad.shape == m.shape:
                p.grad[m] *= factor

    def after_update(self, strategy, **kwargs) -> None:
        self.restore(strategy)

    @torch.no_grad()
    def restore(self, strategy) -> None:
        if self.mode != "exact":
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


CONTROLS = CONTROL_PREFIXES  # isocl.bench.names


def neuroplastic_strategy(
    ctx,
    *,
    start_width: int = 0,
    grow: dict[str, Any] | None = None,
    prune: dict[str, Any] | None = None,
    consolidate: dict[str, Any] | None = None,
    extra_plugins: list[Any] | None = None,
):
    """Compose growth / compression / consolidation plugins on the benchmark's isotropic MLP.

    ``start_width`` > 0 replaces every hidden width of the benchmark model.
    Exact consolidation switches off hidden and head biases and the intrinsic
    length, as doc §5 requires. Compute is matched: ``finetune_epochs`` after
    pruning come out of the benchmark's epochs, not on top of them.

    ``ctx.control`` builds a control of the same strategy: ``"diag-only"``
    keeps the model at the width it is given (the runner passes the
    strategy's final widths), adds no neuron and prunes none, but rotates
    every layer into its diagonal basis (doc §4) where compression would act,
    Adam state carried along as in the strategy; ``"reset"`` is the strategy
    with the optimiser state of every edited parameter reset at each move.
    """
    control = getattr(ctx, "control", None)
    if control not in (None, *CONTROLS):
        raise ValueError(f"control must be one of {CONTROLS} or None, instead got {control!r}")
    state = "reset" if control == "reset" else "transform"
    overrides: dict[str, Any] = {}
    if start_width and control != "diag-only":
        overrides["widths"] = [start_width] * len(ctx.model_config().layer_widths)  # conv channels too
    if consolidate and consolidate.get("mode", "exact") == "exact":
        overrides.update(hidden_bias=False, head_bias=False, intrinsic="off")
    finetune = int((prune or {}).get("finetune_epochs", 0))
    if finetune >= ctx.epochs:
        raise ConfigError(f"finetune_epochs = {finetune} must be below the training epochs ({ctx.epochs}): "
                          "fine-tuning after pruning counts against the epoch budget")
    model = ctx.make_model(**overrides)
    auditor = Auditor(ctx.audit)
    plugins: list[Any] = []
    cons = ConsolidationPlugin(**consolidate, commit_after_training=prune is None) if consolidate else None
    if cons is not None:
        plugins.append(cons)
    if grow is not None and control != "diag-only":
        plugins.append(GrowthPlugin(auditor, consolidation=cons, seed=ctx.seed, state=state, **grow))
    if prune is not None:
        plugins.append(CompressionPlugin(auditor, consolidation=cons, prune=control != "diag-only", state=state,
                                         **prune))
    plugins += list(extra_plugins or [])
    return ctx.template(model, plugins, epochs=ctx.epochs - finetune)


# Strategy parameters shared by the neuro-* plug-ins (documented defaults).
GROW_DEFAULTS: dict[str, Any] = {
    "grow_mode": "fixed",  # fixed | per_class | buffer
    "grow_count": 32,  # neurons per layer (fixed) or per new class (per_class)
    "buffer_size": 5,  # buffer mode: weak neurons to keep available
    "scaffold_threshold": 0.95,  # sigma at or below which a neuron counts as scaffold
    "out_scale": 0.05,  # std of scaffold neurons' outgoing weights
    "start_width": 0,  # > 0: every hidden layer starts at this width (else the benchmark's widths)
}
PRUNE_DEFAULTS: dict[str, Any] = {
    "prune_threshold": 0.05,  # relative to the largest score (or absolute)
    "prune_mode": "relative",  # relative | absolute
    "prune_criterion": "sv",  # sv | sv_out
    "min_width": 16,  # never prune a layer below this
    "finetune_epochs": 0,  # epochs on the current experience after pruning
}


def growth_kwargs(p: dict[str, Any]) -> dict[str, Any]:
    """GrowthPlugin arguments from strategy parameters."""
    return {"mode": p["grow_mode"], "count": p["grow_count"], "buffer_size": p["buffer_size"],
            "scaffold_threshold": p["scaffold_threshold"], "out_scale": p["out_scale"]}


def compression_kwargs(p: dict[str, Any]) -> dict[str, Any]:
    """CompressionPlugin arguments from strategy parameters."""
    return {"threshold": p["prune_threshold"], "mode": p["prune_mode"], "criterion": p["prune_criterion"],
            "min_width": p["min_width"], "finetune_epochs": p["finetune_epochs"]}
