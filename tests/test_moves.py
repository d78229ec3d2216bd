"""Structural moves keep the function exactly, or within their bound (doc §3-5)."""

import copy

import pytest
import torch

from isocl.nn.compressed import CompressedIsotropicMLP, dense_weight_count
from isocl.nn.factors import FLOAT32_EIGH_MIN_ROWS
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
from isocl.nn.optim import ParamEditor
from isocl.nn.testing import assert_move_preserves, default_tolerance, random_orthogonal

DTYPES = [torch.float32, torch.float64]
IN = 12
# (widths, description): depths 1-6, equal and unequal, wider than the input, rank-deficient.
ARCHS = [
    ([16], "depth1"),
    ([20, 20], "equal"),
    ([7, 30, 9], "unequal, wider than input"),
    ([24, 24, 24, 24], "depth4 wider than input"),
    ([9, 5, 13, 6, 11], "depth5 unequal"),
    ([8] * 6, "depth6"),
]


def make_model(widths, dtype, *, multi_head=False, rank_deficient=False, seed=0, **kw):
    torch.manual_seed(seed)
    model = build_mlp(MLPConfig(in_features=IN, widths=widths, initial_classes=5, multi_head=multi_head, **kw))
    model = model.to(dtype)
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for layer in model.backbone.layers:
            w = layer.linear.weight
            w.add_(0.3 * torch.randn(w.shape, generator=gen, dtype=torch.float64).to(w))  # intrinsic columns non-zero too
            if rank_deficient and w.shape[0] > 2:
                w[: w.shape[0] // 2] = w[w.shape[0] // 2 : 2 * (w.shape[0] // 2)]  # duplicated rows
            if layer.linear.bias is not None:
                layer.linear.bias.normal_(generator=gen)
            if layer.intrinsic == "trainable":
                layer.o_raw.fill_(0.3)
        for head in model.head_linears():
            head.weight.normal_(generator=gen)
    return model


def probe(dtype, n=32, seed=1):
    return 2 * torch.randn(n, IN, generator=torch.Generator().manual_seed(seed), dtype=torch.float64).to(dtype)


def count_float32_eigh(monkeypatch, everywhere: bool = True) -> dict[str, int]:
    """Count the float32 Gram + eigh factorisations (isocl.nn.factors) kept and redone in float64; with
    ``everywhere``, send every float32 factorisation through that path, whatever its size."""
    import isocl.nn.factors as factors_mod

    counts = {"kept": 0, "redone": 0}
    real = factors_mod._clear_cut

    def counting(*args):
        ok = real(*args)
        counts["kept" if ok else "redone"] += 1
        return ok

    if everywhere:
        monkeypatch.setattr(factors_mod, "FLOAT32_EIGH_MIN_ROWS", 0)
    monkeypatch.setattr(factors_mod, "_clear_cut", counting)
    return counts


# (dtype, float32 eigh everywhere): float32 both ways, float64 by its SVD
FACTORISATIONS = pytest.mark.parametrize("dtype,eigh32", [(torch.float32, False), (torch.float32, True),
                                                          (torch.float64, False)],
                                         ids=["float32-gram64", "float32-gram32", "float64-svd"])


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("widths,desc", ARCHS)
def test_rotation_is_exact(widths, desc, dtype):
    model, x = make_model(widths, dtype), probe(dtype)
    for i, n in enumerate(widths):
        q = random_orthogonal(n, dtype=dtype, generator=torch.Generator().manual_seed(i))
        assert_move_preserves(model, lambda m: rotate_layer(m, i, q), x)


@FACTORISATIONS
@pytest.mark.parametrize("rank_deficient", [False, True])
@pytest.mark.parametrize("widths,desc", ARCHS)
def test_partial_diagonalisation_is_exact(widths, desc, rank_deficient, dtype, eigh32, monkeypatch):
    if eigh32:
        count_float32_eigh(monkeypatch)
    model, x = make_model(widths, dtype, rank_deficient=rank_deficient), probe(dtype)
    for i in range(len(widths)):
        rec, _ = assert_move_preserves(model, lambda m: diagonalise_layer(m, i), x)
        w = model.backbone.layers[i].linear.weight.detach().double()
        sig = torch.tensor(rec.sigmas, dtype=torch.float64)
        # rows are sigma_i v_i^T: row norms are the singular values, sorted, rows orthogonal
        assert torch.allclose(w.norm(dim=1), sig, atol=1e-5 if dtype == torch.float32 else 1e-12)
        assert torch.all(sig[:-1] >= sig[1:])
        gram = w @ w.T
        off = gram - torch.diag(torch.diagonal(gram))
        assert float(off.abs().max()) < (1e-4 if dtype == torch.float32 else 1e-10)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("multi_head", [False, True])
@pytest.mark.parametrize("widths,desc", ARCHS)
def test_neurogenesis_is_exact_and_widens(widths, desc, multi_head, dtype):
    model, x = make_model(widths, dtype, multi_head=multi_head), probe(dtype)
    for i in range(len(widths)):
        rec, err = assert_move_preserves(model, lambda m: grow_layer(m, i, 3, out_scale=0.1), x)
        assert (rec.neurons_before, rec.neurons_after) == (widths[i], widths[i] + 3)
        for cons in model.consumers(i):
            assert cons.weight.shape[1] == model.backbone.layers[i].out_features
            assert cons.in_features == cons.weight.shape[1]
            new_cols = cons.weight[:, widths[i] : widths[i] + 3]
            assert float(new_cols.abs().min()) > 0  # never a zero outgoing column
    assert model.widths == [w + 3 for w in widths]


def test_neurogenesis_rejects_zero_outgoing_scale():
    model = make_model([8], torch.float64)
    with pytest.raises(ValueError, match="out_scale must be > 0"):
        grow_layer(model, 0, 2, out_scale=0.0)


@FACTORISATIONS
@pytest.mark.parametrize("widths,desc", ARCHS)
def test_every_layer_compresses_exactly_to_its_rank(widths, desc, dtype, eigh32, monkeypatch):
    """Pruning at sigma = 0 (diagonalise + merge) is exact, doc §4."""
    if eigh32:
        count_float32_eigh(monkeypatch)
    model, x = make_model(widths, dtype, rank_deficient=True), probe(dtype)
    for i in range(len(widths)):
        w = model.backbone.layers[i].linear.weight.detach()
        rank = int(torch.linalg.matrix_rank(w))  # numpy's tolerance in the model's own precision
        rec, _ = assert_move_preserves(model, lambda m: prune_layer(m, i, 0.0, mode="absolute", probe=x), x)
        assert rec.neurons_after == rank and rec.exact
        assert rec.max_logit_change <= default_tolerance(dtype)[0] + 1e-5 * float(model.logits_all(x).abs().max())


@pytest.mark.parametrize("dtype", DTYPES)
def test_merge_of_constant_neurons_folds_biases_into_intrinsic_length(dtype):
    model, x = make_model([10, 10], dtype), probe(dtype)
    layer = model.backbone.layers[0]
    with torch.no_grad():
        layer.linear.weight[[2, 5]] = 0  # constant neurons h = b_P
    o_before = float(layer.o())
    b_p = layer.linear.bias[[2, 5]].detach().double()
    rec, _ = assert_move_preserves(model, lambda m: merge_constant_neurons(m, 0), x)
    assert rec.neurons_after == 8 and rec.exact
    assert abs(float(layer.o()) - (o_before**2 + float(b_p @ b_p)) ** 0.5) < (1e-5 if dtype == torch.float32 else 1e-12)


def test_merge_without_intrinsic_length_is_refused_for_nonzero_bias():
    model = make_model([10, 10], torch.float64, intrinsic="off")
    with torch.no_grad():
        model.backbone.layers[0].linear.weight[3] = 0
    with pytest.raises(ValueError, match="cannot absorb constant neurons with non-zero bias exactly"):
        merge_constant_neurons(model, 0)
    with pytest.raises(ValueError, match="non-zero incoming rows"):
        merge_constant_neurons(model, 0, [4])


@FACTORISATIONS
@pytest.mark.parametrize("criterion", ["sv", "sv_out"])
@pytest.mark.parametrize("widths,desc", ARCHS)
def test_pruning_weak_rows_stays_within_the_bound(widths, desc, criterion, dtype, eigh32, monkeypatch):
    if eigh32:
        count_float32_eigh(monkeypatch)
    model, x = make_model(widths, dtype), probe(dtype)
    for i in range(len(widths)):
        rec = prune_layer(model, i, 0.6, criterion=criterion, min_width=2, probe=x)
        assert rec.neurons_after >= 2
        assert rec.bound is not None and rec.max_logit_change is not None
        assert rec.max_logit_change <= rec.bound * (1 + 1e-6) + 1e-6
        if rec.neurons_after < rec.neurons_before:
            assert rec.max_logit_change > 0 and len(rec.removed_sigmas) == rec.neurons_before - rec.neurons_after


def test_pruning_without_intrinsic_length_accounts_for_lost_bias():
    model, x = make_model([10, 10], torch.float64, intrinsic="off"), probe(torch.float64)
    rec = prune_layer(model, 0, 0.9, min_width=3, probe=x)
    assert not rec.exact and rec.max_logit_change <= rec.bound


def test_pruning_respects_min_width_and_validates():
    model = make_model([10, 10], torch.float64)
    rec = prune_layer(model, 1, 1.0, min_width=4)  # everything is below 1.0 x the largest... but the largest
    assert rec.neurons_after == 4
    with pytest.raises(ValueError, match="criterion must be one of"):
        prune_layer(model, 0, 0.5, criterion="norm")
    with pytest.raises(ValueError, match="mode must be one of"):
        prune_layer(model, 0, 0.5, mode="percent")
    with pytest.raises(IndexError, match="hidden layer index 5 out of range"):
        prune_layer(model, 5, 0.5)


@FACTORISATIONS
@pytest.mark.parametrize("widths,desc", ARCHS)
def test_alternating_diagonalisation_is_exact(widths, desc, dtype, eigh32, monkeypatch):
    if eigh32:
        count_float32_eigh(monkeypatch)
    model, x = make_model(widths, dtype), probe(dtype)
    rec, _ = assert_move_preserves(model, alternating_diagonalise, x)
    for j in rec.details["diagonal_layers"]:
        n_prev = widths[j - 1]
        block = model.backbone.layers[j].linear.weight[:, :n_prev].detach()
        off_diagonal = block.clone()
        k = min(block.shape)
        off_diagonal[torch.arange(k), torch.arange(k)] = 0
        assert torch.count_nonzero(off_diagonal) == 0  # a rectangular diagonal, exactly


@pytest.mark.parametrize("dtype", DTYPES)
def test_compressed_form_halves_weights_of_a_deep_equal_width_net(dtype):
    """8 hidden layers of 64 on 20 inputs, 5 outputs: doc §4 counts 14,144 of 30,272."""
    torch.manual_seed(0)
    model = build_mlp(MLPConfig(in_features=20, widths=[64] * 8, initial_classes=5)).to(dtype)
    with torch.no_grad():
        for layer in model.backbone.layers:
            layer.linear.bias.normal_()
            layer.linear.weight.add_(0.1 * torch.randn_like(layer.linear.weight))
    x = torch.randn(64, 20).to(dtype)
    compressed = CompressedIsotropicMLP(model)
    assert dense_weight_count(model) == 30272 and compressed.weight_count() == 14144
    assert compressed.weight_count() <= 0.55 * dense_weight_count(model)
    with torch.no_grad():
        ref = model.logits_all(x)
        err = float((compressed(x) - ref).abs().max())
    atol, rtol = default_tolerance(dtype)
    assert err <= atol + rtol * float(ref.abs().max())


@pytest.mark.parametrize("dtype", DTYPES)
def test_buffer_rule_tops_up_and_trims_the_weak_buffer(dtype):
    model, x = make_model([12, 12], dtype), probe(dtype)
    records = buffer_rule(model, threshold=0.95, buffer=5, probe=x)
    assert [r.layer for r in records][0] == 1  # last hidden layer first
    for layer_idx in range(2):
        w = model.backbone.layers[layer_idx].linear.weight.detach().double()
        sig = torch.linalg.svdvals(w)
        sig = torch.cat([sig, torch.zeros(w.shape[0] - sig.numel(), dtype=sig.dtype)])
        assert int((sig <= 0.95).sum()) == 5
    for rec in records:
        if rec.kind == "adaptive_grow":
            assert rec.max_logit_change <= default_tolerance(dtype)[0] + 1e-5 * 10
        else:
            assert rec.max_logit_change <= rec.bound * (1 + 1e-6) + 1e-6


def test_moves_refuse_elementwise_models():
    model = build_mlp(MLPConfig(in_features=IN, widths=[8], isotropic=False))
    with pytest.raises(TypeError, match="hidden layer 0 is elementwise"):
        grow_layer(model, 0, 2)


def test_multi_head_new_heads_read_the_grown_width():
    model = make_model([8, 8], torch.float64, multi_head=True)
    grow_layer(model, 1, 4)
    assert model.head.in_features == model.backbone.layers[1].out_features == 13


# ------------------------------------------- one factorisation per layer per structural event
def _adam_model(widths, dtype, in_features=IN, seed=0):
    """A model with live Adam moments (one step), the state the moves carry along."""
    torch.manual_seed(seed)
    model = build_mlp(MLPConfig(in_features=in_features, widths=widths, initial_classes=5)).to(dtype)
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    x = torch.randn(64, in_features, dtype=torch.float64).to(dtype)
    opt.zero_grad()
    torch.nn.functional.cross_entropy(model.logits_all(x), torch.randint(0, 5, (64,))).backward()
    opt.step()
    return model, opt, x


def _count_factorisations(monkeypatch):
    import isocl.nn.factors as factors_mod
    import isocl.nn.moves as moves_mod

    calls = []
    real = factors_mod.factorise

    def counting(block):
        calls.append(tuple(block.shape))
        return real(block)

    monkeypatch.setattr(moves_mod, "factorise", counting)  # diagonalise_layer's
    monkeypatch.setattr(factors_mod, "factorise", counting)  # the bound's (incoming_norm)
    return calls


@pytest.mark.parametrize("dtype", DTYPES)
def test_prune_after_diagonalise_and_grow_reuses_the_factorisation(dtype, monkeypatch):
    """speed_core's event (diagonalise, grow, prune on every layer) factorises each layer once: prune finds
    the diagonal form diagonalise wrote (plus zero scaffold rows), the bound's norm of layer 1 is reused by
    layer 1's diagonalisation. The result is the one a fresh editor per move gives."""
    model, opt, x = _adam_model([16, 16], dtype)
    twin, twin_opt = copy.deepcopy(model), None
    twin_opt = torch.optim.Adam(twin.parameters(), lr=1e-2)
    twin_opt.load_state_dict(opt.state_dict())
    calls = _count_factorisations(monkeypatch)
    ed = ParamEditor(opt)
    records = []
    for i in range(2):
        diagonalise_layer(model, i, ed)
        grow_layer(model, i, 3, generator=torch.Generator().manual_seed(i), editor=ed)
        records.append(prune_layer(model, i, 0.2, probe=x, editor=ed))
    # layer 0 by diagonalise; layer 1, after layer 0's prune, by that prune's bound (reused by its diagonalise)
    assert calls == [(16, IN), (16, records[0].neurons_after + 1)]
    calls.clear()
    for i in range(2):  # no memo: a new editor for every move
        diagonalise_layer(twin, i, ParamEditor(twin_opt))
        grow_layer(twin, i, 3, generator=torch.Generator().manual_seed(i), editor=ParamEditor(twin_opt))
        rec = prune_layer(twin, i, 0.2, probe=x, editor=ParamEditor(twin_opt))
        assert rec.neurons_after == records[i].neurons_after
        assert rec.removed_sigmas == pytest.approx(records[i].removed_sigmas, rel=1e-5 if dtype == torch.float32 else 1e-12)
        assert rec.bound == pytest.approx(records[i].bound, rel=1e-5 if dtype == torch.float32 else 1e-12)
    assert len(calls) == 5  # each of 2 diagonalise + 2 prunes factorises, plus layer 1's norm for layer 0's bound
    atol, rtol = default_tolerance(dtype)
    with torch.no_grad():
        ref = twin.logits_all(x)
        assert float((model.logits_all(x) - ref).abs().max()) <= 10 * (atol + rtol * float(ref.abs().max()))


def test_a_changed_layer_is_factorised_again():
    """The memo never serves a stale factorisation: after a training step the layer is factorised anew."""
    model, opt, x = _adam_model([12, 12], torch.float64)
    ed = ParamEditor(opt)
    diagonalise_layer(model, 0, ed)
    with torch.no_grad():
        model.backbone.layers[0].linear.weight.add_(0.01)  # what an optimiser step does between events
    rec, _ = assert_move_preserves(model, lambda m: diagonalise_layer(m, 0, ed), x)
    w = model.backbone.layers[0].linear.weight.detach()
    gram = w @ w.T
    assert float((gram - torch.diag(torch.diagonal(gram))).abs().max()) < 1e-10  # diagonal again
    assert torch.allclose(w.norm(dim=1), torch.tensor(rec.sigmas, dtype=torch.float64), atol=1e-12)


@FACTORISATIONS
def test_bound_norms_equal_the_spectral_norms(dtype, eigh32, monkeypatch):
    from isocl.nn.moves import lipschitz_after

    counts = count_float32_eigh(monkeypatch) if eigh32 else None
    model = make_model([9, 13, 6], dtype)
    expected = 1.0
    for layer in model.backbone.layers[1:]:
        expected *= float(torch.linalg.matrix_norm(layer.linear.weight.detach().double(), ord=2))
    expected *= max(float(torch.linalg.matrix_norm(h.weight.detach().double(), ord=2)) for h in model.head_linears())
    ed = ParamEditor()
    assert lipschitz_after(model, 0, ed) == pytest.approx(expected, rel=1e-12)
    assert lipschitz_after(model, 0, ed) == pytest.approx(expected, rel=1e-12)  # from the memo, same value
    if counts is not None:  # the float32 eigh's norms were kept, and still exact in float64
        assert counts["kept"] >= 2, counts


@pytest.mark.parametrize("rows", [96, FLOAT32_EIGH_MIN_ROWS + 32], ids=["gram64", "gram32"])
def test_float32_diagonalisation_within_rounding_tolerance(rows, monkeypatch):
    """The float32 steps at speed_core's fan-in (3072): U^T W in float32 (both sizes), and above
    FLOAT32_EIGH_MIN_ROWS the Gram matrix and eigh in float32 too, by default. The logits move by no more
    than the rounding an exact move may leave (isocl.bench.plasticity.rounding_tolerance), the rows are the
    sigmas and orthogonal to float32 precision, and the rank-deficient block keeps exact zero rows."""
    from isocl.bench.plasticity import rounding_tolerance

    counts = count_float32_eigh(monkeypatch, everywhere=False)
    model, opt, x = _adam_model([rows, 64], torch.float32, in_features=3072)
    with torch.no_grad():
        w = model.backbone.layers[0].linear.weight
        w[rows // 2 :] = w[: rows // 2]  # rank rows/2
        ref = model.logits_all(x)
    tol = rounding_tolerance(model, float(ref.abs().max()))
    for i in range(2):
        rec = diagonalise_layer(model, i, ParamEditor(opt))
        with torch.no_grad():
            change = float((model.logits_all(x) - ref).abs().max())
        assert change <= tol, (i, change, tol)
        w = model.backbone.layers[i].linear.weight.detach().double()
        sig = torch.tensor(rec.sigmas, dtype=torch.float64)
        assert torch.allclose(w.norm(dim=1), sig, rtol=1e-6, atol=0)
        gram = w @ w.T
        assert float((gram - torch.diag(torch.diagonal(gram))).abs().max()) <= 1e-5 * float(sig[0]) ** 2
    assert int((model.backbone.layers[0].linear.weight.detach().abs().sum(dim=1) == 0).sum()) == rows // 2
    # layer 0 only: layer 1 has 64 rows
    assert counts == {"kept": int(rows >= FLOAT32_EIGH_MIN_ROWS), "redone": 0}


def test_float32_eigh_near_the_rank_tolerance_is_redone_in_float64(monkeypatch):
    """Singular values spread across the rank tolerance (1 down to 1e-6): a float32 eigh could move a row
    across it, so the factorisation is redone in float64 and equals the float64 Gram path's exactly."""
    import isocl.nn.factors as factors_mod
    from isocl.nn.factors import factorise

    gen = torch.Generator().manual_seed(0)
    n, d = FLOAT32_EIGH_MIN_ROWS + 32, 1024
    u, _ = torch.linalg.qr(torch.randn(n, n, generator=gen, dtype=torch.float64))
    v, _ = torch.linalg.qr(torch.randn(d, n, generator=gen, dtype=torch.float64))
    block = (u * torch.logspace(0, -6, n, dtype=torch.float64)) @ v.T
    block = block.float()
    got = factorise(block)
    monkeypatch.setattr(factors_mod, "FLOAT32_EIGH_MIN_ROWS", n + 1)
    ref = factorise(block)
    assert torch.equal(got.u, ref.u) and torch.equal(got.rows, ref.rows) and got.top == ref.top
    tol = factors_mod.rank_tolerance(got.sigmas, (n, d))
    assert int((got.sigmas > tol).sum()) < n  # the spectrum does cross the tolerance
