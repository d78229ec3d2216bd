"""Unit names: the one place that says how a strategy, its companions and its
frontier points are named, parsed and turned into file names.

A unit name is ``[PREFIX:]STRATEGY[@POINT]``:

- ``PREFIX`` names a companion of a neuroplastic strategy: the fixed-width
  twins ``fixed-final`` and ``fixed-max`` (the twin strategy at the
  strategy's final / peak widths) and the controls ``diag-only`` (the same
  rotations, no width change) and ``reset`` (optimiser state reset at moves);
- ``STRATEGY`` is a registered strategy (:mod:`isocl.bench.registry`);
- ``POINT`` names a frontier point: the strategy run at one parameter budget
  (a ``[frontier.STRATEGY.POINT]`` table of the benchmark sets its widths and
  parameters). Points of one strategy form its *family* on the
  accuracy-vs-parameters frontier.

``fixed-final:neuro-grow-prune-consolidate@m`` is the final-width twin of
consolidate's point ``m``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = [
    "COMPANION_PREFIXES", "CONTROL_PREFIXES", "POINT_SEPARATOR", "POINT_PATTERN", "TWIN_PREFIXES", "UnitName",
    "format_unit", "parse_unit", "slug",
]

TWIN_PREFIXES = ("fixed-final", "fixed-max")  # fixed-width twins at the strategy's final / peak widths
CONTROL_PREFIXES = ("diag-only", "reset")  # same rotations without width change / optimiser state reset at moves
COMPANION_PREFIXES = TWIN_PREFIXES + CONTROL_PREFIXES
POINT_SEPARATOR = "@"
POINT_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,31}")  # a frontier point's name, e.g. "w64" or "s"


@dataclass(frozen=True)
class UnitName:
    """A parsed unit name."""

    prefix: str | None  # a companion kind (COMPANION_PREFIXES), or None for the strategy itself
    strategy: str  # the registered strategy
    point: str | None = None  # a frontier point of the strategy, or None for its main configuration

    @property
    def family(self) -> str:
        """The strategy whose frontier this unit belongs to (its points and their companions share it)."""
        return self.strategy

    @property
    def subject(self) -> str:
        """The name without the companion prefix: the strategy (point) this unit accompanies or is."""
        return self.strategy if self.point is None else f"{self.strategy}{POINT_SEPARATOR}{self.point}"

    @property
    def is_twin(self) -> bool:
        return self.prefix in TWIN_PREFIXES

    @property
    def is_control(self) -> bool:
        return self.prefix in CONTROL_PREFIXES

    def __str__(self) -> str:
        return format_unit(self.prefix, self.strategy, self.point)


def parse_unit(name: str) -> UnitName:
    """``fixed-final:neuro-grow@m`` -> UnitName("fixed-final", "neuro-grow", "m").

    A ``:`` whose left side is not a companion prefix stays part of the
    strategy name (the registry then reports it as unknown).
    """
    prefix = None
    if ":" in name:
        head, rest = name.split(":", 1)
        if head in COMPANION_PREFIXES:
            prefix, name = head, rest
    point = None
    if POINT_SEPARATOR in name:
        name, point = name.rsplit(POINT_SEPARATOR, 1)
    return UnitName(prefix, name, point)


def format_unit(prefix: str | None, strategy: str, point: str | None = None) -> str:
    """The inverse of :func:`parse_unit`."""
    name = strategy if point is None else f"{strategy}{POINT_SEPARATOR}{point}"
    return name if prefix is None else f"{prefix}:{name}"


def slug(text: str, empty: str = "unit") -> str:
    """A file-system-safe form of a name: runs of other characters become ``_``
    (``fixed-final:neuro-grow@m`` -> ``fixed-final_neuro-grow_m``)."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", str(text)).strip("._") or empty
