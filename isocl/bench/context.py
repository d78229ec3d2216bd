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
from avalanche.training.templates import SupervisedTemplate

from isocl.bench.config import Benchmark, cnn_config_kwargs, set_layer_widths
from isocl.nn.cnn import CNNConfig
from isocl.nn.kinds import build_model
from isocl.nn.models import MLPConfig
from isocl.bench.scenarios import stream_tensors

__all__ = ["StrategyContext", "TensorBatches", "fast_template"]


class TensorBatches:
    """Mini-batches ``[x, y, t]`` sliced from in-memory tensors (optionally shuffled)."""

    def __init__(self, x, y, t, batch_size: int, shuffle: bool, generator: torch.Generator | None = None) -> None:
        self.x, self.y, self.t = x, y, t
        self.batch_size, self.shuffle, self.generator = batch_size, shuffle, generator

    def __len__(self) -> int:
        return (len(self.y) + self.batch_size - 1) // self.batch_size

    def __iter__(self):
        n = len(self.y)
        order = torch.randperm(n, generator=self.generator) if self.shuffle else None
        for start in range(0, n, self.batch_size):
            if order is None:
                sl = slice(start, start + self.batch_size)
                yield [self.x[sl], self.y[sl], self.t[sl]]
            else:
                idx = order[start : start + self.batch_size]
                yield [self.x[idx], self.y[idx], self.t[idx]]


class _TensorLoaderMixin:
    """Replaces the template's data loaders by :class:`TensorBatches`."""

    _isocl_generator: torch.Generator | None = None

    def make_train_dataloader(self, shuffle=True, **kwargs):
        x, y, t = stream_tensors(self.adapted_dataset)
        self.dataloader = TensorBatches(x, y, t, self.train_mb_size, shuffle, self._isocl_generator)

    def make_eval_dataloader(self, **kwargs):
        # Test experiences never change: their tensors are gathered once and kept on the experience.
        cached = getattr(self.experience, "_isocl_eval_tensors", None)
        if cached is None or len(cached[1]) != len(self.adapted_dataset):
            cached = stream_tensors(self.adapted_dataset)
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

    def model_config(self, **overrides) -> MLPConfig | CNNConfig:
        """The benchmark's MLP or CNN (``model.kind``), multi-head in the task-incremental setting.

        A ``widths`` override listing every hidden layer (a twin's final widths)
        sets a CNN's conv channels and dense widths together.
        """
        kw = dict(self.bench.model)
        cnn = kw.get("kind", "mlp") == "cnn"
        extra = {**self.model_overrides, **overrides}
        if cnn and "widths" in extra and len(extra["widths"]) == len(kw["channels"]) + len(kw["widths"]):
            set_layer_widths(kw, extra.pop("widths"))
        kw.update(extra)
        kw.setdefault("multi_head", self.task_incremental)
        kw.setdefault("initial_classes", self.classes_per_experience)
        if cnn:
            return CNNConfig(in_channels=3, image_size=32, **cnn_config_kwargs(kw))
        return MLPConfig(in_features=3 * 32 * 32, **kw)

    def make_model(self, **overrides):
        return build_model(self.model_config(**overrides)).to(self.device)

    def lr_for(self, model) -> float:
        """The learning rate for this model's activation kind (``training.lr_by_activation``)."""
        cfg = getattr(model, "cfg", None)
        kind = "isotropic" if cfg is not None and cfg.isotropic else "elementwise"  # PNN/PackNet: ReLU columns
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
        strategy = fast_template(cls)(
            model=model,
            optimizer=optimizer if optimizer is not None else self.make_optimizer(model),
            criterion=torch.nn.CrossEntropyLoss(),
            train_mb_size=tr["batch_size"],
            train_epochs=self.epochs if epochs is None else epochs,
            eval_mb_size=tr["eval_batch_size"],
            device=self.device,
            plugins=list(plugins) + list(self.plugins),
            evaluator=self.evaluator,
            **kwargs,
        )
        strategy._isocl_generator = self.generator
        return strategy
