"""One hidden layer of an isotropic MLP with its intrinsic length (doc §2).

Layout shared by every module of isocl: a layer's ``linear`` reads the
previous layer's features ``[a; a_o]``, i.e. its weight is the *augmented*
incoming matrix ``[W_in | w_o,prev]`` of doc §3 (the intrinsic column last,
present only when the previous layer emits one). The layer emits
``[a; a_o]`` when its intrinsic output is read (``intrinsic_out != "off"``).
It implements :class:`~isocl.nn.protocol.StructuralLayer`, the interface
every move acts through. ``in_positions > 1``: the layer reads a flattened
``(C, H, W)`` map (``in_positions = H*W``), so each input channel owns
``H*W`` columns (doc §7).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from isocl.nn.activations import ElementwiseActivation, elementwise_fn, isotropic, shape_spec
from isocl.nn.protocol import MatrixView, channel_columns, identity_view, refresh_shape

__all__ = ["INTRINSIC_MODES", "IsotropicLayer", "IsotropicUnit", "inverse_softplus"]

INTRINSIC_MODES = ("off", "constant", "trainable")


def inverse_softplus(y: float | Tensor) -> Tensor:
    """p with softplus(p) = y, for y > 0 (stable for small and large y)."""
    y = torch.as_tensor(y, dtype=torch.float64)
    return y + torch.log(-torch.expm1(-y))


def _check_mode(name: str, value: str) -> str:
    if value not in INTRINSIC_MODES:
        raise ValueError(f"{name} must be one of {INTRINSIC_MODES}, instead got {name} = {value!r}")
    return value


class IsotropicUnit(nn.Module):
    """What every isotropic layer shares: the activation and the intrinsic length (doc §1-2).

    ``intrinsic`` sets the intrinsic length o (doc §2): ``off`` (no extra
    coordinate), ``constant`` (a buffer), ``trainable`` (o = softplus(p), so it
    stays positive). ``intrinsic_out`` sets the column by which the *next* map
    reads ``a_o``: ``off`` (norm-only: o enters r only), ``constant`` (column
    kept at its value by zeroing its gradient) or ``trainable``. The column
    itself lives in the consumer's weight (last column / input channel). With
    ``isotropic=False`` the layer is the elementwise baseline and has no
    intrinsic length. Subclasses add the affine map and the protocol's views.
    """

    patch_gain = 1.0  # ||affine(x) - affine(x')|| <= patch_gain * ||M||_2 * ||x - x'|| (isocl.nn.protocol)
    output_gain = 1.0  # operator norm of what follows the activation

    def __init__(self, width: int, *, shape: str, isotropic: bool, intrinsic: str, intrinsic_out: str,
                 o_init: float) -> None:
        super().__init__()
        if width < 1:
            raise ValueError(f"a layer needs width >= 1, instead got width = {width}")
        shape_spec(shape) if isotropic else elementwise_fn(shape)  # ReLU has an elementwise form only
        _check_mode("intrinsic", intrinsic)
        _check_mode("intrinsic_out", intrinsic_out)
        if not isotropic:
            intrinsic, intrinsic_out = "off", "off"
        if intrinsic == "off":
            intrinsic_out = "off"
        if o_init <= 0:
            raise ValueError(f"o_init must be > 0, instead got o_init = {o_init}")
        self.shape = shape
        self.isotropic = isotropic
        self.intrinsic = intrinsic
        self.intrinsic_out = intrinsic_out
        self.elementwise = None if isotropic else ElementwiseActivation(shape)
        if intrinsic == "trainable":
            self.o_raw = nn.Parameter(inverse_softplus(o_init).to(torch.get_default_dtype()).reshape(()))
        elif intrinsic == "constant":
            self.register_buffer("o_const", torch.tensor(float(o_init)))

    @property
    def has_intrinsic(self) -> bool:
        return self.intrinsic != "off"

    @property
    def emits_intrinsic(self) -> bool:
        """Whether the next map reads ``a_o`` through its own (last) column."""
        return self.intrinsic_out != "off"

    @property
    def out_features(self) -> int:
        """Features (channels) emitted: the neurons, plus ``a_o`` when it is read."""
        return self.width + int(self.emits_intrinsic)

    @property
    def o_param(self) -> Tensor | None:
        return self.o_raw if self.intrinsic == "trainable" else None

    def o(self) -> Tensor | None:
        """The intrinsic length o >= 0 (a 0-dim tensor), or None when off."""
        if self.intrinsic == "trainable":
            return nn.functional.softplus(self.o_raw)
        if self.intrinsic == "constant":
            return self.o_const
        return None

    @torch.no_grad()
    def set_o(self, value: Tensor) -> None:
        """Set o exactly (used by the merge move, doc §3(c))."""
        if self.intrinsic == "trainable":
            self.o_raw.copy_(inverse_softplus(value.detach()).to(self.o_raw))
        elif self.intrinsic == "constant":
            self.o_const.copy_(value)
        else:
            raise ValueError("this layer has no intrinsic length (intrinsic = 'off')")

    def activate(self, z: Tensor) -> Tensor:
        """Features ``[a; a_o]`` (or ``a``) from pre-activations ``z`` (neurons on the last dim)."""
        if not self.isotropic:
            return self.elementwise(z)
        o = self.o()
        a, a_o = isotropic(z, None if o is None else o.to(z), self.shape)
        if self.emits_intrinsic:
            a = torch.cat([a, a_o.expand(*z.shape[:-1], 1)], dim=-1)
        return a

    def extra_repr(self) -> str:
        kind = "isotropic" if self.isotropic else "elementwise"
        return f"{kind} {self.shape}, intrinsic={self.intrinsic}, intrinsic_out={self.intrinsic_out}"


class IsotropicLayer(IsotropicUnit):
    """Affine map then activation: ``z = linear([a_prev; a_o,prev])``, ``f([z; o])``.

    Intrinsic length and activation: :class:`IsotropicUnit`.
    """

    def __init__(
        self,
        in_features: int,
        width: int,
        *,
        shape: str = "tanh",
        isotropic: bool = True,
        bias: bool = True,
        intrinsic: str = "trainable",
        intrinsic_out: str = "trainable",
        o_init: float = 1.0,
        in_positions: int = 1,
    ) -> None:
        super().__init__(width, shape=shape, isotropic=isotropic, intrinsic=intrinsic, intrinsic_out=intrinsic_out,
                         o_init=o_init)
        if in_positions < 1:
            raise ValueError(f"in_positions must be >= 1, instead got in_positions = {in_positions}")
        self.in_positions = int(in_positions)
        self.linear = nn.Linear(in_features, width, bias=bias)

    @property
    def width(self) -> int:
        return self.linear.out_features

    # -- the StructuralLayer protocol (isocl.nn.protocol) ----------------
    @property
    def affine(self) -> nn.Linear:
        return self.linear

    @property
    def bias(self) -> Tensor | None:
        return self.linear.bias

    def incoming(self) -> MatrixView:
        """``[W_in | w_o,prev]``, one row per neuron (doc §3)."""
        return identity_view(self.linear.weight, self.linear)

    def reading_columns(self) -> MatrixView:
        """Columns reading the previous layer's neurons (its intrinsic column last)."""
        return channel_columns(self.linear.weight, self.in_positions, self.linear)

    def sync(self) -> None:
        refresh_shape(self.linear)

    def preactivation(self, x: Tensor) -> Tensor:
        """``h = [W_in | w_o,prev] x + b``, neurons on dim 1."""
        return self.linear(x.flatten(1) if x.dim() > 2 else x)  # a (C, H, W) map is read flattened

    def forward(self, x: Tensor) -> Tensor:
        return self.activate(self.preactivation(x))
