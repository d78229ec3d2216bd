"""An example plug-in strategy: naive fine-tuning with gradient clipping and a
per-experience learning-rate decay.

How to use it
-------------
Copy this file into a ``strategies/`` folder: the project's own, one named
``strategies`` in the directory you run ``isocl`` from, or any folder listed
in the ``ISOCL_STRATEGY_PATH`` environment variable (``:``-separated)::

    mkdir -p ~/my_strategies && cp examples/my_method.py ~/my_strategies/
    export ISOCL_STRATEGY_PATH=~/my_strategies
    isocl list                      # shows "my-method" with its parameters
    isocl run benchmarks/smoke.toml --strategies naive,my-method

The registry reads the file name with ``_`` as ``-``: ``my_method.py`` is the
strategy ``my-method``. A module in this "conventional" style defines

* ``build(ctx, **params)``: returns an Avalanche strategy. ``ctx`` is an
  :class:`isocl.bench.context.StrategyContext`: ``ctx.make_model()`` builds the
  benchmark's isotropic MLP (multi-head in task-incremental benchmarks),
  ``ctx.make_optimizer(model)`` the benchmark's optimiser, and
  ``ctx.template(model, plugins, ...)`` an Avalanche ``SupervisedTemplate``
  (or ``cls=...``) wired to the shared evaluator, device, epochs, batch sizes
  and the harness's own plugins (NaN guard, progress bars);
* ``PARAMS``: the parameters ``build`` takes, each declared once with
  :class:`isocl.bench.params.Param` (default, valid range, optional search
  distribution for ``isocl tune``). A benchmark file sets them in
  ``[strategy.my-method]``; unknown names, values of another type and values
  outside the range are rejected before anything runs (exit 2, one line).
  (The older ``DEFAULTS = {name: default}`` still works: then only the type
  is checked);
* optionally ``DESCRIPTION`` (shown by ``isocl list``) and ``SETTINGS``
  (``("class_il", "task_il")`` by default; ``("task_il",)`` for a method that
  needs task labels).

Alternatively, register one or more names with the decorator
``@isocl.bench.registry.register_strategy("name", defaults={...})`` (see the
baselines in ``strategies/``), or publish the module under the entry-point
group ``isocl.strategies`` of an installed package.
"""

from __future__ import annotations

import torch
from avalanche.training.plugins import LRSchedulerPlugin, SupervisedPlugin

from isocl.bench.params import Param

DESCRIPTION = "example plug-in: naive fine-tuning + gradient-norm clipping + lr decay per epoch"
PARAMS = {
    "max_grad_norm": Param(1.0, high=1e6, doc="clip the global gradient norm to this (<= 0: no clipping)"),
    "lr_decay": Param(0.9, low=1e-6, high=1.0, search={"type": "float", "low": 0.5, "high": 1.0},
                      doc="multiply the learning rate by this after every epoch (reset at each experience)"),
}
SETTINGS = ("class_il", "task_il")


class GradClipPlugin(SupervisedPlugin):
    """Clips the global gradient norm between the backward pass and the optimiser step."""

    def __init__(self, max_norm: float) -> None:
        super().__init__()
        self.max_norm = max_norm
        self.last_norm = float("nan")  # the norm before clipping, for inspection

    def after_backward(self, strategy, **kwargs) -> None:
        params = [p for p in strategy.model.parameters() if p.grad is not None]
        self.last_norm = float(torch.nn.utils.clip_grad_norm_(params, self.max_norm))


def build(ctx, max_grad_norm: float, lr_decay: float):
    """Naive fine-tuning of the benchmark's model with the two plugins above (its parameters are checked
    against ``PARAMS`` before it is called)."""
    model = ctx.make_model()
    optimizer = ctx.make_optimizer(model)
    plugins = [LRSchedulerPlugin(torch.optim.lr_scheduler.ExponentialLR(optimizer, gamma=lr_decay))]
    if max_grad_norm > 0:
        plugins.append(GradClipPlugin(max_grad_norm))
    return ctx.template(model, plugins, optimizer=optimizer)
