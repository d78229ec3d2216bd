"""Naive fine-tuning of the elementwise-ReLU MLP: the backbone PNN and PackNet use, at the isotropic MLP's widths."""

from isocl.bench.registry import register_strategy
from isocl.bench.spaces import with_lr


@register_strategy("naive-relu", search=with_lr(), backbone="relu",
                   description="fine-tuning of the fixed-width elementwise-ReLU MLP")
def build(ctx):
    return ctx.template(ctx.make_model(isotropic=False, shape="relu"))
