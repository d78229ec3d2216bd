"""Memory aware synapses (Avalanche's ``MASPlugin``, Aljundi et al. 2018) on the isotropic MLP."""

from avalanche.training.plugins import MASPlugin

from isocl.bench.params import Param
from isocl.bench.registry import register_strategy
from isocl.bench.spaces import with_lr


@register_strategy("mas", params={
                       "lambda_reg": Param(1.0, low=0.0, high=1e9,
                                           search={"type": "float", "low": 0.01, "high": 1e4, "log": True},
                                           doc="weight of the importance penalty"),
                       "alpha": Param(0.5, low=0.0, high=1.0, search={"type": "float", "low": 0.0, "high": 0.9},
                                      doc="decay of the running importance estimate")},
                   search=with_lr(),
                   description="MAS (Aljundi et al. 2018), Avalanche's implementation")
def build(ctx, lambda_reg, alpha):
    return ctx.template(ctx.make_model(), [MASPlugin(lambda_reg=lambda_reg, alpha=alpha)])
