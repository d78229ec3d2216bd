"""``[training] online = true``: Avalanche's online stream of an experience, and forgetting measured on it.

An online unit trains each experience as Avalanche's ``split_online_stream``
of mini-experiences (one pass, no task boundaries) and is evaluated after each
original experience (:func:`isocl.bench.runner.run_unit`). Avalanche's stream
forgetting keys on the experience being trained, which online is every
mini-experience: :func:`forgetting_from_matrix` computes it from the unit's
accuracy matrix instead, with Avalanche's definition.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
from avalanche.benchmarks.scenarios.online import split_online_stream

__all__ = ["forgetting_from_matrix", "online_experiences", "train_experience"]


def online_experiences(exp, size: int, seed: int):
    """Experience ``exp`` as Avalanche's online stream of mini-experiences of ``size`` samples (shuffled by
    ``seed``, no task boundaries), each knowing the classes it holds (what a growing head adapts to: a class
    arrives with its first samples)."""
    for sub in split_online_stream([exp], experience_size=size, shuffle=True, access_task_boundaries=False,
                                   seed=seed):
        sub.classes_in_this_experience = sorted(int(c) for c in torch.unique(torch.as_tensor(sub.dataset.targets)))
        yield sub


def forgetting_from_matrix(matrix: list[dict[str, Any]]) -> tuple[float, float]:
    """(forgetting, BWT) from a unit's accuracy matrix, as Avalanche's StreamForgetting and StreamBWT define
    them at the end: the mean over every experience but the last of its accuracy just after it was trained
    minus its final accuracy (BWT is the negative)."""
    acc = {(r["trained_exp"], r["eval_exp"]): r["accuracy"] for r in matrix}
    last = max(t for t, _ in acc)
    drops = [acc[(e, e)] - acc[(last, e)] for e in range(last)]
    if not drops:
        return math.nan, math.nan
    forgetting = float(np.mean(drops))
    return forgetting, -forgetting


def train_experience(strategy, exp, online: int | None, seed: int) -> None:
    """Train ``strategy`` on ``exp`` whole, or (``online``: a mini-experience size) on its online stream
    shuffled by ``seed``."""
    if online:
        strategy.train(online_experiences(exp, online, seed % 2**32), eval_streams=[])
    else:
        strategy.train(exp)
