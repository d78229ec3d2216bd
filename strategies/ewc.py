"""Elastic weight consolidation (Avalanche's EWCPlugin) on the isotropic MLP."""

from avalanche.training.plugins import EWCPlugin

from isocl.bench.registry import register_strategy


@register_strategy(
    "ewc",
    defaults={"ewc_lambda": 1000.0, "mode": "separate", "decay_factor": 0.9},
    description="EWC (Kirkpatrick et al. 2017) on the fixed-width isotropic MLP",
)
def build(ctx, ewc_lambda, mode, decay_factor):
    plugin = EWCPlugin(ewc_lambda, mode=mode, decay_factor=decay_factor if mode == "online" else None)
    return ctx.template(ctx.make_model(), [plugin])
