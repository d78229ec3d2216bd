"""Optuna tuning on the validation stream (``isocl tune`` / ``isocl evaluate``).

One module per concept, as in Optuna: :mod:`~isocl.tuning.space` (search
spaces), :mod:`~isocl.tuning.storage` (SQLite, journal, RDB; stale trials),
:mod:`~isocl.tuning.samplers` (samplers and pruners),
:mod:`~isocl.tuning.objective` (the validation-only objective),
:mod:`~isocl.tuning.workers` (exactly N trials over K processes),
:mod:`~isocl.tuning.outputs` (best.toml, trials.csv, plots),
:mod:`~isocl.tuning.study` (``tune``), :mod:`~isocl.tuning.evaluate` and
:mod:`~isocl.tuning.cli` (the sub-commands).
"""

from isocl.tuning.cli import add_tune_parsers, evaluate_command, tune_command
from isocl.tuning.evaluate import evaluate
from isocl.tuning.objective import TrialFailed, TuneContext, isocl_objective
from isocl.tuning.outputs import best_benchmark, write_outputs
from isocl.tuning.samplers import PRUNERS, SAMPLERS
from isocl.tuning.space import default_space, space_to_toml, suggest_params, validate_space
from isocl.tuning.storage import StorageSpec, resolve_storage
from isocl.tuning.study import TuneResult, tune
from isocl.tuning.workers import MAX_CONSECUTIVE_FAILURES

__all__ = [
    "MAX_CONSECUTIVE_FAILURES",
    "PRUNERS",
    "SAMPLERS",
    "StorageSpec",
    "TrialFailed",
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
