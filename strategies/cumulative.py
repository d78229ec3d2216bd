"""Cumulative training (Avalanche's Cumulative): joint training on all data so far, the upper bound."""

from avalanche.training import Cumulative

from isocl.bench.registry import register_strategy
from isocl.bench.spaces import with_lr


@register_strategy("cumulative", search=with_lr(),
                   description="joint training on all experiences so far (upper bound)")
def build(ctx):
    return ctx.template(ctx.make_model(), cls=Cumulative)
