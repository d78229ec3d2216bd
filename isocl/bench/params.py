"""Declared strategy parameters: each parameter is declared once, with its type, default, valid range
and (optionally) its Optuna search distribution; the defaults, the checks of ``[strategy.NAME]``
tables and tuner draws, and the strategy's search space all derive from that declaration.

    from isocl.bench.params import Param

    @register_strategy("replay", params={"mem_size": Param(500, low=1, high=50_000, doc="buffer images")})
    def build(ctx, mem_size): ...

A range can follow the benchmark: ``Param(0, low=0, below="epochs")`` must stay below the run's
``training.epochs`` (fine-tune epochs counted in the epoch budget); the search space drawn for a
benchmark is clipped to it, so ``isocl tune`` never draws a value its benchmark refuses.

The older form ``register_strategy(defaults={...}, search={...})`` still works: each default becomes
a :class:`Param` of the default's type with no range (a finite number of the right type is all that is
checked), and its search distribution is the one ``search`` gives.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from isocl.bench.config import ConfigError

__all__ = ["Param", "defaults_of", "params_from_defaults"]

_TYPES = (bool, int, float, str)


def _num(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _fmt(v: Any) -> str:
    return f"{v:g}" if isinstance(v, float) else repr(v)


@dataclass(frozen=True)
class Param:
    """One strategy parameter.

    ``default``: its value when a benchmark does not set it (its type is the parameter's type unless
    ``type`` is given; an int is accepted for a float and read as a float). ``low`` / ``high``:
    inclusive bounds of a number; ``choices``: the allowed values of anything else; ``below``: a
    ``[training]`` key (``"epochs"``) the value must stay strictly below. ``search``: the parameter's
    Optuna distribution in the ``[search.NAME]`` format (``{"type": "int", "low": 1, "high": 8}``),
    drawn by ``isocl tune`` when the benchmark has no table of its own; it is checked against the range
    at registration. ``doc``: one line for ``isocl list`` and the docs.
    """

    default: Any
    low: float | None = None
    high: float | None = None
    choices: tuple[Any, ...] | None = None
    below: str | None = None
    search: Mapping[str, Any] | None = None
    doc: str = ""
    type: type | None = field(default=None)

    def __post_init__(self) -> None:
        kind = self.type or type(self.default)
        if kind not in _TYPES:
            raise ValueError(f"Param: type must be one of bool, int, float, str, instead got {kind.__name__}")
        object.__setattr__(self, "type", kind)
        if self.choices is not None:
            object.__setattr__(self, "choices", tuple(self.choices))
        if (self.low is not None or self.high is not None or self.below is not None) and kind not in (int, float):
            raise ValueError(f"Param: low, high and below apply to numbers, not to {kind.__name__}")
        if self.low is not None and self.high is not None and self.low > self.high:
            raise ValueError(f"Param: low = {self.low!r} > high = {self.high!r}")
        if self.below is not None and self.below not in ("epochs",):
            raise ValueError(f"Param: below must be 'epochs', instead got {self.below!r}")
        problem = self.problem(self.default)
        if problem:
            raise ValueError(f"Param: the default {self.default!r} is outside its own declaration ({problem})")
        if self.search is not None:
            s = self.search
            values = list(s.get("choices", [])) if s.get("type") == "categorical" else [s.get("low"), s.get("high")]
            for v in values:
                problem = self.problem(v)
                if problem:
                    raise ValueError(f"Param: search value {v!r} is outside the declared range ({problem})")

    def expected(self, training: Mapping[str, Any] | None = None) -> str:
        """What a valid value is, in words: ``an int in [1, 50000]``, ``one of 'sv', 'sv_out'``."""
        if self.choices is not None:
            return "one of " + ", ".join(_fmt(c) for c in self.choices)
        if self.type is bool:
            return "true or false"
        if self.type is str:
            return "a string"
        what = "an int" if self.type is int else "a finite number"
        parts = []
        if self.low is not None and self.high is not None:
            parts.append(f"in [{_fmt(self.low)}, {_fmt(self.high)}]")
        elif self.low is not None:
            parts.append(f">= {_fmt(self.low)}")
        elif self.high is not None:
            parts.append(f"<= {_fmt(self.high)}")
        if self.below is not None:
            limit = (training or {}).get(self.below)
            parts.append(f"below training.{self.below}" + (f" ({limit})" if limit is not None else ""))
        return " ".join([what, " and ".join(parts)]) if parts else what

    def problem(self, value: Any, training: Mapping[str, Any] | None = None) -> str:
        """Why ``value`` is not valid ('' when it is)."""
        kind = self.type
        if kind is bool:
            ok = isinstance(value, bool)
        elif kind is int:
            ok = isinstance(value, int) and not isinstance(value, bool)
        elif kind is float:
            ok = _num(value)
        else:
            ok = isinstance(value, str)
        if not ok:
            return f"wrong type; expected {self.expected(training)}"
        if _num(value) and not math.isfinite(value):
            return f"expected {self.expected(training)}"
        if self.choices is not None and value not in self.choices:
            return f"expected {self.expected(training)}"
        if (self.low is not None and value < self.low) or (self.high is not None and value > self.high):
            return f"expected {self.expected(training)}"
        if self.below is not None and training is not None and value >= training.get(self.below, math.inf):
            return f"expected {self.expected(training)}"
        return ""

    def check(self, name: str, value: Any, where: str, strategy: str,
              training: Mapping[str, Any] | None = None) -> Any:
        """``value`` normalised (an int read as a float for a float parameter); ConfigError naming the
        place, the parameter, the value and what is expected."""
        problem = self.problem(value, training)
        if problem:
            raise ConfigError(f"{where}: parameter {name} = {value!r} of strategy {strategy!r} is invalid; {problem}")
        return float(value) if self.type is float else value

    def space(self, training: Mapping[str, Any] | None = None) -> dict[str, Any] | None:
        """The search distribution clipped to what is valid for a run with ``training`` (its epochs);
        None when nothing of it is left or there is none."""
        return None if self.search is None else self.clip(self.search, training)

    def clip(self, search: Mapping[str, Any], training: Mapping[str, Any] | None = None) -> dict[str, Any] | None:
        """``search`` (a distribution of this parameter) clipped as :meth:`space` clips its own."""
        s = dict(search)
        if s.get("type") == "categorical":
            return s  # its choices are checked against the declaration when the space is validated
        if self.below is not None and training is not None and self.below in training:
            limit = training[self.below] - (1 if self.type is int else 0)
            if s["high"] > limit:
                s["high"] = limit
                s.pop("step", None)
        # nothing left, or a single value (not a search dimension: the parameter keeps its value)
        return s if s["low"] < s["high"] else None


def params_from_defaults(defaults: Mapping[str, Any], search: Mapping[str, Any] | None = None) -> dict[str, Param]:
    """The declarations of the older ``register_strategy(defaults=..., search=...)`` form: a parameter of the
    default's type, no range, its search distribution from ``search`` (a ``None`` default: any value)."""
    return {name: _LegacyParam(default, _search=(search or {}).get(name)) for name, default in defaults.items()}


@dataclass(frozen=True)
class _LegacyParam(Param):
    """A parameter of the older form: its type only is declared (and its search, unchecked: the tuner
    checks every value it can draw against the strategy when it validates the space)."""

    _search: Mapping[str, Any] | None = None

    def __post_init__(self) -> None:
        if self.default is None:
            object.__setattr__(self, "type", type(None))
            return
        super().__post_init__()
        object.__setattr__(self, "search", self._search)

    def problem(self, value: Any, training: Mapping[str, Any] | None = None) -> str:
        if self.type is type(None):
            return ""
        return super().problem(value, training)

    def expected(self, training: Mapping[str, Any] | None = None) -> str:
        if self.type is float:
            return f"a finite number like the default {self.default!r}"
        return f"{self.type.__name__} like the default {self.default!r}"


def defaults_of(params: Mapping[str, Param]) -> dict[str, Any]:
    """``{name: default}`` of declared parameters."""
    return {name: p.default for name, p in params.items()}
