"""Memory aware synapses (Avalanche's ``MASPlugin``, Aljundi et al. 2018) on the isotropic MLP."""

from avalanche.training.plugins import MASPlugin

from isocl.bench.registry import register_strategy
from isocl.bench.spaces import with_lr


@register_strategy("mas", defaults={"lambda_reg": 1.0, "alpha": 0.5},
                   search=with_lr(lambda_reg={"type": "float", "low": 0.01, "high": 1e4, "log": True},
                                  alpha={"type": "float", "low": 0.0, "high": 0.9}),
                   description="MAS (Aljundi et al. 2018), Avalanche's implementation")
def build(ctx, lambda_reg, alpha):
    return ctx.template(ctx.make_model(), [MASPlugin(lambda_reg=lambda_reg, alpha=alpha)])
