"""Synaptic intelligence on the isotropic MLP (Avalanche's plugin with its snapshot bug fixed)."""

from isocl.bench.avalanche_fixes import SynapticIntelligence
from isocl.bench.registry import register_strategy
from isocl.bench.spaces import with_lr


# Avalanche caps each importance at 1e-3, so useful lambdas are large: the range spans 6 decades.
@register_strategy("si", defaults={"si_lambda": 1.0, "eps": 1e-7},
                   search=with_lr(si_lambda={"type": "float", "low": 1.0, "high": 1e6, "log": True}),
                   description="SI (Zenke et al. 2017)")
def build(ctx, si_lambda, eps):
    return ctx.template(ctx.make_model(), [SynapticIntelligence(si_lambda, eps=eps)])
