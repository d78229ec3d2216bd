"""Overabundant start, then neurodegeneration after each experience (doc §3(d), §4)."""

from isocl.bench.plasticity import PRUNE_DEFAULTS, compression_kwargs, neuroplastic_strategy
from isocl.bench.registry import register_strategy
from isocl.bench.spaces import neuro_space


@register_strategy("neuro-prune", defaults={**PRUNE_DEFAULTS, "overabundant_start": 256, "start_width": 0},
                   neuroplastic=True, controls=("diag-only", "reset"),
                   search=neuro_space("overabundant_start", "prune_threshold", "prune_criterion",
                                          "min_width", "finetune_epochs", "model.intrinsic"),
                   description="isotropic MLP with an overabundant start, pruned after each experience")
def build(ctx, **p):
    grow = {"overabundant_start": p["overabundant_start"], "count": 0}
    return neuroplastic_strategy(ctx, start_width=p["start_width"], grow=grow, prune=compression_kwargs(p))
