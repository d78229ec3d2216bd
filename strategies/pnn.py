"""Progressive neural networks (Avalanche's PNN + PNNStrategy): one new column per task.

Three registrations: ``pnn`` with Avalanche's default MLP lateral adapters
(most of its parameters), ``pnn-linear`` with linear adapters, so that
parameter ratios against PNN do not rest on one adapter choice, and
``pnn-iso``: ``pnn-linear`` with isotropic columns (each column's hidden
vector goes through the benchmark's isotropic activation instead of ReLU;
no intrinsic length, since a column never grows or prunes), so that PNN's
mechanism is compared on the isotropic backbone.
"""

from avalanche.models import PNN
from avalanche.training import PNNStrategy

from isocl.nn.activations import IsotropicActivation

from isocl.bench.config import ConfigError
from isocl.bench.params import Param
from isocl.bench.registry import register_strategy
from isocl.bench.spaces import with_lr


class IsotropicPNN(PNN):
    """Avalanche's PNN (same layers, columns, adapters and heads) with an isotropic activation
    applied to each column's hidden vector where Avalanche applies ReLU."""

    def __init__(self, *, shape: str, **kwargs) -> None:
        super().__init__(**kwargs)
        self.activation = IsotropicActivation(shape)

    def forward_single_task(self, x, task_label):
        # Avalanche's PNN.forward_single_task with F.relu replaced by self.activation.
        x = x.contiguous().view(x.size(0), self.in_features)
        col_idx = self.layers[-1].task_to_module_idx[task_label]
        x = [x for _ in range(self.layers[0].num_columns)]
        for lay in self.layers:
            x = [self.activation(el) for el in lay(x, task_label)]
        return self.classifier(x[col_idx], task_label)


def _build(ctx, adapter, isotropic=False):
    cfg = ctx.model_config()
    widths = cfg.widths
    if len(set(widths)) != 1:
        raise ConfigError(f"pnn needs equal hidden widths (Avalanche's PNN has one width per column), got {widths}")
    kw = dict(num_layers=len(widths), in_features=3 * 32 * 32, hidden_features_per_column=widths[0], adapter=adapter)
    model = (IsotropicPNN(shape=cfg.shape, **kw) if isotropic else PNN(**kw)).to(ctx.device)
    optimizer = ctx.make_optimizer(model, lr=ctx.lr_for_activation(isotropic))
    return ctx.template(model, cls=PNNStrategy, optimizer=optimizer)


# Avalanche 0.6's PNN builds MLP columns only (no convolutional columns): model.kind = "cnn" is refused.
@register_strategy("pnn", params={"adapter": Param("mlp", choices=("mlp", "linear"), doc="lateral adapters")},
                   settings=("task_il",), models=("mlp",), search=with_lr(), backbone="relu",
                   description="progressive neural networks (Rusu et al. 2016), Avalanche's ReLU columns, MLP adapters")
def build(ctx, adapter):
    return _build(ctx, adapter)


@register_strategy("pnn-linear", settings=("task_il",), models=("mlp",), search=with_lr(), backbone="relu",
                   description="progressive neural networks with linear lateral adapters")
def build_linear(ctx):
    return _build(ctx, "linear")


@register_strategy("pnn-iso", settings=("task_il",), models=("mlp",), search=with_lr(),
                   description="progressive neural networks with isotropic columns and linear lateral adapters")
def build_iso(ctx):
    return _build(ctx, "linear", isotropic=True)
