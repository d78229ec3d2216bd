"""Every structural move on isotropic CNNs: exact in float64 to 1e-10, or within its bound (docs/convolutions.md)."""

import pytest
import torch

from isocl.nn.cnn import CNNConfig, build_cnn
from isocl.nn.conv import IsotropicConv2d
from isocl.nn.kinds import build_model
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
from isocl.nn.testing import assert_channel_equivariant, assert_move_preserves, random_orthogonal

ATOL = 1e-10
# (config, description): depth, stride, padding, pooling, kernel size variants on 8x8 images.
VARIANTS = [
    (dict(channels=[4, 5], widths=[6]), "depth2 same-padding pool2"),
    (dict(channels=[3, 5, 4], widths=[6, 5], pool=1, stride=2), "depth3 stride2 no pool"),
    (dict(channels=[4, 6], widths=[5], padding=0, pool=1), "valid padding"),
    (dict(channels=[5, 4, 6, 3], widths=[4], pool=1, kernel_size=3, padding=1), "depth4"),
    (dict(channels=[6, 6, 6], widths=[6], kernel_size=1, pool=2), "1x1 convs"),
    (dict(channels=[4, 5], widths=[5], kernel_size=5, stride=2, padding=2, pool=1), "k5 stride2"),
]
IDS = [d for _, d in VARIANTS]


def make_cnn(seed=0, multi_head=False, rank_deficient=False, **kw):
    torch.manual_seed(seed)
    cfg = CNNConfig(in_channels=2, image_size=8, initial_classes=4, multi_head=multi_head, **kw)
    model = build_model(cfg).double()
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for layer in model.backbone.layers:
            w = layer.affine.weight
            w.add_(0.3 * torch.randn(w.shape, generator=gen, dtype=torch.float64))  # intrinsic slices non-zero too
            if rank_deficient and w.shape[0] > 2:
                half = w.shape[0] // 2
                w[:half] = w[half : 2 * half]  # duplicated kernels: rank below the channel count
            if layer.bias is not None:
                layer.bias.normal_(generator=gen)
            if layer.intrinsic == "trainable":
                layer.o_raw.fill_(0.3)
        for head in model.head_linears():
            head.weight.normal_(generator=gen)
    return model


def images(n=6, seed=1):
    return 2 * torch.randn(n, 2, 8, 8, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


def test_channel_activation_is_equivariant_per_position():
    layer = IsotropicConv2d(3, 6).double()
    assert_channel_equivariant(layer)
    assert_channel_equivariant(IsotropicConv2d(3, 6, intrinsic_out="off").double())


def test_build_model_dispatches_and_widths_list_channels_then_dense():
    model = make_cnn(channels=[4, 5], widths=[6])
    assert model.widths == [4, 5, 6] and type(model).__name__ == "IsotropicCNN"
    assert type(make_cnn(multi_head=True, channels=[3], widths=[4])).__name__ == "MultiHeadIsotropicCNN"
    assert model.logits_all(images()).shape == (6, 4)
    with pytest.raises(ValueError, match="feature map vanishes"):
        CNNConfig(image_size=8, channels=[4, 4, 4, 4], pool=2)


@pytest.mark.parametrize("cfg,desc", VARIANTS, ids=IDS)
def test_rotation_is_exact(cfg, desc):
    model, x = make_cnn(**cfg), images()
    for i, n in enumerate(model.widths):
        q = random_orthogonal(n, generator=torch.Generator().manual_seed(i))
        assert_move_preserves(model, lambda m: rotate_layer(m, i, q), x, atol=ATOL)


@pytest.mark.parametrize("cfg,desc", VARIANTS, ids=IDS)
def test_partial_diagonalisation_is_exact_and_orthogonalises_kernels(cfg, desc):
    model, x = make_cnn(**cfg), images()
    for i in range(len(model.widths)):
        rec, _ = assert_move_preserves(model, lambda m: diagonalise_layer(m, i), x, atol=ATOL)
        rows = model.backbone.layers[i].incoming().matrix()
        sig = torch.tensor(rec.sigmas, dtype=torch.float64)
        assert torch.allclose(rows.norm(dim=1), sig, atol=1e-12)
        gram = rows @ rows.T
        assert float((gram - torch.diag(torch.diagonal(gram))).abs().max()) < 1e-10


@pytest.mark.parametrize("multi_head", [False, True])
@pytest.mark.parametrize("cfg,desc", VARIANTS, ids=IDS)
def test_scaffold_channels_are_exact(cfg, desc, multi_head):
    model, x = make_cnn(multi_head=multi_head, **cfg), images()
    widths = list(model.widths)
    for i in range(len(widths)):
        assert_move_preserves(model, lambda m: grow_layer(m, i, 2, out_scale=0.1), x, atol=ATOL)
        for view in model.readers(i):
            new = view.matrix()[:, widths[i] : widths[i] + 2]
            assert float(new.abs().min()) > 0  # never a zero outgoing slice
    assert model.widths == [w + 2 for w in widths]
    conv = model.backbone.layers[0].conv
    assert (conv.out_channels, model.backbone.layers[1].affine.weight.shape[1]) == (widths[0] + 2, widths[0] + 3)


@pytest.mark.parametrize("cfg,desc", VARIANTS, ids=IDS)
def test_constant_channels_merge_exactly(cfg, desc):
    model, x = make_cnn(**cfg), images()
    for i in range(len(model.widths) - 1):
        layer = model.backbone.layers[i]
        with torch.no_grad():
            layer.affine.weight[[0, 2]] = 0  # channels whose value is their bias at every position
        o_before, b_p = float(layer.o()), layer.bias[[0, 2]].detach().clone()
        rec, _ = assert_move_preserves(model, lambda m: merge_constant_neurons(m, i), x, atol=ATOL)
        assert rec.exact and rec.neurons_after == rec.neurons_before - 2
        assert abs(float(layer.o()) - (o_before**2 + float(b_p @ b_p)) ** 0.5) < 1e-12


@pytest.mark.parametrize("cfg,desc", VARIANTS, ids=IDS)
def test_every_conv_layer_compresses_exactly_to_its_rank(cfg, desc):
    model, x = make_cnn(rank_deficient=True, **cfg), images()
    for i in range(len(model.widths)):
        rank = int(torch.linalg.matrix_rank(model.backbone.layers[i].incoming().matrix()))
        rec, _ = assert_move_preserves(model, lambda m: prune_layer(m, i, 0.0, mode="absolute", probe=x), x,
                                       atol=ATOL)
        assert rec.neurons_after == rank and rec.exact


@pytest.mark.parametrize("cfg,desc", VARIANTS, ids=IDS)
def test_pruning_channels_stays_within_the_bound(cfg, desc):
    model, x = make_cnn(**cfg), images()
    for i in range(len(model.widths)):
        rec = prune_layer(model, i, 0.7, criterion="sv_out" if i % 2 else "sv", min_width=2, probe=x)
        assert rec.max_logit_change <= rec.bound * (1 + 1e-9) + ATOL
        if rec.neurons_after < rec.neurons_before:
            assert rec.max_logit_change > 0


def test_pruning_without_intrinsic_length_counts_the_lost_bias_at_every_position():
    model, x = make_cnn(channels=[5, 5], widths=[4], intrinsic="off"), images()
    rec = prune_layer(model, 0, 0.9, min_width=2, probe=x)
    assert not rec.exact and rec.max_logit_change <= rec.bound


@pytest.mark.parametrize("cfg,desc", VARIANTS[:2] + VARIANTS[4:5], ids=IDS[:2] + IDS[4:5])
def test_buffer_rule_on_cnns(cfg, desc):
    model, x = make_cnn(**cfg), images()
    for rec in buffer_rule(model, threshold=0.95, buffer=2, probe=x):
        limit = rec.bound * (1 + 1e-9) + ATOL if rec.kind == "adaptive_prune" else ATOL
        assert rec.max_logit_change <= limit


def test_alternating_diagonalisation_only_where_the_reading_is_a_matrix():
    """1x1 convs and dense-after-dense diagonalise exactly; k x k convs are left dense (docs §6)."""
    model, x = make_cnn(channels=[6, 6, 6], widths=[6], kernel_size=1, pool=1), images()
    rec, _ = assert_move_preserves(model, alternating_diagonalise, x, atol=ATOL)
    assert rec.details["diagonal_layers"] == [1]  # layer 3 reads a flattened 8x8 map: not a rotation
    block = model.backbone.layers[1].reading_columns().matrix()[:, :6]
    assert torch.count_nonzero(block - torch.diag(torch.diagonal(block))) == 0
    model = make_cnn(channels=[4, 5], widths=[6, 6, 5])
    rec, _ = assert_move_preserves(model, alternating_diagonalise, x, atol=ATOL)
    assert rec.details["diagonal_layers"] == [3]  # the dense pair only


def test_adam_state_follows_conv_moves_and_training_continues():
    model, x = make_cnn(channels=[4, 5], widths=[6]), images(16)
    y = torch.randint(0, 4, (16,), generator=torch.Generator().manual_seed(0))
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)

    def step():
        opt.zero_grad()
        torch.nn.functional.cross_entropy(model.logits_all(x), y).backward()
        opt.step()

    step()
    ed = ParamEditor(opt)
    grow_layer(model, 0, 3, editor=ed)
    diagonalise_layer(model, 1, ed)
    prune_layer(model, 1, 0.5, min_width=2, editor=ed)
    assert optimizer_params_match_model(opt, model)
    before = model.backbone.layers[0].conv.weight[4:].detach().clone()
    step()
    assert torch.count_nonzero(before) == 0
    assert float(model.backbone.layers[0].conv.weight[4:].abs().max()) > 1e-4  # scaffold channels learn


def test_momentum_rotates_exactly_through_the_conv_views():
    """SGD with momentum after a rotation with transported state follows the unrotated run exactly."""
    import copy

    model, x = make_cnn(channels=[4, 5], widths=[6]), images(16)
    y = torch.randint(0, 4, (16,), generator=torch.Generator().manual_seed(0))
    twin = copy.deepcopy(model)
    opts = [torch.optim.SGD(m.parameters(), lr=1e-2, momentum=0.9) for m in (model, twin)]

    def step(m, opt):
        opt.zero_grad()
        torch.nn.functional.cross_entropy(m.logits_all(x), y).backward()
        opt.step()

    for m, opt in zip((model, twin), opts):
        step(m, opt)
    rotate_layer(twin, 0, random_orthogonal(4, generator=torch.Generator().manual_seed(1)), ParamEditor(opts[1]))
    for m, opt in zip((model, twin), opts):
        step(m, opt)
    with torch.no_grad():
        assert float((model.logits_all(x) - twin.logits_all(x)).abs().max()) < ATOL


def test_elementwise_twin_cnn_is_refused_by_moves():
    model = build_cnn(CNNConfig(in_channels=2, image_size=8, channels=[3], widths=[4], isotropic=False))
    assert model.logits_all(images().float()).shape[0] == 6
    with pytest.raises(TypeError, match="hidden layer 0 is elementwise"):
        grow_layer(model, 0, 2)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_moves_on_cuda_cnn():
    model, x = make_cnn(channels=[4, 5], widths=[6]).cuda(), images().cuda()
    assert_move_preserves(model, lambda m: grow_layer(m, 0, 2), x, atol=ATOL)
    assert_move_preserves(model, lambda m: diagonalise_layer(m, 1), x, atol=ATOL)
    rec = prune_layer(model, 0, 0.5, min_width=2, probe=x)
    assert rec.max_logit_change <= rec.bound * (1 + 1e-9) + ATOL
