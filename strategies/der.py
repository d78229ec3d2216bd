"""DER++ (Avalanche's ``DER`` strategy, Buzzega et al. 2020) on the isotropic MLP.

DER stores each buffered image's logits and matches them later (an MSE term,
weight ``alpha``) beside a cross-entropy on the buffered labels (``beta``;
``beta > 0`` is DER++). Stored logits must keep one width, so the head has
all of the benchmark's classes from the start (Avalanche's own DER examples
use a fixed-size head too): a growing head would store 2-, 4-, ... wide
logits that neither batch together nor match the current output.
"""

from avalanche.training import DER

from isocl.bench.registry import register_strategy
from isocl.bench.spaces import with_lr


# Class-IL only: Avalanche 0.6's DER computes the stored logits with model(x), without task labels,
# which a multi-head (task-IL) model cannot answer.
@register_strategy("der", defaults={"mem_size": 500, "alpha": 0.1, "beta": 0.5}, settings=("class_il",),
                   search=with_lr(alpha={"type": "float", "low": 0.01, "high": 1.0, "log": True},
                                  beta={"type": "float", "low": 0.05, "high": 1.0, "log": True}),  # buffer fixed
                   description="DER++ (Buzzega et al. 2020), Avalanche's implementation, logit replay")
def build(ctx, mem_size, alpha, beta):
    model = ctx.make_model(initial_classes=ctx.n_classes)
    return ctx.template(model, cls=DER, mem_size=mem_size, alpha=alpha, beta=beta)
