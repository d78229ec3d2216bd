"""Grow before each experience, prune after it (doc §5)."""

from isocl.bench.plasticity import compression_kwargs, growth_kwargs, neuroplastic_strategy
from isocl.bench.registry import register_strategy
from isocl.bench.spaces import GROW, INTRINSIC, PRUNE, neuro_params, with_lr


@register_strategy("neuro-grow-prune", params=neuro_params(*GROW, *PRUNE), neuroplastic=True,
                   controls=("diag-only", "reset"),
                   search=with_lr(**{"model.intrinsic": INTRINSIC}),
                   description="isotropic MLP: scaffold neurons before, SVD pruning after each experience")
def build(ctx, **p):
    return neuroplastic_strategy(ctx, start_width=p["start_width"], grow=growth_kwargs(p),
                                 prune=compression_kwargs(p))
