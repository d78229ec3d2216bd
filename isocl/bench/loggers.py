"""Avalanche's own loggers for a unit: text, CSV, TensorBoard, Weights & Biases.

Chosen by ``[logging] loggers = [...]`` in a benchmark file or ``--logger``
on the command line. A unit logs into a temporary folder of the process that
trains it (a worker, a Ray task on another machine); when the unit ends its
files travel back with its record and the driver writes them under
``DIR/logs/<unit>/`` (:mod:`isocl.bench.artifacts`):

- ``text``: ``log.txt`` (Avalanche's ``TextLogger``)
- ``csv``: ``csv/`` (``CSVLogger``: training and evaluation results)
- ``tensorboard``: ``tensorboard/`` (``TensorboardLogger``; ``tensorboard --logdir DIR/logs``)
- ``wandb``: ``wandb/`` (``WandBLogger``, offline by default: ``wandb sync DIR/logs/<unit>/wandb/offline-run-*``)

Without loggers the evaluator gets :class:`NullLogger`, a logger that does
nothing: Avalanche warns "No loggers specified" on an empty list.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from pathlib import Path
from typing import Any

from avalanche.logging import BaseLogger

from isocl.bench.config import LOGGERS, comma_list

__all__ = ["LOGGERS", "NullLogger", "UnitLoggers", "parse_logger_names"]


class NullLogger(BaseLogger):
    """Logs nothing (isocl records its metrics from ``strategy.eval``'s results)."""


def parse_logger_names(text: str) -> list[str]:
    """``"tensorboard,csv"`` -> ``["tensorboard", "csv"]``; unknown names raise ValueError naming them."""
    names = comma_list(text)
    unknown = [n for n in names if n not in LOGGERS]
    if unknown:
        raise ValueError(f"unknown logger {unknown[0]!r}; expected a comma-separated list of {', '.join(LOGGERS)}")
    return list(dict.fromkeys(names))


class UnitLoggers:
    """The loggers of one unit, in a temporary folder; :meth:`close` ends them and returns their files.

    ``settings`` is a benchmark's ``[logging]`` table; ``run_name`` names the
    W&B run; ``config`` is recorded by W&B.
    """

    def __init__(self, settings: dict[str, Any], run_name: str, config: dict[str, Any] | None = None) -> None:
        self.names = list(settings.get("loggers") or [])
        self.loggers: list[BaseLogger] = []
        self._text = None
        self._wandb = False
        self.folder = Path(tempfile.mkdtemp(prefix="isocl-logs-")) if self.names else None
        try:
            for name in self.names:
                self.loggers.append(self._make(name, settings, run_name, config))
        except BaseException:
            self.close()
            raise

    def _make(self, name: str, settings: dict[str, Any], run_name: str, config: dict[str, Any] | None) -> BaseLogger:
        folder = Path(self.folder or ".")
        if name == "text":
            from avalanche.logging import TextLogger

            self._text = open(folder / "log.txt", "w", encoding="utf-8")  # noqa: SIM115 - closed in close()
            return TextLogger(self._text)
        if name == "csv":
            from avalanche.logging import CSVLogger

            return CSVLogger(log_folder=str(folder / "csv"))
        if name == "tensorboard":
            from avalanche.logging import TensorboardLogger

            return TensorboardLogger(tb_log_dir=folder / "tensorboard")
        if name == "wandb":
            (folder / "wandb").mkdir()
            mode = os.environ.get("WANDB_MODE") or settings.get("wandb_mode", "offline")
            self._wandb = True
            return _wandb_logger_class()(project_name=settings.get("wandb_project", "isocl"), run_name=run_name,
                               save_code=False, config=config, dir=str(folder / "wandb"),
                               params={"mode": mode, "reinit": "finish_previous", "settings": _wandb_settings(),
                                       # Avalanche 0.6 draws the id with wandb.util.generate_id, gone in wandb 0.19+
                                       "id": f"{run_name}-{uuid.uuid4().hex[:8]}"})
        raise ValueError(f"unknown logger {name!r}; expected one of {', '.join(LOGGERS)}")

    def close(self) -> dict[str, bytes]:
        """End every logger (flushing its files) and return them, relative to the logs folder; removes the folder."""
        if self.folder is None:
            return {}
        for logger in self.loggers:
            writer = getattr(logger, "writer", None)  # TensorboardLogger
            if writer is not None:
                writer.close()
            if hasattr(logger, "close") and not hasattr(logger, "wandb"):
                logger.close()  # CSVLogger
        if self._wandb:
            import wandb

            wandb.finish()
        if self._text is not None:
            self._text.close()
        files = {str(p.relative_to(self.folder)): p.read_bytes() for p in sorted(self.folder.rglob("*"))
                 if p.is_file() and not p.is_symlink()}
        shutil.rmtree(self.folder, ignore_errors=True)
        self.folder = None
        return files


def _wandb_logger_class() -> type:
    """Avalanche 0.6's WandBLogger for wandb >= 0.19, which no longer has ``wandb.viz`` (Avalanche names
    ``wandb.viz.CustomChart`` for every value it logs) nor ``wandb.util.generate_id`` (we pass an id)."""
    import numpy as np
    from avalanche.evaluation.metric_results import AlternativeValues, TensorImage
    from avalanche.logging import WandBLogger
    from matplotlib.figure import Figure
    from PIL.Image import Image
    from torch import Tensor

    class _WandBLogger(WandBLogger):
        def log_single_metric(self, name, value, x_plot):
            self.step = x_plot
            if name.startswith("WeightCheckpoint"):
                return  # isocl saves its models itself (isocl.bench.checkpoints)
            if isinstance(value, AlternativeValues):
                value = value.best_supported_value(Image, Tensor, TensorImage, Figure, float, int)
            if isinstance(value, (float, int, Figure)) and not isinstance(value, bool):
                self.wandb.log({name: value}, step=self.step)
            elif isinstance(value, Tensor):
                hist = np.histogram(value.detach().cpu().view(-1).numpy())
                self.wandb.log({name: self.wandb.Histogram(np_histogram=hist)}, step=self.step)
            elif isinstance(value, (Image, TensorImage)):
                self.wandb.log({name: self.wandb.Image(np.array(value) if isinstance(value, TensorImage) else value)},
                               step=self.step)

    return _WandBLogger


def _wandb_settings():
    import wandb

    # no console capture (it would wrap this process's stdout), no system-metrics sampling
    return wandb.Settings(console="off", x_disable_stats=True, silent=True)
