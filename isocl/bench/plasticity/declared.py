"""Typed configs whose fields are declared strategy parameters (:data:`isocl.bench.spaces.NEURO_PARAMS`).

A field made by :func:`declared` takes its default from the one declaration of its strategy
parameter and is checked against that declaration's range, and
:meth:`DeclaredConfig.from_params` reads a strategy's resolved parameters by those names. So no
plugin restates a parameter's default or range, and each renaming (the strategy parameter
``grow_count`` is :class:`~isocl.bench.plasticity.growth.GrowthConfig`'s ``count``) is written
once, on its field.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any

from isocl.bench.config import ConfigError
from isocl.bench.spaces import NEURO_PARAMS

__all__ = ["PARAM", "DeclaredConfig", "declared"]

PARAM = "param"  # the field metadata key naming a field's strategy parameter


def declared(param: str, *, off: bool = False) -> Any:
    """A config field for strategy parameter ``param``: its default is ``NEURO_PARAMS[param].default``,
    or None with ``off=True`` (an optional part that stays off unless the parameter is given)."""
    default = None if off else NEURO_PARAMS[param].default  # a misspelt name fails at import
    return field(default=default, metadata={PARAM: param})


@dataclass(frozen=True)
class DeclaredConfig:
    """Base of the plugins' configs: checks every field on construction and builds from strategy
    parameters. A field that is not a declared parameter is a switch (a bool)."""

    def __post_init__(self) -> None:
        for f in fields(self):
            value, param = getattr(self, f.name), f.metadata.get(PARAM)
            if param is None:
                problem = "" if isinstance(value, bool) else "expected true or false"
                where = ""
            else:
                problem = "" if value is None and f.default is None else NEURO_PARAMS[param].problem(value)
                where = f" (strategy parameter {param})"
            if problem:
                raise ConfigError(f"{type(self).__name__}.{f.name} = {value!r}{where} is invalid; {problem}")

    @classmethod
    def param_names(cls) -> dict[str, str]:
        """Field name -> the strategy parameter it is declared by (switches are left out)."""
        return {f.name: f.metadata[PARAM] for f in fields(cls) if PARAM in f.metadata}

    @classmethod
    def from_params(cls, params: Mapping[str, Any], **changes: Any):
        """The config of a strategy's resolved parameters: every field whose parameter is in ``params``
        takes its value, the others keep their declared defaults; ``changes`` set fields by their own
        names (a strategy's fixed choices, such as ``mode="buffer"``)."""
        given = {name: params[param] for name, param in cls.param_names().items() if param in params}
        return cls(**{**given, **changes})
