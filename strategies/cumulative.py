"""Cumulative training (Avalanche's Cumulative): joint training on all data so far, the upper bound."""

from avalanche.training import Cumulative

from isocl.bench.registry import register_strategy


@register_strategy("cumulative", description="joint training on all experiences so far (upper bound)")
def build(ctx):
    return ctx.template(ctx.make_model(), cls=Cumulative)
