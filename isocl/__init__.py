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
import importlib.abc
import importlib.util
import sys

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
    "build_model": "isocl.nn.models",
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


class _FlatLayoutFinder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Keeps the 0.1 flat paths (``isocl.registry``, ``isocl.plasticity``, ...)
    importable for third-party plug-ins: ``isocl.X`` is the module
    ``isocl.<layer>.X`` itself (one object, so monkeypatching either name
    patches both).  Python has no built-in module alias; this is the
    import-system hook for one."""

    def find_spec(self, fullname, path=None, target=None):
        prefix, _, short = fullname.partition(".")
        if prefix == "isocl" and short in _SUBMODULES:
            return importlib.util.spec_from_loader(fullname, self)
        return None

    def create_module(self, spec):
        module = importlib.import_module(_SUBMODULES[spec.name.split(".", 1)[1]])
        self._real_spec = module.__spec__  # the import system overwrites __spec__
        return module

    def exec_module(self, module):
        # Already executed under its real name; only undo the __spec__ overwrite.
        module.__spec__ = self._real_spec


sys.meta_path.append(_FlatLayoutFinder())
