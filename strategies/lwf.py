"""Learning without forgetting (Avalanche's LwFPlugin) on the isotropic MLP."""

from avalanche.training.plugins import LwFPlugin

from isocl.bench.params import Param
from isocl.bench.registry import register_strategy
from isocl.bench.spaces import with_lr


@register_strategy("lwf", params={
                       "alpha": Param(1.0, low=0.0, search={"type": "float", "low": 0.1, "high": 100.0, "log": True},
                                      doc="weight of the distillation loss"),
                       "temperature": Param(2.0, low=1e-3, high=1e3, search={"type": "float", "low": 0.01, "high": 10.0, "log": True},
                                            doc="softmax temperature of the distillation")},
                   search=with_lr(),
                   description="LwF (Li & Hoiem 2016)")
def build(ctx, alpha, temperature):
    return ctx.template(ctx.make_model(), [LwFPlugin(alpha=alpha, temperature=temperature)])
