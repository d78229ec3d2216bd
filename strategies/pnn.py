"""Progressive neural networks (Avalanche's PNN + PNNStrategy): one new column per task."""

from avalanche.models import PNN
from avalanche.training import PNNStrategy

from isocl.bench.config import ConfigError
from isocl.bench.registry import register_strategy


@register_strategy("pnn", defaults={"adapter": "mlp"}, settings=("task_il",),
                   description="progressive neural networks (Rusu et al. 2016), Avalanche's ReLU columns")
def build(ctx, adapter):
    widths = ctx.model_config().widths
    if len(set(widths)) != 1:
        raise ConfigError(f"pnn needs equal hidden widths (Avalanche's PNN has one width per column), got {widths}")
    model = PNN(num_layers=len(widths), in_features=3 * 32 * 32, hidden_features_per_column=widths[0],
                adapter=adapter).to(ctx.device)
    return ctx.template(model, cls=PNNStrategy)
