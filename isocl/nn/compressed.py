"""Compressed inference form after alternating diagonalisation (doc §4).

Every other map between hidden layers is a rectangular diagonal after
:func:`isocl.nn.moves.alternating_diagonalise`; here it is stored as a vector
and applied elementwise, O(n) instead of O(n^2). Biases and intrinsic
columns ride along (one dense column per map). The module returns the raw
outputs of every head, concatenated, like ``model.logits_all``.
"""

from __future__ import annotations

import copy

import torch
from torch import Tensor, nn

from isocl.nn.activations import isotropic
from isocl.nn.moves import alternating_diagonalise

__all__ = ["CompressedIsotropicMLP", "dense_weight_count"]


def dense_weight_count(model) -> int:
    """Neuron-to-neuron weights of a dense model (no biases, no intrinsic columns)."""
    layers = model.backbone.layers
    total, fan_in = 0, model.cfg.in_features
    for layer in layers:
        total += layer.width * fan_in
        fan_in = layer.width
    return total + sum(h.weight.shape[0] * fan_in for h in model.head_linears())


class _DiagonalMap(nn.Module):
    """z = diag(d) x[:, :k] (zero-padded to n_out) + col * x_o + b."""

    def __init__(self, diag: Tensor, n_in: int, n_out: int, col: Tensor | None, bias: Tensor | None) -> None:
        super().__init__()
        self.n_in, self.n_out = n_in, n_out
        self.register_buffer("diag", diag.clone())
        self.register_buffer("col", None if col is None else col.clone())
        self.register_buffer("bias", None if bias is None else bias.clone())

    def forward(self, x: Tensor) -> Tensor:  # x: (B, n_in [+1])
        k = self.diag.numel()
        z = x[:, :k] * self.diag  # (B, k)
        if self.n_out > k:
            z = nn.functional.pad(z, (0, self.n_out - k))
        if self.col is not None:
            z = torch.addcmul(z, x[:, self.n_in : self.n_in + 1], self.col)
        if self.bias is not None:
            z = z + self.bias
        return z


class CompressedIsotropicMLP(nn.Module):
    """Inference-only copy of an isotropic MLP with diagonal maps stored as vectors."""

    def __init__(self, model) -> None:
        super().__init__()
        work = copy.deepcopy(model)
        alternating_diagonalise(work)
        layers = work.backbone.layers
        diagonal = set(range(1, len(layers), 2))
        self.maps = nn.ModuleList()
        self.shapes: list[str] = []
        self.emits: list[bool] = []
        os_: list[Tensor | None] = []
        for j, layer in enumerate(layers):
            lin = layer.linear
            if j in diagonal:
                n_prev = layers[j - 1].width
                w = lin.weight.data
                k = min(w.shape[0], n_prev)
                diag = torch.diagonal(w[:, :n_prev])[:k]
                col = w[:, n_prev] if w.shape[1] > n_prev else None
                bias = None if lin.bias is None else lin.bias.data
                self.maps.append(_DiagonalMap(diag, n_prev, w.shape[0], col, bias))
            else:
                self.maps.append(copy.deepcopy(lin).requires_grad_(False))
            o = layer.o()
            os_.append(None if o is None else o.detach().clone())
            self.shapes.append(layer.shape)
            self.emits.append(layer.emits_intrinsic)
        for j, o in enumerate(os_):
            self.register_buffer(f"o_{j}", o)
        heads = [h.weight.data for h in work.head_linears()]
        biases = [h.bias.data if h.bias is not None else torch.zeros(h.weight.shape[0]).to(h.weight) for h in work.head_linears()]
        self.head = nn.Linear(heads[0].shape[1], sum(h.shape[0] for h in heads)).to(heads[0])
        self.head.weight.data = torch.cat(heads)
        self.head.bias.data = torch.cat(biases)
        self.head.requires_grad_(False)
        self.in_features = model.cfg.in_features
        self.dense_weights = dense_weight_count(model)

    def layout(self) -> dict:
        """What :meth:`from_state` needs besides the tensors (JSON-serialisable)."""
        maps = []
        for m in self.maps:
            if isinstance(m, _DiagonalMap):
                maps.append({"kind": "diagonal", "n_in": m.n_in, "n_out": m.n_out})
            else:
                maps.append({"kind": "dense", "n_in": m.in_features, "n_out": m.out_features,
                             "bias": m.bias is not None})
        return {"maps": maps, "shapes": list(self.shapes), "emits": list(self.emits),
                "in_features": self.in_features, "dense_weights": self.dense_weights}

    @classmethod
    def from_state(cls, layout: dict, state: dict[str, Tensor]) -> "CompressedIsotropicMLP":
        """Rebuild a saved compressed model from :meth:`layout` and its ``state_dict`` tensors."""
        self = cls.__new__(cls)
        nn.Module.__init__(self)
        self.maps = nn.ModuleList()
        for j, m in enumerate(layout["maps"]):
            if m["kind"] == "diagonal":
                self.maps.append(_DiagonalMap(state[f"maps.{j}.diag"], m["n_in"], m["n_out"],
                                              state.get(f"maps.{j}.col"), state.get(f"maps.{j}.bias")))
            else:
                w = state[f"maps.{j}.weight"]  # (n_out, n_in [+1])
                lin = nn.Linear(w.shape[1], w.shape[0], bias=m["bias"]).to(w)
                lin.load_state_dict({k: state[f"maps.{j}.{k}"] for k in lin.state_dict()})
                self.maps.append(lin.requires_grad_(False))
        self.shapes, self.emits = list(layout["shapes"]), list(layout["emits"])
        for j in range(len(self.maps)):
            self.register_buffer(f"o_{j}", state.get(f"o_{j}"))
        w = state["head.weight"]
        self.head = nn.Linear(w.shape[1], w.shape[0]).to(w)
        self.head.load_state_dict({"weight": w, "bias": state["head.bias"]})
        self.head.requires_grad_(False)
        self.in_features, self.dense_weights = layout["in_features"], layout["dense_weights"]
        return self

    def weight_count(self) -> int:
        """Stored neuron-to-neuron weights (diagonals count their length), as in doc §4."""
        total, fan_in = 0, self.in_features
        for m in self.maps:
            if isinstance(m, _DiagonalMap):
                total += m.diag.numel()
                fan_in = m.n_out
            else:
                total += m.out_features * fan_in
                fan_in = m.out_features
        return total + self.head.out_features * fan_in

    @torch.no_grad()
    def forward(self, x: Tensor) -> Tensor:
        x = x.flatten(1)
        for j, m in enumerate(self.maps):
            z = m(x)
            o = getattr(self, f"o_{j}")
            a, a_o = isotropic(z, o, self.shapes[j])
            x = torch.cat([a, a_o.expand(a.shape[0], 1)], dim=1) if self.emits[j] else a
        return self.head(x)
