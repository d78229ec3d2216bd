"""Neuroplastic strategies composed from parts, in the manner of optax's ``chain`` and its presets.

A part is a config: :class:`~isocl.bench.plasticity.growth.GrowthConfig`,
:class:`~isocl.bench.plasticity.compression.CompressionConfig`,
:class:`~isocl.bench.plasticity.consolidation.ConsolidationConfig`. :func:`neuroplastic` turns
the parts into their plugins on the benchmark's model and wires them together; the presets
build the parts from a strategy's resolved parameters::

    neuroplastic(ctx, GrowthConfig.from_params(p), start_width=p["start_width"])    # neuro-grow
    grow_prune(ctx, p)                                                              # neuro-grow-prune
    grow_prune(ctx, p, plugins=[ReplayPlugin(...)])                                 # with replay
    grow_prune_consolidate(ctx, p)                                                  # doc §5's design
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from isocl.bench.config import ConfigError
from isocl.bench.names import CONTROL_PREFIXES
from isocl.bench.plasticity.audit import Auditor
from isocl.bench.plasticity.compression import CompressionConfig, CompressionPlugin
from isocl.bench.plasticity.consolidation import ConsolidationConfig, ConsolidationPlugin
from isocl.bench.plasticity.growth import GrowthConfig, GrowthPlugin

__all__ = ["PARTS", "grow_prune", "grow_prune_consolidate", "neuroplastic"]

PARTS = (GrowthConfig, CompressionConfig, ConsolidationConfig)


def _one_of_each(parts: Sequence[Any]) -> dict[type, Any]:
    """The parts by their type; each type at most once."""
    out: dict[type, Any] = {}
    for part in parts:
        kind = type(part)
        if kind not in PARTS:
            raise TypeError(f"neuroplastic: a part must be one of {', '.join(t.__name__ for t in PARTS)}, "
                            f"instead got {part!r}")
        if kind in out:
            raise TypeError(f"neuroplastic: two {kind.__name__} parts; compose at most one of each")
        out[kind] = part
    return out


def _model_overrides(ctx, control: str | None, start_width: int,
                     consolidation: ConsolidationConfig | None) -> dict[str, Any]:
    """``start_width`` for every hidden layer (conv channels too; not in the diag-only control, which
    keeps the width it is given), and the bias-free, length-free MLP exact consolidation needs."""
    overrides: dict[str, Any] = {}
    if start_width and control != "diag-only":
        overrides["widths"] = [start_width] * len(ctx.model_config().layer_widths)
    if consolidation is not None and consolidation.mode == "exact":
        overrides.update(hidden_bias=False, head_bias=False, intrinsic="off")
    return overrides


def neuroplastic(ctx, *parts: GrowthConfig | CompressionConfig | ConsolidationConfig, start_width: int = 0,
                 plugins: Sequence[Any] = ()):
    """An Avalanche strategy on the benchmark's isotropic model with the plugins of ``parts`` (at most
    one growth, one compression and one consolidation, in any order), then ``plugins``.

    ``start_width`` > 0 replaces every hidden width of the benchmark model. Exact consolidation
    switches off hidden and head biases and the intrinsic length, as doc §5 requires. Compute is
    matched: the compression's ``finetune_epochs`` come out of the benchmark's epochs, not on top.

    ``ctx.control`` builds a control of the same strategy: ``"diag-only"`` keeps the model at the
    width it is given (the runner passes the strategy's final widths), adds no neuron and prunes
    none, but rotates every layer into its diagonal basis (doc §4) where compression would act,
    Adam state carried along as in the strategy; ``"reset"`` is the strategy with the optimiser
    state of every edited parameter reset at each move.
    """
    control = getattr(ctx, "control", None)
    if control not in (None, *CONTROL_PREFIXES):
        raise ValueError(f"control must be one of {CONTROL_PREFIXES} or None, instead got {control!r}")
    state = "reset" if control == "reset" else "transform"
    by_type = _one_of_each(parts)
    grow, prune, consolidate = (by_type.get(t) for t in PARTS)
    finetune = prune.finetune_epochs if prune is not None else 0
    if finetune >= ctx.epochs:
        raise ConfigError(f"finetune_epochs = {finetune} must be below the training epochs ({ctx.epochs}): "
                          "fine-tuning after pruning counts against the epoch budget")
    model = ctx.make_model(**_model_overrides(ctx, control, start_width, consolidate))
    auditor = Auditor(ctx.audit, enabled=ctx.bench.training["audit"])
    # Consolidation first: its hooks run before growth's and compression's at every event.
    cons = None if consolidate is None else ConsolidationPlugin(consolidate, commit_after_training=prune is None)
    out: list[Any] = [] if cons is None else [cons]
    if grow is not None and control != "diag-only":
        out.append(GrowthPlugin(auditor, grow, consolidation=cons, seed=ctx.seed, state=state))
    if prune is not None:
        out.append(CompressionPlugin(auditor, prune, consolidation=cons, prune=control != "diag-only", state=state))
    return ctx.template(model, out + list(plugins), epochs=ctx.epochs - finetune)


def grow_prune(ctx, p: Mapping[str, Any], *more: ConsolidationConfig, plugins: Sequence[Any] = ()):
    """Growth before and compression after each experience, from the strategy parameters ``p``
    (:data:`~isocl.bench.spaces.GROW` and :data:`~isocl.bench.spaces.PRUNE`), plus ``more`` parts
    and ``plugins``."""
    return neuroplastic(ctx, GrowthConfig.from_params(p), CompressionConfig.from_params(p), *more,
                        start_width=p["start_width"], plugins=plugins)


def grow_prune_consolidate(ctx, p: Mapping[str, Any], plugins: Sequence[Any] = ()):
    """:func:`grow_prune` with consolidation (:data:`~isocl.bench.spaces.CONSOLIDATE`): doc §5's design."""
    return grow_prune(ctx, p, ConsolidationConfig.from_params(p), plugins=plugins)
