"""ER-ACE (Avalanche's ``ER_ACE`` strategy, Caccia et al. 2022) on the isotropic MLP.

Experience replay with the asymmetric cross-entropy: the incoming batch's
loss sees only the logits of the classes in it, the replayed batch's sees
all of them, so new classes do not push old ones' logits down.
"""

from avalanche.training import ER_ACE

from isocl.bench.params import Param
from isocl.bench.registry import register_strategy
from isocl.bench.spaces import MEM_SIZE, with_lr


@register_strategy("er-ace", params={
                       "mem_size": MEM_SIZE,  # the buffer is fixed (not searched)
                       "batch_size_mem": Param(10, low=1, high=50_000, doc="buffered images replayed per mini-batch")},
                   search=with_lr(),
                   description="ER-ACE (Caccia et al. 2022), Avalanche's implementation, asymmetric cross-entropy")
def build(ctx, mem_size, batch_size_mem):
    # batch_size_mem = 10 is Avalanche's default (and the paper's replay batch for online learning).
    return ctx.template(ctx.make_model(), cls=ER_ACE, mem_size=mem_size, batch_size_mem=batch_size_mem)
