"""Grow and prune, composed with Avalanche's replay plugin (class-balanced buffer)."""

from isocl.bench.plasticity import grow_prune
from isocl.bench.registry import register_strategy
from isocl.bench.spaces import GROW, INTRINSIC, MEM_SIZE, PRUNE, neuro_params, with_lr
from avalanche.training.plugins import ReplayPlugin
from avalanche.training.storage_policy import ClassBalancedBuffer


@register_strategy(
    "neuro-grow-prune-replay",
    params=neuro_params(*GROW, *PRUNE, mem_size=MEM_SIZE),
    neuroplastic=True,
    controls=("diag-only", "reset"),
    twin="replay",
    twin_params=("mem_size",),
    search=with_lr(**{"model.intrinsic": INTRINSIC}),
    description="grow + prune + experience replay (fixed-width twins run replay with the same buffer)",
)
def build(ctx, **p):
    replay = ReplayPlugin(mem_size=p["mem_size"], storage_policy=ClassBalancedBuffer(p["mem_size"], adaptive_size=True))
    return grow_prune(ctx, p, plugins=[replay])
