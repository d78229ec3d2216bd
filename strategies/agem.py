"""Averaged GEM (Avalanche's AGEMPlugin) on the isotropic MLP."""

from avalanche.training.plugins import AGEMPlugin

from isocl.bench.registry import register_strategy
from isocl.bench.spaces import with_lr


@register_strategy("agem", defaults={"patterns_per_exp": 100, "sample_size": 256},
                   # memory: at most 100 images per experience, the 500 of replay-500 over 5 experiences
                   search=with_lr(patterns_per_exp={"type": "int", "low": 20, "high": 100, "log": True},
                                  sample_size={"type": "int", "low": 16, "high": 256, "log": True}),
                   description="A-GEM (Chaudhry et al. 2019)")
def build(ctx, patterns_per_exp, sample_size):
    return ctx.template(ctx.make_model(), [AGEMPlugin(patterns_per_exp, sample_size)])
