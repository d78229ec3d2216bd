"""Synaptic intelligence on the isotropic MLP (Avalanche's plugin with its snapshot bug fixed)."""

from isocl.bench.avalanche_fixes import SynapticIntelligence
from isocl.bench.params import Param
from isocl.bench.registry import register_strategy
from isocl.bench.spaces import with_lr


# Avalanche caps each importance at 1e-3, so useful lambdas are large: the range spans 6 decades.
@register_strategy("si", params={
                       "si_lambda": Param(1.0, low=0.0, search={"type": "float", "low": 1.0, "high": 1e6, "log": True},
                                          doc="weight of the SI penalty"),
                       "eps": Param(1e-7, low=1e-12, high=1.0, doc="damping of the importance denominator")},
                   search=with_lr(),
                   description="SI (Zenke et al. 2017)")
def build(ctx, si_lambda, eps):
    return ctx.template(ctx.make_model(), [SynapticIntelligence(si_lambda, eps=eps)])
