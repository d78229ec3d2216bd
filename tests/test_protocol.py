"""Moves are layer-generic: a test double with another storage layout passes every exactness test.

``TransposedLayer`` stores its incoming weights as ``(fan_in, n)`` (the
transpose of nn.Linear's layout) and implements
:class:`isocl.nn.protocol.StructuralLayer`; no move knows it exists.
"""

import copy

import pytest
import torch
from torch import nn

from isocl.nn.activations import isotropic
from isocl.nn.layers import inverse_softplus
from isocl.nn.models import MLPConfig, build_mlp
from isocl.nn.moves import (
    alternating_diagonalise,
    buffer_rule,
    diagonalise_layer,
    grow_layer,
    merge_constant_neurons,
    prune_layer,
    rotate_layer,
)
from isocl.nn.optim import ParamEditor, optimizer_params_match_model
from isocl.nn.protocol import MatrixView, StructuralLayer
from isocl.nn.testing import assert_move_preserves, random_orthogonal

IN = 10
TOL = 1e-10


class TransposedLayer(nn.Module):
    """A dense isotropic layer whose weight is stored transposed, ``weight_t: (fan_in, n)``."""

    patch_gain = 1.0
    output_gain = 1.0

    def __init__(self, src) -> None:
        super().__init__()
        self.isotropic, self.shape = True, src.shape
        self.intrinsic, self.intrinsic_out = src.intrinsic, src.intrinsic_out
        self.weight_t = nn.Parameter(src.linear.weight.detach().T.clone())
        self.b = nn.Parameter(src.linear.bias.detach().clone()) if src.linear.bias is not None else None
        self.o_raw = nn.Parameter(src.o_raw.detach().clone()) if src.intrinsic == "trainable" else None

    width = property(lambda self: self.weight_t.shape[1])
    has_intrinsic = property(lambda self: self.intrinsic != "off")
    emits_intrinsic = property(lambda self: self.intrinsic_out != "off")
    out_features = property(lambda self: self.width + int(self.emits_intrinsic))
    affine = property(lambda self: self)
    bias = property(lambda self: self.b)
    o_param = property(lambda self: self.o_raw)

    def o(self):
        return None if self.o_raw is None else nn.functional.softplus(self.o_raw)

    @torch.no_grad()
    def set_o(self, value):
        self.o_raw.copy_(inverse_softplus(value).to(self.o_raw))

    def _view(self) -> MatrixView:
        return MatrixView(self.weight_t, lambda t: t.T, lambda m: m.T.contiguous(), module=self)

    incoming = _view
    reading_columns = _view

    def sync(self) -> None:
        pass

    def preactivation(self, x):
        return x @ self.weight_t + (0 if self.b is None else self.b)

    def forward(self, x):
        a, a_o = isotropic(self.preactivation(x), self.o(), self.shape)
        return torch.cat([a, a_o.expand(a.shape[0], 1)], dim=1) if self.emits_intrinsic else a


def pair(widths=(9, 12, 7), seed=0, **kw):
    """A dense model and its transposed twin with identical parameters (float64)."""
    torch.manual_seed(seed)
    dense = build_mlp(MLPConfig(in_features=IN, widths=list(widths), initial_classes=4, **kw)).double()
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for layer in dense.backbone.layers:
            layer.linear.weight.add_(0.3 * torch.randn(layer.linear.weight.shape, generator=gen, dtype=torch.float64))
            if layer.linear.bias is not None:
                layer.linear.bias.normal_(generator=gen)
        dense.head.classifier.weight.normal_(generator=gen)
    twin = copy.deepcopy(dense)
    twin.backbone.layers = nn.ModuleList(TransposedLayer(layer) for layer in dense.backbone.layers)
    return dense, twin


def probe(n=24):
    return 2 * torch.randn(n, IN, generator=torch.Generator().manual_seed(1), dtype=torch.float64)


def test_the_double_implements_the_protocol_and_computes_the_same_function():
    dense, twin = pair()
    assert all(isinstance(layer, StructuralLayer) for layer in twin.backbone.layers)
    with torch.no_grad():
        assert float((dense.logits_all(probe()) - twin.logits_all(probe())).abs().max()) < 1e-12


def test_rotation_is_exact_on_the_double():
    _, twin = pair()
    for i, n in enumerate(twin.widths):
        q = random_orthogonal(n, generator=torch.Generator().manual_seed(i))
        assert_move_preserves(twin, lambda m: rotate_layer(m, i, q), probe())


def test_diagonalisation_is_exact_and_diagonal_on_the_double():
    _, twin = pair()
    for i in range(3):
        rec, _ = assert_move_preserves(twin, lambda m: diagonalise_layer(m, i), probe())
        rows = twin.backbone.layers[i].weight_t.detach().T
        assert torch.allclose(rows.norm(dim=1), torch.tensor(rec.sigmas, dtype=torch.float64), atol=1e-12)


def test_growth_merge_and_rank_compression_are_exact_on_the_double():
    _, twin = pair(widths=(14, 14))
    x = probe()
    assert_move_preserves(twin, lambda m: grow_layer(m, 0, 3), x)
    assert twin.widths == [17, 14] and twin.backbone.layers[1].weight_t.shape[0] == 18
    with torch.no_grad():
        twin.backbone.layers[1].weight_t[:, [2, 5]] = 0  # two constant neurons (bias only)
    rec, _ = assert_move_preserves(twin, lambda m: merge_constant_neurons(m, 1), x)
    assert rec.exact and twin.widths == [17, 12]
    rec, _ = assert_move_preserves(twin, lambda m: prune_layer(m, 0, 0.0, mode="absolute", probe=x), x)
    assert rec.neurons_after == IN  # the rank of the first layer's incoming matrix (10 inputs, 17 neurons)


def test_pruning_stays_within_its_bound_on_the_double():
    _, twin = pair()
    for i in range(3):
        rec = prune_layer(twin, i, 0.6, min_width=2, probe=probe())
        assert rec.max_logit_change <= rec.bound * (1 + 1e-9) + TOL


def test_buffer_rule_and_alternating_diagonalisation_on_the_double():
    _, twin = pair(widths=(12, 12, 12))
    x = probe()
    for rec in buffer_rule(twin, threshold=0.95, buffer=4, probe=x):
        limit = rec.bound * (1 + 1e-9) + TOL if rec.kind == "adaptive_prune" else TOL
        assert rec.max_logit_change <= limit
    rec, _ = assert_move_preserves(twin, alternating_diagonalise, x)
    assert rec.details["diagonal_layers"] == [1]


def _step(model, opt, x, y):
    opt.zero_grad()
    nn.functional.cross_entropy(model.logits_all(x), y).backward()
    opt.step()


def test_adam_state_follows_the_moves_through_the_protocol():
    """Dense and transposed twins under identical moves and Adam steps stay identical (state carried)."""
    dense, twin = pair(widths=(12, 12))
    x, y = probe(64), torch.randint(0, 4, (64,), generator=torch.Generator().manual_seed(2))
    opts = [torch.optim.Adam(m.parameters(), lr=1e-2) for m in (dense, twin)]
    for model, opt in zip((dense, twin), opts):
        for _ in range(3):
            _step(model, opt, x, y)
        ed = ParamEditor(opt)
        diagonalise_layer(model, 1, ed)
        grow_layer(model, 0, 3, editor=ed, generator=torch.Generator().manual_seed(5))
        prune_layer(model, 1, 0.5, min_width=4, editor=ed)
        rotate_layer(model, 0, random_orthogonal(15, generator=torch.Generator().manual_seed(6)), ed)
        assert optimizer_params_match_model(opt, model)
        for _ in range(2):
            _step(model, opt, x, y)
    with torch.no_grad():
        err = float((dense.logits_all(x) - twin.logits_all(x)).abs().max())
    assert err < 1e-10
    w_t = twin.backbone.layers[0].weight_t
    assert torch.allclose(opts[1].state[w_t]["exp_avg"].T, opts[0].state[dense.backbone.layers[0].linear.weight]["exp_avg"])


@pytest.mark.parametrize("state", ["transform", "reset"])
def test_reset_and_transform_modes_act_on_the_double(state):
    _, twin = pair()
    opt = torch.optim.Adam(twin.parameters(), lr=1e-2)
    _step(twin, opt, probe(), torch.zeros(24, dtype=torch.long))
    w = twin.backbone.layers[0].weight_t
    diagonalise_layer(twin, 0, ParamEditor(opt, state=state))
    assert (opt.state[w] == {}) == (state == "reset")
