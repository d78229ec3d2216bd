"""Progressive neural networks (Avalanche's PNN + PNNStrategy): one new column per task.

Two registrations: ``pnn`` with Avalanche's default MLP lateral adapters
(most of its parameters), and ``pnn-linear`` with linear adapters, so that
parameter ratios against PNN do not rest on one adapter choice.
"""

from avalanche.models import PNN
from avalanche.training import PNNStrategy

from isocl.bench.config import ConfigError
from isocl.bench.registry import register_strategy
from isocl.bench.spaces import with_lr


def _build(ctx, adapter):
    widths = ctx.model_config().widths
    if len(set(widths)) != 1:
        raise ConfigError(f"pnn needs equal hidden widths (Avalanche's PNN has one width per column), got {widths}")
    model = PNN(num_layers=len(widths), in_features=3 * 32 * 32, hidden_features_per_column=widths[0],
                adapter=adapter).to(ctx.device)
    return ctx.template(model, cls=PNNStrategy)


# Avalanche 0.6's PNN builds MLP columns only (no convolutional columns): model.kind = "cnn" is refused.
@register_strategy("pnn", defaults={"adapter": "mlp"}, settings=("task_il",), models=("mlp",), search=with_lr(),
                   backbone="relu",
                   description="progressive neural networks (Rusu et al. 2016), Avalanche's ReLU columns, MLP adapters")
def build(ctx, adapter):
    return _build(ctx, adapter)


@register_strategy("pnn-linear", settings=("task_il",), models=("mlp",), search=with_lr(), backbone="relu",
                   description="progressive neural networks with linear lateral adapters")
def build_linear(ctx):
    return _build(ctx, "linear")
