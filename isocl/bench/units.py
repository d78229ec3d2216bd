"""Which units a benchmark runs and how each is configured: strategies, their
fixed-width twins and controls (``fixed-final:X``, ``fixed-max:X``,
``diag-only:X``, ``reset:X``), and the per-strategy training, model and
strategy keys of ``[strategy.NAME]`` tables."""

from __future__ import annotations

from typing import Any

from isocl.bench.config import Benchmark, ConfigError, check_online, check_overrides
from isocl.bench.names import COMPANION_PREFIXES, CONTROL_PREFIXES, POINT_PATTERN, TWIN_PREFIXES, parse_unit
from isocl.bench.registry import get_strategy

__all__ = [
    "COMPANION_PREFIXES", "CONTROL_PREFIXES", "TRAINING_KEYS", "TWIN_PREFIXES", "apply_overrides", "check_benchmark",
    "companion_overrides", "companions", "frontier_points", "point_fixed", "resolve_unit", "spec_of", "split_companion",
    "split_overrides", "unit_list",
]

TRAINING_KEYS = ("lr", "weight_decay", "batch_size", "epochs")  # [strategy.X] keys that set X's [training]


def split_companion(name: str) -> tuple[str | None, str]:
    """``fixed-final:neuro-grow@m`` -> ("fixed-final", "neuro-grow@m"): the companion prefix and the
    subject it accompanies (see :mod:`isocl.bench.names`)."""
    u = parse_unit(name)
    return u.prefix, u.subject


def spec_of(name: str):
    """The registered strategy a unit name runs as its subject (``fixed-final:X@p`` -> X's spec)."""
    return get_strategy(parse_unit(name).strategy)


def frontier_points(bench: Benchmark) -> list[str]:
    """The frontier points the benchmark declares: its ``[strategy."X@POINT"]`` tables, in file order."""
    return [t for t in bench.strategy_params if parse_unit(t).prefix is None and parse_unit(t).point is not None]


def point_fixed(bench: Benchmark, name: str) -> set[str]:
    """The parameters a frontier point fixes (the keys of its own table); tuning searches the rest."""
    u = parse_unit(name)
    return set(bench.strategy_params.get(u.subject, {})) if u.point is not None else set()


def check_benchmark(bench: Benchmark, strategies: list[str] | None = None) -> list[str]:
    """Validate strategy names, settings and parameters before anything runs."""
    names = list(strategies or bench.strategies)
    setting = bench.scenario["setting"]
    where = str(bench.path or bench.name)
    for name in names:
        prefix, base = split_companion(name)
        spec = spec_of(base)
        point = parse_unit(base).point
        if point is not None and not POINT_PATTERN.fullmatch(point):
            raise ConfigError(f"{where}: strategy {name!r}: frontier point {point!r} is invalid; expected "
                              f"letters, digits, '_', '.' or '-' (at most 32), e.g. 'packnet@w64'")
        if setting not in spec.settings:
            raise ConfigError(
                f"{where}: strategy {base!r} needs {' or '.join(spec.settings)} (it uses task labels); "
                f"this benchmark's scenario.setting is {setting!r}"
            )
        kind = bench.model.get("kind", "mlp")
        if kind not in spec.models:
            raise ConfigError(f"{where}: strategy {base!r} runs only on model.kind = {' or '.join(spec.models)}; "
                              f"this benchmark's model.kind is {kind!r}")
        unit_bench = resolve_unit(bench, base)[0]
        check_online(f"{where}: strategy {base!r}: training.epochs", unit_bench.training)
        if unit_bench.training["online"] and spec.neuroplastic:
            raise ConfigError(f"{where}: strategy {base!r} changes its network at every experience, which "
                              "training.online = true makes every mini-batch; expected training.online = false")
    for table in bench.strategy_params:
        prefix, base = split_companion(table)
        spec_of(base)  # a table for an unknown strategy is an error
        if prefix is not None and base in names:
            resolve_unit(bench, table)  # a companion's own table must fit the strategy it runs
    return names


def split_overrides(params: dict[str, Any] | None) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """Tuner-style overrides split into (training, model, strategy): ``lr``, ``weight_decay``,
    ``batch_size``, ``epochs`` -> training; ``model.X`` -> model X; the rest are strategy parameters."""
    training, model, strategy = {}, {}, {}
    for key, value in (params or {}).items():
        if key in TRAINING_KEYS:
            training[key] = value
        elif key.startswith("model."):
            model[key[len("model."):]] = value
        else:
            strategy[key] = value
    return training, model, strategy


def _with_overrides(bench: Benchmark, training: dict[str, Any], model: dict[str, Any],
                    where: str = "") -> Benchmark:
    training, model = check_overrides(where or str(bench.path or bench.name), training, model)
    bench = bench.replace()
    bench.training.update(training)
    if "lr" in training:
        bench.training["lr_by_activation"] = {}  # a strategy's own learning rate beats the per-activation one
    bench.model.update(model)
    return bench


def apply_overrides(bench: Benchmark, base: str, params: dict[str, Any] | None) -> tuple[Benchmark, dict[str, Any]]:
    """``bench`` with ``params`` routed by :func:`split_overrides`; the strategy part is merged
    into ``[strategy.base]`` and returned."""
    training, model, strategy = split_overrides(params)
    bench = _with_overrides(bench, training, model, f"{bench.path or bench.name}: [strategy.{base}]")
    strategy_params = {**bench.strategy_params.get(base, {}), **strategy}
    bench.strategy_params[base] = strategy_params
    return bench, strategy_params


def resolve_unit(bench: Benchmark, strategy: str, params: dict[str, Any] | None = None):
    """What unit ``strategy`` runs: ``(bench, spec, resolved parameters, control)``.

    ``[strategy.NAME]`` tables may hold training keys (``lr``, ...) and
    ``model.X`` keys for that strategy alone. A fixed-width twin
    ``fixed-final:X`` runs X's twin strategy with the parameters X passes on
    (``twin_params``, e.g. the replay buffer) and its own table
    ``[strategy."fixed-final:X"]`` (its own tuned learning rate), never X's
    training keys. A control ``diag-only:X`` / ``reset:X`` runs X with X's
    parameters, updated by its own table. ``params`` (tuner trials) win.
    """
    prefix, base = split_companion(strategy)
    unit = parse_unit(strategy)
    spec = get_strategy(unit.strategy)
    where = f"{bench.path or bench.name}: [strategy.{strategy}]"
    own = bench.strategy_params.get(strategy, {}) if prefix else {}
    # a frontier point X@p: X's table (benchmark-wide settings such as a buffer size), then its own
    inherited = {**bench.strategy_params.get(unit.strategy, {}),
                 **(bench.strategy_params.get(base, {}) if unit.point is not None else {})}
    if prefix in TWIN_PREFIXES:
        parent = spec.resolve(split_overrides(inherited)[2], where)
        training, model, sparams = split_overrides({**own, **(params or {})})
        twin = get_strategy(spec.twin)
        passed = {k: parent[k] for k in spec.twin_params if k in parent}
        bench = _with_overrides(bench, training, model, where)
        return bench, twin, twin.resolve({**passed, **sparams}, where, bench.training), None
    training, model, sparams = split_overrides({**inherited, **own, **(params or {})})
    bench = _with_overrides(bench, training, model, where)  # the unit's own epochs bound e.g. finetune_epochs
    return bench, spec, spec.resolve(sparams, where, bench.training), prefix


def companions(bench: Benchmark, name: str) -> list[str]:
    """The twins and controls that run beside ``name`` (none for a companion itself)."""
    prefix, base = split_companion(name)
    spec = spec_of(base)
    if prefix is not None or not spec.neuroplastic:
        return []
    out = [f"{p}:{name}" for p in TWIN_PREFIXES] if bench.twins else []
    return out + ([f"{c}:{name}" for c in spec.controls] if bench.controls else [])


def unit_list(bench: Benchmark, strategies: list[str], seeds: list[int]) -> list[tuple[str, int]]:
    """(strategy, seed) pairs, each unit followed by its twins and controls (the order of the CSVs;
    units run seed by seed, so that one seed's scenario serves all its strategies)."""
    return [(n, seed) for name in strategies for seed in seeds for n in (name, *companions(bench, name))]


def companion_overrides(name: str, parent: dict[str, Any]) -> dict[str, Any] | None:
    """Model overrides of a companion from its parent's finished record; None: not run."""
    prefix, _ = split_companion(name)
    if prefix in ("fixed-final", "diag-only"):
        return {"widths": parent["final_widths"]}
    if prefix == "fixed-max":
        if parent["max_widths"] == parent["final_widths"]:
            return None  # identical to the fixed-final twin: not run twice
        return {"widths": parent["max_widths"]}
    return {}
