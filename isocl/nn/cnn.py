"""Isotropic CNNs for CIFAR that Avalanche strategies can train and grow (doc §7; docs/convolutions.md).

Conv stages (:class:`~isocl.nn.conv.IsotropicConv2d`, one conv each, then
average pooling), a flatten, a dense isotropic stage and the head(s): one
growing head (:class:`IsotropicCNN`, class-incremental) or one per task
(:class:`MultiHeadIsotropicCNN`, task-incremental). They are the MLP models
of :mod:`isocl.nn.models` with another backbone, so every move, bound and
the optimiser transport apply as they are; ``model.widths`` lists the conv
channels then the dense widths. ``isotropic=False`` is the elementwise twin.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from torch import Tensor, nn

from isocl.nn.conv import IsotropicConv2d
from isocl.nn.kinds import ModelKind, register_model_kind
from isocl.nn.layers import IsotropicLayer
from isocl.nn.models import INITS, IsotropicMLP, MultiHeadIsotropicMLP, initialise_layers

__all__ = ["CNNConfig", "IsotropicCNNBackbone", "IsotropicCNN", "MultiHeadIsotropicCNN", "build_cnn"]


@dataclass
class CNNConfig:
    """Hyper-parameters of an isotropic (or elementwise) CNN."""

    in_channels: int = 3  # image channels
    image_size: int = 32  # square images (CIFAR-10: 32)
    channels: list[int] = field(default_factory=lambda: [32, 64, 128])  # one conv per stage
    kernel_size: int = 3
    stride: int = 1
    padding: int | None = None  # None: kernel_size // 2 ("same" at stride 1); zeros only
    pool: int = 2  # average pool after every conv stage (1: none); never max pooling (docs/convolutions.md §5)
    widths: list[int] = field(default_factory=lambda: [128])  # dense stage after the flatten
    shape: str = "tanh"  # radial profile s (isocl.nn.activations.SHAPES)
    isotropic: bool = True  # False: the elementwise baseline s(h_i)
    hidden_bias: bool = True
    head_bias: bool = True
    intrinsic: str = "trainable"  # o: off | constant | trainable (doc §2)
    intrinsic_out: str = "trainable"  # kernel slice / column reading a_o
    o_init: float = 1.0
    init: str = "orthogonal"  # orthogonal (on the reshaped kernel) | default
    multi_head: bool = False
    initial_classes: int = 2

    def __post_init__(self) -> None:
        for name in ("channels", "widths"):
            value = getattr(self, name)
            if not value or any(int(w) < 1 for w in value):
                raise ValueError(f"{name} must be a non-empty list of positive ints, instead got {value}")
            setattr(self, name, [int(w) for w in value])
        for name in ("in_channels", "image_size", "kernel_size", "stride", "pool"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"{name} must be >= 1, instead got {name} = {getattr(self, name)}")
        if self.padding is not None and self.padding < 0:
            raise ValueError(f"padding must be >= 0, instead got padding = {self.padding}")
        if self.init not in INITS:
            raise ValueError(f"init must be one of {INITS}, instead got init = {self.init!r}")
        sizes = self.spatial_sizes
        if sizes[-1] < 1:
            raise ValueError(f"the feature map vanishes: sizes {sizes} from image_size {self.image_size} with "
                             f"kernel_size {self.kernel_size}, stride {self.stride}, pool {self.pool}")

    @property
    def spatial_sizes(self) -> list[int]:
        """Side of the map after every conv stage (after its pooling)."""
        pad = self.kernel_size // 2 if self.padding is None else self.padding
        size, out = self.image_size, []
        for _ in self.channels:
            size = (size + 2 * pad - self.kernel_size) // self.stride + 1
            size = size // self.pool if size >= 1 else 0
            out.append(size)
        return out

    @property
    def layer_widths(self) -> list[int]:
        """Every hidden layer's width: conv channels, then dense widths (``model.widths``)."""
        return self.channels + self.widths


class IsotropicCNNBackbone(nn.Module):
    """Conv stages then the dense stage; returns the last layer's ``[a; a_o]``."""

    def __init__(self, cfg: CNNConfig) -> None:
        super().__init__()
        common = dict(shape=cfg.shape, isotropic=cfg.isotropic, bias=cfg.hidden_bias, intrinsic=cfg.intrinsic,
                      intrinsic_out=cfg.intrinsic_out, o_init=cfg.o_init)
        layers: list[nn.Module] = []
        c_in = cfg.in_channels
        for width in cfg.channels:
            layers.append(IsotropicConv2d(c_in, width, cfg.kernel_size, stride=cfg.stride, padding=cfg.padding,
                                          pool=cfg.pool, **common))
            c_in = layers[-1].out_features
        positions = cfg.spatial_sizes[-1] ** 2
        fan_in = c_in * positions
        for i, width in enumerate(cfg.widths):
            layers.append(IsotropicLayer(fan_in, width, in_positions=positions if i == 0 else 1, **common))
            fan_in = layers[-1].out_features
        self.layers = nn.ModuleList(layers)
        initialise_layers(self.layers, cfg.init)

    @property
    def out_features(self) -> int:
        return self.layers[-1].out_features

    def forward(self, x: Tensor) -> Tensor:
        for layer in self.layers:
            x = layer(x)  # (B, C [+1], H, W), then (B, width [+1]) after the flatten
        return x

    def layer_input(self, x: Tensor, index: int) -> Tensor:
        """What hidden layer ``index`` reads (with the previous intrinsic channel)."""
        for layer in self.layers[:index]:
            x = layer(x)
        return x


class IsotropicCNN(IsotropicMLP):
    """Isotropic CNN with one growing head (class-incremental, Avalanche's IncrementalClassifier)."""

    config_cls = CNNConfig
    backbone_cls = IsotropicCNNBackbone


class MultiHeadIsotropicCNN(MultiHeadIsotropicMLP):
    """Isotropic CNN with one head per task (task-incremental, Avalanche's MultiTaskModule)."""

    config_cls = CNNConfig
    backbone_cls = IsotropicCNNBackbone


def build_cnn(cfg: CNNConfig | None = None, **kwargs) -> IsotropicCNN | MultiHeadIsotropicCNN:
    """The single- or multi-head CNN that ``cfg.multi_head`` asks for."""
    cfg = cfg if cfg is not None else CNNConfig(**kwargs)
    return MultiHeadIsotropicCNN(cfg) if cfg.multi_head else IsotropicCNN(cfg)


register_model_kind(ModelKind(
    name="cnn", config_cls=CNNConfig, build=build_cnn, isotropic=True, harness={"in_channels": 3, "image_size": 32},
    description="the isotropic CNN (docs/convolutions.md)",
))
