"""Benchmark definitions: TOML files in ``benchmarks/``, validated on load.

A benchmark file has top-level ``name``, ``description``, ``strategies`` (a
list of registry names) and the tables ``[scenario]``, ``[training]``,
``[model]``, ``[strategy.NAME]`` (parameters of one strategy) and
``[search.NAME]`` (its Optuna search space, see :mod:`isocl.tuning`).
Unknown keys, wrong types and out-of-range values raise :class:`ConfigError`
naming the file, the key and what was expected (nanoGPT's habit: a config
never silently ignores a key).
"""

from __future__ import annotations

import copy
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import tomli_w

__all__ = ["Benchmark", "ConfigError", "load_benchmark", "parse_benchmark", "to_toml"]


class ConfigError(ValueError):
    """A benchmark file or override that does not validate."""


# key: (types, default, check, expected-text)
_Spec = tuple[tuple[type, ...], Any, Any, str]


def _pos_int(v):
    return isinstance(v, int) and not isinstance(v, bool) and v >= 1


def _nonneg_int(v):
    return isinstance(v, int) and not isinstance(v, bool) and v >= 0


SCENARIO: dict[str, _Spec] = {
    "setting": ((str,), "class_il", lambda v: v in ("class_il", "task_il"), "'class_il' or 'task_il'"),
    "n_experiences": ((int,), 5, lambda v: v in (1, 2, 5, 10), "one of 1, 2, 5, 10 (it must divide 10 classes)"),
    "class_order": ((list,), None, lambda v: sorted(v) == list(range(10)), "a permutation of 0..9"),
    "seed": ((int,), 0, _nonneg_int, "an int >= 0 (seeds the class order, subset and split)"),
    "vary_with_seed": ((bool,), True, None,
                       "true or false (true: each unit's seed also draws the class order, data subset and "
                       "validation split, shared by all strategies of that seed; false: scenario.seed fixes them)"),
    "validation_fraction": ((float, int), 0.1, lambda v: 0 <= v < 1, "a number in [0, 1)"),
    "train_per_class": ((int,), 0, _nonneg_int, "an int >= 0 (0: all 5,000)"),
    "test_per_class": ((int,), 0, _nonneg_int, "an int >= 0 (0: all 1,000)"),
}
TRAINING: dict[str, _Spec] = {
    "epochs": ((int,), 5, _pos_int, "an int >= 1"),
    "batch_size": ((int,), 128, _pos_int, "an int >= 1"),
    "eval_batch_size": ((int,), 2048, _pos_int, "an int >= 1"),
    "optimizer": ((str,), "adam", lambda v: v in ("adam", "adamw", "sgd"), "'adam', 'adamw' or 'sgd'"),
    "lr": ((float, int), 1e-3, lambda v: 0 < v < 10, "a number in (0, 10)"),
    "weight_decay": ((float, int), 0.0, lambda v: 0 <= v < 1, "a number in [0, 1)"),
    "momentum": ((float, int), 0.9, lambda v: 0 <= v < 1, "a number in [0, 1) (sgd only)"),
    "seeds": ((list,), [0, 1, 2], lambda v: len(v) > 0 and all(_nonneg_int(s) for s in v), "a non-empty list of ints >= 0"),
    "device": ((str,), "cpu", lambda v: v == "cpu" or v.startswith("cuda"), "'cpu' or 'cuda[:N]'"),
    "lr_by_activation": ((dict,), {}, lambda v: all(isinstance(x, (int, float)) and x > 0 for x in v.values()),
                         "a table of activation kind ('isotropic', 'elementwise') to a learning rate > 0"),
}
MODEL: dict[str, _Spec] = {
    "widths": ((list,), [256, 256], lambda v: len(v) > 0 and all(_pos_int(w) for w in v), "a non-empty list of ints >= 1"),
    "shape": ((str,), "tanh", lambda v: v in ("tanh", "softsign", "log1p", "asinh"), "one of tanh, softsign, log1p, asinh"),
    "hidden_bias": ((bool,), True, None, "true or false"),
    "head_bias": ((bool,), True, None, "true or false"),
    "intrinsic": ((str,), "trainable", lambda v: v in ("off", "constant", "trainable"), "off, constant or trainable"),
    "intrinsic_out": ((str,), "trainable", lambda v: v in ("off", "constant", "trainable"), "off, constant or trainable"),
    "o_init": ((float, int), 1.0, lambda v: v > 0, "a number > 0"),
    "init": ((str,), "orthogonal", lambda v: v in ("orthogonal", "default"), "'orthogonal' or 'default'"),
}
TOP: dict[str, _Spec] = {
    "name": ((str,), None, lambda v: bool(v), "a non-empty string"),
    "description": ((str,), "", None, "a string"),
    "strategies": ((list,), None, lambda v: len(v) > 0 and all(isinstance(s, str) for s in v), "a non-empty list of strategy names"),
    "twins": ((bool,), True, None, "true or false (run fixed-width twins of neuroplastic strategies)"),
    "controls": ((bool,), True, None,
                 "true or false (run the diag-only and reset controls of neuroplastic strategies)"),
}
TUNING: dict[str, _Spec] = {  # the budget of `isocl tune --strategy all` (isocl.tuning.tune_all)
    "trials": ((int,), 0, _nonneg_int, "an int >= 0 (validation-only trials per strategy and twin; 0: --trials)"),
    "train_per_class": ((int,), 0, _nonneg_int,
                        "an int >= 0 (training images per class the studies use; 0: the scenario's)"),
    "seed": ((int,), 0, _nonneg_int, "an int >= 0 (the seed of every trial)"),
}
LOGGING: dict[str, _Spec] = {  # Avalanche's loggers for every unit (isocl.bench.loggers); logs under DIR/logs/
    "loggers": ((list,), [], lambda v: all(x in ("text", "csv", "tensorboard", "wandb") for x in v),
                "a list of 'text', 'csv', 'tensorboard', 'wandb'"),
    "wandb_project": ((str,), "isocl", lambda v: bool(v), "a non-empty W&B project name"),
    "wandb_mode": ((str,), "offline", lambda v: v in ("offline", "online"), "'offline' or 'online'"),
}
OUTPUT: dict[str, _Spec] = {  # what a unit saves besides its record (isocl.bench.checkpoints); under DIR/models/
    "save_models": ((bool,), True, None, "true or false (save each unit's final model in safetensors)"),
    "save_every_experience": ((bool,), False, None, "true or false (also save the model after every experience)"),
}
SECTIONS = {"scenario": SCENARIO, "training": TRAINING, "model": MODEL, "tuning": TUNING, "logging": LOGGING,
            "output": OUTPUT}
# sections written to config.toml only where they differ from their defaults (they do not change results)
OPTIONAL_SECTIONS = ("tuning", "logging", "output")
TABLES = ("strategy", "search")


@dataclass
class Benchmark:
    """A validated benchmark definition, defaults filled in."""

    name: str
    path: Path | None
    description: str
    strategies: list[str]
    twins: bool
    controls: bool
    scenario: dict[str, Any]
    training: dict[str, Any]
    model: dict[str, Any]
    tuning: dict[str, Any] = field(default_factory=lambda: {k: v[1] for k, v in TUNING.items()})
    logging: dict[str, Any] = field(default_factory=lambda: copy.deepcopy({k: v[1] for k, v in LOGGING.items()}))
    output: dict[str, Any] = field(default_factory=lambda: {k: v[1] for k, v in OUTPUT.items()})
    strategy_params: dict[str, dict[str, Any]] = field(default_factory=dict)
    search: dict[str, dict[str, Any]] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "name": self.name,
            "description": self.description,
            "strategies": list(self.strategies),
            "twins": self.twins,
            "controls": self.controls,
            "scenario": {k: v for k, v in self.scenario.items() if v is not None},
            "training": dict(self.training),
            "model": dict(self.model),
        }
        for name in OPTIONAL_SECTIONS:
            value = getattr(self, name)
            if value != {k: v[1] for k, v in SECTIONS[name].items()}:
                out[name] = copy.deepcopy(value)
        if self.strategy_params:
            out["strategy"] = copy.deepcopy(self.strategy_params)
        if self.search:
            out["search"] = copy.deepcopy(self.search)
        return out

    def replace(self, **changes) -> "Benchmark":
        new = copy.deepcopy(self)
        for k, v in changes.items():
            setattr(new, k, v)
        return new


def _where(source: str, key: str) -> str:
    return f"{source}: {key}"


def _check(source: str, key: str, value: Any, spec: _Spec) -> Any:
    types, _, check, expected = spec
    if bool in types:
        ok_type = isinstance(value, bool)
    else:
        ok_type = isinstance(value, types) and not isinstance(value, bool)
    if not ok_type or (check is not None and not check(value)):
        raise ConfigError(f"{_where(source, key)} = {value!r} is invalid; expected {expected}")
    if float in types and isinstance(value, int):
        value = float(value)
    return value


def _section(source: str, prefix: str, raw: Any, specs: dict[str, _Spec]) -> dict[str, Any]:
    if not isinstance(raw, dict):
        raise ConfigError(f"{_where(source, prefix)} must be a table, instead got {raw!r}")
    unknown = sorted(set(raw) - set(specs))
    if unknown:
        raise ConfigError(
            f"{_where(source, prefix + '.' + unknown[0])}: unknown key; expected one of {sorted(specs)}"
        )
    out = {}
    for key, spec in specs.items():
        out[key] = _check(source, f"{prefix}.{key}", raw[key], spec) if key in raw else copy.deepcopy(spec[1])
    return out


def parse_benchmark(raw: dict[str, Any], source: str = "<benchmark>", path: Path | None = None) -> Benchmark:
    """Validate a parsed TOML document."""
    allowed = set(TOP) | set(SECTIONS) | set(TABLES)
    unknown = sorted(set(raw) - allowed)
    if unknown:
        raise ConfigError(f"{_where(source, unknown[0])}: unknown key; expected one of {sorted(allowed)}")
    top = {}
    for key, spec in TOP.items():
        if key in raw:
            top[key] = _check(source, key, raw[key], spec)
        elif spec[1] is None:
            raise ConfigError(f"{_where(source, key)}: missing; expected {spec[3]}")
        else:
            top[key] = spec[1]
    sections = {name: _section(source, name, raw.get(name, {}), specs) for name, specs in SECTIONS.items()}
    tables: dict[str, dict[str, dict[str, Any]]] = {}
    for table in TABLES:
        value = raw.get(table, {})
        if not isinstance(value, dict) or not all(isinstance(v, dict) for v in value.values()):
            raise ConfigError(f"{_where(source, table)} must hold one table per strategy, e.g. [{table}.naive]")
        tables[table] = copy.deepcopy(value)
    return Benchmark(
        name=top["name"],
        path=path,
        description=top["description"],
        strategies=list(top["strategies"]),
        twins=top["twins"],
        controls=top["controls"],
        scenario=sections["scenario"],
        training=sections["training"],
        model=sections["model"],
        tuning=sections["tuning"],
        logging=sections["logging"],
        output=sections["output"],
        strategy_params=tables["strategy"],
        search=tables["search"],
    )


def load_benchmark(path: str | Path) -> Benchmark:
    """Read and validate a benchmark TOML file."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: no such benchmark file")
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML ({exc})") from None
    return parse_benchmark(raw, str(path), path)


def to_toml(data: dict[str, Any]) -> str:
    """Write a config dict as TOML (tomli-w; None values are dropped)."""
    def clean(v):
        if isinstance(v, dict):
            return {k: clean(x) for k, x in v.items() if x is not None}
        return v
    return tomli_w.dumps(clean(data))
