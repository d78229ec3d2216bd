"""Overabundant start, then neurodegeneration after each experience (doc §3(d), §4)."""

from isocl.bench.plasticity import compression_kwargs, neuroplastic_strategy
from isocl.bench.registry import register_strategy
from isocl.bench.spaces import INTRINSIC, PRUNE, neuro_params, with_lr


@register_strategy("neuro-prune", params=neuro_params(*PRUNE, "overabundant_start", "start_width"),
                   neuroplastic=True, controls=("diag-only", "reset"),
                   search=with_lr(**{"model.intrinsic": INTRINSIC}),
                   description="isotropic MLP with an overabundant start, pruned after each experience")
def build(ctx, **p):
    grow = {"overabundant_start": p["overabundant_start"], "count": 0}
    return neuroplastic_strategy(ctx, start_width=p["start_width"], grow=grow, prune=compression_kwargs(p))
