"""Model kinds: which builder makes a network from which configuration.

``build_model`` lives here, above both kinds, because the CNN builds on the
MLP's classes (:mod:`isocl.nn.cnn` imports :mod:`isocl.nn.models`): a
dispatcher inside ``models`` would have to import ``cnn`` back.
"""

from __future__ import annotations

from isocl.nn.cnn import CNNConfig, build_cnn
from isocl.nn.models import MLPConfig, build_mlp

__all__ = ["BUILDERS", "build_model"]

BUILDERS = {MLPConfig: build_mlp, CNNConfig: build_cnn}
"""Configuration class -> the function that builds its network."""


def build_model(cfg):
    """An MLP for an :class:`~isocl.nn.models.MLPConfig`, a CNN for a :class:`~isocl.nn.cnn.CNNConfig`."""
    builder = BUILDERS.get(type(cfg))
    if builder is None:
        names = " or ".join(c.__name__ for c in BUILDERS)
        raise TypeError(f"build_model needs an {names}, instead got {type(cfg).__name__}")
    return builder(cfg)
