"""Neuroplasticity as Avalanche plugins, one part per module (doc §3, §5).

- :mod:`~isocl.bench.plasticity.audit`: the probe batch, accuracy before and after, the audit rows
  of structural events and the exactness and bound checks (:class:`Auditor`,
  :func:`rounding_tolerance`, :class:`StructuralError`).
- :mod:`~isocl.bench.plasticity.growth`: :class:`GrowthPlugin` with its :class:`GrowthConfig`.
- :mod:`~isocl.bench.plasticity.compression`: :class:`CompressionPlugin`, :class:`CompressionConfig`.
- :mod:`~isocl.bench.plasticity.consolidation`: :class:`ConsolidationPlugin`, :class:`ConsolidationConfig`.
- :mod:`~isocl.bench.plasticity.declared`: the configs' base; every field that is a strategy
  parameter takes its default and range from :data:`isocl.bench.spaces.NEURO_PARAMS`.
- :mod:`~isocl.bench.plasticity.compose`: :func:`neuroplastic` composes the parts into a strategy;
  the presets :func:`grow_prune` and :func:`grow_prune_consolidate` build them from strategy parameters.

Structural moves edit parameters in place and carry the optimiser state along
(:class:`~isocl.nn.optim.ParamEditor` on ``strategy.optimizer``), so they are safe in any hook, also
after Avalanche has rebuilt the optimiser.
"""

from isocl.bench.plasticity.audit import PROBE_SIZE, Auditor, StructuralError, rounding_tolerance
from isocl.bench.plasticity.compose import grow_prune, grow_prune_consolidate, neuroplastic
from isocl.bench.plasticity.compression import CompressionConfig, CompressionPlugin
from isocl.bench.plasticity.consolidation import ConsolidationConfig, ConsolidationPlugin
from isocl.bench.plasticity.growth import GrowthConfig, GrowthPlugin

__all__ = [
    "PROBE_SIZE", "Auditor", "CompressionConfig", "CompressionPlugin", "ConsolidationConfig", "ConsolidationPlugin",
    "GrowthConfig", "GrowthPlugin", "StructuralError", "grow_prune", "grow_prune_consolidate", "neuroplastic",
    "rounding_tolerance",
]
