"""Grow and prune, composed with Avalanche's replay plugin (class-balanced buffer)."""

from isocl.bench.plasticity import GROW_DEFAULTS, PRUNE_DEFAULTS, compression_kwargs, growth_kwargs, neuroplastic_strategy
from isocl.bench.registry import register_strategy
from isocl.bench.spaces import neuro_space
from avalanche.training.plugins import ReplayPlugin
from avalanche.training.storage_policy import ClassBalancedBuffer


@register_strategy(
    "neuro-grow-prune-replay",
    defaults={**GROW_DEFAULTS, **PRUNE_DEFAULTS, "mem_size": 500},
    neuroplastic=True,
    controls=("diag-only", "reset"),
    twin="replay",
    twin_params=("mem_size",),
    search=neuro_space("grow_count", "prune_threshold", "prune_criterion",
                           "min_width", "finetune_epochs", "model.intrinsic"),
    description="grow + prune + experience replay (fixed-width twins run replay with the same buffer)",
)
def build(ctx, **p):
    replay = ReplayPlugin(mem_size=p["mem_size"], storage_policy=ClassBalancedBuffer(p["mem_size"], adaptive_size=True))
    return neuroplastic_strategy(ctx, start_width=p["start_width"], grow=growth_kwargs(p),
                                 prune=compression_kwargs(p), extra_plugins=[replay])
