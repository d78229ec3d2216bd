"""A channel-isotropic conv layer (doc §7; docs/convolutions.md §1-5).

At every position p the activation acts on the vector of channels with one
intrinsic length per layer: ``r(p) = sqrt(||h(p)||^2 + o^2)``. The layer
emits ``[a; a_o]`` channels (``a_o`` as one extra channel when the next map
reads it) and, optionally, average-pools them (``pool``): average pooling
commutes with channel rotations, max pooling would not. It implements
:class:`~isocl.nn.protocol.StructuralLayer`, so every move of
:mod:`isocl.nn.moves` acts on it unchanged: the incoming kernel
``(C_out, C_in_aug, k, k)`` is seen as ``C_out x (C_in_aug*k*k)``, and the
layer reads its input through the input-channel slices of its kernel.
"""

from __future__ import annotations

import math

from torch import Tensor, nn

from isocl.nn.layers import IsotropicUnit
from isocl.nn.protocol import MatrixView, channel_columns, conv_rows, refresh_shape

__all__ = ["IsotropicConv2d"]


class IsotropicConv2d(IsotropicUnit):
    """``h = conv([a_prev; a_o,prev])``, ``f`` over channels at every position, then ``avg_pool(pool)``.

    ``in_channels`` counts the previous layer's intrinsic channel when it
    emits one. Zero padding only (docs/convolutions.md §5).
    """

    def __init__(
        self,
        in_channels: int,
        width: int,
        kernel_size: int = 3,
        *,
        stride: int = 1,
        padding: int | None = None,
        pool: int = 1,
        shape: str = "tanh",
        isotropic: bool = True,
        bias: bool = True,
        intrinsic: str = "trainable",
        intrinsic_out: str = "trainable",
        o_init: float = 1.0,
    ) -> None:
        super().__init__(width, shape=shape, isotropic=isotropic, intrinsic=intrinsic, intrinsic_out=intrinsic_out,
                         o_init=o_init)
        for name, value in (("kernel_size", kernel_size), ("stride", stride), ("pool", pool)):
            if int(value) != value or value < 1:
                raise ValueError(f"{name} must be an int >= 1, instead got {name} = {value!r}")
        padding = kernel_size // 2 if padding is None else padding
        if int(padding) != padding or padding < 0:
            raise ValueError(f"padding must be an int >= 0, instead got padding = {padding!r}")
        self.conv = nn.Conv2d(in_channels, width, kernel_size, stride=stride, padding=padding, bias=bias)
        self.pool = int(pool)

    @property
    def width(self) -> int:
        return self.conv.out_channels

    # -- the StructuralLayer protocol (isocl.nn.protocol) ----------------
    @property
    def affine(self) -> nn.Conv2d:
        return self.conv

    @property
    def bias(self) -> Tensor | None:
        return self.conv.bias

    @property
    def patch_gain(self) -> float:
        """Each input value lies in at most ceil(k/stride)^2 patches (docs/convolutions.md §4, (2)-(3))."""
        return float(math.ceil(self.conv.kernel_size[0] / self.conv.stride[0]))

    @property
    def output_gain(self) -> float:
        """A non-overlapping p x p average pool has operator norm 1/p (docs/convolutions.md §4)."""
        return 1.0 / self.pool

    def incoming(self) -> MatrixView:
        """The kernel as ``C_out x (C_in_aug*k*k)``: row i is channel i's kernel (doc §7)."""
        return conv_rows(self.conv.weight, self.conv)

    def reading_columns(self) -> MatrixView:
        """The kernel as ``(C_out*k*k) x C_in_aug``: one column per input channel (doc §7)."""
        return channel_columns(self.conv.weight, 1, self.conv)

    def sync(self) -> None:
        refresh_shape(self.conv)

    def preactivation(self, x: Tensor) -> Tensor:
        return self.conv(x)  # (B, C_out, H', W')

    def forward(self, x: Tensor) -> Tensor:
        a = self.activate(self.preactivation(x).movedim(1, -1)).movedim(-1, 1)  # f over channels, per position
        return nn.functional.avg_pool2d(a, self.pool) if self.pool > 1 else a

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, pool={self.pool}"
