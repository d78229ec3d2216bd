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
from isocl.bench.spaces import GROW, NEURO_PARAMS, PRUNE

__all__ = ["CONTROLS", "CompressionPlugin", "ConsolidationPlugin", "GrowthPlugin", "StructuralError", "Auditor"]

GROWTH_MODES = ("fixed", "per_class", "buffer")
# Samples in the audit's probe batch: enough for the exactness check (every logit of every head is
# compared) and a coarse accuracy before/after; every structural event costs a few forward passes
# of it, so it sets the audit's cost (benchmarks/audit_overhead.py; was 512).
PROBE_SIZE = 32


class StructuralError(RuntimeError):
    """An exact structural move changed the logits beyond float rounding."""


def _model_dtype(model) -> torch.dtype:
    return next(model.parameters()).dtype


class Auditor:
    """Probe batch, accuracy before/after and the audit rows of structural events.

    ``enabled=False`` (``training.audit = false``) records every event without
    probing it: :meth:`probe` returns None, and the plugins then measure no
    accuracy or logit change, compute no pruning bound and run no exactness
    check. For throughput runs; the audit is on by default.
    """

    def __init__(self, sink: list[dict[str, Any]], probe_size: int = PROBE_SIZE, enabled: bool = True) -> None:
        self.sink = sink
        self.probe_size = probe_size
        self.enabled = enabled
        self._cached: tuple[Any, tuple[torch.Tensor, torch.Tensor, torch.Tensor]] | None = None
        self.inputs: list[torch.Tensor | None] = []  # each hidden layer's input in the last measured pass

    def probe(self, strategy) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor] | None:
        """``probe_size`` samples of the current experience (a fixed draw), or None with the audit off.

        Gathered once per experience (growth before it and compression after it share
        the draw) and only the probe's rows are read, not the whole experience."""
        if not self.enabled:
            return None
        dataset = strategy.experience.dataset
        key = (id(dataset), len(dataset), strategy.experience.current_experience, str(strategy.device),
               _model_dtype(strategy.model))
        if self._cached is not None and self._cached[0] == key:
            return self._cached[1]
        g = torch.Generator().manual_seed(0)
        idx = torch.randperm(len(dataset), generator=g)[: self.probe_size]
        x, y, t = stream_tensors(dataset.subset(idx.tolist()))
        dev = strategy.device
        batch = x.to(dev, _model_dtype(strategy.model)), y.to(dev), t.to(dev)
        self._cached = (key, batch)
        return batch

    @torch.no_grad()
    def measure(self, strategy, batch) -> tuple[torch.Tensor | None, float | None]:
        """The probe's raw logits of every head (``model.logits_all``, what the exactness and bound checks
        compare) and the accuracy of the model's predictions, from one backbone pass; (None, None) off.
        The pass also leaves every hidden layer's input in :attr:`inputs` (the pruning bound reads it)."""
        if batch is None:
            return None, None
        x, y, t = batch
        model = strategy.model
        was = model.training
        model.eval()
        self.inputs = [None] * len(getattr(model, "layers", ()))
        hooks = [layer.register_forward_pre_hook(self._keep_input(i))
                 for i, layer in enumerate(getattr(model, "layers", ()))]
        try:
            if hasattr(model, "backbone") and hasattr(model, "head_linears"):
                feats = model.backbone(x)
                logits = torch.cat([lin(feats) for lin in model.head_linears()], dim=-1)
                out = model.head(feats, t) if isinstance(model, MultiTaskModule) else model.head(feats)
            else:
                from avalanche.models.utils import avalanche_forward

                logits = out = avalanche_forward(model, x, t)
        finally:
            for h in hooks:
                h.remove()
            model.train(was)
        return logits, float((out.argmax(dim=1) == y).float().mean())

    def _keep_input(self, index: int):
        def hook(module, args):
            self.inputs[index] = args[0]
        return hook

    def input_of(self, layer: int, batch) -> torch.Tensor | None:
        """Hidden layer ``layer``'s input in the last measured pass of ``batch`` (None with the audit off)."""
        if batch is None or layer >= len(self.inputs):
            return None
        return self.inputs[layer]

    def accuracy(self, strategy, batch) -> float | None:
        return self.measure(strategy, batch)[1]

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


def _x(batch):
    return None if batch is None else batch[0]


def _scale(logits) -> float:
    return 0.0 if logits is None else float(logits.abs().max())


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

    def _count(self, strategy, layer: int, editor: ParamEditor) -> int:
        if self.mode == "fixed":
            return self.count
        if self.mode == "per_class":
            return self.count * len(strategy.experience.classes_in_this_experience)
        diag = moves.diagonalise_layer(strategy.model, layer, editor)
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
        logits, acc = None, None  # measured once, then each layer's "after" is the next one's "before"
        for layer in reversed(range(len(model.widths))):  # consumers first: zero_out_rows sees their old rows
            k = self.overabundant_start if first and self.overabundant_start else self._count(strategy, layer, editor)
            if k <= 0:
                continue
            if logits is None:
                logits, acc = self.auditor.measure(strategy, batch)
            zero_rows = self.consolidation.zero_out_rows(strategy, layer) if self.consolidation else None
            rec = moves.grow_layer(model, layer, k, out_scale=self.out_scale, generator=self.generator,
                                   editor=editor, zero_out_rows=zero_rows)
            after, acc_after = self.auditor.measure(strategy, batch)
            rec.max_logit_change = moves.max_change(logits, after)
            self.auditor.record(strategy, rec, acc, acc_after)
            _check_exact(rec, _scale(logits), model)
            logits, acc = after, acc_after
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
                                    out_scale=self.out_scale, min_width=self.min_width, probe=_x(batch),
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
        logits, acc = self.auditor.measure(strategy, batch)  # then each layer's "after" is the next one's "before"
        for layer in range(len(model.widths)):
            start = self.consolidation.frozen_width(layer) if self.consolidation else 0
            if start >= model.widths[layer]:
                continue
            if not self.prune:
                rec = moves.diagonalise_layer(model, layer, editor, start=start)  # the diag-only control (doc §4)
            else:
                rec = moves.prune_layer(model, layer, self.threshold, mode=self.mode, criterion=self.criterion,
                                        min_width=self.min_width, probe=_x(batch), editor=editor, start=start,
                                        compare=False, probe_input=self.auditor.input_of(layer, batch))
            after, acc_after = self.auditor.measure(strategy, batch)
            rec.max_logit_change = moves.max_change(logits, after)
            self.auditor.record(strategy, rec, acc, acc_after)
            if not self.prune:
                _check_exact(rec, _scale(logits), model)
            # The bound covers the removed rows; the exact parts (rotation, merge) add float rounding.
            elif rec.bound is not None and rec.max_logit_change is not None and \
                    rec.max_logit_change > rec.bound + rounding_tolerance(model, _scale(logits)):
                raise StructuralError(f"pruning hidden layer {layer} changed the logits by {rec.max_logit_change:.3e}, "
                                      f"above its a-priori bound {rec.bound:.3e} (doc §3(d))")
            logits, acc = after, acc_after
        if self.consolidation is not None:
            self.consolidation.refresh(strategy)
        for _ in range(self.finetune_epochs):
            strategy.training_epoch()
            if self.consolidation is not None:
                self.consolidation.restore(strategy)
        if self.consolidation is not None:
            self.consolidation.commit(strategy)


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
    auditor = Auditor(ctx.audit, enabled=ctx.bench.training["audit"])
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


# Strategy parameters shared by the neuro-* plug-ins: their defaults, from the one declaration of each
# (isocl.bench.spaces.NEURO_PARAMS: type, default, range, search distribution).
GROW_DEFAULTS: dict[str, Any] = {k: NEURO_PARAMS[k].default for k in GROW}
PRUNE_DEFAULTS: dict[str, Any] = {k: NEURO_PARAMS[k].default for k in PRUNE}


def growth_kwargs(p: dict[str, Any]) -> dict[str, Any]:
    """GrowthPlugin arguments from strategy parameters."""
    return {"mode": p["grow_mode"], "count": p["grow_count"], "buffer_size": p["buffer_size"],
            "scaffold_threshold": p["scaffold_threshold"], "out_scale": p["out_scale"]}


def compression_kwargs(p: dict[str, Any]) -> dict[str, Any]:
    """CompressionPlugin arguments from strategy parameters."""
    return {"threshold": p["prune_threshold"], "mode": p["prune_mode"], "criterion": p["prune_criterion"],
            "min_width": p["min_width"], "finetune_epochs": p["finetune_epochs"]}
