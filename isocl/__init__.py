"""isocl: continual-learning benchmarks for isotropic neural networks.

The mathematics lives in ``shared/docs/isotropic-networks.md`` (cited as
"doc §N" in docstrings).  The package has four layers, each importing only
from the ones before it::

    isocl.nn        network mathematics (activations, layers, models, moves)
    isocl.bench     benchmark harness (data, scenarios, registry, runner)
    isocl.analysis  statistics, figures, reports
    isocl.tuning    Optuna studies on the validation stream
    isocl.cli       the ``isocl`` command

The names users import are available here: ``from isocl import moves,
models, testing, register_strategy, StrategyContext``.  They load lazily, so
``import isocl`` stays cheap.
"""

from __future__ import annotations

import importlib

__version__ = "0.1.0"

_SUBMODULES = {
    "activations": "isocl.nn.activations",
    "layers": "isocl.nn.layers",
    "models": "isocl.nn.models",
    "conv": "isocl.nn.conv",
    "cnn": "isocl.nn.cnn",
    "protocol": "isocl.nn.protocol",
    "moves": "isocl.nn.moves",
    "compressed": "isocl.nn.compressed",
    "optim": "isocl.nn.optim",
    "testing": "isocl.nn.testing",
    "data": "isocl.bench.data",
    "scenarios": "isocl.bench.scenarios",
    "config": "isocl.bench.config",
    "registry": "isocl.bench.registry",
    "context": "isocl.bench.context",
    "runner": "isocl.bench.runner",
    "metrics": "isocl.bench.metrics",
    "results": "isocl.bench.results",
    "plasticity": "isocl.bench.plasticity",
    "speed": "isocl.bench.speed",
    "plots": "isocl.analysis.plots",
    "report": "isocl.analysis.report",
}
_NAMES = {
    "register_strategy": "isocl.bench.registry",
    "get_strategy": "isocl.bench.registry",
    "list_strategies": "isocl.bench.registry",
    "StrategyContext": "isocl.bench.context",
    "MLPConfig": "isocl.nn.models",
    "build_mlp": "isocl.nn.models",
    "build_model": "isocl.nn.kinds",
    "CNNConfig": "isocl.nn.cnn",
    "build_cnn": "isocl.nn.cnn",
}
__all__ = sorted({*_SUBMODULES, *_NAMES, "__version__"})


def __getattr__(name: str):
    if name in _SUBMODULES:
        return importlib.import_module(_SUBMODULES[name])
    if name in _NAMES:
        return getattr(importlib.import_module(_NAMES[name]), name)
    raise AttributeError(f"module 'isocl' has no attribute {name!r}")
