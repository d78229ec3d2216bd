"""Optimiser continuity after structural moves (doc §5)."""

import copy

import pytest
import torch

from isocl.nn.models import MLPConfig, build_mlp
from isocl.nn.moves import diagonalise_layer, grow_layer, prune_layer, rotate_layer
from isocl.nn.optim import ParamEditor, optimizer_params_match_model
from isocl.nn.testing import random_orthogonal

IN = 10


def setup(opt_cls=torch.optim.Adam, **opt_kw):
    torch.manual_seed(0)
    model = build_mlp(MLPConfig(in_features=IN, widths=[12, 12], initial_classes=3)).double()
    opt = opt_cls(model.parameters(), lr=1e-2, **opt_kw)
    x = torch.randn(64, IN, dtype=torch.float64)
    y = torch.randint(0, 3, (64,))
    return model, opt, x, y


def step(model, opt, x, y):
    opt.zero_grad()
    torch.nn.functional.cross_entropy(model.logits_all(x), y).backward()  # raw heads: no Avalanche adaptation here
    opt.step()


@pytest.mark.parametrize("state", ["transform", "reset"])
def test_scaffold_neurons_learn_after_growth(state):
    model, opt, x, y = setup()
    step(model, opt, x, y)
    editor = ParamEditor(opt, state=state)
    grow_layer(model, 0, 4, editor=editor)
    grow_layer(model, 1, 4, editor=editor)
    assert optimizer_params_match_model(opt, model)
    before = [l.linear.weight[12:].detach().clone() for l in model.backbone.layers]
    step(model, opt, x, y)
    for layer, b in zip(model.backbone.layers, before):
        assert torch.count_nonzero(b) == 0
        assert float(layer.linear.weight[12:].abs().max()) > 1e-4  # incoming rows moved off zero


def test_optimizer_holds_exactly_the_model_parameters_after_every_move():
    model, opt, x, y = setup()
    ids = {id(p) for p in model.parameters()}
    step(model, opt, x, y)
    editor = ParamEditor(opt)
    grow_layer(model, 1, 3, editor=editor)
    prune_layer(model, 0, 0.5, editor=editor, min_width=4)
    diagonalise_layer(model, 1, editor=editor)
    assert {id(p) for p in model.parameters()} == ids  # edited in place: no stale tensors
    assert optimizer_params_match_model(opt, model)
    step(model, opt, x, y)  # Adam's state has the right shapes
    assert all(torch.isfinite(p).all() for p in model.parameters())


def test_stale_state_is_detected():
    model, opt, x, y = setup()
    step(model, opt, x, y)
    grow_layer(model, 0, 2)  # no editor: optimiser state keeps the old shapes
    assert not optimizer_params_match_model(opt, model)


def _rotated_twin_error(state):
    model, opt, x, y = setup(torch.optim.SGD, momentum=0.9)
    for _ in range(3):
        step(model, opt, x, y)
    twin = copy.deepcopy(model)
    twin_opt = torch.optim.SGD(twin.parameters(), lr=1e-2, momentum=0.9)
    twin_opt.load_state_dict(copy.deepcopy(opt.state_dict()))
    q = random_orthogonal(12, generator=torch.Generator().manual_seed(3))
    rotate_layer(twin, 0, q, ParamEditor(twin_opt, state=state))
    for _ in range(2):
        step(model, opt, x, y)
        step(twin, twin_opt, x, y)
    with torch.no_grad():
        return float((model.logits_all(x) - twin.logits_all(x)).abs().max())


def test_momentum_state_rotates_exactly():
    """SGD with momentum is rotation-equivariant when its state is rotated (m <- Q^T m)."""
    assert _rotated_twin_error("transform") < 1e-12
    assert _rotated_twin_error("reset") > 1e-6  # dropping the momentum changes the trajectory


def test_reset_mode_clears_state_of_edited_parameters():
    model, opt, x, y = setup()
    step(model, opt, x, y)
    w = model.backbone.layers[0].linear.weight
    assert "exp_avg" in opt.state[w]
    diagonalise_layer(model, 0, ParamEditor(opt, state="reset"))
    assert opt.state[w] == {}
    untouched = model.backbone.layers[1].o_raw
    assert "exp_avg" in opt.state[untouched]


def test_bad_state_mode_is_rejected():
    with pytest.raises(ValueError, match="state must be one of"):
        ParamEditor(None, state="keep")
