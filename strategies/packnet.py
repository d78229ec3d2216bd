"""PackNet (Avalanche's PackNetModel + PackNetPlugin) with a shared task-relative head.

Avalanche 0.6's PackNet cannot wrap a MultiHeadClassifier ('_PnLinear' object
has no attribute 'in_features'), so the whole ReLU MLP, including one shared
output layer with as many units as classes per task, is wrapped; PackNet's
per-task masks make that layer task-specific. With ``model.kind = "cnn"``
the same conv stages (ReLU, average pooling) come first: Avalanche's PackNet
masks Conv2d layers as well.

``packnet-iso`` wraps the isotropic MLP's hidden layers instead (their
Linear maps are masked; the isotropic activation is stateless). PackNet can
mask weights but not a layer's scalar intrinsic length, which every task
would share and retrain, so a trainable intrinsic length is held constant
at its initial value (``intrinsic = "off"`` stays off).
"""

from avalanche.models.packnet import PackNetModel, PackNetPlugin
from torch import nn

from isocl.bench.config import MAX_INT, ConfigError
from isocl.bench.params import Param
from isocl.bench.registry import register_strategy
from isocl.nn.kinds import ISOTROPIC_KINDS
from isocl.bench.spaces import with_lr
from isocl.nn.cnn import CNNConfig
from isocl.nn.models import IsotropicBackbone


def _relu_cnn_stages(cfg: CNNConfig) -> tuple[list[nn.Module], int]:
    """The benchmark CNN's conv stages as ReLU convs with average pooling (PackNet masks Conv2d too)."""
    layers: list[nn.Module] = []
    c_in = cfg.in_channels
    pad = cfg.kernel_size // 2 if cfg.padding is None else cfg.padding
    for c in cfg.channels:
        layers += [nn.Conv2d(c_in, c, cfg.kernel_size, stride=cfg.stride, padding=pad), nn.ReLU()]
        if cfg.pool > 1:
            layers.append(nn.AvgPool2d(cfg.pool))
        c_in = c
    layers.append(nn.Flatten())
    return layers, c_in * cfg.spatial_sizes[-1] ** 2


def _check_epochs(ctx, post_prune_epochs):
    if post_prune_epochs >= ctx.epochs:
        raise ConfigError(
            f"packnet: post_prune_epochs = {post_prune_epochs} must be below the training epochs ({ctx.epochs})"
        )


# both PackNets' parameters, declared once
PARAMS = {
    # counted in the epoch budget: below the benchmark's epochs, and so is its search range;
    # Avalanche's PackNet needs at least one (it freezes the pruned weights after them)
    "post_prune_epochs": Param(1, low=1, high=MAX_INT, below="epochs", search={"type": "int", "low": 1, "high": 4},
                               doc="epochs after pruning each task"),
    "prune_proportion": Param(0.5, low=0.0, high=1.0, search={"type": "float", "low": 0.1, "high": 0.99},
                              doc="share of the free weights pruned after each task"),
}


@register_strategy("packnet", params=PARAMS, settings=("task_il",), backbone="relu", search=with_lr(),
                   models=ISOTROPIC_KINDS,  # its ReLU copy of an MLP or CNN
                   description="PackNet (Mallya & Lazebnik 2018), Avalanche's implementation")
def build(ctx, post_prune_epochs, prune_proportion):
    _check_epochs(ctx, post_prune_epochs)
    cfg = ctx.model_config()
    layers, fan_in = _relu_cnn_stages(cfg) if isinstance(cfg, CNNConfig) else ([nn.Flatten()], 3 * 32 * 32)
    for w in cfg.widths:
        layers += [nn.Linear(fan_in, w), nn.ReLU()]
        fan_in = w
    layers.append(nn.Linear(fan_in, ctx.classes_per_experience))
    model = PackNetModel(nn.Sequential(*layers)).to(ctx.device)
    plugin = PackNetPlugin(post_prune_epochs=post_prune_epochs, prune_proportion=prune_proportion)
    return ctx.template(model, [plugin])


@register_strategy("packnet-iso", params=PARAMS, settings=("task_il",), models=("mlp",), search=with_lr(),
                   description="PackNet's masks on the isotropic MLP (intrinsic length held constant)")
def build_iso(ctx, post_prune_epochs, prune_proportion):
    _check_epochs(ctx, post_prune_epochs)
    cfg = ctx.model_config()
    cfg.intrinsic = "off" if cfg.intrinsic == "off" else "constant"
    backbone = IsotropicBackbone(cfg)
    model = PackNetModel(nn.Sequential(backbone, nn.Linear(backbone.out_features, ctx.classes_per_experience)))
    model = model.to(ctx.device)
    plugin = PackNetPlugin(post_prune_epochs=post_prune_epochs, prune_proportion=prune_proportion)
    return ctx.template(model, [plugin], optimizer=ctx.make_optimizer(model, lr=ctx.lr_for_activation(True)))
