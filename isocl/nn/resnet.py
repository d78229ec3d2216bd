"""The field's CIFAR backbones as model kinds: ``slim_resnet18`` and ``resnet18``.

Both are Avalanche's CIFAR ResNet (``avalanche.models.slim_resnet18.ResNet``:
a 3x3 stride-1 stem, no max-pool, four stages of two BasicBlocks at strides
1, 2, 2, 2, average pooling, a linear head), used as it is:

- ``slim_resnet18``: Avalanche's ``SlimResNet18`` (``nf = 20``, about 1.1M
  parameters), the backbone of Avalanche's online baselines
  (continual-learning-baselines, ``experiments/split_cifar10/``) and of GEM;
- ``resnet18``: the same network at ``nf = 64`` (about 11.2M parameters),
  which is the CIFAR ResNet-18 of the offline tables (DER/Mammoth, iCaRL
  variants): 3x3 stem, no max-pool.

The head is replaced as Avalanche's own experiments do: an
``IncrementalClassifier`` growing with the classes (class-incremental), or,
with ``multi_head``, Avalanche's ``as_multitask`` (one head per task). The
model exposes ``backbone`` (features) and ``head``, as the isotropic models
do, so iCaRL's feature-extractor / classifier split applies. These
are ordinary (ReLU, batch-norm) networks: the neuroplastic strategies do not
run on them (their kinds are not isotropic).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from avalanche.models import IncrementalClassifier, as_multitask
from avalanche.models.slim_resnet18 import BasicBlock, ResNet
from torch import Tensor, nn

from isocl.nn.kinds import ModelKind, register_model_kind

__all__ = ["ResNet18Config", "ResNetClassifier", "ResNetConfig", "SlimResNet18Config", "build_resnet"]


@dataclass
class ResNetConfig:
    """A CIFAR ResNet-18 of width ``nf`` (channels of the first stage)."""

    nf: int = 64
    multi_head: bool = False  # one head per task (task-incremental)
    initial_classes: int = 2  # outputs of a head before Avalanche grows it

    def __post_init__(self) -> None:
        if int(self.nf) < 1:
            raise ValueError(f"nf must be >= 1, instead got nf = {self.nf}")
        if int(self.initial_classes) < 1:
            raise ValueError(f"initial_classes must be >= 1, instead got {self.initial_classes}")

    @property
    def layer_widths(self) -> list[int]:
        """Channels of the four stages."""
        return [self.nf, 2 * self.nf, 4 * self.nf, 8 * self.nf]


@dataclass
class SlimResNet18Config(ResNetConfig):
    """Avalanche's SlimResNet18 (nf = 20)."""

    nf: int = 20


@dataclass
class ResNet18Config(ResNetConfig):
    """The CIFAR ResNet-18 (nf = 64)."""

    nf: int = 64


class ResNetClassifier(nn.Module):
    """Avalanche's CIFAR ResNet split as iCaRL and the harness need it: ``backbone`` (the ResNet, its linear
    layer an identity: pooled features out) and ``head`` (Avalanche's ``IncrementalClassifier``)."""

    def __init__(self, cfg: ResNetConfig) -> None:
        super().__init__()
        self.cfg = cfg
        body = ResNet(BasicBlock, [2, 2, 2, 2], cfg.initial_classes, cfg.nf)
        in_features = body.linear.in_features
        body.linear = nn.Identity()
        self.backbone = body
        self.head = IncrementalClassifier(in_features, cfg.initial_classes)

    @property
    def widths(self) -> list[int]:
        """Channels of the four stages (``hidden_widths`` in the results)."""
        return self.cfg.layer_widths

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.backbone(x))


def build_resnet(cfg: ResNetConfig) -> nn.Module:
    """The ResNet with a growing head, or (``cfg.multi_head``) Avalanche's ``as_multitask`` of it: one head per
    task, the same backbone."""
    model = ResNetClassifier(cfg)
    if not cfg.multi_head:
        return model
    model.head = model.head.classifier  # as_multitask replaces a Linear by a MultiHeadClassifier
    multi = as_multitask(model, "head")
    multi.cfg = cfg
    return multi


def _rebuild(config: dict[str, Any], state: dict[str, Any], cls: type) -> nn.Module:
    """The model a saved state fits: heads sized from their tensors (values are loaded by the caller)."""
    cfg = cls(**config)
    model = build_resnet(cfg)
    if cfg.multi_head:
        head = model.head  # a MultiHeadClassifier
        for key, tensor in state.items():
            m = re.fullmatch(r"head\.classifiers\.(\w+)\.classifier\.weight", key)
            if m and m.group(1) not in head.classifiers:
                head.classifiers[m.group(1)] = IncrementalClassifier(head.in_features, tensor.shape[0],
                                                                     masking=False, auto_adapt=False)
            if m := re.fullmatch(r"head\.(active_units_T\w+)", key):  # a task's class mask
                head.register_buffer(m.group(1), tensor.clone())
    else:
        model.head = IncrementalClassifier(model.head.classifier.in_features, state["head.classifier.weight"].shape[0])
    return model


for _name, _cls, _text in (
    ("slim_resnet18", SlimResNet18Config, "Avalanche's SlimResNet18 (nf 20, about 1.1M parameters)"),
    ("resnet18", ResNet18Config, "the CIFAR ResNet-18 (3x3 stem, no max-pool; nf 64, about 11.2M parameters)"),
):
    register_model_kind(ModelKind(
        name=_name, config_cls=_cls, build=build_resnet, description=_text, isotropic=False,
        rebuild=lambda config, state, cls=_cls: _rebuild(config, state, cls),
    ))
