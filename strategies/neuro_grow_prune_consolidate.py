"""Grow, prune and consolidate: doc §5's design that keeps old task-incremental predictions exactly.

``consolidation = "exact"`` (task-incremental) freezes old neurons and
heads and switches the MLP to bias-free layers without intrinsic length;
``"damp"`` only scales old rows' gradients (for class-incremental use).
"""

from isocl.bench.plasticity import grow_prune_consolidate
from isocl.bench.registry import register_strategy
from isocl.bench.spaces import CONSOLIDATE, GROW, PRUNE, neuro_params, with_lr


@register_strategy(
    "neuro-grow-prune-consolidate",
    params=neuro_params(*GROW, *PRUNE, *CONSOLIDATE),
    neuroplastic=True,
    controls=("diag-only", "reset"),
    search=with_lr(),  # exact consolidation switches the intrinsic length off: model.intrinsic is not searched
    description="grow + prune + consolidation (exact: old task predictions kept, doc §5)",
)
def build(ctx, **p):
    return grow_prune_consolidate(ctx, p)
