"""BiC, bias correction (Avalanche's ``BiC`` strategy, Wu et al. 2019) on the isotropic MLP.

Replay with distillation from the previous model; after each experience a
two-parameter bias layer on the new classes' logits is fitted on a held-out
part of the exemplar memory (stage 2) and applied at evaluation. ``mem_size``
bounds everything kept (replay buffer and held-out exemplars together), as
for replay.
"""

import copy

import avalanche.training.plugins.bic as _bic_plugin
from avalanche.training import BiC
from torch.optim.lr_scheduler import MultiStepLR

from isocl.bench.params import Param
from isocl.bench.registry import register_strategy
from isocl.bench.spaces import MEM_SIZE, with_lr




class _MultiStepLR(MultiStepLR):
    """MultiStepLR without ``verbose``, which PyTorch removed (2.10) and Avalanche 0.6's BiC still passes."""

    def __init__(self, optimizer, milestones, gamma=0.1, last_epoch=-1, verbose=None):
        super().__init__(optimizer, milestones, gamma=gamma, last_epoch=last_epoch)


_bic_plugin.MultiStepLR = _MultiStepLR  # only BiCPlugin's stage 2 reads this module's name

_WRITABLE: dict[type, type] = {}


class _BiC(BiC):
    """Avalanche's BiC on a copy of each training experience whose ``dataset`` can be set.

    Avalanche 0.6's BiCPlugin holds out its validation exemplars by assigning
    ``strategy.experience.dataset``, a read-only property of 0.6's
    DatasetExperience (AttributeError on any 0.6 benchmark). The copy takes
    the assignment and leaves the scenario's experience untouched.
    """

    def _before_train_dataset_adaptation(self, **kwargs):
        exp = self.experience
        cls = type(exp)
        if cls not in _WRITABLE:
            _WRITABLE[cls] = type(f"Writable{cls.__name__}", (cls,), {"dataset": property(
                lambda e: e._dataset, lambda e, value: setattr(e, "_dataset", value))})
        self.experience = copy.copy(exp)
        self.experience.__class__ = _WRITABLE[cls]
        super()._before_train_dataset_adaptation(**kwargs)


@register_strategy("bic", params={
                       "mem_size": MEM_SIZE,  # the buffer is fixed (not searched)
                       "val_percentage": Param(0.1, low=0.01, high=0.5,
                                               doc="share of the buffer held out to fit the bias layer"),
                       "T": Param(2, low=1, high=100, search={"type": "int", "low": 1, "high": 4},
                                  doc="distillation temperature"),
                       "stage_2_epochs": Param(200, low=1, high=10_000, doc="epochs fitting the bias layer"),
                       "stage_2_lr": Param(0.1, low=1e-6, high=10.0,
                                           search={"type": "float", "low": 1e-3, "high": 0.5, "log": True},
                                           doc="learning rate of the bias layer")},
                   settings=("class_il",),  # BiC corrects the bias between old and new classes of one head
                   search=with_lr(),
                   description="BiC (Wu et al. 2019), Avalanche's implementation, bias correction of new classes")
def build(ctx, mem_size, val_percentage, T, stage_2_epochs, stage_2_lr):
    # stage_2_epochs = 200 and val_percentage = 0.1 are Avalanche's and the paper's defaults; lamb = -1 lets
    # BiC weigh distillation by the share of old classes (the paper's rule).
    return ctx.template(ctx.make_model(), cls=_BiC, mem_size=replay_memory(mem_size, val_percentage),
                        val_percentage=val_percentage, T=T, stage_2_epochs=stage_2_epochs, lamb=-1, lr=stage_2_lr)


def replay_memory(mem_size: int, val_percentage: float) -> int:
    """BiC's replay buffer when ``mem_size`` bounds all it keeps: Avalanche's BiC keeps its replay buffer
    (its ``mem_size``) plus ``val_percentage`` of that many held-out exemplars for stage 2."""
    replay = int(mem_size / (1 + val_percentage))
    while replay + 1 + int(val_percentage * (replay + 1)) <= mem_size:  # float rounding may undershoot by one
        replay += 1
    while replay > 0 and replay + int(val_percentage * replay) > mem_size:
        replay -= 1
    return replay
