"""Fixes for Avalanche 0.6 bugs that make a baseline silently do nothing.

Each class here subclasses the Avalanche plugin it fixes and changes only
what the bug needs; the test suite checks that each mechanism acts
(tests/test_baselines.py).
"""

from __future__ import annotations

from avalanche.training.plugins import SynapticIntelligencePlugin

__all__ = ["SynapticIntelligence"]


class SynapticIntelligence(SynapticIntelligencePlugin):
    """Avalanche's SI with snapshots that are copies, not views.

    Avalanche 0.6 snapshots parameters with ``param.detach().cpu().flatten()``,
    which on a CPU model is a view of the live tensor: the "old" weights move
    with every optimiser step, so the path integral, the importances and the
    penalty are all exactly zero and SI equals naive training. The snapshots
    taken before an experience (the anchor weights) and before each update
    (``old_theta``) are the ones that must survive the update; they are
    replaced by copies right after Avalanche takes them. The others are used
    at once and need no copy.
    """

    def before_training_exp(self, strategy, **kwargs):
        super().before_training_exp(strategy, **kwargs)
        for name, snap in self.ewc_data[0].items():
            snap.data = snap.data.clone()

    def before_training_iteration(self, strategy, **kwargs):
        super().before_training_iteration(strategy, **kwargs)
        for name, snap in self.syn_data["old_theta"].items():
            snap.data = snap.data.clone()
