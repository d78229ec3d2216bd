"""DER++ (Avalanche's ``DER`` strategy, Buzzega et al. 2020) on the isotropic MLP.

DER stores each buffered image's logits and matches them later (an MSE term,
weight ``alpha``) beside a cross-entropy on the buffered labels (``beta``;
``beta > 0`` is DER++). Stored logits must keep one width: in class-IL the
head has all of the benchmark's classes from the start (Avalanche's own DER
examples use a fixed-size head too; a growing head would store 2-, 4-, ...
wide logits that neither batch together nor match the current output), and
unmasked; in task-IL every task head has the same width.
"""

import avalanche.training.supervised.der as _der
import torch
from avalanche.models.utils import avalanche_forward
from avalanche.training import DER

from isocl.bench.params import Param
from isocl.bench.registry import register_strategy
from isocl.bench.spaces import MEM_SIZE, with_lr


@torch.no_grad()
def compute_dataset_logits(dataset, model, batch_size, device, num_workers=0):
    """Avalanche 0.6's ``der.compute_dataset_logits`` with the task labels passed on (it called
    ``model(x)``, which a multi-head model cannot answer); for a single-head model the same outputs."""
    was_training = model.training
    model.eval()
    logits = []
    for x, _, t in torch.utils.data.DataLoader(dataset, batch_size=batch_size, shuffle=False,
                                                num_workers=num_workers):
        logits += [row.clone() for row in avalanche_forward(model, x.to(device), t.to(device)).detach().cpu()]
    if was_training:
        model.train()
    return logits


_der.compute_dataset_logits = compute_dataset_logits  # read by der.ClassBalancedBufferWithLogits.update only


class _DER(DER):
    """Avalanche's DER with its buffer batch joined to the current one *before* the plugins' ``before_forward``.

    Avalanche 0.6 calls the plugins first and joins the buffer batch after, so the unit's augmentation
    (:mod:`isocl.bench.augment`) reached only the current images: the network learned that an image without
    a black border is an old class, and in the CPU CNN comparison DER++ reached 14% on its second task's test
    images while it trained to 73% on them. The authors' code augments buffer images too. Same loss, same
    buffer, same sampling: only the order of the two steps differs.
    """

    def _before_forward(self, **kwargs):
        if self.replay_loader is not None:
            x, y, t, logits = (v.to(self.device) for v in next(self.replay_loader))
            self.mbatch[0] = torch.cat((x, self.mbatch[0]))
            self.mbatch[1] = torch.cat((y, self.mbatch[1]))
            self.mbatch[2] = torch.cat((t, self.mbatch[2]))
            self.batch_logits = logits
        super(DER, self)._before_forward(**kwargs)  # the template's hook: the plugins, augmentation among them


@register_strategy("der", params={
                       "mem_size": MEM_SIZE,  # the buffer is fixed (not searched)
                       "alpha": Param(0.1, low=0.0, high=1e3, search={"type": "float", "low": 1e-3, "high": 100.0, "log": True},
                                      doc="weight of the MSE between current and stored logits"),
                       "beta": Param(0.5, low=0.0, high=1e3, search={"type": "float", "low": 1e-4, "high": 10.0, "log": True},
                                     doc="weight of the cross-entropy on buffered labels (> 0: DER++)")},
                   search=with_lr(),
                   description="DER++ (Buzzega et al. 2020), Avalanche's implementation, logit replay")
def build(ctx, mem_size, alpha, beta):
    if ctx.task_incremental:
        model = ctx.make_model()
    else:
        model = ctx.make_model(initial_classes=ctx.n_classes)
        # Unmasked: Avalanche's IncrementalClassifier outputs -1000 for classes not seen yet, which DER would
        # store and then pull those classes' logits back to once they arrive (an MSE of about 1e5).
        model.head.masking = False
    return ctx.template(model, cls=_DER, mem_size=mem_size, alpha=alpha, beta=beta)
