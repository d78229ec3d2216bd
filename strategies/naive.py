"""Naive fine-tuning of the isotropic MLP (no protection against forgetting)."""

from avalanche.training.templates import SupervisedTemplate

from isocl.bench.registry import register_strategy
from isocl.bench.spaces import with_lr


@register_strategy("naive", search=with_lr(),
                   description="fine-tuning of the fixed-width isotropic MLP")
def build(ctx):
    return ctx.template(ctx.make_model(), cls=SupervisedTemplate)
