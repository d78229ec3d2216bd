"""The paper author's adaptive rule (v2) after every epoch: keep a buffer of weak scaffold neurons (doc §5)."""

from isocl.bench.plasticity import GrowthConfig, neuroplastic
from isocl.bench.registry import register_strategy
from isocl.bench.spaces import INTRINSIC, neuro_params, with_lr

@register_strategy(
    "neuro-adaptive",
    params=neuro_params("buffer_size", "scaffold_threshold", "out_scale", "min_width", "start_width"),
    neuroplastic=True,
    controls=("reset",),
    search=with_lr(**{"model.intrinsic": INTRINSIC}),
    description="author's buffer rule after every epoch (grow or prune to a buffer of weak neurons)",
)
def build(ctx, **p):
    buffer_rule = GrowthConfig.from_params(p, mode="buffer", every_epoch=True)
    return neuroplastic(ctx, buffer_rule, start_width=p["start_width"])
