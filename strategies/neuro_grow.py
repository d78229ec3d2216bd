"""Neurogenesis only: scaffold neurons before each new experience (doc §3(b), §5)."""

from isocl.bench.plasticity import GrowthConfig, neuroplastic
from isocl.bench.registry import register_strategy
from isocl.bench.spaces import GROW, INTRINSIC, neuro_params, with_lr


@register_strategy("neuro-grow", params=neuro_params(*GROW), neuroplastic=True, controls=("reset",),
                   search=with_lr(**{"model.intrinsic": INTRINSIC}),
                   description="isotropic MLP adding scaffold neurons before each new experience")
def build(ctx, **p):
    return neuroplastic(ctx, GrowthConfig.from_params(p), start_width=p["start_width"])
