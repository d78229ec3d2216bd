"""Averaged GEM (Avalanche's AGEMPlugin) on the isotropic MLP."""

from avalanche.training.plugins import AGEMPlugin

from isocl.bench.params import Param
from isocl.bench.registry import register_strategy
from isocl.bench.spaces import with_lr


@register_strategy("agem", params={
                       # memory: at most 100 images per experience, the 500 of replay-500 over 5 experiences
                       "patterns_per_exp": Param(100, low=1, high=50_000,
                                                 search={"type": "int", "low": 20, "high": 100, "log": True},
                                                 doc="images stored per experience"),
                       "sample_size": Param(256, low=1, high=50_000,
                                            search={"type": "int", "low": 1, "high": 256, "log": True},
                                            doc="memory images drawn for each gradient projection")},
                   search=with_lr(),
                   description="A-GEM (Chaudhry et al. 2019)")
def build(ctx, patterns_per_exp, sample_size):
    return ctx.template(ctx.make_model(), [AGEMPlugin(patterns_per_exp, sample_size)])
