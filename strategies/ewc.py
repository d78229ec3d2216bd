"""Elastic weight consolidation (Avalanche's EWCPlugin) on the isotropic MLP."""

from avalanche.training.plugins import EWCPlugin

from isocl.bench.registry import register_strategy
from isocl.bench.spaces import with_lr


@register_strategy(
    "ewc",
    defaults={"ewc_lambda": 1000.0, "mode": "separate", "decay_factor": 0.9},
    search=with_lr(ewc_lambda={"type": "float", "low": 1.0, "high": 1e5, "log": True}),
    description="EWC (Kirkpatrick et al. 2017) on the fixed-width isotropic MLP",
)
def build(ctx, ewc_lambda, mode, decay_factor):
    plugin = EWCPlugin(ewc_lambda, mode=mode, decay_factor=decay_factor if mode == "online" else None)
    return ctx.template(ctx.make_model(), [plugin])
