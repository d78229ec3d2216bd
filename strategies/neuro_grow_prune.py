"""Grow before each experience, prune after it (doc §5)."""

from isocl.bench.plasticity import GROW_DEFAULTS, PRUNE_DEFAULTS, compression_kwargs, growth_kwargs, neuroplastic_strategy
from isocl.bench.registry import register_strategy


@register_strategy("neuro-grow-prune", defaults={**GROW_DEFAULTS, **PRUNE_DEFAULTS}, neuroplastic=True,
                   controls=("diag-only", "reset"),
                   description="isotropic MLP: scaffold neurons before, SVD pruning after each experience")
def build(ctx, **p):
    return neuroplastic_strategy(ctx, start_width=p["start_width"], grow=growth_kwargs(p),
                                 prune=compression_kwargs(p))
