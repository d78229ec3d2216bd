"""GDumb (Avalanche's ``GDumbPlugin``, Prabhu et al. 2020) on the isotropic MLP.

A class-balanced buffer is the only training data: before each experience
the model is reset to its initial weights and trained from scratch on the
buffer.
"""

from avalanche.training.plugins import GDumbPlugin

from isocl.bench.registry import register_strategy
from isocl.bench.spaces import MEM_SIZE, with_lr


@register_strategy("gdumb", params={"mem_size": MEM_SIZE}, search=with_lr(),  # the buffer is fixed
                   description="GDumb (Prabhu et al. 2020), Avalanche's implementation, retrains from its buffer")
def build(ctx, mem_size):
    return ctx.template(ctx.make_model(), [GDumbPlugin(mem_size=mem_size)])
