"""The figure registry: every figure of the report, declared once.

A figure is one module that draws it and one :func:`register` call there
(its stem, title, caption, the inputs it needs and where the report puts
it); :mod:`isocl.analysis.plots` imports the module. The report
(:mod:`isocl.analysis.report`) renders the registry in :attr:`FigureSpec.order`,
and the tests parametrize over it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, fields

import pandas as pd
from matplotlib.figure import Figure

__all__ = ["FIGURES", "INPUT_FILES", "FigureInputs", "FigureSpec", "register"]


@dataclass
class FigureInputs:
    """What a figure may draw from: the frames of the results folder(s) (failed units dropped from all
    but ``summary``), the paired comparisons, the palette, and the benchmark's ``[model] kind`` (which
    names the backbone a strategy runs on: :func:`isocl.analysis.statistics.backbone_of`)."""

    summary: pd.DataFrame | None = None
    metrics: pd.DataFrame | None = None
    experiences: pd.DataFrame | None = None
    structure: pd.DataFrame | None = None
    comparisons: pd.DataFrame | None = None
    palette: dict[str, str] | None = None
    model_kind: str = "mlp"


INPUT_FILES = {"summary": "summary.csv", "metrics": "metrics.csv", "experiences": "experiences.csv",
               "structure": "structure.csv", "comparisons": "comparisons.csv"}
"""The file each input comes from (named when a figure is skipped for want of it)."""
assert set(INPUT_FILES) == {f.name for f in fields(FigureInputs)} - {"palette", "model_kind"}


@dataclass(frozen=True)
class FigureSpec:
    """One figure: ``stem`` (its file name without suffix), ``title`` and ``caption`` (the report's),
    ``needs`` (the :class:`FigureInputs` it reads; a missing or empty one skips it with a warning),
    ``draw`` (inputs -> matplotlib Figure; raises ``NothingToPlot`` when there is nothing to show),
    ``order`` (place in the report) and ``verdict`` (shown first, with the verdict)."""

    stem: str
    title: str
    caption: str
    needs: tuple[str, ...]
    draw: Callable[[FigureInputs], Figure]
    order: int = 100
    verdict: bool = False

    def __post_init__(self):
        unknown = set(self.needs) - set(INPUT_FILES)
        if unknown:
            raise ValueError(f"figure {self.stem}: unknown input(s) {', '.join(sorted(unknown))}; "
                             f"expected some of {', '.join(INPUT_FILES)}")


FIGURES: dict[str, FigureSpec] = {}
"""Every registered figure by stem, in registration order (see :func:`ordered_figures`)."""


def register(spec: FigureSpec) -> FigureSpec:
    """Add a figure; a stem registered twice is an error."""
    if spec.stem in FIGURES:
        raise ValueError(f"figure stem {spec.stem!r} is registered twice")
    FIGURES[spec.stem] = spec
    return spec


def ordered_figures() -> list[FigureSpec]:
    """The registered figures in report order."""
    return sorted(FIGURES.values(), key=lambda s: (s.order, s.stem))
