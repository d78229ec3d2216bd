"""Learning without forgetting (Avalanche's LwFPlugin) on the isotropic MLP."""

from avalanche.training.plugins import LwFPlugin

from isocl.bench.registry import register_strategy
from isocl.bench.spaces import with_lr


@register_strategy("lwf", defaults={"alpha": 1.0, "temperature": 2.0},
                   search=with_lr(alpha={"type": "float", "low": 0.1, "high": 10.0, "log": True},
                                  temperature={"type": "float", "low": 0.5, "high": 4.0}),
                   description="LwF (Li & Hoiem 2016)")
def build(ctx, alpha, temperature):
    return ctx.template(ctx.make_model(), [LwFPlugin(alpha=alpha, temperature=temperature)])
