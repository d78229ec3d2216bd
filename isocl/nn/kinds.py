"""Model kinds: what ``[model] kind = ...`` names, each one module plus one registration.

A :class:`ModelKind` holds a kind's config class (a dataclass), its builder
(config -> an Avalanche-ready ``nn.Module`` with a growing head, or one head
per task when the config asks for ``multi_head``), the ``[model]`` keys of its
own with their checks (``(types, default, check, expected-text)`` as in
:mod:`isocl.bench.config`), the arguments the harness supplies (input shape,
heads), and whether its hidden layers are isotropic (the neuroplastic moves,
twins and controls act on those only).

A new kind is one module that calls :func:`register_model_kind` at import,
plus one line in :data:`KIND_MODULES` (so a kind's name is known without
importing every model module). :func:`build_model` dispatches on the config's
class; :func:`rebuild_model` rebuilds a saved model from its config and tensors.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "ISOTROPIC_KINDS",
    "KIND_MODULES",
    "MODEL_KINDS",
    "ModelKind",
    "build_model",
    "kind_of_config",
    "model_kind",
    "register_model_kind",
    "rebuild_model",
]

# name -> the module that registers it (imported on first use)
KIND_MODULES: dict[str, str] = {
    "mlp": "isocl.nn.models",
    "cnn": "isocl.nn.cnn",
    "slim_resnet18": "isocl.nn.resnet",
    "resnet18": "isocl.nn.resnet",
}
MODEL_KINDS: tuple[str, ...] = tuple(KIND_MODULES)
ISOTROPIC_KINDS: tuple[str, ...] = ("mlp", "cnn")  # kinds whose hidden layers the structural moves act on


@dataclass(frozen=True)
class ModelKind:
    """One model kind."""

    name: str
    config_cls: type
    build: Callable[[Any], Any]
    description: str = ""
    keys: Mapping[str, tuple] = field(default_factory=dict)  # [model] keys of this kind: (types, default, check, text)
    harness: Mapping[str, Any] = field(default_factory=dict)  # config arguments the harness sets (input shape)
    isotropic: bool = False
    rebuild: Callable[[dict[str, Any], dict[str, Any]], Any] | None = None  # (config dict, state) -> model

    def config(self, table: Mapping[str, Any], **harness: Any) -> Any:
        """The config of a validated ``[model]`` table (without ``kind``) and the harness's arguments."""
        return self.config_cls(**{**self.harness, **harness, **table})


_KINDS: dict[str, ModelKind] = {}


def register_model_kind(kind: ModelKind) -> ModelKind:
    """Register ``kind`` (its name must be listed in :data:`KIND_MODULES`)."""
    if kind.name not in KIND_MODULES:
        raise ValueError(f"model kind {kind.name!r} is not listed in isocl.nn.kinds.KIND_MODULES")
    _KINDS[kind.name] = kind
    return kind


def model_kind(name: str) -> ModelKind:
    """The registered kind ``name`` (its module is imported on first use)."""
    if name not in KIND_MODULES:
        raise ValueError(f"unknown model kind {name!r}; expected one of {', '.join(MODEL_KINDS)}")
    if name not in _KINDS:
        importlib.import_module(KIND_MODULES[name])
    return _KINDS[name]


def kind_of_config(cfg: Any) -> ModelKind:
    """The kind whose config class ``cfg`` is (exact class)."""
    for name in MODEL_KINDS:
        kind = model_kind(name)
        if type(cfg) is kind.config_cls:
            return kind
    raise TypeError(f"build_model needs the config of a model kind ({', '.join(MODEL_KINDS)}), "
                    f"instead got {type(cfg).__name__}")


def build_model(cfg: Any) -> Any:
    """The model of a kind's config (an MLPConfig, CNNConfig, ResNetConfig, ...)."""
    return kind_of_config(cfg).build(cfg)


def rebuild_model(name: str, config: dict[str, Any], state: dict[str, Any]) -> Any:
    """A saved model of kind ``name`` from its config dict and tensors (values still to load)."""
    kind = model_kind(name)
    if kind.rebuild is None:
        raise ValueError(f"model kind {name!r} cannot be rebuilt from a checkpoint")
    return kind.rebuild(config, state)
