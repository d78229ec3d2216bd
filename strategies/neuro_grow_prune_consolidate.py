"""Grow, prune and consolidate: doc §5's design that keeps old task-incremental predictions exactly.

``consolidation = "exact"`` (task-incremental) freezes old neurons and
heads and switches the MLP to bias-free layers without intrinsic length;
``"damp"`` only scales old rows' gradients (for class-incremental use).
"""

from isocl.bench.plasticity import compression_kwargs, growth_kwargs, neuroplastic_strategy
from isocl.bench.registry import register_strategy
from isocl.bench.params import Param
from isocl.bench.spaces import GROW, PRUNE, neuro_params, with_lr


@register_strategy(
    "neuro-grow-prune-consolidate",
    params=neuro_params(*GROW, *PRUNE,
                        consolidation=Param("exact", choices=("exact", "damp"), doc="exact | damp"),
                        damping=Param(0.1, low=0.0, high=1.0, doc="damp: factor of old rows' gradients")),
    neuroplastic=True,
    controls=("diag-only", "reset"),
    search=with_lr(),  # exact consolidation switches the intrinsic length off: model.intrinsic is not searched
    description="grow + prune + consolidation (exact: old task predictions kept, doc §5)",
)
def build(ctx, **p):
    return neuroplastic_strategy(ctx, start_width=p["start_width"], grow=growth_kwargs(p),
                                 prune=compression_kwargs(p),
                                 consolidate={"mode": p["consolidation"], "damping": p["damping"]})
