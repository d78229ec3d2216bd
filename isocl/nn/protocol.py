"""The layer protocol every structural move acts through (doc §2-4, §7).

A move never touches a weight tensor in its storage layout. It asks the
layer for *matrix views* of its parameters and edits those:

- :meth:`StructuralLayer.incoming` -- the augmented incoming matrix
  ``[W_in | w_o,prev]`` of doc §3, one row per neuron (channel), shape
  ``(n, fan_in)``; for a conv layer the kernel ``(C_out, C_in_aug, k, k)``
  reshaped to ``C_out x (C_in_aug*k*k)`` (doc §7).
- :meth:`StructuralLayer.reading_columns` -- how this layer reads its
  *input* features: a matrix whose columns index the producer's neurons
  (channels), the producer's intrinsic column last. For a conv consumer the
  input-channel slices of its kernel, for a dense map reading a flattened
  ``C x H x W`` map the ``H*W`` columns of each channel. ``row_group`` says
  how many matrix rows belong to one output unit of the consumer.
- :attr:`StructuralLayer.bias` (one entry per neuron or None) and the
  intrinsic coordinate (doc §2): ``o()``, ``set_o()``, ``o_param``.
- ``patch_gain`` and ``output_gain`` for the pruning bound (doc §3(d), §7):
  ``||affine(x) - affine(x')|| <= patch_gain * ||M||_2 * ||x - x'||`` over the
  whole map (1 dense, ``ceil(k/stride)`` conv), and the operator norm of what
  follows the activation (1, or ``1/p`` for a ``p x p`` average pool).

A network offers ``layers`` (hidden layers, each a StructuralLayer),
``readers(i)`` (views of every map reading layer ``i``: the next layer's
``reading_columns()`` or each head), ``consumers(i)`` (the modules behind
them), ``head_linears()``, ``logits_all(x)``, ``widths`` and
``backbone.layer_input(x, i)``. Views are cheap and bound to the current
shapes: ask again after every edit. :class:`~isocl.nn.optim.ParamEditor`
maps optimiser state through the same views, so state follows any layout.
"""

from __future__ import annotations

from typing import Callable, Protocol, runtime_checkable

from torch import Tensor, nn

__all__ = ["MatrixView", "StructuralLayer", "refresh_shape", "identity_view", "conv_rows", "channel_columns"]


class MatrixView:
    """A parameter seen as a 2-D matrix (1-D for biases), with the inverse map.

    ``matrix(t)`` turns a tensor in the parameter's layout (the parameter or
    an optimiser state of the same shape) into the matrix; ``tensor(m)`` turns
    a matrix, possibly with rows or columns added or removed, back. Both only
    move entries (reshape / transpose), so elementwise squares of optimiser
    state map consistently.
    """

    def __init__(self, param: Tensor, matrix: Callable[[Tensor], Tensor] | None = None,
                 tensor: Callable[[Tensor], Tensor] | None = None, *, row_group: int = 1,
                 module: nn.Module | None = None) -> None:
        self.param = param
        self._matrix = matrix
        self._tensor = tensor
        self.row_group = row_group  # matrix rows per output unit of the module (k*k for a conv reader)
        self.module = module  # whose shape attributes to refresh after an edit

    def matrix(self, t: Tensor | None = None) -> Tensor:
        t = self.param.data if t is None else t
        return t if self._matrix is None else self._matrix(t)

    def tensor(self, m: Tensor) -> Tensor:
        return m if self._tensor is None else self._tensor(m)

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(self.matrix().shape)


def identity_view(param: Tensor, module: nn.Module | None = None) -> MatrixView:
    """A matrix (or bias vector) stored as it is seen."""
    return MatrixView(param, module=module)


def conv_rows(param: Tensor, module: nn.Module | None = None) -> MatrixView:
    """Kernel ``(C_out, C_in, *k)`` as ``C_out x (C_in*prod(k))``: rows are output channels (doc §7)."""
    inner = tuple(param.shape[1:])
    return MatrixView(param, lambda t: t.reshape(t.shape[0], -1),
                      lambda m: m.reshape(m.shape[0], *inner).contiguous(), module=module)


def channel_columns(param: Tensor, positions: int, module: nn.Module | None = None) -> MatrixView:
    """Columns per input channel of a kernel ``(C_out, C_in, *k)`` or a dense weight reading a flattened map.

    A kernel becomes ``(C_out*prod(k)) x C_in`` (input-channel slices, doc §7);
    a dense weight ``(out, C*positions)`` read from a flattened ``(C, H, W)``
    map becomes ``(out*positions) x C`` (doc §7: ``Q (x) I_(H*W)``).
    """
    if param.dim() > 2:
        k = tuple(param.shape[2:])
        c_out = param.shape[0]
        nk = len(k)
        perm = (0, *range(2, 2 + nk), 1)  # channels last
        inv = (0, nk + 1, *range(1, nk + 1))
        return MatrixView(param, lambda t: t.permute(perm).reshape(-1, t.shape[1]),
                          lambda m: m.reshape(c_out, *k, m.shape[1]).permute(inv).contiguous(),
                          row_group=int(param[0, 0].numel()), module=module)
    if positions == 1:
        return identity_view(param, module)
    out = param.shape[0]
    return MatrixView(param,
                      lambda t: t.reshape(out, -1, positions).transpose(1, 2).reshape(out * positions, -1),
                      lambda m: m.reshape(out, positions, -1).transpose(1, 2).reshape(out, -1).contiguous(),
                      row_group=positions, module=module)


def refresh_shape(module: nn.Module | None) -> None:
    """Refresh ``in_/out_features`` or ``in_/out_channels`` after an in-place reshape."""
    if isinstance(module, nn.Linear):
        module.out_features, module.in_features = module.weight.shape
    elif isinstance(module, (nn.Conv1d, nn.Conv2d, nn.Conv3d)):
        module.out_channels, module.in_channels = module.weight.shape[:2]


@runtime_checkable
class StructuralLayer(Protocol):
    """What a hidden layer offers the moves (module docstring; doc §2-4, §7)."""

    isotropic: bool  # False: an elementwise twin, which no move accepts (doc §1)
    intrinsic: str  # off | constant | trainable (doc §2)
    intrinsic_out: str  # how the next map reads a_o: off | constant | trainable

    @property
    def width(self) -> int: ...  # neurons (channels), n

    @property
    def has_intrinsic(self) -> bool: ...

    @property
    def emits_intrinsic(self) -> bool: ...

    @property
    def affine(self) -> nn.Module: ...  # the module holding the incoming weights

    @property
    def bias(self) -> Tensor | None: ...  # (n,) or None

    @property
    def o_param(self) -> Tensor | None: ...  # the trainable parameter behind o, or None

    @property
    def patch_gain(self) -> float: ...

    @property
    def output_gain(self) -> float: ...

    def o(self) -> Tensor | None: ...

    def set_o(self, value: Tensor) -> None: ...

    def preactivation(self, x: Tensor) -> Tensor: ...  # h, neurons (channels) on dim 1

    def incoming(self) -> MatrixView: ...

    def reading_columns(self) -> MatrixView: ...

    def sync(self) -> None: ...  # refresh shape attributes after an edit
