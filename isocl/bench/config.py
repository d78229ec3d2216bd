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

__all__ = ["Benchmark", "ConfigError", "cnn_config_kwargs", "load_benchmark", "parse_benchmark", "set_layer_widths", "to_toml"]


class ConfigError(ValueError):
    """A benchmark file or override that does not validate."""


MODEL_KINDS = ("mlp", "cnn")

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
    "kind": ((str,), "mlp", lambda v: v in MODEL_KINDS, "'mlp' or 'cnn' (isocl.nn.cnn)"),
}
# Keys of kind = "cnn" only (isocl.nn.cnn.CNNConfig); ``widths`` is then the dense stage after the conv stages.
CNN_MODEL: dict[str, _Spec] = {
    "channels": ((list,), [32, 64, 128], lambda v: len(v) > 0 and all(_pos_int(w) for w in v),
                 "a non-empty list of ints >= 1 (channels of each conv stage)"),
    "kernel_size": ((int,), 3, _pos_int, "an int >= 1"),
    "stride": ((int,), 1, _pos_int, "an int >= 1"),
    "padding": ((int,), -1, lambda v: v >= -1, "an int >= 0, or -1 for kernel_size // 2 ('same')"),
    "pool": ((int,), 2, _pos_int, "an int >= 1 (average pooling after every conv stage; 1: none)"),
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
SECTIONS = {"scenario": SCENARIO, "training": TRAINING, "model": {**MODEL, **CNN_MODEL}, "tuning": TUNING}
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
        if self.tuning != {k: v[1] for k, v in TUNING.items()}:
            out["tuning"] = dict(self.tuning)
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
    sections["model"] = _model_kind(source, raw.get("model", {}), sections["model"])
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
        strategy_params=tables["strategy"],
        search=tables["search"],
    )


def _model_kind(source: str, raw: dict[str, Any], model: dict[str, Any]) -> dict[str, Any]:
    """The model table of its kind: an MLP table as before (no ``kind``), or a CNN table, checked whole."""
    if model["kind"] == "mlp":
        stray = sorted(set(raw) & set(CNN_MODEL))
        if stray:
            raise ConfigError(f"{_where(source, 'model.' + stray[0])}: applies only to kind = 'cnn'; "
                              f"add kind = \"cnn\" or remove it")
        return {k: v for k, v in model.items() if k not in CNN_MODEL and k != "kind"}
    from isocl.nn.cnn import CNNConfig  # the harness reads the network's own validation

    try:
        CNNConfig(**cnn_config_kwargs(model))
    except ValueError as exc:
        raise ConfigError(f"{_where(source, 'model')}: {exc}") from None
    return model


def cnn_config_kwargs(model: dict[str, Any]) -> dict[str, Any]:
    """CNNConfig keyword arguments from a validated ``kind = "cnn"`` model table."""
    kw = {k: v for k, v in model.items() if k != "kind"}
    if kw.get("padding", -1) == -1:
        kw["padding"] = None
    return kw


def set_layer_widths(model: dict[str, Any], widths: list[int]) -> None:
    """Set every hidden layer's width in a model table: for a CNN the first ``len(channels)`` are conv channels."""
    widths = [int(w) for w in widths]
    if model.get("kind", "mlp") == "cnn":
        n = len(model["channels"])
        model["channels"], model["widths"] = widths[:n], widths[n:]
    else:
        model["widths"] = widths


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
