"""Experience replay (Avalanche's ReplayPlugin, class-balanced buffer) on the isotropic MLP."""

from avalanche.training.plugins import ReplayPlugin
from avalanche.training.storage_policy import ClassBalancedBuffer

from isocl.bench.registry import register_strategy
from isocl.bench.spaces import MEM_SIZE, with_lr


def replay_plugin(mem_size: int) -> ReplayPlugin:
    """A replay plugin with a class-balanced buffer of ``mem_size`` samples."""
    return ReplayPlugin(mem_size=mem_size, storage_policy=ClassBalancedBuffer(mem_size, adaptive_size=True))


# the buffer is fixed (not searched): it is part of the comparison's definition
@register_strategy("replay", params={"mem_size": MEM_SIZE},
                   search=with_lr(),
                   description="experience replay, class-balanced buffer")
def build(ctx, mem_size):
    return ctx.template(ctx.make_model(), [replay_plugin(mem_size)])
