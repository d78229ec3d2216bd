"""Files a unit produces besides its record: saved models (``models/``) and logs (``logs/``).

The process that trains a unit (this one, a ``--jobs`` worker, a Ray task on
another machine) gathers them in memory as ``{relative path: bytes}`` and
returns them with the unit's record under :data:`FILES_KEY`; the driver,
the only writer of a results folder, writes them atomically
(:func:`write_unit_files`). A rerun unit (it failed before) replaces its
old files.
"""

from __future__ import annotations

import shutil
from pathlib import Path, PurePosixPath

from isocl.bench.results import atomic_write_bytes, unit_stem

__all__ = ["FILES_KEY", "write_unit_files"]

FILES_KEY = "_files"  # a unit job's record: {path relative to the results folder: bytes}; never in units/*.json


def _safe(rel: str) -> PurePosixPath:
    p = PurePosixPath(rel)
    if p.is_absolute() or ".." in p.parts or p.parts[:1] not in (("models",), ("logs",)):
        raise ValueError(f"a unit file must lie under models/ or logs/ of the results folder, instead got {rel!r}")
    return p


def write_unit_files(out: Path, strategy: str, seed: int, files: dict[str, bytes]) -> list[Path]:
    """Write a unit's files into results folder ``out``, first removing what an earlier run of the unit left."""
    out = Path(out)
    stem = unit_stem(strategy, seed)
    for old in (out / "logs" / stem, out / "models" / stem):
        if old.is_dir():
            shutil.rmtree(old)
    final = out / "models" / f"{stem}.safetensors"
    if final.is_file() and f"models/{stem}.safetensors" not in files:
        final.unlink()
    written = []
    for rel, data in files.items():
        path = out / _safe(rel)
        atomic_write_bytes(path, data)
        written.append(path)
    return written
