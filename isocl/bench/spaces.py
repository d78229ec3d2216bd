"""Declared parameters and search spaces of the shipped strategies (``isocl tune``, equal effort).

The neuroplastic parameters are declared once here (:data:`NEURO_PARAMS`: type, default, valid range,
search distribution); the neuro-* strategies take those they have, and the defaults and checks of
``isocl.bench.plasticity``'s configs (``GrowthConfig``, ``CompressionConfig``, ``ConsolidationConfig``)
and the tuner's ranges derive from them. Every space holds the learning rate; memory sizes are held
fixed (replay's 500-image buffer is part of the comparison's definition, and A-GEM's memory is bounded
by the same 500 images over 5 experiences), so tuning never buys a strategy more memory than its rivals.
A benchmark's own ``[search.NAME]`` table replaces a strategy's declared space.
"""

from __future__ import annotations

from typing import Any

from isocl.bench.config import MAX_INT, MAX_WIDTH
from isocl.bench.params import Param
from isocl.nn.moves import CRITERIA, THRESHOLD_MODES

__all__ = ["CONSOLIDATE", "GROW", "INTRINSIC", "LR", "MEM_SIZE", "NEURO", "NEURO_PARAMS", "PRUNE", "neuro_params", "neuro_space", "with_lr"]

# Four decades around Adam's usual 1e-3, so that no tuned rate sits at an edge (the verdict of
# December had 28 of 45 tuned rates within 1.4x of the old floor 1e-4; isocl.tuning.outputs flags edges).
LR: dict[str, Any] = {"type": "float", "low": 1e-6, "high": 1.0, "log": True}
INTRINSIC: dict[str, Any] = {"type": "categorical", "choices": ["constant", "trainable"]}  # model.intrinsic


def _int(low: int, high: int, log: bool = False) -> dict[str, Any]:
    return {"type": "int", "low": low, "high": high, "log": log}


def _float(low: float, high: float, log: bool = False) -> dict[str, Any]:
    return {"type": "float", "low": low, "high": high, "log": log}


# A replay buffer (replay, neuro-grow-prune-replay and its twins): at most the 50,000 CIFAR-10 training images
MEM_SIZE = Param(500, low=1, high=50_000, doc="images in the replay buffer (held fixed, not searched)")

# The neuroplastic parameters, each declared once; a strategy declares those it has.
NEURO_PARAMS: dict[str, Param] = {
    "grow_mode": Param("fixed", choices=("fixed", "per_class", "buffer"),
                       doc="fixed: grow_count neurons per layer; per_class: grow_count per new class; buffer"),
    "grow_count": Param(32, low=0, high=MAX_WIDTH, search=_int(1, 1024, log=True),
                        doc="neurons per layer (fixed) or per new class (per_class)"),
    "buffer_size": Param(5, low=0, high=MAX_WIDTH, search=_int(1, 32, log=True),
                         doc="buffer mode: weak neurons to keep available"),
    "scaffold_threshold": Param(0.95, low=0.0, high=1.0, search=_float(0.5, 0.99),
                                doc="sigma at or below which a neuron counts as scaffold"),
    "out_scale": Param(0.05, low=0.0, high=10.0, doc="std of scaffold neurons' outgoing weights"),
    "start_width": Param(0, low=0, high=MAX_WIDTH,
                         doc="> 0: every hidden layer starts at this width (else the benchmark's widths)"),
    "prune_threshold": Param(0.05, low=0.0, search=_float(1e-4, 0.9, log=True),
                             doc="relative to the largest score (prune_mode relative) or absolute"),
    "prune_mode": Param("relative", choices=THRESHOLD_MODES, doc=" | ".join(THRESHOLD_MODES)),
    "prune_criterion": Param("sv", choices=CRITERIA, search={"type": "categorical", "choices": list(CRITERIA)},
                             doc=" | ".join(CRITERIA)),
    "min_width": Param(16, low=1, high=MAX_WIDTH, search=_int(2, 256, log=True),
                       doc="never prune a layer below this"),
    # counted in the epoch budget: below the benchmark's epochs, and so is its search range
    "finetune_epochs": Param(0, low=0, high=MAX_INT, below="epochs", search=_int(0, 4),
                             doc="epochs on the current experience after pruning"),
    "overabundant_start": Param(256, low=1, high=MAX_WIDTH, search=_int(128, 1024, log=True),
                                doc="width every hidden layer starts at before pruning"),
    "consolidation": Param("exact", choices=("exact", "damp"), doc="exact | damp"),
    "damping": Param(0.1, low=0.0, high=1.0, doc="damp: factor of old rows' gradients"),
}
GROW = ("grow_mode", "grow_count", "buffer_size", "scaffold_threshold", "out_scale", "start_width")
PRUNE = ("prune_threshold", "prune_mode", "prune_criterion", "min_width", "finetune_epochs")
CONSOLIDATE = ("consolidation", "damping")

# The search ranges of the neuroplastic parameters (the older form's neuro_space reads them)
NEURO: dict[str, dict[str, Any]] = {
    **{k: dict(p.search) for k, p in NEURO_PARAMS.items() if p.search is not None},
    "model.intrinsic": INTRINSIC,
}


def neuro_params(*names: str, searched: tuple[str, ...] | None = None, **changed: Param) -> dict[str, Param]:
    """The named declarations of :data:`NEURO_PARAMS` (``searched``: only these keep their search
    distribution; default all), plus ``changed`` (a strategy's own parameters or different defaults)."""
    import dataclasses

    out = {}
    for n in names:
        p = NEURO_PARAMS[n]
        out[n] = p if searched is None or n in searched else dataclasses.replace(p, search=None)
    out.update(changed)
    return out


def with_lr(**space: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """``{"lr": LR, **space}``."""
    return {"lr": dict(LR), **space}


def neuro_space(*names: str) -> dict[str, dict[str, Any]]:
    """The learning rate plus the named neuroplastic ranges (the older ``register_strategy(search=...)`` form)."""
    return with_lr(**{n: dict(NEURO[n]) for n in names})
