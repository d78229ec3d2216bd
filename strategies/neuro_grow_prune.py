"""Grow before each experience, prune after it (doc §5)."""

from isocl.bench.plasticity import grow_prune
from isocl.bench.registry import register_strategy
from isocl.bench.spaces import GROW, INTRINSIC, PRUNE, neuro_params, with_lr


@register_strategy("neuro-grow-prune", params=neuro_params(*GROW, *PRUNE), neuroplastic=True,
                   controls=("diag-only", "reset"),
                   search=with_lr(**{"model.intrinsic": INTRINSIC}),
                   description="isotropic MLP: scaffold neurons before, SVD pruning after each experience")
def build(ctx, **p):
    return grow_prune(ctx, p)
