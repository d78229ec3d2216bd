"""Structural moves on isotropic MLPs (doc §3-5).

Each move acts in place on a model from :mod:`isocl.nn.models` and returns a
:class:`MoveRecord`. Exact moves (rotation, diagonalisation, neurogenesis,
merge) leave the function unchanged up to float rounding; neurodegeneration
(:func:`prune_layer`) is approximate and reports the a-priori bound of
doc §3(d) beside the measured change on a probe batch. Pass a
:class:`~isocl.nn.optim.ParamEditor` holding the optimiser(s) so that their
state follows every edit (doc §5).

Every move acts through the layer protocol of :mod:`isocl.nn.protocol`:
``layers[l].incoming()`` is the augmented incoming matrix
``[W_in | w_o,prev]`` (a conv kernel reshaped to ``C_out x C_in_aug*k*k``,
doc §7), and ``model.readers(l)`` are the matrices of the maps reading
layer ``l`` (the next layer's ``reading_columns()``, or every head), whose
columns ``0..n-1`` read its neurons (channels) and column ``n`` its
intrinsic output when it emits one. No move knows a storage layout.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor, nn

from isocl.nn.factors import Factors, factorise, incoming_norm, memo_key, rank_tolerance
from isocl.nn.optim import ParamEditor
from isocl.nn.protocol import refresh_shape

__all__ = [
    "MoveRecord",
    "rank_tolerance",
    "rotate_layer",
    "diagonalise_layer",
    "grow_layer",
    "merge_constant_neurons",
    "prune_layer",
    "buffer_rule",
    "alternating_diagonalise",
    "probe_logits",
    "max_change",
    "CRITERIA",
    "factorise",
    "lipschitz_after",
]

CRITERIA = ("sv", "sv_out")
THRESHOLD_MODES = ("relative", "absolute")


@dataclass
class MoveRecord:
    """What a move did. ``bound`` is set for approximate moves only."""

    kind: str  # rotate | diagonalise | grow | merge | prune | adaptive_grow | adaptive_prune | alternating
    layer: int | None
    neurons_before: int
    neurons_after: int
    exact: bool = True
    sigmas: list[float] = field(default_factory=list)  # spectrum before the move (diagonalise / prune)
    removed_sigmas: list[float] = field(default_factory=list)
    bound: float | None = None  # a-priori bound on max |delta logit| (doc §3(d))
    max_logit_change: float | None = None  # measured on the probe batch, when one is given
    details: dict[str, Any] = field(default_factory=dict)


# ----------------------------------------------------------------- helpers
def _layers(model) -> nn.ModuleList:
    layers = model.layers
    for i, layer in enumerate(layers):
        if not layer.isotropic:
            raise TypeError(
                f"structural moves need isotropic layers; hidden layer {i} is elementwise "
                "(only isotropic activations make these moves exact, doc §1)"
            )
    return layers


def _check_layer(model, index: int) -> None:
    n = len(model.layers)
    if not 0 <= index < n:
        raise IndexError(f"hidden layer index {index} out of range; the model has {n} hidden layers")


def _editor(editor: ParamEditor | None) -> ParamEditor:
    return editor if editor is not None else ParamEditor()


def _sync_shapes(model, index: int) -> None:
    """Refresh the ``in_features`` / ``out_features`` attributes after an edit."""
    layer = model.layers[index]
    layer.sync()
    for view in model.readers(index):
        refresh_shape(view.module)
    if index == len(model.layers) - 1 and hasattr(model.head, "in_features"):
        model.head.in_features = layer.out_features  # new Avalanche heads read this


@torch.no_grad()
def probe_logits(model, probe: Tensor | None) -> Tensor | None:
    """Every head's logits on ``probe`` in eval mode (the model's mode is restored); ``None`` without a probe."""
    if probe is None:
        return None
    was_training = model.training
    model.eval()
    out = model.logits_all(probe)
    model.train(was_training)
    return out


def max_change(before: Tensor | None, after: Tensor | None) -> float | None:
    """The largest absolute change between two :func:`probe_logits` results (``None`` if either is missing)."""
    if before is None or after is None:
        return None
    return float((after - before).abs().max())


@torch.no_grad()
def _layer_input(model, index: int, probe: Tensor) -> Tensor:
    """Input ``x_in`` of hidden layer ``index`` (with the previous a_o appended), one row per sample."""
    return model.backbone.layer_input(probe, index).flatten(1)


# ------------------------------------------------------------ exact moves
@torch.no_grad()
def rotate_layer(model, index: int, q: Tensor, editor: ParamEditor | None = None) -> MoveRecord:
    """Rotate layer ``index``'s neuron basis by orthogonal Q (doc §3(a), exact).

    ``W_in <- Q^T W_in``, ``b_in <- Q^T b_in``, consumers ``W_out <- W_out Q``.
    """
    layers = _layers(model)
    _check_layer(model, index)
    n = layers[index].width
    if q.shape != (n, n):
        raise ValueError(f"Q must be {n} x {n} for hidden layer {index}, instead got shape {tuple(q.shape)}")
    _rotate_basis(model, index, q, _editor(editor))
    return MoveRecord("rotate", index, n, n)


def _rotate_basis(model, index: int, q: Tensor, ed: ParamEditor, rows: Tensor | None = None) -> None:
    """Move (a) with Q: every parameter and both optimiser moments in one pass each.
    ``rows``: the new incoming matrix ``Q^T W_in`` when the caller computed it (a diagonalisation)."""
    layer = model.layers[index]
    n = layer.width
    ed.rotate_rows(layer.incoming(), q, rows)
    if layer.bias is not None:
        ed.rotate_rows(layer.bias, q)
    for view in model.readers(index):
        ed.rotate_cols(view, q, n)


@torch.no_grad()
def diagonalise_layer(model, index: int, editor: ParamEditor | None = None, *, start: int = 0) -> MoveRecord:
    """Partial diagonalisation of one layer (doc §4), exact.

    SVD of the augmented incoming matrix ``[W_in | w_o,prev] = U S V^T`` and
    move (a) with Q = U: row i becomes ``sigma_i v_i^T`` (sorted descending).
    With ``start > 0`` only the block of neurons ``start..n-1`` is
    diagonalised (Q = diag(I, U), doc §5: old neurons stay as they are).
    Rows beyond the rank (or with sigma under numpy's rank tolerance) are set
    to exactly zero, so those neurons are constant and
    :func:`merge_constant_neurons` removes them exactly. Returns the n
    singular values (zeros for rows beyond ``min(n, d)``) in ``sigmas``.

    A layer is factorised once per structural event (one ``editor``): a block
    that is still what an earlier diagonalisation wrote (scaffold rows appended
    are zero) is already diagonal and is left as it is (Q = I, a permutation-free
    no-op); a block factorised for a bound (:func:`lipschitz_after`) reuses that
    factorisation. See :func:`factorise` for the numerics.
    """
    layers = _layers(model)
    _check_layer(model, index)
    ed = _editor(editor)
    layer = layers[index]
    view = layer.incoming()
    w = view.matrix()
    n_all, d = w.shape
    if not 0 <= start < n_all:
        raise ValueError(f"start must be in [0, {n_all}) for hidden layer {index}, instead got start = {start}")
    n = n_all - start
    block = w[start:]
    key = memo_key(view, start)
    known = ed.memo.get(key)
    sig = known.diagonal_sigmas(block) if known is not None else None
    if sig is not None:
        rows, u = block.clone(), None  # already diagonal: the move is the identity
    else:
        fac = known if known is not None and known.u is not None and known.matches(block) else factorise(block)
        u, rows, sig = fac.u, fac.rows.clone(), fac.sigmas.clone()
    under = sig <= rank_tolerance(sig[: min(n, d)], (n, d))
    newly_zero = bool((under & (sig > 0)).any())
    sig[under] = 0
    rows[under] = 0  # constant neurons: exactly zero rows, so the merge is exact
    if u is not None:
        q = torch.eye(n_all, dtype=w.dtype, device=w.device)
        q[start:, start:] = u
        new = torch.cat([w[:start], rows]) if start else rows
        _rotate_basis(model, index, q, ed, new)
    elif newly_zero:  # more rows than before (scaffold) raise the rank tolerance
        new = w.clone()
        new[start:] = rows
        ed.assign(view, new, changed=torch.zeros_like(new, dtype=torch.bool))
    kept = rows.clone()
    ed.memo[key] = Factors(kept, None, kept, sig.clone())
    _sync_shapes(model, index)
    return MoveRecord("diagonalise", index, n_all, n_all, sigmas=sig.tolist())


@torch.no_grad()
def grow_layer(
    model,
    index: int,
    k: int,
    *,
    out_scale: float = 0.05,
    generator: torch.Generator | None = None,
    editor: ParamEditor | None = None,
    zero_out_rows: list[int] | None = None,
) -> MoveRecord:
    """Neurogenesis: append ``k`` scaffold neurons to layer ``index`` (doc §3(b), exact).

    Zero incoming rows and bias, so their pre-activation is 0 and they change
    neither r nor the output; outgoing columns are N(0, out_scale^2), never
    zero, so that they receive gradient and learn. ``zero_out_rows[c]``
    leading rows of consumer ``c`` get zero columns instead (doc §5: old
    neurons and old heads never read new neurons); at least one row of some
    consumer must stay random.
    """
    layers = _layers(model)
    _check_layer(model, index)
    if int(k) != k or k < 0:
        raise ValueError(f"k must be a non-negative int, instead got k = {k!r}")
    if not out_scale > 0:
        raise ValueError(
            f"out_scale must be > 0 (a zero outgoing column makes a dead neuron, doc §3(b)), "
            f"instead got out_scale = {out_scale}"
        )
    layer = layers[index]
    n = layer.width
    if k == 0:
        return MoveRecord("grow", index, n, n)
    ed = _editor(editor)
    w = layer.incoming()
    like = w.matrix()
    readers = model.readers(index)
    zero_rows = list(zero_out_rows) if zero_out_rows is not None else [0] * len(readers)
    if len(zero_rows) != len(readers):
        raise ValueError(f"zero_out_rows needs one entry per consumer ({len(readers)}), instead got {zero_rows}")
    if all(z * v.row_group >= v.shape[0] for z, v in zip(zero_rows, readers)):
        raise ValueError("zero_out_rows leaves every outgoing column zero: scaffold neurons would be dead (doc §3(b))")
    ed.insert(w, 0, n, torch.zeros(k, like.shape[1], dtype=like.dtype, device=like.device))
    if layer.bias is not None:
        ed.insert(layer.bias, 0, n, torch.zeros(k, dtype=like.dtype, device=like.device))
    for view, z in zip(readers, zero_rows):
        cols = torch.randn(view.shape[0], k, generator=generator, dtype=torch.float64)
        cols[: z * view.row_group] = 0  # a consumer's unit owns row_group rows (k*k for a conv)
        ed.insert(view, 1, n, (cols * out_scale).to(view.param))
    _sync_shapes(model, index)
    return MoveRecord("grow", index, n, n + k, details={"out_scale": out_scale})


@torch.no_grad()
def merge_constant_neurons(
    model,
    index: int,
    neurons: list[int] | Tensor | None = None,
    *,
    allow_inexact: bool = False,
    editor: ParamEditor | None = None,
) -> MoveRecord:
    """Fold constant neurons into the intrinsic coordinate and delete them (doc §3(c)).

    ``neurons`` default to those whose incoming row is exactly zero. With
    biases b_P: ``o' = sqrt(o^2 + ||b_P||^2)``,
    ``w_o' = (o w_o + W_out[:, P] b_P) / o'``. Exact when the layer has an
    intrinsic length read through a column, or when b_P = 0. Otherwise the
    neurons are simply deleted if ``allow_inexact`` (their constant value
    ``||b_P||`` is lost; the record says ``exact=False``), else ValueError.
    """
    layers = _layers(model)
    _check_layer(model, index)
    ed = _editor(editor)
    layer = layers[index]
    n = layer.width
    w = layer.incoming().matrix()
    bias = layer.bias
    if neurons is None:
        idx = torch.nonzero(~w.ne(0).any(dim=1)).flatten()
    else:
        idx = torch.as_tensor(neurons, dtype=torch.long).flatten()
        if idx.numel() and (idx.min() < 0 or idx.max() >= n):
            raise IndexError(f"neurons {idx.tolist()} out of range for hidden layer {index} of width {n}")
        nonzero = [int(i) for i in idx if w[i].ne(0).any()]
        if nonzero:
            raise ValueError(
                f"neurons {nonzero} of hidden layer {index} have non-zero incoming rows; only constant "
                "neurons merge exactly (zero their rows first, as prune_layer does)"
            )
    if idx.numel() == 0:
        return MoveRecord("merge", index, n, n)
    if idx.numel() >= n:
        raise ValueError(f"merging {idx.numel()} neurons would leave hidden layer {index} empty (width {n})")
    b_p = bias.data[idx] if bias is not None else torch.zeros(idx.numel(), dtype=w.dtype, device=w.device)
    lost = float(b_p.norm())
    exact = True
    if lost > 0:
        if layer.has_intrinsic and layer.emits_intrinsic:
            o = layer.o().to(w)
            o_new = torch.sqrt(o * o + b_p @ b_p)
            for view in model.readers(index):
                cw = view.matrix()
                new = cw.clone()
                new[:, n] = (o * cw[:, n] + cw[:, idx] @ b_p) / o_new
                changed = torch.zeros_like(cw, dtype=torch.bool)
                changed[:, n] = True
                ed.assign(view, new, changed)
            if layer.o_param is not None:
                ed.assign(layer.o_param, layer.o_param.data, None)  # o is re-set below; its state resets
            layer.set_o(o_new)
        elif allow_inexact:
            exact = False
        else:
            raise ValueError(
                f"hidden layer {index} cannot absorb constant neurons with non-zero bias exactly: it needs "
                f"intrinsic != 'off' and intrinsic_out != 'off' (got intrinsic={layer.intrinsic!r}, "
                f"intrinsic_out={layer.intrinsic_out!r})"
            )
    removed = set(idx.tolist())
    keep = torch.tensor([i for i in range(n) if i not in removed], dtype=torch.long)
    ed.keep(layer.incoming(), 0, keep.to(w.device))
    if bias is not None:
        ed.keep(bias, 0, keep.to(w.device))
    for view in model.readers(index):
        cols = torch.cat([keep, torch.arange(n, view.shape[1])]).to(w.device)
        ed.keep(view, 1, cols)
    _sync_shapes(model, index)
    return MoveRecord("merge", index, n, n - idx.numel(), exact=exact, details={"lost_bias_norm": 0.0 if exact else lost})


# ----------------------------------------------------- approximate moves
def _spectral_norm(w: Tensor) -> float:
    return float(torch.linalg.matrix_norm(w.double(), ord=2)) if w.numel() else 0.0


@torch.no_grad()
def lipschitz_after(model, index: int, editor: ParamEditor | None = None) -> float:
    """Upper bound on the operator norm of everything after hidden layer ``index``'s activation (doc §3(d), §7).

    Product over later layers of ``patch_gain * ||incoming matrix||_2`` (for a
    conv, ``ceil(k/stride)`` times the reshaped kernel's norm) and of every
    ``output_gain`` (average pooling), times the largest head norm: heads are
    alternatives, not a chain. A later layer's norm is its largest singular
    value, exact in float64, taken from the factorisation that ``editor``'s
    event holds for it (or made now and kept for its diagonalisation).
    """
    layers = model.layers
    ed = _editor(editor)
    prod = float(layers[index].output_gain)
    for layer in layers[index + 1 :]:
        prod *= layer.patch_gain * incoming_norm(layer, ed) * layer.output_gain
    return prod * max(_spectral_norm(h.weight) for h in model.head_linears())


def _scores(model, index: int, sig: Tensor, criterion: str, start: int = 0) -> Tensor:
    if criterion == "sv":
        return sig
    n = len(sig)
    out = torch.cat([v.matrix()[:, start : start + n] for v in model.readers(index)], dim=0)
    return sig * out.double().norm(dim=0).to(sig)


def _select_weak(score: Tensor, threshold: float, mode: str, min_width: int) -> list[int]:
    n = score.numel()
    if mode == "relative":
        top = float(score.max()) if n else 0.0
        weak = score < threshold * top if top > 0 else torch.ones(n, dtype=torch.bool)
        if threshold == 0:
            weak = score <= 0
    else:
        weak = score <= threshold
    order = torch.argsort(score, descending=True, stable=True)  # strongest first
    keep_first = order[: max(min_width, 1)]
    weak[keep_first] = False
    return sorted(int(i) for i in torch.nonzero(weak).flatten())


def _check_prune_args(mode: str, criterion: str, threshold: float, min_width: int) -> None:
    if mode not in THRESHOLD_MODES:
        raise ValueError(f"mode must be one of {THRESHOLD_MODES}, instead got mode = {mode!r}")
    if criterion not in CRITERIA:
        raise ValueError(f"criterion must be one of {CRITERIA}, instead got criterion = {criterion!r}")
    if not threshold >= 0:
        raise ValueError(f"threshold must be >= 0, instead got threshold = {threshold}")
    if min_width < 1:
        raise ValueError(f"min_width must be >= 1, instead got min_width = {min_width}")


@torch.no_grad()
def prune_layer(
    model,
    index: int,
    threshold: float,
    *,
    mode: str = "relative",
    criterion: str = "sv",
    min_width: int = 1,
    probe: Tensor | None = None,
    editor: ParamEditor | None = None,
    neurons: list[int] | None = None,
    start: int = 0,
    compare: bool = True,
    probe_input: Tensor | None = None,
) -> MoveRecord:
    """Neurodegeneration: diagonalise, zero weak rows, merge (doc §3(d), §4).

    A neuron is weak when its score (``sv``: sigma_i; ``sv_out``:
    sigma_i * ||W_out[:, i]||) is below ``threshold`` times the largest score
    (``mode="relative"``) or at most ``threshold`` (``"absolute"``). The
    ``min_width`` strongest neurons always stay. ``neurons`` overrides the
    selection (indices after diagonalisation). With a ``probe`` batch the
    record carries the a-priori bound
    ``lipschitz_after * (patch_gain * max ||x_in|| * sqrt(sum sigma_removed^2) + lost)``
    (:func:`lipschitz_after`; ``patch_gain`` is 1 dense and ``ceil(k/stride)``
    for a conv, doc §7; ``lost`` is the constant ``||b_P||`` over every output
    position when the merge cannot be exact) and the measured max |delta logit|. Pruning only sigma = 0 neurons is exact.
    ``start > 0`` restricts diagonalisation and pruning to neurons
    ``start..n-1`` (doc §5); ``sigmas`` and ``neurons`` then index that block.
    ``compare=False`` skips the two probe passes that measure the change (the
    bound is still computed): a caller that measures the probe's logits itself
    (the auditor, in the pass that also gives its accuracy) fills
    ``max_logit_change``. ``probe_input``: layer ``index``'s input on the probe
    (``model.backbone.layer_input(probe, index)``), when the caller has it from
    a pass of its own; else it is computed here.
    """
    layers = _layers(model)
    _check_layer(model, index)
    _check_prune_args(mode, criterion, threshold, min_width)
    ed = _editor(editor)
    measured = probe if compare else None
    before = probe_logits(model, measured)
    x_norm, positions = None, 1
    if probe is not None:
        x_in = probe_input if probe_input is not None else model.backbone.layer_input(probe, index)
        x_norm = float(x_in.flatten(1).norm(dim=1).max()) * layers[index].patch_gain
        positions = layers[index].preactivation(x_in[:1])[0, 0].numel()  # output positions (1 for dense)
    diag = diagonalise_layer(model, index, ed, start=start)
    sig = torch.tensor(diag.sigmas, dtype=torch.float64)
    n = start + len(sig)
    if neurons is None:
        weak = _select_weak(_scores(model, index, sig, criterion, start), threshold, mode, max(min_width - start, 1))
    else:
        weak = sorted(set(int(i) for i in neurons))
    removed = sig[weak] if weak else sig[:0]
    weak = [start + i for i in weak]
    if not weak:
        return MoveRecord("prune", index, n, n, exact=True, sigmas=diag.sigmas, bound=0.0 if probe is not None else None,
                          max_logit_change=max_change(before, probe_logits(model, measured)))
    zero_rows = torch.zeros(n, dtype=torch.bool)
    zero_rows[weak] = True
    view = layers[index].incoming()
    w = view.matrix()
    mask = zero_rows[:, None].expand_as(w).to(w.device)
    ed.assign(view, w.masked_fill(mask, 0.0), mask)
    merge = merge_constant_neurons(model, index, weak, allow_inexact=True, editor=ed)
    bound = None
    if probe is not None:
        lost = merge.details.get("lost_bias_norm", 0.0) * positions ** 0.5
        bound = lipschitz_after(model, index, ed) * (x_norm * float(removed.norm()) + lost)
    exact = bool(removed.abs().max() == 0) and merge.exact
    return MoveRecord(
        "prune", index, n, n - len(weak), exact=exact, sigmas=diag.sigmas, removed_sigmas=removed.tolist(),
        bound=bound, max_logit_change=max_change(before, probe_logits(model, measured)),
        details={"threshold": threshold, "mode": mode, "criterion": criterion},
    )


@torch.no_grad()
def buffer_rule(
    model,
    *,
    threshold: float = 0.95,
    buffer: int = 5,
    out_scale: float = 0.05,
    min_width: int = 1,
    probe: Tensor | None = None,
    generator: torch.Generator | None = None,
    editor: ParamEditor | None = None,
) -> list[MoveRecord]:
    """The paper author's adaptive rule (doc §5), last hidden layer first.

    Diagonalise; count neurons with sigma <= ``threshold`` (absolute); add
    scaffold neurons until the count equals ``buffer``, or remove the weakest
    while it exceeds it (never below ``min_width``).
    """
    layers = _layers(model)
    if buffer < 0:
        raise ValueError(f"buffer must be >= 0, instead got buffer = {buffer}")
    records: list[MoveRecord] = []
    editor = _editor(editor)  # one editor: the prune below reuses the diagonalisation
    for index in reversed(range(len(layers))):
        before = probe_logits(model, probe)
        diag = diagonalise_layer(model, index, editor)
        sig = torch.tensor(diag.sigmas, dtype=torch.float64)
        weak = torch.nonzero(sig <= threshold).flatten()
        count = weak.numel()
        if count < buffer:
            rec = grow_layer(model, index, buffer - count, out_scale=out_scale, generator=generator, editor=editor)
            rec.kind = "adaptive_grow"
            rec.sigmas = diag.sigmas
            rec.max_logit_change = max_change(before, probe_logits(model, probe))
            records.append(rec)
        elif count > buffer:
            excess = min(count - buffer, len(sig) - min_width)
            if excess > 0:
                weakest = torch.argsort(sig)[:excess].tolist()  # ascending sigma
                rec = prune_layer(model, index, 0.0, mode="absolute", probe=probe, editor=editor, neurons=weakest)
                rec.kind = "adaptive_prune"
                records.append(rec)
    return records


# ------------------------------------------------------ full diagonalisation
def _square_pairs(layers) -> list[int]:
    """Layers j whose reading of layer j-1 is a plain matrix (``row_group == 1``), taken greedily in pairs.

    Dense after dense, a 1x1 conv after a conv, or a dense map after a global
    pool qualify; a k x k conv (k > 1) or a dense map reading a flattened
    H x W map does not: its V acts on C_in*k*k (or C*H*W), not on channels (doc §7).
    """
    pairs, j = [], 1
    while j < len(layers):
        if layers[j].reading_columns().row_group == 1:
            pairs.append(j)
            j += 2
        else:
            j += 1
    return pairs


@torch.no_grad()
def alternating_diagonalise(model, editor: ParamEditor | None = None) -> MoveRecord:
    """Alternating diagonalisation of the whole network (doc §4, §7), exact.

    For every other map between hidden layers (layer j reads layer j-1,
    j = 1, 3, 5, ... where the reading is a plain matrix, see
    :func:`_square_pairs`): ``W = U S V^T`` on its neuron block; rotate layer
    j-1 by V and layer j by U, so the block becomes the rectangular diagonal S
    (written exactly). Biases and intrinsic columns stay dense.
    """
    layers = _layers(model)
    diagonal = []
    for j in _square_pairs(layers):
        n_prev = layers[j - 1].width
        w = layers[j].reading_columns().matrix()
        u, s, vh = torch.linalg.svd(w[:, :n_prev], full_matrices=True)
        rotate_layer(model, j - 1, vh.T.contiguous(), editor)
        rotate_layer(model, j, u, editor)
        view = layers[j].reading_columns()
        w = view.matrix()
        block = torch.zeros_like(w)
        block[:, n_prev:] = w[:, n_prev:]
        k = s.numel()
        block[torch.arange(k), torch.arange(k)] = s
        changed = torch.zeros_like(w, dtype=torch.bool)
        _editor(editor).assign(view, block, changed)
        diagonal.append(j)
    widths = [layer.width for layer in layers]
    return MoveRecord("alternating", None, sum(widths), sum(widths), details={"diagonal_layers": diagonal})
