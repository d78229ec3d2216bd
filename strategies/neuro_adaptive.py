"""The paper author's adaptive rule (v2) after every epoch: keep a buffer of weak scaffold neurons (doc §5)."""

from isocl.bench.plasticity import neuroplastic_strategy
from isocl.bench.registry import register_strategy
from isocl.bench.spaces import neuro_space

@register_strategy(
    "neuro-adaptive",
    defaults={"buffer_size": 5, "scaffold_threshold": 0.95, "out_scale": 0.05, "min_width": 16, "start_width": 0},
    neuroplastic=True,
    controls=("reset",),
    search=neuro_space("buffer_size", "scaffold_threshold",
                           "min_width", "model.intrinsic"),
    description="author's buffer rule after every epoch (grow or prune to a buffer of weak neurons)",
)
def build(ctx, **p):
    grow = {"mode": "buffer", "buffer_size": p["buffer_size"], "scaffold_threshold": p["scaffold_threshold"],
            "out_scale": p["out_scale"], "every_epoch": True, "min_width": p["min_width"]}
    return neuroplastic_strategy(ctx, start_width=p["start_width"], grow=grow)
