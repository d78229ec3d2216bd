"""Overabundant start, then neurodegeneration after each experience (doc §3(d), §4)."""

from isocl.bench.plasticity import CompressionConfig, GrowthConfig, neuroplastic
from isocl.bench.registry import register_strategy
from isocl.bench.spaces import INTRINSIC, PRUNE, neuro_params, with_lr


@register_strategy("neuro-prune", params=neuro_params(*PRUNE, "overabundant_start", "start_width"),
                   neuroplastic=True, controls=("diag-only", "reset"),
                   search=with_lr(**{"model.intrinsic": INTRINSIC}),
                   description="isotropic MLP with an overabundant start, pruned after each experience")
def build(ctx, **p):
    overabundant_start = GrowthConfig.from_params(p, count=0)  # grows before the first experience only
    return neuroplastic(ctx, overabundant_start, CompressionConfig.from_params(p), start_width=p["start_width"])
