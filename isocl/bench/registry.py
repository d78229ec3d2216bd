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

from isocl.bench.config import ISOTROPIC_KINDS, MODEL_KINDS, ConfigError
from isocl.bench.params import Param, defaults_of, params_from_defaults

__all__ = [
    "BACKBONES",
    "Param",
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
# The network family a strategy trains (its activation): comparisons across two are labelled as such.
BACKBONES = ("isotropic", "relu", "tanh")


class UnknownStrategy(ValueError):
    """A strategy name that no registry source provides."""


@dataclass(frozen=True)
class StrategySpec:
    """One registered strategy. ``params`` are its declared parameters (:class:`isocl.bench.params.Param`);
    ``defaults`` and the parameters' part of ``search`` derive from them."""

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
    backbone: str = BACKBONES[0]  # one of BACKBONES: the activation of the network it trains
    source: str = ""
    params: Mapping[str, Param] = field(default_factory=dict)  # declared parameters (defaults derive from them)
    shipped: bool = False  # loaded from the shipped strategies folder
    overrides: str = ""  # the source of the shipped strategy this plug-in replaces (register_strategy(override=True))

    def __post_init__(self) -> None:
        if self.defaults and not self.params:  # a spec built directly with defaults only: the older form
            object.__setattr__(self, "params", params_from_defaults(self.defaults, self.search))

    def resolve(self, given: Mapping[str, Any] | None, where: str = "",
                training: Mapping[str, Any] | None = None, *, check_defaults: bool = True) -> dict[str, Any]:
        """Defaults updated by ``given``, each value checked against its declaration (type, range,
        choices; ``below`` a ``training`` key when ``training`` is given, and then the defaults too
        unless ``check_defaults`` is false); ConfigError otherwise."""
        given = dict(given or {})
        unknown = sorted(set(given) - set(self.defaults))
        if unknown:
            raise ConfigError(
                f"{where or self.name}: unknown parameter {unknown[0]!r} for strategy {self.name!r}; "
                f"expected one of {sorted(self.defaults) or 'none'}"
            )
        out = dict(self.defaults)
        for key, value in given.items():
            out[key] = self.params[key].check(key, value, where or self.name, self.name, training)
        if training is not None and check_defaults:  # a default that the benchmark's own settings make invalid (e.g. epochs)
            for key in set(out) - set(given):
                out[key] = self.params[key].check(key, out[key], where or self.name, self.name, training)
        return out

    def search_space(self, training: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """The declared search space for a run with ``training``: each parameter's distribution clipped to
        its valid range there (left out where nothing valid remains), the other keys as declared."""
        out: dict[str, Any] = {}
        for key, s in self.search.items():
            if key in self.params:
                clipped = self.params[key].clip(s, training)
                if clipped is not None:
                    out[key] = clipped
            else:
                out[key] = dict(s)
        return out


_REGISTRY: dict[str, StrategySpec] = {}
_LOADED: set[str] = set()


# the file being loaded by _load_file (its path, and whether it is in the shipped folder), or None
_LOADING: dict[str, Any] = {}


def register_strategy(
    name: str,
    *,
    params: Mapping[str, Param] | None = None,
    defaults: Mapping[str, Any] | None = None,
    settings: tuple[str, ...] = SETTINGS,
    models: tuple[str, ...] | None = None,
    description: str = "",
    neuroplastic: bool = False,
    twin: str = "naive",
    twin_params: tuple[str, ...] = (),
    controls: tuple[str, ...] = (),
    search: Mapping[str, Any] | None = None,
    backbone: str = BACKBONES[0],
    override: bool = False,
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Decorator registering ``factory(ctx, **params)`` under ``name``.

    ``params`` declares each parameter once (:class:`isocl.bench.params.Param`: type, default, valid
    range, search distribution); the defaults, the checks and the search space derive from it. The
    older form ``defaults={...}`` (and the parameters' distributions in ``search``) still works: a
    parameter of the default's type, with no range. ``search`` declares the Optuna space of the other
    keys (``lr``, ``model.X``) in the format of a benchmark's ``[search.NAME]`` table (``isocl tune``
    uses it when the benchmark has none); ``controls`` names the controls that run beside a
    neuroplastic strategy; ``backbone`` (one of :data:`BACKBONES`) the network family it trains. A
    plug-in registering the name of a shipped strategy is refused unless it passes ``override=True``
    (recorded in every run's manifest).
    """
    bad = [s for s in settings if s not in SETTINGS]
    if bad:
        raise ValueError(f"settings must be drawn from {SETTINGS}, instead got {bad}")
    if models is None:  # neuroplastic strategies act on isotropic hidden layers; the others run on every kind
        models = ISOTROPIC_KINDS if neuroplastic else MODEL_KINDS
    bad = [m for m in models if m not in MODEL_KINDS]
    if bad:
        raise ValueError(f"models must be drawn from {MODEL_KINDS}, instead got {bad}")
    if backbone not in BACKBONES:
        raise ValueError(f"backbone must be one of {BACKBONES}, instead got {backbone!r}")
    bad = [c for c in controls if c not in ("diag-only", "reset")]
    if bad:
        raise ValueError(f"controls must be drawn from ('diag-only', 'reset'), instead got {bad}")
    params, search = _declarations(name, params, defaults, dict(search or {}))

    def deco(factory: Callable[..., Any]) -> Callable[..., Any]:
        doc = description or (factory.__doc__ or "").strip().splitlines()[0:1]
        source = _LOADING.get("path") or getattr(factory, "__module__", "")
        shipped = bool(_LOADING.get("shipped"))
        overrides = _shadowed(name, source, shipped, override)
        _REGISTRY[name] = StrategySpec(
            name=name,
            factory=factory,
            defaults=defaults_of(params),
            settings=tuple(settings),
            models=tuple(models),
            description=doc if isinstance(doc, str) else (doc[0] if doc else ""),
            neuroplastic=neuroplastic,
            twin=twin,
            twin_params=tuple(twin_params),
            controls=tuple(controls),
            search=search,
            backbone=backbone,
            source=source,
            params=params,
            shipped=shipped,
            overrides=overrides,
        )
        _LOADING.setdefault("count", 0)
        _LOADING["count"] = _LOADING["count"] + 1
        return factory

    return deco


def _declarations(name: str, params: Mapping[str, Param] | None, defaults: Mapping[str, Any] | None,
                  search: dict[str, Any]) -> tuple[dict[str, Param], dict[str, Any]]:
    """A registration's parameters and its whole search space, from either form."""
    if params is None:
        return _declared_params(defaults or {}, search), search
    if defaults is not None:
        raise ValueError(f"{name}: give params (declarations) or defaults (the older form), not both")
    bad = [k for k, p in params.items() if not isinstance(p, Param)]
    if bad:
        raise ValueError(f"{name}: params must map names to isocl.bench.params.Param, instead got {bad[0]!r}")
    twice = sorted(k for k in search if k in params)
    if twice:
        raise ValueError(f"{name}: the search distribution of parameter {twice[0]!r} belongs in its Param(search=...)")
    declared = {k: dict(p.search) for k, p in params.items() if p.search is not None}
    # lr (and the other training keys) first, then the parameters, then model.X: the older form's order
    return dict(params), {**{k: v for k, v in search.items() if not k.startswith("model.")}, **declared,
                          **{k: v for k, v in search.items() if k.startswith("model.")}}


def _shadowed(name: str, source: str, shipped: bool, override: bool) -> str:
    """The source of the shipped strategy a plug-in registering ``name`` replaces ("" for none); a plug-in
    that does so without ``override`` is refused (ConfigError)."""
    old = _REGISTRY.get(name)
    if old is None or not old.shipped or shipped or old.source == source:
        return ""
    if not override:
        raise ConfigError(
            f"{source}: strategy {name!r} is already a shipped strategy ({old.source}); a plug-in "
            "that replaces it must say so with register_strategy(..., override=True) "
            "(OVERRIDE = True in a build() module), or take another name")
    return old.source


def _declared_params(defaults: Mapping[str, Any], search: Mapping[str, Any]) -> dict[str, Param]:
    """The older form's declarations (:func:`isocl.bench.params.params_from_defaults`), except that a
    parameter named like a shared one (the neuroplastic ``isocl.bench.spaces.NEURO_PARAMS``, a replay
    buffer's ``mem_size``) takes that declaration's range with the strategy's own default and search,
    where they fit it."""
    from isocl.bench.spaces import MEM_SIZE, NEURO_PARAMS

    shared = {**NEURO_PARAMS, "mem_size": MEM_SIZE}
    out = params_from_defaults(defaults, search)
    for name, default in defaults.items():
        if name in shared:
            try:
                out[name] = dataclasses.replace(shared[name], default=default, search=search.get(name))
            except (ValueError, TypeError):  # the plug-in means something else by this name: its type only
                pass
    return out


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


def _load_file(path: Path, shipped: bool = False) -> None:
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
    _LOADING.update(path=str(path), shipped=shipped, count=0)
    # A user's plug-in is read, never written beside: no __pycache__ appears in their folder
    # (and a refused run leaves it exactly as it was).
    writes_bytecode = sys.dont_write_bytecode
    sys.dont_write_bytecode = writes_bytecode or not shipped
    try:
        spec.loader.exec_module(module)
        if _LOADING["count"] == 0:  # no register_strategy call: the build() convention
            _register_conventional(module, path.stem.replace("_", "-"), str(path))
    except ConfigError:
        raise  # a refused registration (a shadowed shipped strategy) says what to do itself
    except Exception as exc:  # a broken plug-in must say which file
        raise ConfigError(f"{path}: strategy module failed to import: {type(exc).__name__}: {exc}") from exc
    finally:
        sys.dont_write_bytecode = writes_bytecode
        _LOADING.clear()


def _register_conventional(module: ModuleType, name: str, source: str) -> None:
    build = getattr(module, "build", None)
    if not callable(build):
        return
    params = getattr(module, "PARAMS", None)
    register_strategy(
        name,
        params=params,
        defaults=None if params is not None else getattr(module, "DEFAULTS", {}),
        settings=tuple(getattr(module, "SETTINGS", SETTINGS)),
        models=tuple(getattr(module, "MODELS", MODEL_KINDS)),
        description=getattr(module, "DESCRIPTION", (module.__doc__ or "").strip().split("\n")[0]),
        override=bool(getattr(module, "OVERRIDE", False)),
    )(build)
    _REGISTRY[name] = dataclasses.replace(_REGISTRY[name], source=source)


def discover(dirs: list[Path] | None = None) -> None:
    """Load strategy modules from folders and entry points (idempotent)."""
    shipped = shipped_dir("strategies").resolve()
    for d in dirs if dirs is not None else strategy_dirs():
        for path in sorted(Path(d).glob("*.py")):
            if not path.name.startswith("_"):
                _load_file(path, shipped=Path(d).resolve() == shipped)
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
