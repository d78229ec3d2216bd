"""Declared Optuna search spaces of the shipped strategies (``isocl tune``, equal effort).

Each strategy declares its space with ``register_strategy(search=...)`` in
the format of a benchmark's ``[search.NAME]`` table; a benchmark's own table
replaces it. Every space holds the learning rate; memory sizes are held
fixed (replay's 500-image buffer is part of the comparison's definition, and
A-GEM's memory is bounded by the same 500 images over 5 experiences), so
tuning never buys a strategy more memory than its rivals.
"""

from __future__ import annotations

from typing import Any

__all__ = ["LR", "NEURO", "neuro_space", "with_lr"]

# Four decades around Adam's usual 1e-3, so that no tuned rate sits at an edge (the verdict of
# December had 28 of 45 tuned rates within 1.4x of the old floor 1e-4; isocl.tuning.outputs flags edges).
LR: dict[str, Any] = {"type": "float", "low": 1e-5, "high": 1e-1, "log": True}

# Ranges of the neuroplastic parameters; a strategy declares those it has.
NEURO: dict[str, dict[str, Any]] = {
    "prune_threshold": {"type": "float", "low": 1e-3, "high": 0.3, "log": True},  # relative to the largest sigma
    "prune_criterion": {"type": "categorical", "choices": ["sv", "sv_out"]},
    "grow_count": {"type": "int", "low": 4, "high": 128, "log": True},
    "buffer_size": {"type": "int", "low": 1, "high": 32, "log": True},
    "scaffold_threshold": {"type": "float", "low": 0.5, "high": 0.99},
    "min_width": {"type": "int", "low": 8, "high": 128, "log": True},
    "finetune_epochs": {"type": "int", "low": 0, "high": 2},  # counted in the epoch budget
    "overabundant_start": {"type": "int", "low": 128, "high": 1024, "log": True},
    "model.intrinsic": {"type": "categorical", "choices": ["constant", "trainable"]},
}


def with_lr(**space: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """``{"lr": LR, **space}``."""
    return {"lr": dict(LR), **space}


def neuro_space(*names: str) -> dict[str, dict[str, Any]]:
    """The learning rate plus the named neuroplastic ranges."""
    return with_lr(**{n: dict(NEURO[n]) for n in names})
