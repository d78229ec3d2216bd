"""iCaRL (Avalanche's ``ICaRL`` strategy, Rebuffi et al. 2017) on the isotropic MLP.

The isotropic MLP is split where Avalanche's iCaRL needs it: the backbone
(hidden layers, ``[a; a_o]`` out) is the feature extractor, the head the
classifier. The head has all of the benchmark's classes from the start
(iCaRL's distillation reloads the previous model's state into a copy, which
a growing head would not fit). At evaluation Avalanche swaps the head for a
nearest-mean-of-exemplars classifier on the normalised features.
"""

from types import SimpleNamespace

from avalanche.training import ICaRL

from isocl.bench.registry import register_strategy
from isocl.bench.spaces import MEM_SIZE, with_lr


class _ICaRL(ICaRL):
    """Avalanche's ICaRL taking the harness's ``model=`` (split here) and ``criterion=`` (unused:
    iCaRL brings its own distillation loss, Avalanche issue #966)."""

    def __init__(self, *, model, criterion, memory_size, **kwargs):
        del criterion
        super().__init__(feature_extractor=model.backbone, classifier=model.head, memory_size=memory_size,
                         buffer_transform=None, fixed_memory=True, **kwargs)
        self._class_order: list[int] = []

    def _before_training_exp(self, **kwargs):
        # Avalanche's iCaRL plugin reads ``experience.benchmark.n_classes_per_exp`` and ``.classes_order``,
        # which the harness's scenarios (benchmark_from_datasets) do not carry: give each training
        # experience that view, the class order being the classes in the order they were trained.
        exp = self.experience
        self._class_order += sorted(int(c) for c in exp.classes_in_this_experience)
        k = len(exp.classes_in_this_experience)
        n_classes = self.model.train_classifier.classifier.out_features
        exp.benchmark = SimpleNamespace(n_classes_per_exp=[k] * (n_classes // k), classes_order=self._class_order)
        super()._before_training_exp(**kwargs)


@register_strategy("icarl", params={"mem_size": MEM_SIZE}, settings=("class_il",),
                   models=("mlp", "slim_resnet18", "resnet18"),  # the kinds with a backbone/head split it trains
                   search=with_lr(),  # the memory is fixed
                   description="iCaRL (Rebuffi et al. 2017), Avalanche's implementation, nearest-mean classifier")
def build(ctx, mem_size):
    model = ctx.make_model(initial_classes=ctx.n_classes)
    if hasattr(model, "_guard_constant_columns"):  # an isotropic MLP: backbone and head are called directly
        model._guard_constant_columns()
    return ctx.template(model, cls=_ICaRL, memory_size=mem_size)
