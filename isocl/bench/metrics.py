"""Avalanche metrics and plugins the runner adds to every strategy.

Accuracy, loss, forgetting and BWT are Avalanche's own
(:func:`default_evaluator`); here are only what Avalanche lacks: model size
(parameters and hidden widths after each experience, as Avalanche metrics),
the peak parameter count while training, a guard that stops a unit on a
NaN/inf loss, and tqdm progress over epochs.
"""

from __future__ import annotations

import math
import re

from typing import Any

import torch
from avalanche.evaluation import GenericPluginMetric, PluginMetric
from avalanche.logging import BaseLogger
from avalanche.evaluation.metric_results import MetricValue
from avalanche.evaluation.metrics import accuracy_metrics, bwt_metrics, forgetting_metrics, loss_metrics
from avalanche.training.plugins import EvaluationPlugin, SupervisedPlugin
from tqdm.auto import tqdm

from isocl.bench.loggers import NullLogger

__all__ = [
    "accuracy_rows",
    "EpochProgress",
    "LeanEvaluationPlugin",
    "ModelSizeMetric",
    "NonFiniteLoss",
    "NonFiniteLossGuard",
    "PeakParams",
    "default_evaluator",
    "hidden_widths",
    "stream_metric",
]


class NonFiniteLoss(RuntimeError):
    """Training produced a NaN or infinite loss."""


def hidden_widths(model: torch.nn.Module) -> list[int]:
    """Hidden widths of an isotropic MLP, or of the Linear layers of any other model."""
    if hasattr(model, "widths"):
        return list(model.widths)
    layers = getattr(model, "layers", None)
    if layers is not None and all(hasattr(layer, "columns") for layer in layers):  # Avalanche's PNN
        return [layer.out_features_per_column * len(layer.columns) for layer in layers]
    linears = [m for m in model.modules() if isinstance(m, torch.nn.Linear)]
    return [m.out_features for m in linears[:-1]]


class ModelSizeMetric(PluginMetric[float]):
    """Parameter count and hidden widths after each training experience."""

    def __init__(self) -> None:
        super().__init__()
        self._values: dict[str, float] = {}

    def reset(self) -> None:
        self._values = {}

    def result(self) -> dict[str, float]:
        return dict(self._values)

    def after_training_exp(self, strategy) -> list[MetricValue]:
        model = strategy.model
        exp = strategy.experience.current_experience
        self._values = {"Params": float(sum(p.numel() for p in model.parameters()))}
        for i, w in enumerate(hidden_widths(model)):
            self._values[f"Width_L{i}"] = float(w)
        step = strategy.clock.train_iterations
        return [MetricValue(self, f"{k}/train_phase/Exp{exp:03d}", v, step) for k, v in self._values.items()]

    def __str__(self) -> str:
        return "ModelSize"


class NonFiniteLossGuard(SupervisedPlugin):
    """Stop the unit with :class:`NonFiniteLoss` as soon as the loss is NaN or inf.

    Checked in ``before_backward``: Avalanche's training loop resets
    ``strategy.loss`` to 0 before the forward pass and adds the criterion only
    after ``after_forward``, so the loss exists (with any regularisation
    terms plugins add) only from ``before_backward`` on.
    """

    def before_backward(self, strategy, **kwargs) -> None:
        loss = strategy.loss
        if torch.is_tensor(loss) and not bool(torch.isfinite(loss.detach()).all()):
            raise NonFiniteLoss(
                f"non-finite training loss {float(loss.detach())} at experience "
                f"{strategy.experience.current_experience}, epoch {strategy.clock.train_exp_epochs}, "
                f"iteration {strategy.clock.train_epoch_iterations}"
            )


class PeakParams(SupervisedPlugin):
    """The most parameters the model has while it trains: counted at the start and the end of every
    training epoch.

    The runner's plugins come after a strategy's own, so in each callback the count sees the model that a
    structural move of that callback left: at the start of an epoch the network that trains in it (after
    growth), at its end the network that was trained (before a prune after the experience). Parameter
    counts taken only after each experience miss a width that is pruned before the experience ends (an
    overabundant start, a growth that is pruned again): a peak-parameter frontier read from them would
    understate what a neuroplastic strategy needed.
    """

    def __init__(self) -> None:
        super().__init__()
        self.peak = 0

    def _count(self, strategy) -> None:
        self.peak = max(self.peak, sum(p.numel() for p in strategy.model.parameters()))

    def before_training_epoch(self, strategy, **kwargs) -> None:
        self._count(strategy)

    def after_training_epoch(self, strategy, **kwargs) -> None:
        self._count(strategy)


class EpochProgress(SupervisedPlugin):
    """A tqdm bar over the epochs of the current experience."""

    def __init__(self, position: int = 2, disable: bool = False) -> None:
        super().__init__()
        self.position, self.disable, self.bar = position, disable, None

    def before_training_exp(self, strategy, **kwargs) -> None:
        self.bar = tqdm(total=strategy.train_epochs, desc="epochs", position=self.position, leave=False,
                        disable=self.disable)

    def after_training_epoch(self, strategy, **kwargs) -> None:
        if self.bar is not None:
            self.bar.update(1)
            loss = strategy.loss
            if torch.is_tensor(loss):
                self.bar.set_postfix(loss=f"{float(loss.detach()):.3f}")

    def after_training_exp(self, strategy, **kwargs) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


# Avalanche's training-iteration callbacks: each one makes EvaluationPlugin wrap the experience in a
# logging view and call every metric and logger, many times per mini-batch.
TRAINING_ITERATION_CALLBACKS = frozenset({
    "before_training_iteration", "before_forward", "after_forward", "before_backward", "after_backward",
    "before_update", "after_update", "after_training_iteration",
})


def _listens(obj, callback: str) -> bool:
    """Whether a metric or logger does anything on a training-iteration ``callback``."""
    impl = getattr(type(obj), callback, None)
    if impl is None:
        return False
    for base in (PluginMetric, BaseLogger):
        if isinstance(obj, base) and impl is getattr(base, callback, None):
            return False  # the base class's no-op
    # Avalanche's generic metrics act on training callbacks only in "train" mode (metric_definitions.py).
    return not (isinstance(obj, GenericPluginMetric) and impl is getattr(GenericPluginMetric, callback, None)
                and getattr(obj, "_mode", None) == "eval")


def _noop(strategy, **kwargs) -> None:
    return None


class LeanEvaluationPlugin(EvaluationPlugin):
    """Avalanche's EvaluationPlugin, minus its per-iteration cost where no metric or logger listens.

    ``EvaluationPlugin`` forwards every callback to every metric and logger and
    swaps ``strategy.experience`` for a logging view around each one; with only
    evaluation metrics (the runner's default) the training-iteration callbacks
    do nothing else, and cost about 10% of a small MLP's training step. They are
    skipped when nothing listens (:func:`_listens`, decided once); everything
    else goes through Avalanche unchanged.
    """

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        listeners = [*self.metrics, *self.loggers]
        self._isocl_silent = frozenset(cb for cb in TRAINING_ITERATION_CALLBACKS
                                       if not any(_listens(x, cb) for x in listeners))

    def __getattribute__(self, item):
        if item in TRAINING_ITERATION_CALLBACKS and item in object.__getattribute__(self, "__dict__").get(
                "_isocl_silent", ()):
            return _noop
        return super().__getattribute__(item)


def default_evaluator(loggers=()) -> EvaluationPlugin:
    """Avalanche's accuracy, loss, forgetting and BWT, plus model size, logged to ``loggers``.

    Without loggers, only what the runner records: accuracy and loss per
    experience, forgetting and BWT of the stream (every metric costs a
    callback per iteration), and a do-nothing logger (an empty list makes
    Avalanche warn). With loggers, also training accuracy and loss per epoch.
    """
    loggers = list(loggers)
    return LeanEvaluationPlugin(
        accuracy_metrics(experience=True, epoch=bool(loggers)),
        loss_metrics(experience=True, epoch=bool(loggers)),
        forgetting_metrics(stream=True),
        bwt_metrics(stream=True),
        ModelSizeMetric(),
        loggers=loggers or [NullLogger()],
    )


def stream_metric(results: dict[str, float], metric: str, stream: str) -> float:
    """A stream-level value from the dict that ``strategy.eval`` returns (NaN if absent)."""
    key = f"{metric}/eval_phase/{stream}"
    for k, v in results.items():
        if k == key or k.startswith(key + "/"):
            return float(v)
    return math.nan


_ACC_KEY = re.compile(r"Top1_Acc_Exp/eval_phase/\w+?_stream/Task(\d+)/Exp(\d+)")
_LOSS_KEY = re.compile(r"Loss_Exp/eval_phase/\w+?_stream/Task(\d+)/Exp(\d+)")


def accuracy_rows(results: dict[str, float], trained: int, n_exp: int) -> list[dict[str, Any]]:
    """The accuracy-matrix rows of one evaluation (``strategy.eval``'s dict) after training experience
    ``trained``: one per experience, NaN where it was not evaluated."""
    acc: dict[int, float] = {}
    loss: dict[int, float] = {}
    for key, value in results.items():
        if m := _ACC_KEY.fullmatch(key):
            acc[int(m.group(2))] = float(value)
        elif m := _LOSS_KEY.fullmatch(key):
            loss[int(m.group(2))] = float(value)
    return [
        {"trained_exp": trained, "eval_exp": e, "accuracy": acc.get(e, math.nan), "loss": loss.get(e, math.nan)}
        for e in range(n_exp)
    ]
