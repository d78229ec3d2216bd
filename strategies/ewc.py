"""Elastic weight consolidation (Avalanche's EWCPlugin) on the isotropic MLP."""

from avalanche.training.plugins import EWCPlugin

from isocl.bench.params import Param
from isocl.bench.registry import register_strategy
from isocl.bench.spaces import with_lr


@register_strategy(
    "ewc",
    params={"ewc_lambda": Param(1000.0, low=0.0, search={"type": "float", "low": 1.0, "high": 1e7, "log": True},
                                doc="weight of the EWC penalty"),
            "mode": Param("separate", choices=("separate", "online"), doc="separate | online"),
            "decay_factor": Param(0.9, low=0.0, high=1.0, doc="online mode: decay of the old importances")},
    search=with_lr(),
    description="EWC (Kirkpatrick et al. 2017) on the fixed-width isotropic MLP",
)
def build(ctx, ewc_lambda, mode, decay_factor):
    plugin = EWCPlugin(ewc_lambda, mode=mode, decay_factor=decay_factor if mode == "online" else None)
    return ctx.template(ctx.make_model(), [plugin])
