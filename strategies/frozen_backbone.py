"""Control: train on the first task, then freeze the backbone and only add heads (task-incremental).

What "no plasticity after the first task" gives: every later task trains its
own head on the first task's features. Neuroplastic strategies that end as
a mostly frozen first-task network plus a few new neurons must beat it.
"""

from avalanche.training.plugins import SupervisedPlugin

from isocl.bench.registry import register_strategy
from isocl.nn.kinds import ISOTROPIC_KINDS
from isocl.bench.spaces import with_lr


class FreezeBackbonePlugin(SupervisedPlugin):
    """After the first experience, the backbone's parameters stop training (heads keep training)."""

    def after_training_exp(self, strategy, **kwargs):
        for p in strategy.model.backbone.parameters():
            p.requires_grad_(False)
            p.grad = None  # Adam skips parameters without a gradient


@register_strategy("frozen-backbone", settings=("task_il",), models=ISOTROPIC_KINDS,  # reads model.backbone
                   search=with_lr(),
                   description="control: first task trains the backbone, later tasks only their heads")
def build(ctx):
    return ctx.template(ctx.make_model(), [FreezeBackbonePlugin()])
