"""Averaged GEM (Avalanche's AGEMPlugin) on the isotropic MLP."""

from avalanche.training.plugins import AGEMPlugin

from isocl.bench.augment import augment_like_training
from isocl.bench.config import ConfigError
from isocl.bench.params import Param
from isocl.bench.registry import register_strategy
from isocl.bench.spaces import with_lr


class _AGEMPlugin(AGEMPlugin):
    """Avalanche's A-GEM with its memory batch augmented like the training batches (the authors' code and
    mammoth's augment buffer images; Avalanche forwards the memory batch outside ``before_forward``, where
    the unit's augmentation acts, so it saw raw images beside augmented current ones)."""

    def before_training_iteration(self, strategy, **kwargs):
        self._strategy = strategy
        try:
            super().before_training_iteration(strategy, **kwargs)
        finally:
            self._strategy = None

    def sample_from_memory(self):
        batch = list(super().sample_from_memory())
        strategy = getattr(self, "_strategy", None)
        if strategy is not None:
            batch[0] = augment_like_training(strategy, batch[0].to(strategy.device))
        return batch


@register_strategy("agem", params={
                       # memory: at most 100 images per experience, the 500 of replay-500 over 5 experiences
                       "patterns_per_exp": Param(100, low=1, high=50_000,
                                                 search={"type": "int", "low": 20, "high": 100, "log": True},
                                                 doc="images stored per experience"),
                       # Avalanche draws sample_size // (experiences stored) images from each stored experience,
                       # so a projection needs at least one image per stored experience; the search starts at
                       # 4, the most experiences a 5-experience benchmark stores
                       "sample_size": Param(256, low=1, high=50_000,
                                            search={"type": "int", "low": 4, "high": 256, "log": True},
                                            doc="memory images drawn for each gradient projection "
                                                "(at least the experiences stored: n_experiences - 1)")},
                   search=with_lr(),
                   description="A-GEM (Chaudhry et al. 2019)")
def build(ctx, patterns_per_exp, sample_size):
    stored = ctx.bench.scenario["n_experiences"] - 1
    if sample_size < stored:  # Avalanche would build a memory loader of batch size 0 at the second experience
        raise ConfigError(f"agem: sample_size = {sample_size} is below the {stored} experiences A-GEM stores "
                          f"(it draws sample_size // {stored} images from each); expected at least {stored}")
    return ctx.template(ctx.make_model(), [_AGEMPlugin(patterns_per_exp, sample_size)])
