"""Grow before each experience, prune after it (doc §5)."""

from isocl.bench.plasticity import GROW_DEFAULTS, PRUNE_DEFAULTS, compression_kwargs, growth_kwargs, neuroplastic_strategy
from isocl.bench.registry import register_strategy
from isocl.bench.spaces import neuro_space


@register_strategy("neuro-grow-prune", defaults={**GROW_DEFAULTS, **PRUNE_DEFAULTS}, neuroplastic=True,
                   controls=("diag-only", "reset"),
                   search=neuro_space("grow_count", "prune_threshold", "prune_criterion",
                                          "min_width", "finetune_epochs", "model.intrinsic"),
                   description="isotropic MLP: scaffold neurons before, SVD pruning after each experience")
def build(ctx, **p):
    return neuroplastic_strategy(ctx, start_width=p["start_width"], grow=growth_kwargs(p),
                                 prune=compression_kwargs(p))
