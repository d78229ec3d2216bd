"""Naive fine-tuning of the elementwise-tanh MLP: the neuron-by-neuron baseline."""

from isocl.bench.registry import register_strategy
from isocl.nn.kinds import ISOTROPIC_KINDS
from isocl.bench.spaces import with_lr


@register_strategy("naive-tanh", search=with_lr(), backbone="tanh",
                   models=ISOTROPIC_KINDS,  # the elementwise twin of an isotropic kind
                   description="fine-tuning of the fixed-width elementwise-tanh MLP")
def build(ctx):
    return ctx.template(ctx.make_model(isotropic=False))
