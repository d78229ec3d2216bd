"""Averaged GEM (Avalanche's AGEMPlugin) on the isotropic MLP."""

from avalanche.training.plugins import AGEMPlugin

from isocl.bench.registry import register_strategy


@register_strategy("agem", defaults={"patterns_per_exp": 256, "sample_size": 256},
                   description="A-GEM (Chaudhry et al. 2019)")
def build(ctx, patterns_per_exp, sample_size):
    return ctx.template(ctx.make_model(), [AGEMPlugin(patterns_per_exp, sample_size)])
