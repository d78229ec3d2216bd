"""The paper author's adaptive rule (v2) after every epoch: keep a buffer of weak scaffold neurons (doc §5)."""

from isocl.bench.plasticity import neuroplastic_strategy
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
    grow = {"mode": "buffer", "buffer_size": p["buffer_size"], "scaffold_threshold": p["scaffold_threshold"],
            "out_scale": p["out_scale"], "every_epoch": True, "min_width": p["min_width"]}
    return neuroplastic_strategy(ctx, start_width=p["start_width"], grow=grow)
