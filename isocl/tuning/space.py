"""Search spaces: the ``[search.STRATEGY]`` table, its validation, the default
space per strategy, its TOML form and drawing a configuration from a trial.

``type`` is ``float`` (``low``, ``high``, optional ``log``, ``step``),
``int`` (``low``, ``high``, optional ``step``, ``log``) or ``categorical``
(``choices``). Keys are the strategy's parameters, ``lr``, ``weight_decay``,
``batch_size``, ``epochs`` and ``model.X`` (any ``[model]`` key but
``widths``).
"""

from __future__ import annotations

import json
import math
import re
import sys
from collections.abc import Mapping
from typing import Any

from isocl.bench.config import MODEL, Benchmark, ConfigError, parse_benchmark
from isocl.bench.spaces import LR

SEARCH_TYPES = ("float", "int", "categorical")
TRAINING_KEYS = ("lr", "weight_decay", "batch_size", "epochs")  # what units.apply_overrides routes to [training]
MODEL_KEYS = tuple(f"model.{k}" for k in MODEL if k != "widths")  # widths is a list: not an Optuna choice


def is_num(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _allowed_keys(spec) -> list[str]:
    return sorted(spec.defaults) + list(TRAINING_KEYS) + list(MODEL_KEYS)


_EXAMPLE = '{ type = "float", low = 1e-4, high = 1e-2, log = true }'


# Optuna's distributions check low < high too, but cannot name the benchmark file and key; these checks can
def _validate_one(key: str, raw: Any, loc: str) -> dict[str, Any]:
    """Check the shape of one parameter's spec; returns a normalised copy."""
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{loc} = {raw!r}: expected a table like {_EXAMPLE}")
    kind = raw.get("type")
    if kind not in SEARCH_TYPES:
        raise ConfigError(f"{loc}.type = {kind!r}: unknown type; expected 'float', 'int' or 'categorical'")
    fields = {"float": {"type", "low", "high", "log", "step"}, "int": {"type", "low", "high", "log", "step"},
              "categorical": {"type", "choices"}}[kind]
    extra = sorted(set(raw) - fields)
    if extra:
        raise ConfigError(f"{loc}.{extra[0]}: unknown field for type {kind!r}; expected one of {sorted(fields)}")
    if kind == "categorical":
        choices = raw.get("choices")
        if not isinstance(choices, list) or not choices:
            raise ConfigError(f"{loc}.choices = {choices!r}: expected a non-empty list of strings, numbers or booleans")
        for c in choices:
            if not isinstance(c, (str, int, float, bool)) or (isinstance(c, float) and not math.isfinite(c)):
                raise ConfigError(f"{loc}.choices: {c!r} is not a string, number or boolean")
        if len({(type(c), c) for c in choices}) != len(choices):
            raise ConfigError(f"{loc}.choices = {choices!r}: choices must be distinct")
        return {"type": "categorical", "choices": list(choices)}
    check = is_int if kind == "int" else is_num
    want = "an int" if kind == "int" else "a number"
    for bound in ("low", "high"):
        if bound not in raw:
            raise ConfigError(f"{loc}.{bound}: missing; type {kind!r} needs low and high, e.g. {_EXAMPLE}")
        if not check(raw[bound]):
            raise ConfigError(f"{loc}.{bound} = {raw[bound]!r}: expected {want}")
    low, high = raw["low"], raw["high"]
    if low >= high:
        raise ConfigError(f"{loc}: low = {low!r} >= high = {high!r}; expected low < high")
    log = raw.get("log", False)
    if not isinstance(log, bool):
        raise ConfigError(f"{loc}.log = {log!r}: expected true or false")
    if log and low <= 0:
        raise ConfigError(f"{loc}: log = true needs low > 0, instead got low = {low!r}")
    out: dict[str, Any] = {"type": kind, "low": low if kind == "int" else float(low),
                           "high": high if kind == "int" else float(high), "log": log}
    if "step" in raw:
        step = raw["step"]
        if not check(step) or step <= 0:
            raise ConfigError(f"{loc}.step = {step!r}: expected {want} > 0")
        if log and (kind == "float" or step != 1):
            raise ConfigError(f"{loc}: step and log = true cannot be combined (Optuna samples a log scale continuously)")
        if kind == "int" and (high - low) % step:
            raise ConfigError(f"{loc}: high - low = {high - low} is not a multiple of step = {step}")
        if kind == "float" and abs(round((high - low) / step) * step - (high - low)) > 1e-9 * max(1.0, abs(high)):
            raise ConfigError(f"{loc}: high - low = {high - low} is not a multiple of step = {step}")
        out["step"] = step if kind == "int" else float(step)
    return out


_INNER = "<value>"


def _inner(exc: Exception) -> str:
    """A ConfigError raised for ``_INNER`` without its location prefix."""
    text = str(exc)
    return text[len(_INNER) + 2:] if text.startswith(_INNER + ": ") else text


def _candidates(s: dict[str, Any]) -> list[Any]:
    return list(s["choices"]) if s["type"] == "categorical" else [s["low"], s["high"]]


def _check_values(key: str, s: dict[str, Any], strategy_spec, bench: Benchmark, loc: str) -> None:
    """Every value the space can produce must be accepted by the strategy / config."""
    for value in _candidates(s):
        if key in strategy_spec.defaults:
            default = strategy_spec.defaults[key]
            if isinstance(default, int) and not isinstance(default, bool) and s["type"] == "float":
                raise ConfigError(f"{loc}: type 'float' for an int parameter (default {default!r}); expected type 'int'")
            try:
                strategy_spec.resolve({key: value}, _INNER, training=bench.training, check_defaults=False)
            except ConfigError as exc:
                raise ConfigError(f"{loc}: value {value!r} is not accepted ({_inner(exc)})") from None
        else:
            raw = bench.to_dict()
            section, name = ("model", key[len("model."):]) if key.startswith("model.") else ("training", key)
            raw[section][name] = value
            if section == "training" and name == "lr":
                raw["training"]["lr_by_activation"] = {}
            try:
                parse_benchmark(raw, _INNER)
            except ConfigError as exc:
                raise ConfigError(f"{loc}: value {value!r} is not accepted ({_inner(exc)})") from None


def validate_space(space: Any, strategy: str, bench: Benchmark, where: str | None = None) -> dict[str, dict[str, Any]]:
    """Validate a ``[search.STRATEGY]`` table; ConfigError names the file, the key and what was expected."""
    from isocl.bench.units import spec_of

    where = where or str(bench.path or bench.name)
    spec = spec_of(strategy)
    table = f"{where}: search.{strategy}"
    if not isinstance(space, Mapping):
        raise ConfigError(f"{table} must be a table of parameters, e.g. lr = {_EXAMPLE}")
    if not space:
        raise ConfigError(f"{table} is empty; expected at least one parameter, e.g. lr = {_EXAMPLE}")
    allowed = _allowed_keys(spec)
    out: dict[str, dict[str, Any]] = {}
    for key, raw in space.items():
        loc = f"{table}.{key}"
        if key not in allowed:
            raise ConfigError(f"{loc}: unknown parameter for strategy {strategy!r}; expected one of {allowed}")
        s = _validate_one(key, raw, loc)
        _check_values(key, s, spec, bench, loc)
        out[key] = s
    return out


def _lr_space(bench: Benchmark) -> dict[str, Any]:
    if bench.training["optimizer"] == "sgd":
        return {"type": "float", "low": 1e-4, "high": 1.0, "log": True}
    return dict(LR)


def _neuro_table(bench: Benchmark) -> dict[str, dict[str, Any]]:
    """Ranges for the neuroplastic parameters (only those a strategy has are used): their one declaration
    (``isocl.bench.spaces.NEURO_PARAMS``), clipped to what ``bench`` accepts (fine-tune epochs below its
    epochs)."""
    from isocl.bench.spaces import NEURO_PARAMS

    table = {k: p.space(bench.training) for k, p in NEURO_PARAMS.items()}
    return {k: s for k, s in table.items() if s is not None}


def _growth_keys(defaults: Mapping[str, Any]) -> set[str]:
    """Growth parameters that matter in the strategy's (configured) growth mode."""
    mode = defaults.get("grow_mode")
    if mode == "buffer" or (mode is None and "buffer_size" in defaults and "grow_count" not in defaults):
        return {"buffer_size", "scaffold_threshold"}
    return {"grow_count"}


_BASELINE_TABLE: dict[str, dict[str, Any]] = {
    "mem_size": {"type": "int", "low": 100, "high": 2000, "step": 100},
    "ewc_lambda": {"type": "float", "low": 1.0, "high": 1e5, "log": True},
    "si_lambda": {"type": "float", "low": 1e-2, "high": 1e2, "log": True},
    "alpha": {"type": "float", "low": 0.1, "high": 10.0, "log": True},
    "temperature": {"type": "float", "low": 0.5, "high": 4.0},
    "patterns_per_exp": {"type": "int", "low": 32, "high": 1024, "log": True},
    "sample_size": {"type": "int", "low": 32, "high": 1024, "log": True},
    "prune_proportion": {"type": "float", "low": 0.2, "high": 0.9},
    "post_prune_epochs": {"type": "int", "low": 0, "high": 3},
}
# numeric parameters that are not worth a search dimension by default
_SKIP = {"eps", "decay_factor"}


def _generic(default: Any) -> dict[str, Any] | None:
    """A range around a numeric default (baselines' parameters without a known range)."""
    if isinstance(default, bool) or not is_num(default):
        return None
    if isinstance(default, int):
        if default <= 0:
            return {"type": "int", "low": 0, "high": 3}
        low, high = max(1, default // 4), max(default * 4, default + 1)
        return {"type": "int", "low": low, "high": high, "log": high / low >= 8}
    if default <= 0:
        return None
    return {"type": "float", "low": default / 10, "high": default * 10, "log": True}


def _fit_default(s: dict[str, Any], default: Any) -> dict[str, Any] | None:
    """Adapt a range to the strategy's default: its type, and a range containing it."""
    s = dict(s)
    if default is None:
        return s
    if s["type"] == "categorical":
        if not all(isinstance(c, type(default)) for c in s["choices"]):
            return None
        if default not in s["choices"]:
            s["choices"] = [default, *s["choices"]]
        return s
    if isinstance(default, bool) or not is_num(default):
        return None
    if isinstance(default, int) and s["type"] == "float":
        s = {"type": "int", "low": max(1 if s.get("log") else 0, math.floor(s["low"])),
             "high": math.ceil(s["high"]), "log": s.get("log", False)}
    elif isinstance(default, float) and s["type"] == "int":
        s = {"type": "float", "low": float(s["low"]), "high": float(s["high"]), "log": s.get("log", False)}
        if s["log"] and s["low"] <= 0:
            s["low"] = 1e-3
    if default < s["low"] and not (s.get("log") and default <= 0):
        s["low"] = default
        s.pop("step", None)
    if default > s["high"]:
        s["high"] = default
        s.pop("step", None)
    return s if s["low"] < s["high"] else None


def _declared(spec, current: Mapping[str, Any], bench: Benchmark) -> dict[str, dict[str, Any]]:
    """The strategy's declared space, its growth ranges following the growth mode configured."""
    space = spec.search_space(bench.training)  # each parameter's range clipped to what the benchmark accepts
    growth = {"grow_count", "buffer_size", "scaffold_threshold"}
    if spec.neuroplastic and growth & set(space):
        wanted = _growth_keys(current)
        space = {k: v for k, v in space.items() if k not in growth or k in wanted}
        table = _neuro_table(bench)
        space.update({k: table[k] for k in wanted if k not in space and k in spec.defaults and k in table})
    return space


def default_space(strategy: str, bench: Benchmark) -> dict[str, dict[str, Any]]:
    """:func:`strategy_space` less the parameters a frontier point fixes (``X@p``: the keys of its
    own ``[strategy."X@p"]`` table, e.g. its widths or growth budget, are held, the rest is tuned)."""
    from isocl.bench.units import point_fixed

    fixed = point_fixed(bench, strategy)
    space = {k: v for k, v in strategy_space(strategy, bench).items() if k not in fixed}
    if not space:
        raise ConfigError(f"{bench.path or bench.name}: frontier point {strategy!r} fixes every parameter of its "
                          "search space; expected at least the learning rate to be tuned")
    return space


def strategy_space(strategy: str, bench: Benchmark) -> dict[str, dict[str, Any]]:
    """The search space used when the benchmark has no ``[search.STRATEGY]`` table.

    The strategy's declared space (``register_strategy(search=...)``, every
    shipped strategy has one) if it has one; else, derived from its defaults.
    Neuroplastic strategies: the pruning threshold (log) and criterion, the
    growth count (``grow_mode`` fixed / per_class) or the buffer size and
    scaffold threshold (``grow_mode`` buffer), the minimum width, fine-tune
    epochs -- those of them the strategy has -- plus the intrinsic-length mode
    and the learning rate. Baselines: their numeric parameters (known ranges,
    else a decade around the default) and the learning rate. Ranges are
    widened to contain the value the benchmark runs with.
    """
    from isocl.bench.names import parse_unit
    from isocl.bench.units import spec_of

    spec = spec_of(strategy)
    where = f"{bench.path or bench.name}: default search space of {strategy!r}"
    # the values this benchmark runs with: the strategy's defaults updated by [strategy.NAME]
    # (a frontier point X@p: by X's table, then its own)
    current = {**spec.defaults, **bench.strategy_params.get(parse_unit(strategy).strategy, {}),
               **bench.strategy_params.get(strategy, {})}
    if spec.search:
        return validate_space(_declared(spec, current, bench), strategy, bench, f"{where} (declared by the strategy)")
    space: dict[str, dict[str, Any]] = {"lr": _lr_space(bench)}
    candidates: dict[str, dict[str, Any] | None] = {}
    if spec.neuroplastic:
        growth = {"grow_count", "buffer_size", "scaffold_threshold"}
        wanted = _growth_keys(current)
        for name, s in _neuro_table(bench).items():
            if name in spec.defaults and (name not in growth or name in wanted):
                candidates[name] = _fit_default(s, current[name])
        candidates["model.intrinsic"] = {"type": "categorical", "choices": ["constant", "trainable"]}
    else:
        for name, default in current.items():
            if name in _SKIP or name not in spec.defaults:
                continue
            s = _BASELINE_TABLE.get(name)
            candidates[name] = _fit_default(s, default) if s is not None else _generic(default)
    for name, s in candidates.items():
        if s is None:
            continue
        try:
            space[name] = _validate_one(name, s, f"{where}.{name}")
            _check_values(name, space[name], spec, bench, f"{where}.{name}")
        except ConfigError as exc:  # a default range that does not fit this strategy: leave it out
            space.pop(name, None)
            print(f"isocl tune: note: {exc}; not tuned", file=sys.stderr)
    return space


def _toml_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, str):
        return json.dumps(v)  # a TOML basic string
    if isinstance(v, list):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    return repr(v)


# by hand: tomli_w writes nested tables as [search.S.KEY] sections; one inline table per parameter reads better
def space_to_toml(strategy: str, space: Mapping[str, Mapping[str, Any]]) -> str:
    """A ``[search.STRATEGY]`` table with one inline table per parameter (ready to paste)."""
    def key(k: str) -> str:
        return k if re.fullmatch(r"[A-Za-z0-9_-]+", k) else json.dumps(k)

    lines = [f"[search.{key(strategy)}]"]
    for name, s in space.items():
        fields = ", ".join(f"{f} = {_toml_value(v)}" for f, v in s.items()
                           if not (f == "log" and v is False))
        lines.append(f"{key(name)} = {{ {fields} }}")
    return "\n".join(lines) + "\n"


def suggest_params(trial, space: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """Draw one configuration of a validated space from an Optuna trial."""
    out: dict[str, Any] = {}
    for name, s in space.items():
        if s["type"] == "float":
            out[name] = trial.suggest_float(name, s["low"], s["high"], log=s.get("log", False), step=s.get("step"))
        elif s["type"] == "int":
            out[name] = trial.suggest_int(name, s["low"], s["high"], step=s.get("step", 1), log=s.get("log", False))
        else:
            out[name] = trial.suggest_categorical(name, s["choices"])
    return out


def distribution(s: Mapping[str, Any]):
    from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

    if s["type"] == "float":
        return FloatDistribution(s["low"], s["high"], log=s.get("log", False), step=s.get("step"))
    if s["type"] == "int":
        return IntDistribution(s["low"], s["high"], log=s.get("log", False), step=s.get("step", 1))
    return CategoricalDistribution(s["choices"])


