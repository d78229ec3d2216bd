"""The strategy registry shared by the CLI, the runner and the tuner (timm-style).

A strategy is a named factory ``build(ctx, **params) -> Avalanche strategy``
with documented default parameters. Names come from three places:

1. modules in a ``strategies/`` folder (the shipped ones, see
   :func:`shipped_dir`; ``./strategies`` of the working directory; every
   folder in ``ISOCL_STRATEGY_PATH``):
   a file either registers names with :func:`register_strategy`, or defines
   ``build(ctx, **params)`` (plus optional ``DEFAULTS``, ``SETTINGS``,
   ``DESCRIPTION``) and is registered under its file name with ``_`` read
   as ``-`` (``my_method.py`` -> ``my-method``);
2. the entry-point group ``isocl.strategies`` of installed packages (the
   entry point names a module or a factory);
3. :func:`register_strategy` called by user code before a run.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import math
import os
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from pathlib import Path
from types import ModuleType
from typing import Any

from isocl.bench.config import MODEL_KINDS, ConfigError

__all__ = [
    "StrategySpec",
    "UnknownStrategy",
    "benchmark_dirs",
    "discover",
    "find_benchmark",
    "get_strategy",
    "is_registered",
    "list_strategies",
    "register_strategy",
    "shipped_dir",
    "strategy_dirs",
]

ENTRY_POINT_GROUP = "isocl.strategies"
SETTINGS = ("class_il", "task_il")


class UnknownStrategy(ValueError):
    """A strategy name that no registry source provides."""


@dataclass(frozen=True)
class StrategySpec:
    """One registered strategy."""

    name: str
    factory: Callable[..., Any]
    defaults: Mapping[str, Any] = field(default_factory=dict)
    settings: tuple[str, ...] = SETTINGS  # scenario settings it can run in
    models: tuple[str, ...] = MODEL_KINDS  # model kinds (model.kind) it can run on
    description: str = ""
    neuroplastic: bool = False  # gets fixed-width twins in the comparison
    twin: str = "naive"  # the fixed-width strategy its twins run
    twin_params: tuple[str, ...] = ()  # parameters passed on to the twin (e.g. mem_size)
    controls: tuple[str, ...] = ()  # controls run beside it: "diag-only", "reset" (isocl.bench.plasticity)
    search: Mapping[str, Any] = field(default_factory=dict)  # its declared Optuna space ([search.NAME] format)
    source: str = ""

    def resolve(self, given: Mapping[str, Any] | None, where: str = "") -> dict[str, Any]:
        """Defaults updated by ``given``; unknown names raise ConfigError."""
        given = dict(given or {})
        unknown = sorted(set(given) - set(self.defaults))
        if unknown:
            raise ConfigError(
                f"{where or self.name}: unknown parameter {unknown[0]!r} for strategy {self.name!r}; "
                f"expected one of {sorted(self.defaults) or 'none'}"
            )
        out = dict(self.defaults)
        for key, value in given.items():
            default = self.defaults[key]
            if default is not None and not isinstance(value, type(default)) and not (
                isinstance(default, float) and isinstance(value, int) and not isinstance(value, bool)
            ):
                raise ConfigError(
                    f"{where or self.name}: parameter {key} = {value!r} of strategy {self.name!r} has the wrong type; "
                    f"expected {type(default).__name__} like the default {default!r}"
                )
            if isinstance(value, float) and not math.isfinite(value):
                raise ConfigError(
                    f"{where or self.name}: parameter {key} = {value!r} of strategy {self.name!r} is invalid; "
                    "expected a finite number"
                )
            out[key] = float(value) if isinstance(default, float) else value
        return out


_REGISTRY: dict[str, StrategySpec] = {}
_LOADED: set[str] = set()


def register_strategy(
    name: str,
    *,
    defaults: Mapping[str, Any] | None = None,
    settings: tuple[str, ...] = SETTINGS,
    models: tuple[str, ...] = MODEL_KINDS,
    description: str = "",
    neuroplastic: bool = False,
    twin: str = "naive",
    twin_params: tuple[str, ...] = (),
    controls: tuple[str, ...] = (),
    search: Mapping[str, Any] | None = None,
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Decorator registering ``factory(ctx, **params)`` under ``name``.

    ``search`` declares the strategy's Optuna search space in the format of a
    benchmark's ``[search.NAME]`` table (``isocl tune`` uses it when the
    benchmark has none); ``controls`` names the controls that run beside a
    neuroplastic strategy.
    """
    bad = [s for s in settings if s not in SETTINGS]
    if bad:
        raise ValueError(f"settings must be drawn from {SETTINGS}, instead got {bad}")
    bad = [m for m in models if m not in MODEL_KINDS]
    if bad:
        raise ValueError(f"models must be drawn from {MODEL_KINDS}, instead got {bad}")
    bad = [c for c in controls if c not in ("diag-only", "reset")]
    if bad:
        raise ValueError(f"controls must be drawn from ('diag-only', 'reset'), instead got {bad}")

    def deco(factory: Callable[..., Any]) -> Callable[..., Any]:
        doc = description or (factory.__doc__ or "").strip().splitlines()[0:1]
        _REGISTRY[name] = StrategySpec(
            name=name,
            factory=factory,
            defaults=dict(defaults or {}),
            settings=tuple(settings),
            models=tuple(models),
            description=doc if isinstance(doc, str) else (doc[0] if doc else ""),
            neuroplastic=neuroplastic,
            twin=twin,
            twin_params=tuple(twin_params),
            controls=tuple(controls),
            search=dict(search or {}),
            source=getattr(factory, "__module__", ""),
        )
        return factory

    return deco


def shipped_dir(kind: str) -> Path:
    """The shipped ``strategies`` or ``benchmarks`` folder.

    They are edited at the top of the source tree; a wheel or sdist install
    carries them as ``isocl/shipped/<kind>/`` (pyproject's ``package-dir``
    mapping). A source checkout or an editable install has no
    ``isocl/shipped``, so exactly one of the two is used: nothing loads twice.
    """
    if kind not in ("strategies", "benchmarks"):
        raise ValueError(f"kind must be 'strategies' or 'benchmarks', instead got {kind!r}")
    package = Path(__file__).resolve().parents[1]  # .../isocl
    installed = package / "shipped" / kind
    return installed if installed.is_dir() else package.parent / kind


def _unique_dirs(dirs: list[Path]) -> list[Path]:
    seen, out = set(), []
    for d in dirs:
        key = d.resolve() if d.exists() else d
        if key not in seen and d.is_dir():
            seen.add(key)
            out.append(d)
    return out


def benchmark_dirs() -> list[Path]:
    """Folders holding benchmark files, in order: ``./benchmarks``, then the shipped ones."""
    return _unique_dirs([Path("benchmarks"), shipped_dir("benchmarks")])


def find_benchmark(name: str | Path) -> Path:
    """A benchmark file by path, or by name (``smoke``, ``smoke.toml``) in :func:`benchmark_dirs`."""
    path = Path(name)
    if path.is_file():
        return path
    if len(path.parts) == 1:
        file = path.name if path.suffix == ".toml" else f"{path.name}.toml"
        for d in benchmark_dirs():
            if (d / file).is_file():
                return d / file
    known = sorted({p.stem for d in benchmark_dirs() for p in d.glob("*.toml")})
    raise ConfigError(f"{name}: no such benchmark file, and no benchmark of that name in "
                      f"{', '.join(str(d) for d in benchmark_dirs()) or 'any benchmarks folder'}; "
                      f"known benchmarks: {', '.join(known) or 'none'}")


def strategy_dirs() -> list[Path]:
    """Folders searched for strategy modules, in order: the shipped ones, ``./strategies``,
    ``ISOCL_STRATEGY_PATH``."""
    dirs = [shipped_dir("strategies"), Path.cwd() / "strategies"]
    dirs += [Path(p) for p in os.environ.get("ISOCL_STRATEGY_PATH", "").split(os.pathsep) if p]
    return _unique_dirs(dirs)


def _load_file(path: Path) -> None:
    key = str(path.resolve())
    if key in _LOADED:
        return
    _LOADED.add(key)
    mod_name = f"isocl_strategies.{path.stem}_{abs(hash(key)) % 10**8}"
    spec = importlib.util.spec_from_file_location(mod_name, path)
    if spec is None or spec.loader is None:
        return
    module = importlib.util.module_from_spec(spec)
    sys.modules[mod_name] = module
    before = set(_REGISTRY)
    try:
        spec.loader.exec_module(module)
    except Exception as exc:  # a broken plug-in must say which file
        raise ConfigError(f"{path}: strategy module failed to import: {type(exc).__name__}: {exc}") from exc
    if set(_REGISTRY) == before:
        _register_conventional(module, path.stem.replace("_", "-"), str(path))


def _register_conventional(module: ModuleType, name: str, source: str) -> None:
    build = getattr(module, "build", None)
    if not callable(build):
        return
    register_strategy(
        name,
        defaults=getattr(module, "DEFAULTS", {}),
        settings=tuple(getattr(module, "SETTINGS", SETTINGS)),
        models=tuple(getattr(module, "MODELS", MODEL_KINDS)),
        description=getattr(module, "DESCRIPTION", (module.__doc__ or "").strip().split("\n")[0]),
    )(build)
    _REGISTRY[name] = dataclasses.replace(_REGISTRY[name], source=source)


def discover(dirs: list[Path] | None = None) -> None:
    """Load strategy modules from folders and entry points (idempotent)."""
    for d in dirs if dirs is not None else strategy_dirs():
        for path in sorted(Path(d).glob("*.py")):
            if not path.name.startswith("_"):
                _load_file(path)
    if dirs is None:
        for ep in entry_points(group=ENTRY_POINT_GROUP):
            if ep.name in _REGISTRY:
                continue
            obj = ep.load()
            if isinstance(obj, ModuleType):
                if ep.name not in _REGISTRY:
                    _register_conventional(obj, ep.name, ep.value)
            elif callable(obj):
                register_strategy(ep.name)(obj)


def get_strategy(name: str) -> StrategySpec:
    """The spec registered under ``name`` (discovering plug-ins first)."""
    if name not in _REGISTRY:
        discover()
    try:
        return _REGISTRY[name]
    except KeyError:
        raise UnknownStrategy(
            f"unknown strategy {name!r}; known strategies: {', '.join(sorted(_REGISTRY)) or 'none'} "
            f"(plug-ins are searched in {', '.join(str(d) for d in strategy_dirs())} and entry points "
            f"'{ENTRY_POINT_GROUP}')"
        ) from None


def is_registered(name: str) -> bool:
    """Whether a strategy is registered under ``name`` already (no plug-in discovery)."""
    return name in _REGISTRY


def list_strategies() -> list[StrategySpec]:
    """Every registered strategy's spec, by name (discovering plug-ins first)."""
    discover()
    return [_REGISTRY[k] for k in sorted(_REGISTRY)]
