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
import math
import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import tomli_w

from isocl.nn.kinds import ISOTROPIC_KINDS, MODEL_KINDS  # names only: models load on use

__all__ = [
    "OPTIONS",
    "Benchmark",
    "ConfigError",
    "cnn_config_kwargs",
    "check_online",
    "check_option",
    "check_options",
    "check_overrides",
    "check_scenario_feasible",
    "first_duplicate",
    "comma_list",
    "load_benchmark",
    "valid_layer_widths",
    "parse_benchmark",
    "set_layer_widths",
    "to_toml",
]


class ConfigError(ValueError):
    """A benchmark file or override that does not validate."""



# key: (types, default, check, expected-text)
_Spec = tuple[tuple[type, ...], Any, Any, str]


MAX_INT = 2**31 - 1  # counts beyond a C int overflow torch and its data loaders
MAX_SEED = 2**32 - 1  # NumPy's (and Optuna's samplers') seed range
MAX_WIDTH = 16384  # hidden neurons per layer: 3072 x 16384 floats is already 200 MB
CIFAR10_TRAIN, CIFAR10_TEST = 5000, 1000  # images per class


def _is_int(v):
    return isinstance(v, int) and not isinstance(v, bool)


def _int_in(lo, hi):
    return lambda v: _is_int(v) and lo <= v <= hi


_pos_int = _int_in(1, MAX_INT)


def valid_layer_widths(v) -> bool:
    """Hidden widths (or conv channels): 1 to 64 layers of 1 to MAX_WIDTH each (also a saved model's, in
    isocl.bench.checkpoints)."""
    return 0 < len(v) <= 64 and all(_int_in(1, MAX_WIDTH)(w) for w in v)


_layer_widths = valid_layer_widths
_seed = _int_in(0, MAX_SEED)


def _nonneg_int(v):
    return _int_in(0, MAX_INT)(v)


AUGMENTATIONS = ("none", "crop-flip")  # [scenario] augment (isocl.bench.augment)

SCENARIO: dict[str, _Spec] = {
    "setting": ((str,), "class_il", lambda v: v in ("class_il", "task_il"), "'class_il' or 'task_il'"),
    "n_experiences": ((int,), 5, lambda v: v in (1, 2, 5, 10), "one of 1, 2, 5, 10 (it must divide 10 classes)"),
    "class_order": ((list,), None, lambda v: all(_is_int(c) for c in v) and sorted(v) == list(range(10)),
                    "a permutation of 0..9"),
    "seed": ((int,), 0, _seed, "an int in [0, 2**32 - 1] (seeds the class order, subset and split)"),
    "vary_with_seed": ((bool,), True, None,
                       "true or false (true: each unit's seed also draws the class order, data subset and "
                       "validation split, shared by all strategies of that seed; false: scenario.seed fixes them)"),
    "validation_fraction": ((float, int), 0.1, lambda v: 0 <= v < 1, "a number in [0, 1)"),
    "train_per_class": ((int,), 0, _int_in(0, CIFAR10_TRAIN), "an int in [0, 5000] (0: all 5,000)"),
    "test_per_class": ((int,), 0, _int_in(0, CIFAR10_TEST), "an int in [0, 1000] (0: all 1,000)"),
    "augment": ((str,), "none", lambda v: v in AUGMENTATIONS,
                "'none' or 'crop-flip' (training batches: random crop with 4-pixel padding, horizontal flip)"),
}
PRECISIONS = ("float32", "bf16")
TRAINING: dict[str, _Spec] = {
    "epochs": ((int,), 5, _pos_int, "an int >= 1 (at most 2**31 - 1)"),
    "batch_size": ((int,), 128, _pos_int, "an int >= 1 (at most 2**31 - 1)"),
    "eval_batch_size": ((int,), 2048, _pos_int, "an int >= 1 (at most 2**31 - 1)"),
    "optimizer": ((str,), "adam", lambda v: v in ("adam", "adamw", "sgd"), "'adam', 'adamw' or 'sgd'"),
    "lr": ((float, int), 1e-3, lambda v: 0 < v < 10, "a number in (0, 10)"),
    "weight_decay": ((float, int), 0.0, lambda v: 0 <= v < 1, "a number in [0, 1)"),
    "momentum": ((float, int), 0.9, lambda v: 0 <= v < 1, "a number in [0, 1) (sgd only)"),
    "seeds": ((list,), [0, 1, 2], lambda v: len(v) > 0 and all(_seed(s) for s in v),
              "a non-empty list of ints in [0, 2**32 - 1]"),
    "device": ((str,), "cpu", lambda v: re.fullmatch(r"cpu|cuda(:\d{1,4})?", v) is not None, "'cpu' or 'cuda[:N]'"),
    # The audit of structural events (isocl.bench.plasticity.Auditor): accuracy before/after, measured logit
    # change, pruning bound, exactness check. Off: events are still recorded, unprobed (throughput runs).
    # It changes no training, so a results folder resumes under either setting (runner._comparable).
    "audit": ((bool,), True, None, "true or false (false: structural events recorded without probes)"),
    # bf16: autocast of the forward passes (isocl.bench.context.AutocastPlugin); weights, optimiser and
    # structural moves stay float32.
    "precision": ((str,), "float32", lambda v: v in PRECISIONS, "'float32' or 'bf16'"),
    "online": ((bool,), False, None,
               "true or false (true: one pass over each experience, split into mini-experiences of batch_size "
               "samples as Avalanche's split_online_stream does; needs epochs = 1)"),
    "lr_by_activation": ((dict,), {}, lambda v: set(v) <= {"isotropic", "elementwise"} and all(
                             isinstance(x, (int, float)) and not isinstance(x, bool) and 0 < x < 10 for x in v.values()),
                         "a table of activation kind ('isotropic', 'elementwise') to a learning rate in (0, 10)"),
}
MODEL: dict[str, _Spec] = {
    "widths": ((list,), [256, 256], _layer_widths, "a non-empty list of ints >= 1 (at most 64 layers of 16384)"),
    "shape": ((str,), "tanh", lambda v: v in ("tanh", "softsign", "log1p", "asinh"), "one of tanh, softsign, log1p, asinh"),
    "hidden_bias": ((bool,), True, None, "true or false"),
    "head_bias": ((bool,), True, None, "true or false"),
    "intrinsic": ((str,), "trainable", lambda v: v in ("off", "constant", "trainable"), "off, constant or trainable"),
    "intrinsic_out": ((str,), "trainable", lambda v: v in ("off", "constant", "trainable"), "off, constant or trainable"),
    "o_init": ((float, int), 1.0, lambda v: 0 < v < 1e6, "a number in (0, 1e6)"),
    "init": ((str,), "orthogonal", lambda v: v in ("orthogonal", "default"), "'orthogonal' or 'default'"),
    "kind": ((str,), "mlp", lambda v: v in MODEL_KINDS, "one of " + ", ".join(MODEL_KINDS) + " (isocl.nn.kinds)"),
}
# Keys of kind = "cnn" only (isocl.nn.cnn.CNNConfig); ``widths`` is then the dense stage after the conv stages.
CNN_MODEL: dict[str, _Spec] = {
    "channels": ((list,), [32, 64, 128], _layer_widths,
                 "a non-empty list of ints >= 1 (channels of each conv stage; at most 64 stages of 16384)"),
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
    "trials": ((int,), 0, _nonneg_int,
               "an int >= 0 (validation-only trials per strategy and twin; 0: --trials)"),
    "train_per_class": ((int,), 0, _nonneg_int,
                        "an int >= 0 (training images per class the studies use; 0: the scenario's)"),
    "seed": ((int,), 0, _seed, "an int in [0, 2**32 - 1] (the seed of every trial)"),
    "validation_fraction": ((float, int), 0.0, lambda v: 0 <= v < 1,
                            "a number in [0, 1) (the share of the tuning data held out for the objective; "
                            "0: the scenario's)"),
}
LOGGERS = ("text", "csv", "tensorboard", "wandb")  # Avalanche's loggers isocl offers (isocl.bench.loggers)
LOGGING: dict[str, _Spec] = {  # Avalanche's loggers for every unit (isocl.bench.loggers); logs under DIR/logs/
    "loggers": ((list,), [], lambda v: all(x in LOGGERS for x in v),
                "a list of 'text', 'csv', 'tensorboard', 'wandb'"),
    "wandb_project": ((str,), "isocl", lambda v: bool(v), "a non-empty W&B project name"),
    "wandb_mode": ((str,), "offline", lambda v: v in ("offline", "online"), "'offline' or 'online'"),
}
OUTPUT: dict[str, _Spec] = {  # what a unit saves besides its record (isocl.bench.checkpoints); under DIR/models/
    "save_models": ((bool,), True, None, "true or false (save each unit's final model in safetensors)"),
    "save_every_experience": ((bool,), False, None, "true or false (also save the model after every experience)"),
}
SECTIONS = {"scenario": SCENARIO, "training": TRAINING, "model": {**MODEL, **CNN_MODEL}, "tuning": TUNING, "logging": LOGGING,
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


def _valid(value: Any, spec: _Spec) -> bool:
    """``value`` has one of the spec's types (a bool is not an int), floats are finite, and the check holds
    (a check that raises on an odd value, e.g. sorting a mixed list, means: invalid)."""
    types, _, check, _ = spec
    if bool in types:
        ok_type = isinstance(value, bool)
    else:
        ok_type = isinstance(value, types) and not isinstance(value, bool)
    if not ok_type or (isinstance(value, float) and not math.isfinite(value)):
        return False
    try:
        return check is None or bool(check(value))
    except (TypeError, ValueError, OverflowError):
        return False


def _check(source: str, key: str, value: Any, spec: _Spec) -> Any:
    if not _valid(value, spec):
        raise ConfigError(f"{_where(source, key)} = {value!r} is invalid; expected {spec[3]}")
    if float in spec[0] and isinstance(value, int):
        value = float(value)
    return value


def check_overrides(where: str, training: Mapping[str, Any], model: Mapping[str, Any]) -> tuple[dict, dict]:
    """Per-strategy ``[strategy.X]`` training keys and ``model.X`` keys, checked like the file's own."""
    out = []
    for prefix, values, specs in (("training", training, TRAINING), ("model", model, MODEL)):
        checked = {}
        for key, value in values.items():
            if key not in specs:
                raise ConfigError(f"{where}: {prefix}.{key}: unknown key; expected one of {sorted(specs)}")
            checked[key] = _check(where, f"{prefix}.{key}", value, specs[key])
        out.append(checked)
    return out[0], out[1]


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
    for key, values in (("strategies", top["strategies"]), ("training.seeds", sections["training"]["seeds"])):
        _refuse_duplicates(f"{_where(source, key)} = {values!r}", values)
    check_scenario_feasible(source, sections["scenario"])
    check_online(source, sections["training"])
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


def first_duplicate(values: list[Any]) -> Any:
    """The first value that occurs twice in ``values`` (None when each occurs once)."""
    seen = set()
    for v in values:
        if v in seen:
            return v
        seen.add(v)
    return None


def _refuse_duplicates(where: str, values: list[Any]) -> None:
    dup = first_duplicate(values)
    if dup is not None:
        raise ConfigError(f"{where}: {dup!r} is given twice; expected each once (a unit runs once)")


def check_scenario_feasible(source: str, scenario: Mapping[str, Any]) -> None:
    """The scenario's split can be made: with ``validation_fraction`` > 0 every class keeps at least one
    validation image (``int(fraction * images per class)``, as isocl.bench.scenarios splits) and at least
    one training image."""
    fraction = scenario["validation_fraction"]
    per_class = scenario["train_per_class"] or CIFAR10_TRAIN
    if fraction > 0:
        n_val = int(fraction * per_class)
        if n_val < 1 or per_class - n_val < 1:
            need = math.ceil(1 / fraction)
            raise ConfigError(
                f"{_where(source, 'scenario')}: validation_fraction = {fraction:g} of train_per_class = {per_class} "
                f"leaves {n_val} validation and {per_class - n_val} training images per class; expected at least 1 "
                f"of each (train_per_class >= {need}, or validation_fraction = 0)")
def check_online(source: str, training: Mapping[str, Any]) -> None:
    """``training.online`` is one pass: it needs ``epochs = 1`` (the file's, or ``--epochs``)."""
    if training.get("online") and training.get("epochs") != 1:
        raise ConfigError(f"{_where(source, 'training.epochs')} = {training.get('epochs')!r} is invalid with "
                          "training.online = true; expected 1 (online learning is one pass)")


def _model_kind(source: str, raw: dict[str, Any], model: dict[str, Any]) -> dict[str, Any]:
    """The model table of its kind: an MLP table as before (no ``kind``), a CNN table, checked whole, or the
    table of another registered kind (``isocl.nn.kinds``: its own keys only, e.g. none for the ResNets)."""
    if model["kind"] not in ISOTROPIC_KINDS:
        from isocl.nn.kinds import model_kind

        kind = model_kind(model["kind"])
        stray = sorted(set(raw) - set(kind.keys) - {"kind"})
        if stray:
            raise ConfigError(f"{_where(source, 'model.' + stray[0])}: does not apply to kind = {kind.name!r}; "
                              f"expected {' or '.join(sorted(kind.keys)) or 'no key but kind'}")
        table = {k: _check(source, f"model.{k}", raw[k], spec) if k in raw else copy.deepcopy(spec[1])
                 for k, spec in kind.keys.items()}
        return {"kind": kind.name, **table}
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
    try:
        if not path.is_file():
            raise ConfigError(f"{path}: no such benchmark file")
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML ({exc})") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not a UTF-8 text file ({exc.reason} at byte {exc.start})") from None
    except (OSError, ValueError) as exc:  # unreadable, a name too long, a NUL byte
        raise ConfigError(f"{path}: cannot read the benchmark file ({getattr(exc, 'strerror', None) or exc})") from None
    return parse_benchmark(raw, str(path), path)


# -- command-line options ---------------------------------------------------------------------------------
# One table per sub-command, argparse ``dest`` -> spec: the same (types, default, check, expected) as the
# benchmark file, and the file's own spec where an option overrides a key (--epochs is training.epochs).
# ``isocl.cli.check_args`` checks every option given (a value of None: not given, or not an option of this
# version) before the command does anything; a new option is one line here.

PATH_MAX, NAME_MAX = 4096, 255  # bytes (Linux)


def _usable_path(v: str) -> bool:
    """A path the OS can take: non-empty, no NUL byte, encodable, no name longer than NAME_MAX bytes."""
    if not v or "\0" in v:
        return False
    raw = os.fsencode(v)  # UnicodeEncodeError (a ValueError): invalid
    return len(raw) <= PATH_MAX and all(len(part) <= NAME_MAX for part in raw.split(b"/"))


def comma_list(v: Any) -> list[str]:
    """``"a, b,,c"`` -> ``["a", "b", "c"]`` (a list is returned as a list): how every comma-separated
    option (--strategies, --logger) is read."""
    return [x.strip() for x in v.split(",") if x.strip()] if isinstance(v, str) else list(v)


EXECUTORS = ("local", "ray")
PATH: _Spec = ((str,), None, _usable_path, "a path (non-empty, no NUL byte, names of at most 255 bytes)")
PATHS: _Spec = ((list,), None, lambda v: len(v) > 0 and all(isinstance(p, str) and _usable_path(p) for p in v),
                "one or more paths (non-empty, no NUL byte, names of at most 255 bytes)")
NAME: _Spec = ((str,), None, lambda v: 0 < len(v) <= 512 and "\0" not in v and v.strip() == v,
               "a non-empty name of at most 512 characters, no NUL byte, no surrounding spaces")
STRATEGY_NAMES: _Spec = ((list,), None, lambda v: 0 < len(v) <= 1000 and all(
                             isinstance(s, str) and 0 < len(s) <= 200 and "\0" not in s for s in v),
                         "a comma-separated list of strategy names, e.g. naive,replay")
THREADS: _Spec = ((int,), None, _int_in(1, 1024), "an int in [1, 1024] (torch threads)")
JOBS: _Spec = ((int,), 1, _int_in(1, 1024), "an int in [1, 1024] (worker processes)")
OPTIONS: dict[str, dict[str, _Spec]] = {
    "run": {
        "benchmark": PATH,
        "strategies": STRATEGY_NAMES,
        "seeds": TRAINING["seeds"],
        "epochs": TRAINING["epochs"],
        "device": TRAINING["device"],
        "out": PATH,
        "threads": THREADS,
        "jobs": JOBS,
        "executor": ((str,), "local", lambda v: v in EXECUTORS, "'local' or 'ray'"),
        "address": ((str,), None, lambda v: 0 < len(v) <= 1000 and "\0" not in v,
                    "a Ray cluster address such as 'auto' or ray://host:10001"),
        "logger": ((str, list), None, lambda v: 0 < len(comma_list(v)) and set(comma_list(v)) <= set(LOGGERS),
                   "a comma-separated list of text, csv, tensorboard, wandb"),
    },
    "evaluate": {"best": PATH, "seeds": TRAINING["seeds"], "device": TRAINING["device"], "out": PATH},
    "tune": {
        "benchmark": PATH,
        "strategy": ((str,), None, lambda v: 0 < len(v) <= 200 and "\0" not in v and ":" not in v,
                     "a registered strategy name or 'all' (twins are not tuned on their own)"),
        "trials": ((int,), None, _int_in(1, MAX_INT), "an int >= 1 (at most 2**31 - 1)"),
        "storage": ((str,), None, lambda v: 0 < len(v.strip()) and _usable_path(v),
                    "a URL such as sqlite:///path/study.db, postgresql://user@host/db or journal:PATH"),
        "study": NAME,
        "jobs": JOBS,
        "timeout": ((float, int), None, lambda v: v > 0, "a finite number of seconds > 0"),
        "out": PATH,
        "seed": ((int,), None, _seed, "an int in [0, 2**32 - 1]"),
        "epochs": TRAINING["epochs"],
        "device": TRAINING["device"],
    },
    "plot": {"results": PATHS, "out": PATH},
    "export": {"results": PATH, "unit": NAME, "out": PATH},
    "list": {"benchmarks": PATH},
    "speed": {
        "device": TRAINING["device"],
        "epochs": (TRAINING["epochs"][0], 1, *TRAINING["epochs"][2:]),  # one epoch: a timing, not a training run
        "train_per_class": ((int,), 1000, _int_in(1, CIFAR10_TRAIN), "an int in [1, 5000]"),
        "repeats": ((int,), 3, _int_in(1, 1000), "an int in [1, 1000]"),
    },
}


def _show(value: Any) -> str:
    """An option's value as typed: lists comma-joined, strings quoted (one line whatever they hold)."""
    if isinstance(value, (list, tuple)):
        value = ",".join(str(v) for v in value)
    if isinstance(value, str):
        return value if value and value.isprintable() and " " not in value else repr(value)
    return str(value)


def check_option(command: str, dest: str, value: Any) -> Any:
    """``value`` of option ``dest`` of ``isocl COMMAND``, checked by :data:`OPTIONS`; raises ConfigError
    naming the option (``--dest``, or the positional's name), the value and what is expected."""
    spec = OPTIONS.get(command, {}).get(dest)
    if spec is None or value is None:
        return value
    if not _valid(value, spec):
        flag = dest if dest in ("benchmark", "best", "results") else "--" + dest.replace("_", "-")
        raise ConfigError(f"{flag} {_show(value)} is invalid; expected {spec[3]}")
    if dest in ("seeds", "strategies") and isinstance(value, list):
        _refuse_duplicates(f"--{dest} {_show(value)}", value)
    return value


def check_options(command: str, values: Mapping[str, Any]) -> None:
    """Every option of ``isocl COMMAND`` in ``values`` (e.g. ``vars(args)``) that has a spec and a value."""
    for dest in OPTIONS.get(command, {}):
        check_option(command, dest, values.get(dest))


def to_toml(data: dict[str, Any]) -> str:
    """Write a config dict as TOML (tomli-w; None values are dropped)."""
    def clean(v):
        if isinstance(v, dict):
            return {k: clean(x) for k, x in v.items() if x is not None}
        return v
    return tomli_w.dumps(clean(data))
