"""The audit of structural events: probe batch, accuracy before and after, the audit rows, and the
checks that exact moves stay exact and pruning stays within its a-priori bound (doc §3(b), §3(d)).

Every event the plugins make is appended to an audit list (the runner writes it to
``structure.csv``); growth and rotations must be exact to float rounding
(:func:`rounding_tolerance`), else :class:`StructuralError`.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from avalanche.models import MultiTaskModule

from isocl.bench.scenarios import stream_tensors
from isocl.nn import moves

__all__ = ["PROBE_SIZE", "ROUNDING_FLOOR_FLOAT32", "ROUNDING_FLOOR_FLOAT64", "Auditor", "StructuralError",
           "check_exact", "check_within_bound", "logits_scale", "probe_inputs", "release_graph", "rounding_tolerance"]

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


ROUNDING_FLOOR_FLOAT64 = 1e-9  # the least rounding tolerance, relative to the logits' scale (rounding_tolerance)
ROUNDING_FLOOR_FLOAT32 = 2e-5


def rounding_tolerance(model, scale: float) -> float:
    """The float rounding an exact move (rotation, merge, growth) may leave in the logits:
    16 eps sqrt(fan-in) of the widest incoming matrix (at least 1e-9 in float64, 2e-5 in
    float32), times the logits' scale (:func:`logits_scale`). A 3072-input float32 layer rotated by an SVD's U
    changes the logits by a few 1e-5 (measured up to 3.9e-5 when tuning), all rounding."""
    dtype = _model_dtype(model)
    fan_in = max((layer.incoming().shape[1] for layer in getattr(model, "layers", [])), default=1)
    floor = ROUNDING_FLOOR_FLOAT64 if dtype == torch.float64 else ROUNDING_FLOOR_FLOAT32
    return max(floor, 16 * torch.finfo(dtype).eps * math.sqrt(fan_in)) * max(1.0, scale)


def probe_inputs(batch) -> torch.Tensor | None:
    """The probe's inputs (None with the audit off)."""
    return None if batch is None else batch[0]


def logits_scale(logits: torch.Tensor | None) -> float:
    """The largest absolute logit (0 with the audit off): the scale :func:`rounding_tolerance` multiplies."""
    return 0.0 if logits is None else float(logits.abs().max())


def check_exact(rec: moves.MoveRecord, scale: float, model) -> None:
    """:class:`StructuralError` if an exact move changed the logits beyond :func:`rounding_tolerance`."""
    tol = rounding_tolerance(model, scale)
    if rec.max_logit_change is not None and rec.max_logit_change > tol:
        raise StructuralError(
            f"{rec.kind} of hidden layer {rec.layer} changed the logits by {rec.max_logit_change:.3e} "
            f"(> {tol:.1e}); growth must be exact (doc §3(b))"
        )


def check_within_bound(rec: moves.MoveRecord, scale: float, model) -> None:
    """:class:`StructuralError` if pruning changed the logits by more than its a-priori bound.

    The bound covers the removed rows; the exact parts (rotation, merge) add float rounding."""
    if rec.bound is not None and rec.max_logit_change is not None and \
            rec.max_logit_change > rec.bound + rounding_tolerance(model, scale):
        raise StructuralError(f"pruning hidden layer {rec.layer} changed the logits by {rec.max_logit_change:.3e}, "
                              f"above its a-priori bound {rec.bound:.3e} (doc §3(d))")
