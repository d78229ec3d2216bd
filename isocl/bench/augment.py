"""Training-time augmentation on whole mini-batches of tensors (``[scenario] augment``).

``"crop-flip"`` is the field's standard CIFAR augmentation (torchvision's
``RandomCrop(32, padding=4)`` then ``RandomHorizontalFlip()``, as in
Avalanche's ``SplitCIFAR10`` train transform): every image is padded by 4
black pixels on each side, a 32x32 window is cut at a uniformly drawn
offset, and it is mirrored with probability 1/2.

It is applied to the batch as one tensor gather (:func:`crop_flip`), not per
sample in Python, by :class:`AugmentPlugin` in Avalanche's
``before_forward`` hook: whatever a strategy's loader produced (isocl's
tensor batches, Avalanche's replay loader) and for every strategy, the
isotropic CNN's neuroplastic ones included. Buffer images must be augmented
like the current ones, or a network learns the shortcut "no black border: an
old class" (tests/test_augment.py checks every strategy with a buffer):
ER-ACE's separate buffer batch (``mb_buffer_x``) is augmented here; isocl's
DER joins its buffer batch before this hook runs (Avalanche's joins it after),
and its A-GEM augments the reference batch it forwards outside it
(:func:`augment_like_training`). The plugin
draws from its own generator seeded by the unit's seed, so a rerun is
bit-identical and the shuffling of the loaders is not disturbed.

Written by hand because torchvision's transforms act on one image at a time
(a Python loop over the batch) and draw from the global RNG.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from avalanche.training.plugins import SupervisedPlugin

from isocl.bench.config import AUGMENTATIONS

__all__ = ["AugmentPlugin", "augment_like_training", "augmentation_plugins", "black_fill", "crop_flip",
           "scenario_augmentation"]

PADDING = 4  # pixels on each side (torchvision RandomCrop(32, padding=4))
_SEED_TAG = 0x41554721  # separates the augmentation stream from the unit's other seeded streams


def black_fill(mean: Sequence[float], std: Sequence[float]) -> torch.Tensor:
    """The value of a black pixel in data normalised by ``mean``/``std`` (torchvision pads before normalising)."""
    return -torch.tensor(mean, dtype=torch.float32) / torch.tensor(std, dtype=torch.float32)


def crop_flip(x: torch.Tensor, generator: torch.Generator, padding: int = PADDING,
              fill: torch.Tensor | None = None) -> torch.Tensor:
    """Random crop with ``padding`` pixels of ``fill`` (per channel; default 0) and a horizontal flip with
    probability 1/2, drawn per image from ``generator`` (a CPU generator), for a batch ``x`` (N, C, H, W)."""
    n, c, h, w = x.shape
    offsets = torch.randint(0, 2 * padding + 1, (2, n), generator=generator)
    flips = torch.rand(n, generator=generator) < 0.5
    padded = x.new_empty((n, c, h + 2 * padding, w + 2 * padding))
    padded[:] = (fill if fill is not None else torch.zeros(c)).to(x.device, x.dtype).view(1, c, 1, 1)
    padded[:, :, padding:padding + h, padding:padding + w] = x
    cols = torch.arange(w)
    cols = torch.where(flips[:, None], cols.flip(0)[None, :], cols[None, :]) + offsets[1][:, None]  # (n, w)
    rows = offsets[0][:, None] + torch.arange(h)[None, :]  # (n, h)
    dev = x.device
    return padded[torch.arange(n, device=dev)[:, None, None, None], torch.arange(c, device=dev)[None, :, None, None],
                  rows.to(dev)[:, None, :, None], cols.to(dev)[:, None, None, :]]


class AugmentPlugin(SupervisedPlugin):
    """Augments every training mini-batch in ``before_forward`` (see the module's docstring)."""

    def __init__(self, seed: int, fill: torch.Tensor | None = None, padding: int = PADDING) -> None:
        super().__init__()
        self.generator = torch.Generator().manual_seed((int(seed) ^ _SEED_TAG) % 2**63)
        self.fill, self.padding = fill, padding

    def augment(self, x: torch.Tensor) -> torch.Tensor:
        """A batch of images (N, C, H, W) augmented from this plugin's stream."""
        return crop_flip(x, self.generator, self.padding, self.fill)

    def before_forward(self, strategy, **kwargs):
        strategy.mbatch[0] = self.augment(strategy.mbatch[0])
        buffer_x = getattr(strategy, "mb_buffer_x", None)  # ER-ACE's separate replay batch
        if isinstance(buffer_x, torch.Tensor) and buffer_x.dim() == 4:
            strategy.mb_buffer_x = self.augment(buffer_x)


def augment_like_training(strategy, x: torch.Tensor) -> torch.Tensor:
    """``x`` augmented as the unit's training batches are (its :class:`AugmentPlugin`), or ``x`` itself when
    the unit has no augmentation: for buffer images a strategy forwards outside ``before_forward``
    (A-GEM's reference batch)."""
    for plugin in strategy.plugins:
        if isinstance(plugin, AugmentPlugin) and x.dim() == 4:
            return plugin.augment(x)
    return x


def augmentation_plugins(name: str, seed: int, mean: Sequence[float] | None = None,
                         std: Sequence[float] | None = None) -> list[SupervisedPlugin]:
    """The plugins of ``[scenario] augment = name`` for a unit of ``seed`` (none for ``"none"``)."""
    if name not in AUGMENTATIONS:
        raise ValueError(f"augment must be one of {', '.join(AUGMENTATIONS)}, instead got {name!r}")
    if name == "none":
        return []
    fill = black_fill(mean, std) if mean is not None and std is not None else None
    return [AugmentPlugin(seed, fill)]


def scenario_augmentation(name: str, scenario, seed: int) -> list[SupervisedPlugin]:
    """:func:`augmentation_plugins` for a scenario of :func:`isocl.bench.scenarios.make_split_cifar10`
    (its ``mean``/``std`` give the black padding)."""
    return augmentation_plugins(name, seed, getattr(scenario, "mean", None), getattr(scenario, "std", None))
