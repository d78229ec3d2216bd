"""Isotropic MLPs that Avalanche strategies can train and grow (doc §1-2).

Two models share one backbone of :class:`~isocl.nn.layers.IsotropicLayer`:
:class:`IsotropicMLP` (one growing head, Avalanche's ``IncrementalClassifier``;
class-incremental) and :class:`MultiHeadIsotropicMLP` (Avalanche's
``MultiHeadClassifier``; task-incremental). Both expose the interface that
:mod:`isocl.nn.moves` acts on: ``backbone.layers``, :meth:`consumers`,
:meth:`logits_all`, :attr:`widths`.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field

import torch
from avalanche.models import DynamicModule, IncrementalClassifier, MultiHeadClassifier, MultiTaskModule
from torch import Tensor, nn

from isocl.nn import kinds as _kinds
from isocl.nn.layers import IsotropicLayer
from isocl.nn.protocol import MatrixView, channel_columns, identity_view

__all__ = [
    "MLPConfig",
    "IsotropicBackbone",
    "IsotropicMLP",
    "MultiHeadIsotropicMLP",
    "build_mlp",
    "build_model",
    "parameter_count",
]

INITS = ("orthogonal", "default")


@dataclass
class MLPConfig:
    """Hyper-parameters of an isotropic (or elementwise) MLP."""

    in_features: int = 3072  # flattened input size (CIFAR-10: 3 * 32 * 32)
    widths: list[int] = field(default_factory=lambda: [256, 256])  # hidden widths
    shape: str = "tanh"  # radial profile s (isocl.nn.activations.SHAPES)
    isotropic: bool = True  # False: the elementwise baseline s(h_i)
    hidden_bias: bool = True  # doc §5's exact consolidation needs False
    head_bias: bool = True  # ditto
    intrinsic: str = "trainable"  # o: off | constant | trainable (doc §2)
    intrinsic_out: str = "trainable"  # column reading a_o: off | constant | trainable
    o_init: float = 1.0  # initial intrinsic length
    init: str = "orthogonal"  # orthogonal | default (PyTorch's kaiming-uniform)
    multi_head: bool = False  # True: one head per task (task-incremental)
    initial_classes: int = 2  # outputs of a head before Avalanche grows it

    def __post_init__(self) -> None:
        if self.in_features < 1:
            raise ValueError(f"in_features must be >= 1, instead got {self.in_features}")
        if not self.widths or any(int(w) < 1 for w in self.widths):
            raise ValueError(f"widths must be a non-empty list of positive ints, instead got {self.widths}")
        if self.init not in INITS:
            raise ValueError(f"init must be one of {INITS}, instead got init = {self.init!r}")
        self.widths = [int(w) for w in self.widths]

    @property
    def layer_widths(self) -> list[int]:
        """Every hidden layer's width, in order (what ``model.widths`` reports)."""
        return list(self.widths)


def parameter_count(module: nn.Module) -> int:
    """All parameters, trainable or frozen."""
    return sum(p.numel() for p in module.parameters())


@torch.no_grad()
def initialise_layers(layers, init: str) -> None:
    """``init = "orthogonal"``: orthogonal rows of every incoming matrix (a conv kernel reshaped,
    through the layer protocol) and zero biases; the columns reading the previous layer's intrinsic
    output start at 0 whatever ``init`` is (doc §2)."""
    prev_emits = False
    for layer in layers:
        rows = layer.incoming()
        m = rows.matrix().clone()
        per_channel = m.shape[1] // layer.reading_columns().shape[1]  # 1 (dense), k*k (conv), H*W (after flatten)
        n_in = m.shape[1] - per_channel * int(prev_emits)  # the intrinsic channel's columns come last
        if init == "orthogonal":
            block = torch.empty(m.shape[0], n_in, dtype=m.dtype)
            nn.init.orthogonal_(block)
            m[:, :n_in] = block
            if layer.bias is not None:
                layer.bias.zero_()
        m[:, n_in:] = 0
        rows.param.data.copy_(rows.tensor(m))
        prev_emits = layer.emits_intrinsic


class IsotropicBackbone(nn.Module):
    """Flatten, then the hidden layers; returns the last layer's ``[a; a_o]``."""

    def __init__(self, cfg: MLPConfig) -> None:
        super().__init__()
        layers = []
        fan_in = cfg.in_features
        for width in cfg.widths:
            layer = IsotropicLayer(
                fan_in,
                width,
                shape=cfg.shape,
                isotropic=cfg.isotropic,
                bias=cfg.hidden_bias,
                intrinsic=cfg.intrinsic,
                intrinsic_out=cfg.intrinsic_out,
                o_init=cfg.o_init,
            )
            layers.append(layer)
            fan_in = layer.out_features
        self.layers = nn.ModuleList(layers)
        initialise_layers(self.layers, cfg.init)

    @property
    def out_features(self) -> int:
        return self.layers[-1].out_features

    def forward(self, x: Tensor) -> Tensor:
        x = x.flatten(1)  # (B, in_features)
        for layer in self.layers:
            x = layer(x)  # (B, width [+ 1])
        return x

    def layer_input(self, x: Tensor, index: int) -> Tensor:
        """What hidden layer ``index`` reads (with the previous ``a_o`` appended)."""
        x = x.flatten(1)
        for layer in self.layers[:index]:
            x = layer(x)
        return x


def _finish_head(linear: nn.Linear, bias: bool, like: Tensor) -> None:
    """Match the backbone's dtype/device; zero and freeze the bias if bias-free."""
    linear.to(device=like.device, dtype=like.dtype)
    if not bias and linear.bias is not None:
        with torch.no_grad():
            linear.bias.zero_()
        linear.bias.requires_grad_(False)


class _SingleHead(IncrementalClassifier):
    """Avalanche's IncrementalClassifier, optionally bias-free, dtype-following."""

    def __init__(self, in_features: int, initial_out_features: int, bias: bool) -> None:
        super().__init__(in_features, initial_out_features)
        self.use_bias = bias
        _finish_head(self.classifier, bias, self.classifier.weight)

    def adaptation(self, experience) -> None:
        like = self.classifier.weight
        super().adaptation(experience)
        _finish_head(self.classifier, self.use_bias, like)


class _MultiHead(MultiHeadClassifier):
    """Avalanche's MultiHeadClassifier, optionally bias-free, dtype-following."""

    def __init__(self, in_features: int, initial_out_features: int, bias: bool) -> None:
        super().__init__(in_features, initial_out_features)
        self.use_bias = bias
        for head in self.classifiers.values():
            _finish_head(head.classifier, bias, head.classifier.weight)

    def adaptation(self, experience) -> None:
        like = self.classifiers["0"].classifier.weight
        super().adaptation(experience)
        for head in self.classifiers.values():
            _finish_head(head.classifier, self.use_bias, like)


class _IsoNet:
    """What structural moves need from a model (mixed into both MLPs)."""

    backbone: IsotropicBackbone
    cfg: MLPConfig

    def head_linears(self) -> list[nn.Linear]:
        raise NotImplementedError

    @property
    def layers(self) -> nn.ModuleList:
        return self.backbone.layers

    @property
    def widths(self) -> list[int]:
        return [layer.width for layer in self.backbone.layers]

    def readers(self, index: int) -> list[MatrixView]:
        """Matrix views of the maps reading hidden layer ``index`` (isocl.nn.protocol):
        the next layer's reading columns, or every head."""
        layers = self.backbone.layers
        if index < len(layers) - 1:
            return [layers[index + 1].reading_columns()]
        return [identity_view(h.weight, h) for h in self.head_linears()]

    def consumers(self, index: int) -> list[nn.Module]:
        """The modules reading hidden layer ``index``: next layer's affine map, or every head."""
        return [view.module for view in self.readers(index)]

    def logits_all(self, x: Tensor) -> Tensor:
        """Raw (unmasked) outputs of every head, concatenated: for exactness checks."""
        feats = self.backbone(x)
        return torch.cat([lin(feats) for lin in self.head_linears()], dim=-1)

    def parameter_count(self) -> int:
        return parameter_count(self)  # type: ignore[arg-type]

    def _guard_constant_columns(self) -> None:
        """Keep intrinsic columns of ``intrinsic_out = "constant"`` layers fixed.

        A gradient hook zeroes the column's gradient; it is attached lazily
        because Avalanche replaces head Linears when classes arrive.
        """
        for i, layer in enumerate(self.backbone.layers):
            if layer.intrinsic_out != "constant":
                continue
            for view in self.readers(i):
                w = view.param
                if w.requires_grad and not getattr(w, "_isocl_col_hook", False):
                    w.register_hook(functools.partial(_zero_last_column, view.row_group))
                    w._isocl_col_hook = True  # type: ignore[attr-defined]


def _zero_last_column(row_group: int, grad: Tensor) -> Tensor:
    """Zero the gradient of the intrinsic column (a conv's last input-channel slice, doc §7)."""
    view = channel_columns(grad, row_group if grad.dim() == 2 else 1)
    m = view.matrix(grad).clone()
    m[:, -1] = 0
    return view.tensor(m)


class IsotropicMLP(_IsoNet, DynamicModule):
    """Isotropic MLP with one growing head (class-incremental)."""

    config_cls: type = MLPConfig
    backbone_cls: type = IsotropicBackbone

    def __init__(self, cfg: MLPConfig | None = None, **kwargs) -> None:
        DynamicModule.__init__(self)
        self.cfg = cfg if cfg is not None else self.config_cls(**kwargs)
        if self.cfg.multi_head:
            raise ValueError(f"{type(self).__name__} has one head; use the multi-head model for multi_head=True")
        self.backbone = self.backbone_cls(self.cfg)
        self.head = _SingleHead(self.backbone.out_features, self.cfg.initial_classes, self.cfg.head_bias)

    def head_linears(self) -> list[nn.Linear]:
        return [self.head.classifier]

    def forward(self, x: Tensor) -> Tensor:
        self._guard_constant_columns()
        return self.head(self.backbone(x))


class MultiHeadIsotropicMLP(_IsoNet, MultiTaskModule):
    """Isotropic MLP with one head per task (task-incremental)."""

    config_cls: type = MLPConfig
    backbone_cls: type = IsotropicBackbone

    def __init__(self, cfg: MLPConfig | None = None, **kwargs) -> None:
        MultiTaskModule.__init__(self)
        self.cfg = cfg if cfg is not None else self.config_cls(multi_head=True, **kwargs)
        self.backbone = self.backbone_cls(self.cfg)
        self.head = _MultiHead(self.backbone.out_features, self.cfg.initial_classes, self.cfg.head_bias)

    def head_linears(self) -> list[nn.Linear]:
        return [self.head.classifiers[k].classifier for k in sorted(self.head.classifiers, key=int)]

    def forward(self, x: Tensor, task_labels: Tensor | int | None = None) -> Tensor:
        self._guard_constant_columns()
        return self.head(self.backbone(x), task_labels)

    def forward_single_task(self, x: Tensor, task_label: int) -> Tensor:
        return self.head.forward_single_task(self.backbone(x), task_label)


def build_mlp(cfg: MLPConfig | None = None, **kwargs) -> IsotropicMLP | MultiHeadIsotropicMLP:
    """The single- or multi-head model that ``cfg.multi_head`` asks for."""
    cfg = cfg if cfg is not None else MLPConfig(**kwargs)
    return MultiHeadIsotropicMLP(cfg) if cfg.multi_head else IsotropicMLP(cfg)


def build_model(cfg):
    """The model of a kind's config (:func:`isocl.nn.kinds.build_model`: an MLP, a CNN, a ResNet...)."""
    return _kinds.build_model(cfg)


_kinds.register_model_kind(_kinds.ModelKind(
    name="mlp", config_cls=MLPConfig, build=build_mlp, isotropic=True, harness={"in_features": 3 * 32 * 32},
    description="the isotropic MLP (flattened 3x32x32 input)",
))
