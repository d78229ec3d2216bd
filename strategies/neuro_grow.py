"""Neurogenesis only: scaffold neurons before each new experience (doc §3(b), §5)."""

from isocl.bench.plasticity import GROW_DEFAULTS, growth_kwargs, neuroplastic_strategy
from isocl.bench.registry import register_strategy
from isocl.bench.spaces import neuro_space


@register_strategy("neuro-grow", defaults=GROW_DEFAULTS, neuroplastic=True, controls=("reset",),
                   search=neuro_space("grow_count", "model.intrinsic"),
                   description="isotropic MLP adding scaffold neurons before each new experience")
def build(ctx, **p):
    return neuroplastic_strategy(ctx, start_width=p["start_width"], grow=growth_kwargs(p))
