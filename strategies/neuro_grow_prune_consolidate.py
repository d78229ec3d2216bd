"""Grow, prune and consolidate: doc §5's design that keeps old task-incremental predictions exactly.

``consolidation = "exact"`` (task-incremental) freezes old neurons and
heads and switches the MLP to bias-free layers without intrinsic length;
``"damp"`` only scales old rows' gradients (for class-incremental use).
"""

from isocl.bench.plasticity import GROW_DEFAULTS, PRUNE_DEFAULTS, compression_kwargs, growth_kwargs, neuroplastic_strategy
from isocl.bench.registry import register_strategy
from isocl.bench.spaces import neuro_space


@register_strategy(
    "neuro-grow-prune-consolidate",
    defaults={**GROW_DEFAULTS, **PRUNE_DEFAULTS, "consolidation": "exact", "damping": 0.1},
    neuroplastic=True,
    controls=("diag-only", "reset"),
    search=neuro_space("grow_count", "prune_threshold", "prune_criterion",
                           "min_width", "finetune_epochs"),
    description="grow + prune + consolidation (exact: old task predictions kept, doc §5)",
)
def build(ctx, **p):
    return neuroplastic_strategy(ctx, start_width=p["start_width"], grow=growth_kwargs(p),
                                 prune=compression_kwargs(p),
                                 consolidate={"mode": p["consolidation"], "damping": p["damping"]})
