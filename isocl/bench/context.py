"""What a strategy factory receives: :class:`StrategyContext`.

``build(ctx, **params)`` in a strategy module uses the context to make the
benchmark's model, an optimiser, and an Avalanche strategy
(:meth:`StrategyContext.template`) wired to the shared evaluator, device and
epochs. Templates get :class:`TensorBatches` loaders: the experience is read
once as tensors (:func:`isocl.bench.scenarios.stream_tensors`) and batched by
slicing, instead of per-sample ``__getitem__`` through Avalanche's loaders
(hand-written because that per-sample path dominated CPU training time).
Plugins that install their own loader (replay) still do so.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch
from avalanche.training.plugins import SupervisedPlugin
from avalanche.training.templates import SupervisedTemplate

from isocl.bench.config import Benchmark, cnn_config_kwargs, set_layer_widths
from isocl.nn.kinds import build_model, model_kind
from isocl.bench.scenarios import stream_tensors

__all__ = ["AutocastPlugin", "StrategyContext", "TensorBatches", "fast_template", "to_device"]


class TensorBatches:
    """Mini-batches ``[x, y, t]`` sliced from in-memory tensors (optionally shuffled).

    The tensors live where they are given: :class:`_TensorLoaderMixin` moves an
    experience to the strategy's device once, so on a GPU every batch is an index
    into device memory (no per-batch host-to-device copy). The shuffling order is
    drawn on the CPU from the unit's generator, so a GPU run sees the batches a
    CPU run sees, and moved to the data's device once per epoch.
    """

    def __init__(self, x, y, t, batch_size: int, shuffle: bool, generator: torch.Generator | None = None) -> None:
        self.x, self.y, self.t = x, y, t
        self.batch_size, self.shuffle, self.generator = batch_size, shuffle, generator

    def __len__(self) -> int:
        return (len(self.y) + self.batch_size - 1) // self.batch_size

    def __iter__(self):
        n = len(self.y)
        order = torch.randperm(n, generator=self.generator).to(self.y.device) if self.shuffle else None
        for start in range(0, n, self.batch_size):
            if order is None:
                sl = slice(start, start + self.batch_size)
                yield [self.x[sl], self.y[sl], self.t[sl]]
            else:
                idx = order[start : start + self.batch_size]
                yield [self.x[idx], self.y[idx], self.t[idx]]


def to_device(tensors, device) -> tuple:
    """``tensors`` on ``device`` (the same tensors when they are there already: no copy on the CPU)."""
    return tuple(t.to(device) for t in tensors)


def _on(t: torch.Tensor, device) -> bool:
    dev = torch.device(device)
    return t.device.type == dev.type and (dev.index is None or t.device.index == dev.index)


class AutocastPlugin(SupervisedPlugin):
    """bf16 autocast of every forward pass, training and evaluation (``training.precision = "bf16"``).

    The model's parameters, the optimiser and every structural move stay in
    float32; the outputs are cast back to float32 before the loss. Entered in
    ``before_(eval_)forward`` and left in ``after_(eval_)forward``: Avalanche has
    no hook around the forward pass alone. Works on the CPU too (the tests run it there).
    """

    def __init__(self, device_type: str, dtype: torch.dtype = torch.bfloat16) -> None:
        super().__init__()
        self.device_type, self.dtype = device_type, dtype
        self._ctx = None

    def _enter(self) -> None:
        self._ctx = torch.autocast(self.device_type, dtype=self.dtype)
        self._ctx.__enter__()

    def _exit(self, strategy) -> None:
        if self._ctx is not None:
            self._ctx.__exit__(None, None, None)
            self._ctx = None
        if torch.is_tensor(strategy.mb_output) and strategy.mb_output.is_floating_point():
            strategy.mb_output = strategy.mb_output.float()

    def before_forward(self, strategy, **kwargs) -> None:
        self._enter()

    def after_forward(self, strategy, **kwargs) -> None:
        self._exit(strategy)

    def before_eval_forward(self, strategy, **kwargs) -> None:
        self._enter()

    def after_eval_forward(self, strategy, **kwargs) -> None:
        self._exit(strategy)


class _TensorLoaderMixin:
    """Replaces the template's data loaders by :class:`TensorBatches` over device-resident tensors."""

    _isocl_generator: torch.Generator | None = None

    def make_train_dataloader(self, shuffle=True, **kwargs):
        x, y, t = to_device(stream_tensors(self.adapted_dataset), self.device)
        self.dataloader = TensorBatches(x, y, t, self.train_mb_size, shuffle, self._isocl_generator)

    def make_eval_dataloader(self, **kwargs):
        # Test experiences never change: their tensors are gathered (and moved to the device) once and
        # kept on the experience.
        cached = getattr(self.experience, "_isocl_eval_tensors", None)
        if cached is None or len(cached[1]) != len(self.adapted_dataset) or not _on(cached[1], self.device):
            cached = to_device(stream_tensors(self.adapted_dataset), self.device)
            try:
                self.experience._isocl_eval_tensors = cached
            except AttributeError:
                pass
        self.dataloader = TensorBatches(*cached, self.eval_mb_size, False)


_FAST: dict[type, type] = {}


def fast_template(cls: type) -> type:
    """``cls`` with tensor-batch loaders (one cached subclass per template)."""
    if cls not in _FAST:
        _FAST[cls] = type(f"Fast{cls.__name__}", (_TensorLoaderMixin, cls), {})
    return _FAST[cls]


@dataclass
class StrategyContext:
    """Everything a strategy factory needs; built by the runner for each unit."""

    bench: Benchmark
    seed: int
    device: torch.device
    evaluator: Any  # an Avalanche EvaluationPlugin
    epochs: int
    n_classes: int = 10
    plugins: list[Any] = field(default_factory=list)  # added to every strategy (NaN guard, progress)
    audit: list[dict[str, Any]] = field(default_factory=list)  # structural events (neuroplastic plugins)
    model_overrides: dict[str, Any] = field(default_factory=dict)  # e.g. widths of a fixed-width twin
    generator: torch.Generator | None = None
    control: str | None = None  # "diag-only" | "reset": a control of a neuroplastic strategy (isocl.bench.plasticity)

    @property
    def setting(self) -> str:
        return self.bench.scenario["setting"]

    @property
    def task_incremental(self) -> bool:
        return self.setting == "task_il"

    @property
    def classes_per_experience(self) -> int:
        return self.n_classes // self.bench.scenario["n_experiences"]

    def model_config(self, **overrides) -> Any:
        """The config of the benchmark's model (``model.kind``, :mod:`isocl.nn.kinds`), multi-head in the
        task-incremental setting.

        A ``widths`` override listing every hidden layer (a twin's final widths)
        sets a CNN's conv channels and dense widths together.
        """
        kw = dict(self.bench.model)
        kind = model_kind(kw.get("kind", "mlp"))
        extra = {**self.model_overrides, **overrides}
        if kind.name == "cnn" and "widths" in extra and len(extra["widths"]) == len(kw["channels"]) + len(kw["widths"]):
            set_layer_widths(kw, extra.pop("widths"))
        kw.update(extra)
        kw.setdefault("multi_head", self.task_incremental)
        kw.setdefault("initial_classes", self.classes_per_experience)
        kw.pop("kind", None)
        if kind.name == "cnn":
            kw = cnn_config_kwargs(kw)
        return kind.config(kw)

    def make_model(self, **overrides):
        return build_model(self.model_config(**overrides)).to(self.device)

    def lr_for(self, model) -> float:
        """The learning rate for this model's activation kind (``training.lr_by_activation``)."""
        cfg = getattr(model, "cfg", None)
        return self.lr_for_activation(getattr(cfg, "isotropic", False))  # PNN/PackNet/ResNets: ReLU

    def lr_for_activation(self, isotropic: bool) -> float:
        """The learning rate of isotropic or elementwise networks (models without a ``cfg``, such as
        pnn-iso's and packnet-iso's, say which they are)."""
        kind = "isotropic" if isotropic else "elementwise"
        return float(self.bench.training["lr_by_activation"].get(kind, self.bench.training["lr"]))

    def make_optimizer(self, model, lr: float | None = None) -> torch.optim.Optimizer:
        tr = self.bench.training
        lr = self.lr_for(model) if lr is None else lr
        params = [p for p in model.parameters() if p.requires_grad]
        if tr["optimizer"] == "adam":
            return torch.optim.Adam(params, lr=lr, weight_decay=tr["weight_decay"])
        if tr["optimizer"] == "adamw":
            return torch.optim.AdamW(params, lr=lr, weight_decay=tr["weight_decay"])
        return torch.optim.SGD(params, lr=lr, momentum=tr["momentum"], weight_decay=tr["weight_decay"])

    def template(self, model, plugins=(), *, cls: type = SupervisedTemplate, optimizer=None, epochs: int | None = None,
                 **kwargs):
        """An Avalanche strategy of class ``cls`` on this benchmark's training settings
        (``epochs``: the epochs of its training loop, if some of the budget is spent elsewhere)."""
        tr = self.bench.training
        precision = [AutocastPlugin(self.device.type)] if tr["precision"] == "bf16" else []
        strategy = fast_template(cls)(
            model=model,
            optimizer=optimizer if optimizer is not None else self.make_optimizer(model),
            criterion=torch.nn.CrossEntropyLoss(),
            train_mb_size=tr["batch_size"],
            train_epochs=self.epochs if epochs is None else epochs,
            eval_mb_size=tr["eval_batch_size"],
            device=self.device,
            plugins=list(plugins) + list(self.plugins) + precision,
            evaluator=self.evaluator,
            **kwargs,
        )
        strategy._isocl_generator = self.generator
        return strategy
