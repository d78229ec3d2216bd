"""Hyper-parameter tuning with Optuna: ``isocl tune`` and ``isocl evaluate``.

``isocl tune BENCHMARK.toml --strategy NAME --trials N`` searches one
strategy's parameters (its ``[strategy.NAME]`` parameters, the learning rate,
``model.X`` keys) on the benchmark's *validation* stream -- a split of the
training data (``scenario.validation_fraction > 0``); the test set is never
touched. The best configuration is written as ``best.toml``, a complete
benchmark file that ``isocl run`` and ``isocl evaluate`` accept as is, and
``isocl evaluate best.toml --seeds 0,1,2`` measures it on the test set.

The search space is declared per strategy in the benchmark file::

    [search.replay]
    lr = { type = "float", low = 1e-4, high = 1e-2, log = true }
    mem_size = { type = "int", low = 100, high = 1000, step = 100 }
    "model.intrinsic" = { type = "categorical", choices = ["constant", "trainable"] }

``type`` is ``float`` (``low``, ``high``, optional ``log``, ``step``),
``int`` (``low``, ``high``, optional ``step``, ``log``) or ``categorical``
(``choices``). Keys are the strategy's parameters, ``lr``, ``weight_decay``,
``batch_size``, ``epochs`` and ``model.X`` (any ``[model]`` key but
``widths``). Without a table, :func:`default_space` is used (printed at the
start of a run, ready to paste).

What one trial is: the strategy trained once (one seed: the benchmark's
first, or ``--seed``) through every experience, scored by the final average
accuracy on the validation stream of the experiences seen. Single objective:
that accuracy, reported to the pruner after each experience. Multi-objective
(``--multi-objective``): (accuracy max, forgetting min, parameter count min),
giving a Pareto front; Optuna does not prune multi-objective trials.

Storage and resuming: one study per ``(benchmark, strategy)`` in
``results/tune/<benchmark>-<strategy>/`` (``--out``): ``study.db`` (SQLite)
for one worker, ``journal.log`` (Optuna's JournalFileBackend) for
``--jobs K`` local worker processes -- Optuna advises against SQLite for
parallel workers. A study that started with one worker and resumes with
several is copied into the journal once, and the journal is used from then
on. Rerunning the same command resumes the study and runs only the trials
still missing: ``--trials N`` is the target number of *finished* trials
(complete + pruned); failed trials are kept as FAIL and do not count.

Markdown for the README (several machines against one PostgreSQL):

## Tuning on several machines

Every machine runs the same command against one PostgreSQL database; Optuna
hands out trials, and the study stops at exactly N finished (complete +
pruned) trials however many workers join, whenever they join.

1. Create the database once (any PostgreSQL reachable from all machines)::

       createdb -h db.example.org -U tuner isocl_tune

2. On every machine (same checkout, same benchmark file, CIFAR-10 in
   ``ISOCL_DATA``, ``pip install psycopg2-binary``)::

       isocl tune benchmarks/split_cifar10_class_il.toml --strategy neuro-grow-prune \\
           --trials 64 --jobs 2 \\
           --storage postgresql://tuner:SECRET@db.example.org/isocl_tune \\
           --study split-cifar10-neuro-grow-prune

   ``--jobs K`` starts K worker processes on that machine (one per GPU or a
   few per CPU box); every worker draws its own sampler seed, so no two draw
   the same first configurations.

3. When the last machine is done, any of them runs the same command once
   more: it runs no trial (the study already has 64) and writes
   ``best.toml``, ``trials.csv`` and the plots into its ``--out`` folder
   (default ``results/tune/<study>/``). Each machine also writes them when
   its own workers finish, from the study as it is at that moment.

4. Evaluate the chosen configuration on the test set::

       isocl evaluate results/tune/split-cifar10-neuro-grow-prune/best.toml --seeds 0,1,2,3,4

Workers that die (machine reboot, OOM kill) leave their trial RUNNING; with
an RDB storage every worker sends Optuna heartbeats (every 60 s), and a trial
silent for 3 minutes is marked FAIL by the next worker to start a trial and
retried once with the same parameters. A worker that stops with the study
short of N (timeout, failures) is simply restarted: the study resumes.
Progress can be watched with ``optuna-dashboard postgresql://...``.
"""

from __future__ import annotations

import argparse
import copy
import json
import logging
import math
import os
import re
import socket
import sys
import time
import warnings
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from isocl.bench.config import MODEL, Benchmark, ConfigError, parse_benchmark, to_toml

__all__ = [
    "PRUNERS",
    "SAMPLERS",
    "StorageSpec",
    "TuneContext",
    "TuneResult",
    "add_tune_parsers",
    "best_benchmark",
    "default_space",
    "evaluate",
    "evaluate_command",
    "isocl_objective",
    "resolve_storage",
    "space_to_toml",
    "suggest_params",
    "tune",
    "tune_command",
    "validate_space",
    "write_outputs",
]

SEARCH_TYPES = ("float", "int", "categorical")
PRUNERS = ("median", "hyperband", "none")
SAMPLERS = ("tpe", "random", "nsga2", "nsga3", "qmc", "gp", "cmaes")
TRAINING_KEYS = ("lr", "weight_decay", "batch_size", "epochs")  # what runner._apply_overrides routes to [training]
MODEL_KEYS = tuple(f"model.{k}" for k in MODEL if k != "widths")  # widths is a list: not an Optuna choice
OBJECTIVE_NAMES = ("valid accuracy", "forgetting", "params")
DIRECTIONS_SINGLE = ["maximize"]
DIRECTIONS_MULTI = ["maximize", "minimize", "minimize"]
MAX_CONSECUTIVE_FAILURES = 3  # a worker whose trials keep raising stops (a bug, not bad luck)
HEARTBEAT_INTERVAL_S = 60
HEARTBEAT_GRACE_S = 180
STUDY_ATTR = "isocl"  # study user attr: what the study tunes (checked on resume)


# --------------------------------------------------------------------------
# Search spaces


def _is_num(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _allowed_keys(spec) -> list[str]:
    return sorted(spec.defaults) + list(TRAINING_KEYS) + list(MODEL_KEYS)


_EXAMPLE = '{ type = "float", low = 1e-4, high = 1e-2, log = true }'


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
    check = _is_int if kind == "int" else _is_num
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
                strategy_spec.resolve({key: value}, _INNER)
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
    from isocl.bench.registry import get_strategy

    where = where or str(bench.path or bench.name)
    spec = get_strategy(strategy)
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
        return {"type": "float", "low": 1e-3, "high": 0.3, "log": True}
    return {"type": "float", "low": 1e-4, "high": 1e-2, "log": True}


def _neuro_table(width: int) -> dict[str, dict[str, Any]]:
    """Ranges for the neuroplastic parameters (only those a strategy has are used)."""
    half = max(2, width // 2)
    low_width = max(1, width // 16)
    return {
        # relative to the largest singular value (prune_mode = "relative"): 2.5 decades, log scale
        "prune_threshold": {"type": "float", "low": 1e-3, "high": 0.3, "log": True},
        "prune_criterion": {"type": "categorical", "choices": ["sv", "sv_out"]},
        # growth: a count of new neurons (grow_mode fixed / per_class) ...
        "grow_count": {"type": "int", "low": 1, "high": half, "log": True},
        # ... or a buffer of weak neurons (grow_mode buffer) and the sigma below which a neuron is weak
        "buffer_size": {"type": "int", "low": 1, "high": half, "log": True},
        "scaffold_threshold": {"type": "float", "low": 0.5, "high": 0.99},
        "min_width": {"type": "int", "low": low_width, "high": max(low_width + 1, half), "log": True},
        "finetune_epochs": {"type": "int", "low": 0, "high": 3},
    }


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
    if isinstance(default, bool) or not _is_num(default):
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
    if isinstance(default, bool) or not _is_num(default):
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


def default_space(strategy: str, bench: Benchmark) -> dict[str, dict[str, Any]]:
    """The search space used when the benchmark has no ``[search.STRATEGY]`` table.

    Neuroplastic strategies: the pruning threshold (log) and criterion, the
    growth count (``grow_mode`` fixed / per_class) or the buffer size and
    scaffold threshold (``grow_mode`` buffer), the minimum width, fine-tune
    epochs -- those of them the strategy has -- plus the intrinsic-length mode
    and the learning rate. Baselines: their numeric parameters (known ranges,
    else a decade around the default) and the learning rate. Ranges are
    widened to contain the value the benchmark runs with.
    """
    from isocl.bench.registry import get_strategy

    spec = get_strategy(strategy)
    where = f"{bench.path or bench.name}: default search space of {strategy!r}"
    # the values this benchmark runs with: the strategy's defaults updated by [strategy.NAME]
    current = {**spec.defaults, **bench.strategy_params.get(strategy, {})}
    space: dict[str, dict[str, Any]] = {"lr": _lr_space(bench)}
    candidates: dict[str, dict[str, Any] | None] = {}
    if spec.neuroplastic:
        growth = {"grow_count", "buffer_size", "scaffold_threshold"}
        wanted = _growth_keys(current)
        for name, s in _neuro_table(min(bench.model["widths"])).items():
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


def _distribution(s: Mapping[str, Any]):
    from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

    if s["type"] == "float":
        return FloatDistribution(s["low"], s["high"], log=s.get("log", False), step=s.get("step"))
    if s["type"] == "int":
        return IntDistribution(s["low"], s["high"], log=s.get("log", False), step=s.get("step", 1))
    return CategoricalDistribution(s["choices"])


# --------------------------------------------------------------------------
# Storage


@dataclass(frozen=True)
class StorageSpec:
    """Where the study lives, in a form worker processes can re-open.

    ``kind`` is ``sqlite`` or ``rdb`` (an SQLAlchemy URL in ``target``) or
    ``journal`` (a JournalFileBackend file in ``target``). ``lock_path`` is a
    local lock file that lets a starting run know whether anybody else is
    using the study (None for shared RDB servers).
    """

    kind: str
    target: str
    lock_path: str | None = None

    def display(self) -> str:
        if self.kind == "journal":
            return f"journal:{self.target}"
        try:
            from sqlalchemy.engine import make_url

            return make_url(self.target).render_as_string(hide_password=True)
        except Exception:  # noqa: BLE001 - only for messages
            return re.sub(r"//([^:/@]+):[^@]*@", r"//\1:***@", self.target)

    def open(self):
        """A fresh Optuna storage object (each process opens its own)."""
        import optuna

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            warnings.simplefilter("ignore", FutureWarning)
            if self.kind == "journal":
                from optuna.storages.journal import JournalFileBackend, JournalStorage

                return JournalStorage(JournalFileBackend(self.target))
            engine_kwargs: dict[str, Any] = {}
            if self.kind == "sqlite":
                engine_kwargs = {"connect_args": {"timeout": 60}}
            elif self.target.startswith(("postgresql", "mysql")):
                engine_kwargs = {"pool_pre_ping": True, "connect_args": {"connect_timeout": 10}}
            # Trials left RUNNING by a dead worker, on RDB storages: Optuna's heartbeat.
            # Every running trial records a heartbeat every HEARTBEAT_INTERVAL_S; before
            # each new trial Optuna marks trials silent for HEARTBEAT_GRACE_S as FAIL and
            # the retry callback re-enqueues their parameters once. This is what makes
            # several machines on one PostgreSQL safe; for local storages see
            # _fail_stale_trials (immediate, under the study lock).
            return optuna.storages.RDBStorage(
                self.target,
                engine_kwargs=engine_kwargs,
                heartbeat_interval=HEARTBEAT_INTERVAL_S,
                grace_period=HEARTBEAT_GRACE_S,
                heartbeat_stale_trial_callback=optuna.storages.RetryHeartbeatStaleTrialCallback(max_retry=1),
            )


def _local_sqlite(path: Path) -> str:
    return f"sqlite:///{path}"


def resolve_storage(storage: str | None, out_dir: Path, jobs: int = 1) -> tuple[StorageSpec, StorageSpec | None]:
    """The study's storage and, when a one-worker study goes parallel, the SQLite file to copy it from.

    ``storage=None``: ``OUT/journal.log`` if it exists, else ``OUT/study.db``
    for one worker, ``OUT/journal.log`` for several. ``storage`` may be an
    SQLAlchemy URL (``sqlite:///path.db``, ``postgresql://user@host/db``) or
    ``journal:PATH`` (a journal file, e.g. on NFS). Checks directories; does
    not open anything.
    """
    if storage is None:
        try:
            out_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ConfigError(f"--out {out_dir}: cannot create the study directory ({exc.strerror or exc})") from None
        lock = str(out_dir / ".tune.lock")
        journal, db = out_dir / "journal.log", out_dir / "study.db"
        journal_spec = StorageSpec("journal", str(journal), lock)
        if journal.exists() and journal.stat().st_size > 0:  # (opening a journal creates an empty file)
            return journal_spec, None
        db_spec = StorageSpec("sqlite", _local_sqlite(db), lock)
        if jobs == 1:
            return db_spec, None
        return journal_spec, (db_spec if db.exists() else None)
    if not isinstance(storage, str) or not storage.strip():
        raise ConfigError(f"--storage {storage!r}: expected a URL such as sqlite:///path/study.db, "
                          "postgresql://user@host/db or journal:PATH")
    storage = storage.strip()
    if storage.startswith("journal:"):
        path = Path(storage[len("journal:"):]).expanduser()
        _check_parent(path, storage)
        return StorageSpec("journal", str(path), str(path) + ".isocl-lock"), None
    if "://" not in storage:
        raise ConfigError(f"--storage {storage!r}: not a storage URL; expected sqlite:///path/study.db, "
                          "postgresql://user@host/db (several machines) or journal:PATH")
    if storage.startswith("sqlite:"):
        from sqlalchemy.engine import make_url

        try:
            database = make_url(storage).database
        except Exception as exc:  # noqa: BLE001
            raise ConfigError(f"--storage {storage!r}: not a valid SQLite URL ({exc})") from None
        if not database or database == ":memory:":
            if jobs > 1:
                raise ConfigError(f"--storage {storage!r}: an in-memory study cannot be shared by --jobs {jobs} workers")
            return StorageSpec("sqlite", storage, None), None
        path = Path(database).expanduser()
        _check_parent(path, storage)
        return StorageSpec("sqlite", storage, str(path) + ".isocl-lock"), None
    return StorageSpec("rdb", storage, None), None


def _check_parent(path: Path, given: str) -> None:
    parent = path.parent if str(path.parent) else Path(".")
    if not parent.is_dir():
        raise ConfigError(f"--storage {given}: directory {parent} does not exist (or is not a directory); "
                          "create it first or choose another path")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise ConfigError(f"--storage {given}: directory {parent} is not writable")
    if path.exists() and not path.is_file():
        raise ConfigError(f"--storage {given}: {path} exists and is not a file")


def _open_checked(spec: StorageSpec):
    """Open the storage or raise ConfigError: nothing of a study is created here."""
    try:
        return spec.open()
    except Exception as exc:  # noqa: BLE001 - any driver error means: cannot use this storage
        msg = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        hint = ""
        if isinstance(exc, ImportError):
            hint = " (is the database driver installed? e.g. pip install psycopg2-binary for PostgreSQL)"
        raise ConfigError(f"--storage {spec.display()}: cannot open the study storage: "
                          f"{type(exc).__name__}: {msg}{hint}") from None


class _StudyLock:
    """An advisory lock file beside a local study.

    A run that gets it exclusively knows that no other ``isocl tune`` (and
    none of their workers) is using the study, so trials still RUNNING were
    left by a killed process. It then keeps a shared lock (as do its worker
    processes) for as long as it runs.
    """

    def __init__(self, path: str | None):
        self.path, self.fd = path, None

    def acquire(self, exclusive: bool = True) -> bool:
        if self.path is None:
            return False
        try:
            import fcntl
        except ImportError:  # not POSIX: no stale-trial cleanup, heartbeats only
            return False
        self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        if exclusive:
            try:
                fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return True
            except OSError:
                pass
        fcntl.flock(self.fd, fcntl.LOCK_SH)
        return False

    def share(self) -> None:
        if self.fd is not None:
            import fcntl

            fcntl.flock(self.fd, fcntl.LOCK_SH)

    def release(self) -> None:
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None


def _fail_stale_trials(study) -> list[int]:
    """Mark every RUNNING trial FAIL and retry its parameters once.

    Called only by a run holding the study lock exclusively (local storages):
    then nobody else is running trials, and a RUNNING trial was left by a
    process that died mid-trial (kill -9, OOM, power). This is immediate,
    unlike the heartbeat (which only fails a trial after its grace period
    and is what RDB storages shared by several machines rely on; see
    StorageSpec.open). Retrying uses Optuna's RetryHeartbeatStaleTrialCallback
    (the former RetryFailedTrialCallback), so a configuration that kills
    its process twice is not retried forever.
    """
    import optuna
    from optuna.trial import TrialState

    storage = study._storage
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        retry = optuna.storages.RetryHeartbeatStaleTrialCallback(max_retry=1)
    failed = []
    for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        try:
            storage.set_trial_system_attr(t._trial_id, "isocl_fail_reason",
                                          "stale: left RUNNING by a worker that died; failed when the study resumed")
            if storage.set_trial_state_values(t._trial_id, state=TrialState.FAIL):
                failed.append(t.number)
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
                    retry(study, copy.deepcopy(storage.get_trial(t._trial_id)))
        except optuna.exceptions.UpdateFinishedTrialError:
            pass  # it finished meanwhile
    return failed


def _check_existing(storage, spec: StorageSpec, name: str, strategy: str, directions: list[str],
                    space: Mapping[str, Mapping[str, Any]], where: str) -> bool:
    """If the study exists, check that resuming it makes sense (read-only)."""
    from optuna.distributions import check_distribution_compatibility

    try:
        sid = storage.get_study_id_from_name(name)
    except KeyError:
        return False
    have = [d.name.lower() for d in storage.get_study_directions(sid)]
    if have != directions:
        kind = "multi-objective" if len(have) > 1 else "single-objective"
        raise ConfigError(
            f"study {name!r} in {spec.display()} is {kind} (directions {have}); this run asks for {directions}. "
            "Use another --study name (or --out) for a new study"
        )
    info = storage.get_study_user_attrs(sid).get(STUDY_ATTR, {})
    if info.get("strategy") not in (None, strategy):
        raise ConfigError(
            f"study {name!r} in {spec.display()} tunes strategy {info['strategy']!r}, not {strategy!r}. "
            "Use another --study name (or --out) for a new study"
        )
    new = {k: _distribution(s) for k, s in space.items()}
    for t in storage.get_all_trials(sid, deepcopy=False):
        for param, dist in t.distributions.items():
            if param in new:
                try:
                    check_distribution_compatibility(dist, new[param])
                except ValueError as exc:
                    raise ConfigError(
                        f"{where}: search.{strategy}.{param}: does not match the existing study {name!r} "
                        f"(was {dist}; {exc}). Keep the old definition or use another --study name"
                    ) from None
    return True


# --------------------------------------------------------------------------
# Samplers and pruners


def _resolve_sampler(name: str | None, multi: bool) -> str:
    name = name or ("nsga2" if multi else "tpe")
    if name not in SAMPLERS:
        raise ConfigError(f"--sampler {name!r}: expected one of {', '.join(SAMPLERS)}")
    if name == "cmaes":
        if multi:
            raise ConfigError("--sampler cmaes: CMA-ES is single-objective; use nsga2, nsga3, tpe, gp or random")
        try:
            import cmaes  # noqa: F401
        except ImportError:
            raise ConfigError("--sampler cmaes needs the 'cmaes' package (pip install cmaes)") from None
    return name


def _make_sampler(name: str, *, seed: int, n_trials: int, population_size: int, base_seed: int):
    import optuna

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        if name == "tpe":
            # Single objective: TPE. A few random start-up trials (10 in Optuna, fewer
            # for small budgets so the model guides most of them); constant_liar (the
            # Optuna 5 default, set explicitly) makes parallel workers avoid the
            # configurations that are running elsewhere.
            return optuna.samplers.TPESampler(seed=seed, n_startup_trials=max(3, min(10, n_trials // 3)),
                                              constant_liar=True)
        if name == "nsga2":
            # Multi-objective: NSGA-II, chosen deliberately. Optuna 5 defaults to TPE for
            # multi-objective studies too (MOTPE, which concentrates trials where the
            # hypervolume improves most); the goal here is the whole trade-off curve
            # (accuracy vs forgetting vs size), and NSGA-II's non-dominated sorting with
            # crowding distance spreads trials along the front, handles categorical
            # parameters natively and is indifferent to parallel workers. With a budget
            # of fewer than two populations it is random search: population_size is
            # scaled to the budget (stored with the study so that resumes agree).
            return optuna.samplers.NSGAIISampler(seed=seed, population_size=population_size)
        if name == "nsga3":
            return optuna.samplers.NSGAIIISampler(seed=seed, population_size=population_size)
        if name == "random":
            return optuna.samplers.RandomSampler(seed=seed)
        if name == "qmc":
            # one scrambled sequence shared by all workers (indexed by trial number)
            return optuna.samplers.QMCSampler(seed=base_seed, scramble=True)
        if name == "gp":
            return optuna.samplers.GPSampler(seed=seed)
        if name == "cmaes":
            return optuna.samplers.CmaEsSampler(seed=seed)
    raise ConfigError(f"--sampler {name!r}: expected one of {', '.join(SAMPLERS)}")


def _resolve_pruner(name: str | None, multi: bool) -> str:
    if name is not None and name not in PRUNERS:
        raise ConfigError(f"--pruner {name!r}: expected one of {', '.join(PRUNERS)}")
    if multi:
        if name not in (None, "none"):
            print(f"isocl tune: note: --pruner {name} ignored: Optuna does not prune multi-objective trials",
                  file=sys.stderr)
        return "none"
    return name or "median"


def _make_pruner(name: str, *, n_trials: int, n_experiences: int):
    import optuna

    if name == "median":
        # Steps are experiences. No pruning after the first one (accuracy on one
        # two-class task says nothing about forgetting) nor before a few trials.
        return optuna.pruners.MedianPruner(n_startup_trials=max(2, min(5, n_trials // 4)), n_warmup_steps=1)
    if name == "hyperband":
        return optuna.pruners.HyperbandPruner(min_resource=1, max_resource=max(2, n_experiences), reduction_factor=3)
    return optuna.pruners.NopPruner()


def _worker_seed(base: int, n_existing: int, worker: int) -> int:
    """Distinct sampler seeds per worker and per resume (a resumed TPE would redraw its first configurations)."""
    import numpy as np

    return int(np.random.SeedSequence([base, n_existing, worker]).generate_state(1)[0])


# --------------------------------------------------------------------------
# Objective and workers


class TrialFailed(RuntimeError):
    """The strategy's run ended with status 'failed' (e.g. a non-finite loss)."""


class _StopUnit(BaseException):
    """Raised from ``on_experience`` to stop a unit the pruner gave up on.

    A BaseException, not an Exception: ``run_unit`` records any Exception
    raised inside a unit as a failed unit and goes on, and a pruned trial
    must stop training at once (it becomes ``optuna.TrialPruned`` outside).
    """

    def __init__(self, experience: int, avg: float):
        super().__init__(experience, avg)
        self.experience, self.avg = experience, avg


class _SurplusTrial(RuntimeError):
    """A trial created after the target was already reached by finished and running trials."""


@dataclass
class TuneContext:
    """What an objective factory gets: ``factory(ctx) -> objective(trial)``."""

    bench: Benchmark
    strategy: str
    space: dict[str, dict[str, Any]]
    seed: int
    multi_objective: bool = False
    device: str | None = None
    data: Any = None
    worker: int = 0


def isocl_objective(ctx: TuneContext) -> Callable[[Any], Any]:
    """The tuning objective: one run of the strategy, scored on the validation stream only."""
    import optuna

    from isocl.bench import runner
    from isocl.bench.data import load_cifar10

    data = ctx.data if ctx.data is not None else load_cifar10()
    scenario = runner.build_scenario(ctx.bench, data)  # once per worker, reused by every trial

    def objective(trial):
        params = suggest_params(trial, ctx.space)
        curve: list[float] = []

        def on_experience(i: int, avg: float) -> None:
            curve.append(float(avg))
            if ctx.multi_objective:
                return  # Optuna does not prune multi-objective trials (report is single-objective only)
            trial.report(float(avg), step=i)
            if trial.should_prune():
                raise _StopUnit(i, float(avg))

        try:
            result = runner.run_unit(ctx.bench, ctx.strategy, ctx.seed, scenario=scenario, params=params,
                                     eval_stream="valid", device=ctx.device, on_experience=on_experience)
        except _StopUnit as stop:
            trial.set_user_attr("valid_curve", curve)
            raise optuna.TrialPruned(f"validation accuracy {stop.avg:.4f} after experience {stop.experience} "
                                     "is below the pruner's threshold") from None
        trial.set_user_attr("valid_curve", curve)
        if result.status != "ok":
            trial.set_user_attr("error", result.error)
            raise TrialFailed(f"{ctx.strategy} failed: {result.error}")

        def clean(v):
            return None if isinstance(v, float) and not math.isfinite(v) else v

        for key, value in {
            "final_accuracy": result.final_accuracy, "avg_incremental_accuracy": result.avg_incremental_accuracy,
            "forgetting": result.forgetting, "bwt": result.bwt, "n_params": result.params,
            "max_params": result.max_params, "widths": result.widths, "wall_time_s": result.wall_time_s,
            "eval_stream": "valid",
        }.items():
            trial.set_user_attr(key, clean(value))
        if ctx.multi_objective:
            forgetting = result.forgetting if math.isfinite(result.forgetting) else 0.0  # one experience: none
            return float(result.final_accuracy), float(forgetting), float(result.params)
        return float(result.final_accuracy)

    return objective


def _guarded(objective: Callable[[Any], Any], n_target: int, worker: int, seed: int) -> Callable[[Any], Any]:
    """Run a trial only if fewer than ``n_target`` lower-numbered trials are finished or running.

    MaxTrialsCallback stops a worker once the study holds N finished
    (complete + pruned) trials, but it looks only after each trial: two
    workers that both start while N-1 are done would end with N+1. Trial
    numbers are handed out atomically by the storage, so counting the
    lower-numbered trials that are complete, pruned, running or waiting
    decides without a race which trials are surplus; a surplus trial stops
    its worker and is recorded as FAIL (it does not count) without running.
    """
    from optuna.trial import TrialState

    counted = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.RUNNING, TrialState.WAITING)

    def wrapped(trial):
        ahead = sum(1 for t in trial.study.get_trials(deepcopy=False, states=counted) if t.number < trial.number)
        if ahead >= n_target:
            trial.set_user_attr("isocl_surplus", True)
            trial.study.stop()
            raise _SurplusTrial(f"not run: {n_target} trials were already finished or running")
        trial.set_user_attr("seed", seed)
        trial.set_user_attr("worker", f"{socket.gethostname()}:{os.getpid()}:{worker}")
        return objective(trial)

    return wrapped


class _StopAfterFailures:
    def __init__(self, limit: int):
        self.limit, self.streak, self.tripped = limit, 0, False

    def __call__(self, study, trial) -> None:
        from optuna.trial import TrialState

        if trial.state == TrialState.FAIL and not trial.user_attrs.get("isocl_surplus"):
            self.streak += 1
        elif trial.state in (TrialState.COMPLETE, TrialState.PRUNED):
            self.streak = 0
        if self.streak >= self.limit:
            self.tripped = True
            study.stop()


@dataclass
class _WorkerJob:
    bench: Benchmark
    strategy: str
    space: dict[str, dict[str, Any]]
    study_name: str
    storage: StorageSpec
    n_trials: int
    multi: bool
    sampler: str
    sampler_seed: int
    base_seed: int
    population_size: int
    pruner: str
    train_seed: int
    timeout: float | None
    device: str | None
    objective_factory: Callable[[TuneContext], Callable[[Any], Any]] | None
    worker: int = 0
    jobs: int = 1


def _run_worker(job: _WorkerJob, data: Any = None) -> dict[str, Any]:
    """One worker: load the study and optimise until N finished trials (or timeout)."""
    import optuna
    from optuna.study import MaxTrialsCallback
    from optuna.trial import TrialState

    storage = job.storage.open()
    sampler = _make_sampler(job.sampler, seed=job.sampler_seed, n_trials=job.n_trials,
                            population_size=job.population_size, base_seed=job.base_seed)
    pruner = _make_pruner(job.pruner, n_trials=job.n_trials, n_experiences=job.bench.scenario["n_experiences"])
    study = optuna.load_study(study_name=job.study_name, storage=storage, sampler=sampler, pruner=pruner)
    ctx = TuneContext(bench=job.bench, strategy=job.strategy, space=job.space, seed=job.train_seed,
                      multi_objective=job.multi, device=job.device, data=data, worker=job.worker)
    failures = _StopAfterFailures(MAX_CONSECUTIVE_FAILURES)
    before = len(study.get_trials(deepcopy=False))
    finished = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.PRUNED))
    if len(finished) >= job.n_trials:  # other workers got there while this one started
        return {"worker": job.worker, "trials": 0, "stopped_on_failures": False}
    objective = (job.objective_factory or isocl_objective)(ctx)
    quiet = _QuietSurplus()
    optimize_logger = logging.getLogger("optuna.study._optimize")
    optimize_logger.addFilter(quiet)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            study.optimize(
                _guarded(objective, job.n_trials, job.worker, job.train_seed),
                timeout=job.timeout,
                catch=(Exception,),  # a failing trial is recorded as FAIL and the worker goes on
                callbacks=[MaxTrialsCallback(job.n_trials, states=(TrialState.COMPLETE, TrialState.PRUNED)),
                           failures],
                gc_after_trial=False,
            )
    finally:
        optimize_logger.removeFilter(quiet)
    return {"worker": job.worker, "trials": len(study.get_trials(deepcopy=False)) - before,
            "stopped_on_failures": failures.tripped}


class _QuietSurplus(logging.Filter):
    """One short line instead of Optuna's failure warning and traceback for a surplus trial."""

    _FAILED = re.compile(r"Trial (\d+) failed with ")

    def __init__(self):
        super().__init__()
        self.surplus: set[str] = set()

    def filter(self, record: logging.LogRecord) -> bool:
        msg = record.getMessage()
        m = self._FAILED.match(msg)
        if m is None:
            return True
        if "_SurplusTrial" in msg:
            self.surplus.add(m.group(1))
            record.msg, record.args = f"Trial {m.group(1)} not run: the study has its trials (finished or running)", ()
            record.levelno, record.levelname = logging.INFO, "INFO"
            record.exc_info, record.exc_text = None, None
            return True
        return m.group(1) not in self.surplus  # drop the follow-up "failed with value None"


def _worker_process(job: _WorkerJob) -> None:
    """Entry point of a spawned worker process."""
    # share the CPU between workers (read by torch when it is first imported, below)
    threads = str(max(1, (os.cpu_count() or 1) // max(1, job.jobs)))
    os.environ.setdefault("OMP_NUM_THREADS", threads)
    os.environ.setdefault("MKL_NUM_THREADS", threads)
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    warnings.filterwarnings("ignore", category=FutureWarning)
    warnings.filterwarnings("ignore", message=".*QP solver.*")
    warnings.filterwarnings("ignore", message=".*No loggers specified.*")
    lock = _StudyLock(job.storage.lock_path)
    lock.acquire(exclusive=False)  # keeps other runs from taking this worker's trials for stale ones
    try:
        result = _run_worker(job)
    finally:
        lock.release()
    sys.exit(3 if result["stopped_on_failures"] else 0)


# --------------------------------------------------------------------------
# Outputs


def best_benchmark(bench: Benchmark, strategy: str, params: Mapping[str, Any], note: str = "") -> Benchmark:
    """The benchmark with the tuned parameters in place: ``strategies = [strategy]``,
    strategy parameters in ``[strategy.NAME]``, ``lr`` etc. in ``[training]``,
    ``model.X`` in ``[model]`` (the routing ``run_unit`` applied to the trial)."""
    from isocl.bench.runner import _apply_overrides

    out, sparams = _apply_overrides(bench, strategy, dict(params))
    out.strategies = [strategy]
    out.strategy_params = {strategy: sparams} if sparams else {}
    out.search = {}
    out.name = f"{bench.name}-{strategy}-tuned"
    out.description = note or f"{bench.description} -- {strategy} with tuned parameters".strip(" -")
    return out


def _snippet(bench: Benchmark, strategy: str, trial, header: list[str]) -> str:
    note = f"{strategy} tuned with isocl tune (trial {trial.number})"
    b = best_benchmark(bench, strategy, trial.params, note=f"{bench.description} -- {note}" if bench.description else note)
    return "".join(f"# {line}\n" for line in header) + "\n" + to_toml(b.to_dict())


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.4g}"
    return str(v)


def write_outputs(study, bench: Benchmark, strategy: str, out_dir: Path, *, multi: bool, seed: int,
                  plots: bool = True) -> dict[str, Any]:
    """``best.toml`` (``pareto/trial-N.toml`` per Pareto trial), ``trials.csv`` and plots in ``out_dir``."""
    import optuna
    from optuna.trial import TrialState

    from isocl.bench.results import atomic_write_text

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    written: dict[str, Any] = {"best": None, "pareto": [], "plots": [], "trials_csv": None}
    trials = study.get_trials(deepcopy=False)
    if trials:
        df = study.trials_dataframe()
        atomic_write_text(out_dir / "trials.csv", df.to_csv(index=False))
        written["trials_csv"] = out_dir / "trials.csv"
    complete = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    if not complete:
        return written
    n_fin = len(study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.PRUNED)))
    epochs = bench.training["epochs"]
    cmd = f"isocl evaluate {out_dir / 'best.toml'} --seeds 0,1,2"
    if multi:
        front = sorted(study.best_trials, key=lambda t: (-t.values[0], t.values[1], t.values[2]))
        pareto_dir = out_dir / "pareto"
        pareto_dir.mkdir(exist_ok=True)
        for old in pareto_dir.glob("trial-*.toml"):  # the front moves as trials are added
            old.unlink()
        for t in front:
            acc, forg, size = t.values
            header = [f"isocl tune (Optuna {optuna.__version__}): study {study.study_name!r}, Pareto trial {t.number} "
                      f"({len(front)} on the front of {n_fin} finished trials)",
                      f"validation (seed {seed}, {epochs} epochs): final average accuracy {acc:.4f}, "
                      f"forgetting {forg:.4f}, {int(size):,} parameters",
                      f"evaluate on the test set: isocl evaluate {pareto_dir / f'trial-{t.number:05d}.toml'} --seeds 0,1,2"]
            path = pareto_dir / f"trial-{t.number:05d}.toml"
            atomic_write_text(path, _snippet(bench, strategy, t, header))
            written["pareto"].append(path)
        best = front[0]
        header = [f"isocl tune (Optuna {optuna.__version__}): study {study.study_name!r}: the Pareto trial with the "
                  f"highest validation accuracy, trial {best.number} (all {len(front)}: {pareto_dir}/)",
                  f"validation (seed {seed}, {epochs} epochs): final average accuracy {best.values[0]:.4f}, "
                  f"forgetting {best.values[1]:.4f}, {int(best.values[2]):,} parameters",
                  f"evaluate on the test set: {cmd}"]
    else:
        best = study.best_trial
        header = [f"isocl tune (Optuna {optuna.__version__}): study {study.study_name!r}, best of {n_fin} finished "
                  f"trials: trial {best.number}",
                  f"validation (seed {seed}, {epochs} epochs): final average accuracy {best.value:.4f}",
                  f"evaluate on the test set: {cmd}"]
    atomic_write_text(out_dir / "best.toml", _snippet(bench, strategy, best, header))
    written["best"] = out_dir / "best.toml"
    written["best_trial"] = best
    if plots:
        written["plots"] = _plots(study, out_dir, multi=multi, n_complete=len(complete))
    return written


def _plots(study, out_dir: Path, *, multi: bool, n_complete: int) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from optuna.visualization import matplotlib as ovm

    target = (lambda t: t.values[0]) if multi else None  # noqa: E731
    tname = OBJECTIVE_NAMES[0] if multi else "valid accuracy"
    jobs: list[tuple[str, Callable[[], Any]]] = [
        ("history.png", lambda: ovm.plot_optimization_history(study, target=target, target_name=tname)),
    ]
    if n_complete >= 2:
        jobs.append(("param_importances.png",
                     lambda: ovm.plot_param_importances(study, target=target, target_name=tname)))
    if multi:
        jobs.append(("pareto_front.png", lambda: ovm.plot_pareto_front(study, target_names=list(OBJECTIVE_NAMES))))
    else:
        jobs.append(("intermediate_values.png", lambda: ovm.plot_intermediate_values(study)))
    made = []
    for name, fn in jobs:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                ax = fn()
            fig = (ax.flat[0] if hasattr(ax, "flat") else ax).figure
            fig.savefig(out_dir / name, dpi=120, bbox_inches="tight")
            plt.close(fig)
            made.append(out_dir / name)
        except Exception as exc:  # noqa: BLE001 - a plot never fails the run
            print(f"isocl tune: warning: {name} not drawn ({type(exc).__name__}: {exc})", file=sys.stderr)
            plt.close("all")
    return made


# --------------------------------------------------------------------------
# The tune command


@dataclass
class TuneResult:
    """What :func:`tune` did and left behind."""

    study_name: str
    storage: str
    out_dir: Path
    n_target: int
    n_complete: int
    n_pruned: int
    n_failed: int  # FAIL trials that ran (exceptions, killed workers); surplus ones are n_surplus
    new_trials: int
    stale_failed: list[int]
    space: dict[str, dict[str, Any]]
    best_value: Any = None
    best_params: dict[str, Any] = field(default_factory=dict)
    best_trial: int | None = None
    best_toml: Path | None = None
    pareto_tomls: list[Path] = field(default_factory=list)
    plots: list[Path] = field(default_factory=list)
    wall_time_s: float = 0.0
    worker_errors: list[str] = field(default_factory=list)
    n_surplus: int = 0

    @property
    def ok(self) -> bool:
        return not self.worker_errors and self.best_toml is not None

    def summary(self) -> str:
        done = self.n_complete + self.n_pruned
        lines = [f"study {self.study_name!r} ({self.storage}): {done}/{self.n_target} finished trials "
                 f"({self.n_complete} complete, {self.n_pruned} pruned), {self.n_failed} failed"
                 + (f", {self.n_surplus} surplus (never ran)" if self.n_surplus else "") + "; "
                 f"{self.new_trials} new this run, {self.wall_time_s:.0f} s"]
        if self.stale_failed:
            lines.append(f"trials left RUNNING by a dead worker, marked FAIL and retried: {self.stale_failed}")
        if done < self.n_target:
            lines.append("the study is short of the target: rerun the same command to resume it")
        if self.best_toml is not None:
            value = (", ".join(f"{n} {_fmt(v)}" for n, v in zip(OBJECTIVE_NAMES, self.best_value))
                     if isinstance(self.best_value, (list, tuple)) else f"valid accuracy {self.best_value:.4f}")
            lines.append(f"best: trial {self.best_trial}: {value}")
            lines += [f"  {k} = {_fmt(v)}" for k, v in self.best_params.items()]
            if self.pareto_tomls:
                lines.append(f"Pareto front: {len(self.pareto_tomls)} trials in {self.pareto_tomls[0].parent}/")
            lines.append(f"best configuration: {self.best_toml}")
            if self.plots:
                lines.append("plots: " + ", ".join(str(p) for p in self.plots))
            lines.append(f"test-set evaluation: isocl evaluate {self.best_toml} --seeds 0,1,2")
        else:
            lines.append("no complete trial yet: no best.toml")
        lines += [f"error: {e}" for e in self.worker_errors]
        return "\n".join(lines)


def _safe_name(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("._") or "study"


def _pos_int(name: str, v: Any, minimum: int = 1) -> int:
    if not _is_int(v) or v < minimum:
        raise ConfigError(f"{name} {v!r}: expected an int >= {minimum}")
    return v


def tune(
    bench: Benchmark,
    strategy: str,
    n_trials: int,
    *,
    storage: str | None = None,
    study_name: str | None = None,
    jobs: int = 1,
    timeout: float | None = None,
    out: str | Path | None = None,
    pruner: str | None = None,
    sampler: str | None = None,
    multi_objective: bool = False,
    seed: int | None = None,
    epochs: int | None = None,
    device: str | None = None,
    data: Any = None,
    objective_factory: Callable[[TuneContext], Callable[[Any], Any]] | None = None,
    plots: bool = True,
    log: Callable[[str], None] = print,
) -> TuneResult:
    """Tune ``strategy`` on ``bench``'s validation stream until the study has ``n_trials`` finished trials.

    Everything (arguments, strategy, search space, storage, an existing
    study's compatibility) is validated before a study is created or loaded.
    ``objective_factory(ctx) -> objective(trial)`` replaces the default
    objective (:func:`isocl_objective`; tests use cheap ones); with
    ``jobs > 1`` it must be picklable (a module-level function). ``data``
    (CIFAR-10 tensors) is reused by the in-process worker (``jobs == 1``).
    """
    import optuna
    from optuna.trial import TrialState

    from isocl.bench.registry import UnknownStrategy

    start = time.perf_counter()
    where = str(bench.path or bench.name)
    n_trials = _pos_int("--trials", n_trials)
    jobs = _pos_int("--jobs", jobs)
    if timeout is not None and (not _is_num(timeout) or timeout <= 0):
        raise ConfigError(f"--timeout {timeout!r}: expected a number of seconds > 0")
    if epochs is not None:
        _pos_int("--epochs", epochs)
    if seed is not None:
        _pos_int("--seed", seed, 0)
    if not isinstance(strategy, str) or not strategy or ":" in strategy:
        raise ConfigError(f"--strategy {strategy!r}: expected a registered strategy name (twins are not tuned)")
    sampler_name = _resolve_sampler(sampler, multi_objective)
    pruner_name = _resolve_pruner(pruner, multi_objective)
    from isocl.bench.runner import check_benchmark

    try:
        check_benchmark(bench, [strategy])
    except UnknownStrategy as exc:
        raise ConfigError(f"{where}: --strategy {strategy}: {exc}") from None
    if not bench.scenario["validation_fraction"] > 0:
        raise ConfigError(
            f"{where}: scenario.validation_fraction = {bench.scenario['validation_fraction']}: tuning scores trials on "
            "a validation split of the training data and never on the test set; expected a number in (0, 1), e.g. 0.1"
        )
    if device is not None and not (device == "cpu" or device.startswith("cuda")):
        raise ConfigError(f"--device {device!r}: expected 'cpu' or 'cuda[:N]'")
    bench = bench.replace()
    if epochs is not None:
        bench.training["epochs"] = epochs
    declared = bench.search.get(strategy)
    space = validate_space(declared, strategy, bench, where) if declared is not None else default_space(strategy, bench)
    train_seed = seed if seed is not None else bench.training["seeds"][0]
    stem = Path(bench.path).stem if bench.path else bench.name
    name = study_name or f"{stem}-{strategy}"
    if not isinstance(name, str) or not name.strip():
        raise ConfigError(f"--study {study_name!r}: expected a non-empty name")
    out_dir = Path(out) if out is not None else Path("results") / "tune" / _safe_name(name)
    spec, migrate_from = resolve_storage(storage, out_dir, jobs)
    if spec.kind == "sqlite" and jobs > 1:
        log(f"isocl tune: note: {jobs} workers sharing an SQLite file; Optuna advises a journal file "
            "(--storage journal:PATH) or PostgreSQL for parallel workers")
    storage_obj = _open_checked(spec)
    directions = DIRECTIONS_MULTI if multi_objective else DIRECTIONS_SINGLE
    source = None
    if migrate_from is not None:
        source = _open_checked(migrate_from)
        try:
            source.get_study_id_from_name(name)
        except KeyError:
            source = None
    if source is not None:
        _check_existing(source, migrate_from, name, strategy, directions, space, where)
    exists = _check_existing(storage_obj, spec, name, strategy, directions, space, where)
    if objective_factory is None and data is None:
        from isocl.bench.data import find_batches_dir

        find_batches_dir()  # DataError now rather than in every worker (extracts the archive once, for all)

    # -- validated: from here on the study is created / changed
    log(f"isocl tune: study {name!r} in {spec.display()}; strategy {strategy!r}, seed {train_seed}, "
        f"{bench.training['epochs']} epochs, sampler {sampler_name}, pruner {pruner_name}"
        + (", objectives: valid accuracy (max), forgetting (min), params (min)" if multi_objective else ""))
    log(("search space (from the benchmark file):" if declared is not None else
         "search space (default; paste into the benchmark file to change it):")
        + "\n" + space_to_toml(strategy, space).rstrip())
    lock = _StudyLock(spec.lock_path)
    exclusive = lock.acquire(exclusive=True)
    stale: list[int] = []
    worker_errors: list[str] = []
    try:
        optuna.logging.set_verbosity(optuna.logging.INFO)
        if source is not None and not exists:
            if not exclusive:
                raise ConfigError(f"study {name!r} in {migrate_from.display()} is in use by another isocl tune; "
                                  f"wait for it to finish before resuming it with --jobs {jobs}")
            src_study = optuna.load_study(study_name=name, storage=source)
            stale += _fail_stale_trials(src_study)
            optuna.copy_study(from_study_name=name, from_storage=source, to_storage=storage_obj)
            log(f"isocl tune: copied study {name!r} from {migrate_from.display()} to {spec.display()} "
                "for parallel workers (the journal is used from now on)")
        study = optuna.create_study(study_name=name, storage=storage_obj, directions=directions, load_if_exists=True)
        info = study.user_attrs.get(STUDY_ATTR)
        if info is None:
            info = {"strategy": strategy, "benchmark": str(bench.path or bench.name), "seed": train_seed,
                    "multi_objective": multi_objective, "space": space,
                    "population_size": max(4, min(50, n_trials // 4))}
            study.set_user_attr(STUDY_ATTR, info)
        if exclusive:
            stale += _fail_stale_trials(study)
        lock.share()
        counts = Counter(t.state for t in study.get_trials(deepcopy=False))
        done = counts[TrialState.COMPLETE] + counts[TrialState.PRUNED]
        remaining = max(0, n_trials - done)
        n_existing = len(study.get_trials(deepcopy=False))
        if stale:
            log(f"isocl tune: trials {stale} were left RUNNING by a worker that died: marked FAIL, "
                "their parameters queued again")
        n_workers = min(jobs, remaining)
        log(f"isocl tune: {done} finished trials ({counts[TrialState.COMPLETE]} complete, "
            f"{counts[TrialState.PRUNED]} pruned), {counts[TrialState.FAIL]} failed; "
            + (f"running {remaining} more with {n_workers} worker(s)" if remaining else
               f"target of {n_trials} reached, no trial to run"))
        base_job = dict(bench=bench, strategy=strategy, space=space, study_name=name, storage=spec,
                        n_trials=n_trials, multi=multi_objective, sampler=sampler_name, base_seed=train_seed,
                        population_size=int(info.get("population_size", 8)), pruner=pruner_name,
                        train_seed=train_seed, timeout=timeout, device=device,
                        objective_factory=objective_factory, jobs=n_workers)
        if n_workers == 1:
            res = _run_worker(_WorkerJob(**base_job, sampler_seed=_worker_seed(train_seed, n_existing, 0)), data=data)
            if res["stopped_on_failures"]:
                worker_errors.append(f"stopped after {MAX_CONSECUTIVE_FAILURES} failed trials in a row "
                                     "(see the log above)")
        elif n_workers > 1:
            worker_errors += _run_parallel([
                _WorkerJob(**base_job, sampler_seed=_worker_seed(train_seed, n_existing, w), worker=w)
                for w in range(n_workers)
            ])
    finally:
        lock.release()

    study = optuna.load_study(study_name=name, storage=storage_obj)
    trials = study.get_trials(deepcopy=False)
    counts = Counter(t.state for t in trials)
    surplus = sum(1 for t in trials if t.state == TrialState.FAIL and t.user_attrs.get("isocl_surplus"))
    written = write_outputs(study, bench, strategy, out_dir, multi=multi_objective, seed=train_seed, plots=plots)
    result = TuneResult(
        study_name=name, storage=spec.display(), out_dir=out_dir, n_target=n_trials,
        n_complete=counts[TrialState.COMPLETE], n_pruned=counts[TrialState.PRUNED],
        n_failed=counts[TrialState.FAIL] - surplus, n_surplus=surplus,
        new_trials=len(trials) - n_existing, stale_failed=stale, space=space, best_toml=written["best"],
        pareto_tomls=written["pareto"], plots=written["plots"], wall_time_s=time.perf_counter() - start,
        worker_errors=worker_errors,
    )
    best = written.get("best_trial")
    if best is not None:
        result.best_trial, result.best_params = best.number, dict(best.params)
        result.best_value = list(best.values) if multi_objective else best.value
    return result


def _run_parallel(jobs: list[_WorkerJob]) -> list[str]:
    """K worker processes (spawn: a clean interpreter each, safe with torch threads and CUDA)."""
    import multiprocessing

    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_worker_process, args=(job,), name=f"isocl-tune-{job.worker}") for job in jobs]
    for p in procs:
        p.start()
    try:
        for p in procs:
            p.join()
    except KeyboardInterrupt:  # the workers got the SIGINT too: they fail their trial and exit
        for p in procs:
            p.join(timeout=30)
        raise
    errors = []
    for job, p in zip(jobs, procs):
        if p.exitcode == 3:
            errors.append(f"worker {job.worker} stopped after {MAX_CONSECUTIVE_FAILURES} failed trials in a row")
        elif p.exitcode != 0:
            errors.append(f"worker {job.worker} exited with code {p.exitcode}")
    return errors


# --------------------------------------------------------------------------
# evaluate


def evaluate(best_toml: str | Path, *, seeds: list[int] | None = None, out: str | Path | None = None,
             device: str | None = None, progress: bool = True, data: Any = None):
    """Run a (tuned) benchmark file on the TEST set with several seeds; returns (summary frame, out dir)."""
    from isocl.bench.config import load_benchmark
    from isocl.bench.runner import run_benchmark

    best_toml = Path(best_toml)
    bench = load_benchmark(best_toml)
    out_dir = Path(out) if out is not None else best_toml.parent / f"eval-{best_toml.stem}"
    df = run_benchmark(bench, out_dir, seeds=seeds, device=device, progress=progress, data=data, command=sys.argv)
    return df, out_dir


# --------------------------------------------------------------------------
# CLI

TUNE_DESCRIPTION = """\
Tune one strategy with Optuna on the benchmark's validation stream (a split of
the training data: scenario.validation_fraction must be > 0; the test set is
never used). The search space is the benchmark's [search.STRATEGY] table, or a
default one (printed at the start). Each trial trains the strategy once (the
benchmark's first seed, or --seed) and scores the final average validation
accuracy; the pruner sees it after every experience. With --multi-objective
the objectives are validation accuracy (max), forgetting (min) and parameter
count (min), and the result is a Pareto front; Optuna does not prune
multi-objective trials.

The study lives in OUT/study.db (SQLite, one worker) or OUT/journal.log
(--jobs K > 1 worker processes), OUT = results/tune/<benchmark>-<strategy>
unless --out, or in --storage (e.g. PostgreSQL for several machines).
Rerunning the same command resumes the study and runs only the trials missing
to reach --trials finished (complete + pruned) trials; failed trials do not
count, and trials left running by a killed process are marked failed and
retried. Outputs in OUT: best.toml (a benchmark file for `isocl run` /
`isocl evaluate`), pareto/ (multi-objective), trials.csv and PNG plots.
"""


def _int(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an int, got {text!r}") from None


def _int_list(text: str) -> list[int]:
    try:
        return [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated ints like 0,1,2, got {text!r}") from None


def add_tune_parsers(subparsers, cmd_tune, cmd_evaluate) -> None:
    """Add ``tune`` and ``evaluate`` to the ``isocl`` command."""
    t = subparsers.add_parser("tune", help="tune a strategy's hyper-parameters with Optuna (validation stream only)",
                              description=TUNE_DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter)
    t.add_argument("benchmark", help="benchmark TOML file (its [search.STRATEGY] table is the search space)")
    t.add_argument("--strategy", required=True, help="registered strategy to tune (baselines too)")
    t.add_argument("--trials", type=_int, required=True,
                   help="target number of finished (complete + pruned) trials in the study; rerunning the same "
                        "command resumes the study and runs only the missing ones")
    t.add_argument("--storage", help="Optuna storage: an RDB URL (sqlite:///path.db, postgresql://user@host/db for "
                                     "several machines) or journal:PATH (default: OUT/study.db, or OUT/journal.log "
                                     "with --jobs > 1)")
    t.add_argument("--study", help="study name (default: <benchmark>-<strategy>)")
    t.add_argument("--jobs", type=_int, default=1,
                   help="local worker processes sharing the study (default 1; > 1 uses a journal file)")
    t.add_argument("--timeout", type=float, help="stop each worker's loop after this many seconds")
    t.add_argument("--out", help="study folder: storage, best.toml, plots (default results/tune/<study>)")
    t.add_argument("--pruner", choices=PRUNERS,
                   help="pruner on the per-experience validation accuracy (default median; none with "
                        "--multi-objective: Optuna does not prune multi-objective trials)")
    t.add_argument("--sampler", choices=SAMPLERS,
                   help="sampler (default: tpe; nsga2 with --multi-objective)")
    t.add_argument("--multi-objective", action="store_true",
                   help="optimise (validation accuracy max, forgetting min, params min) for a Pareto front; "
                        "Optuna does not prune multi-objective trials")
    t.add_argument("--seed", type=_int,
                   help="training seed of every trial and sampler seed (default: the benchmark's first seed)")
    t.add_argument("--epochs", type=_int, help="epochs per experience (default: the benchmark's)")
    t.add_argument("--device", help="cpu or cuda (default: the benchmark's)")
    t.add_argument("--no-plots", action="store_true", help="skip the PNG plots")
    t.set_defaults(func=cmd_tune)

    e = subparsers.add_parser("evaluate", help="evaluate a tuned configuration (best.toml) on the TEST set",
                              description="Run a benchmark file written by `isocl tune` (best.toml or "
                                          "pareto/trial-N.toml) on the test set with several seeds and print the "
                                          "summary table. Tuning never saw the test set; this is the number to report.")
    e.add_argument("best", help="benchmark TOML written by isocl tune (any benchmark file works)")
    e.add_argument("--seeds", type=_int_list, help="comma-separated seeds (default: the file's training.seeds)")
    e.add_argument("--out", help="results directory (default: eval-<file stem> next to the file)")
    e.add_argument("--device", help="cpu or cuda (default: the file's)")
    e.add_argument("--quiet", action="store_true", help="no progress bars")
    e.set_defaults(func=cmd_evaluate)


def tune_command(args) -> int:
    from isocl.bench.config import load_benchmark

    bench = load_benchmark(args.benchmark)
    result = tune(
        bench, args.strategy, args.trials, storage=args.storage, study_name=args.study, jobs=args.jobs,
        timeout=args.timeout, out=args.out, pruner=args.pruner, sampler=args.sampler,
        multi_objective=args.multi_objective, seed=args.seed, epochs=args.epochs, device=args.device,
        plots=not getattr(args, "no_plots", False),
    )
    print(result.summary())
    return 0 if result.ok else 1


def evaluate_command(args) -> int:
    from isocl.bench.runner import print_summary

    df, out = evaluate(args.best, seeds=args.seeds, out=args.out, device=args.device,
                       progress=not getattr(args, "quiet", False))
    print(print_summary(df, out))
    return 0
