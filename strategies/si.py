"""Synaptic intelligence on the isotropic MLP (Avalanche's plugin with its snapshot bug fixed)."""

from isocl.bench.avalanche_fixes import SynapticIntelligence
from isocl.bench.registry import register_strategy


@register_strategy("si", defaults={"si_lambda": 1.0, "eps": 1e-7}, description="SI (Zenke et al. 2017)")
def build(ctx, si_lambda, eps):
    return ctx.template(ctx.make_model(), [SynapticIntelligence(si_lambda, eps=eps)])
