"""Reading results folders (``docs/results-format.md``) for the report:
the CSV files, ``config.toml``, ``manifest.json`` and Optuna studies, and
combining several folders (strategy names that collide are prefixed with
the folder's label)."""

from __future__ import annotations

import json
import math
import tomllib
import warnings as _warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from isocl.analysis.plots.style import DIR_SEPARATOR, family_of
from isocl.bench.names import format_unit, parse_unit
from isocl.bench.results import EXPERIENCE_COLUMNS, METRICS_COLUMNS, STRUCTURE_COLUMNS, SUMMARY_COLUMNS

_REQUIRED = ("summary.csv", "config.toml")

# The results format's columns: one definition, in isocl.bench.results.
_COLUMNS = {
    "summary": SUMMARY_COLUMNS,
    "metrics": METRICS_COLUMNS,
    "experiences": EXPERIENCE_COLUMNS,
    "structure": STRUCTURE_COLUMNS,
}
# columns a figure cannot do without
_NEEDED = {
    "summary": ["strategy", "seed", "status"],
    "metrics": ["strategy", "seed", "trained_exp", "eval_exp", "accuracy"],
    "experiences": ["strategy", "seed", "experience"],
    "structure": ["strategy", "seed", "experience", "layer", "event"],
}
_TEXT_COLUMNS = {
    "strategy": str,
    "status": str,
    "widths": str,
    "error": str,
    "event": str,
    "sigmas": str,
    "removed_sigmas": str,
}

# the metric table: (column, heading, kind, higher is better)


class NotAResultsDir(ValueError):
    """A path given as a results directory is not the ``--out`` folder of
    ``isocl run``."""


@dataclass
class Results:
    """One results directory, read."""

    path: Path
    label: str
    benchmark: str
    config: dict
    config_text: str
    manifest: dict | None
    summary: pd.DataFrame
    metrics: pd.DataFrame | None
    experiences: pd.DataFrame | None
    structure: pd.DataFrame | None
    study_dir: Path | None


def check_dir(path: Path) -> None:
    missing = [f for f in _REQUIRED if not (path / f).is_file()]
    if missing:  # names the first missing file (summary.csv before config.toml)
        raise NotAResultsDir(
            f"{path}: not an isocl results directory (missing {missing[0]}); "
            "expected the --out folder of `isocl run`"
        )


def _read_csv(path: Path, kind: str, warn: list[str]) -> pd.DataFrame | None:
    if not path.is_file():
        return None
    try:
        df = pd.read_csv(
            path, dtype={c: t for c, t in _TEXT_COLUMNS.items() if c in _COLUMNS[kind]}
        )
    except pd.errors.EmptyDataError:
        warn.append(f"{path}: empty file")
        return pd.DataFrame(columns=_COLUMNS[kind])
    except Exception as exc:  # noqa: BLE001 - a malformed CSV of any kind
        warn.append(f"{path}: could not be read ({type(exc).__name__}: {exc})")
        return None
    df.columns = [str(c).strip() for c in df.columns]
    missing = [c for c in _NEEDED[kind] if c not in df.columns]
    if missing:
        warn.append(f"{path}: missing column(s) {', '.join(missing)}; file ignored")
        return None
    df["strategy"] = df["strategy"].astype(str)
    df["seed"] = pd.to_numeric(df["seed"], errors="coerce")
    return df


def _benchmark_name(config: dict, manifest: dict | None, path: Path) -> str:
    for value in (
        config.get("name"),
        config.get("benchmark", {}).get("name")
        if isinstance(config.get("benchmark"), dict)
        else config.get("benchmark"),
        (manifest or {}).get("benchmark"),
    ):
        if isinstance(value, str) and value.strip():
            return value.strip()
    return path.name


PEAK_NOTE_FRACTION = 0.01
"""A unit whose peak parameters its fixed-max twin raises by more than this fraction is named in a warning."""


def peak_params_floor(summary: pd.DataFrame) -> tuple[pd.DataFrame, list[str]]:
    """``summary`` with each unit's ``max_params`` at least its fixed-max twin's ``params`` (same seed), and
    the units it raised by more than :data:`PEAK_NOTE_FRACTION`.

    The fixed-max twin of X is the benchmark's network at X's peak widths (each layer at its largest width
    during X's run, structural events inside an experience included), so its size is X's peak size. Runs
    written before isocl counted parameters while training (:class:`isocl.bench.metrics.PeakParams`)
    recorded ``max_params`` after each experience only and missed a width pruned before the experience
    ended (an overabundant start, a growth pruned again): their peak-parameter frontier would flatter the
    neuroplastic strategies. Newer runs agree with their twins to within the heads' few parameters.
    """
    need = {"strategy", "seed", "status", "params", "max_params"}
    if not need <= set(summary.columns) or summary.empty:
        return summary, []
    out = summary.copy()
    names = out["strategy"].astype(str)
    ok = out["status"].astype(str) == "ok"
    twin_of = {}
    for i in out.index[ok]:
        unit = parse_unit(names[i])
        if unit.prefix == "fixed-max":
            twin_of[(format_unit(None, unit.strategy, unit.point), out.at[i, "seed"])] = pd.to_numeric(
                out.at[i, "params"], errors="coerce")
    raised = []
    peak = pd.to_numeric(out["max_params"], errors="coerce").astype(float)
    for i in out.index[ok]:
        twin = twin_of.get((names[i], out.at[i, "seed"]))
        if twin is None or not math.isfinite(twin):
            continue
        if not math.isfinite(peak[i]) or twin > peak[i]:
            if not math.isfinite(peak[i]) or twin > peak[i] * (1 + PEAK_NOTE_FRACTION):
                raised.append(f"{names[i]} seed {out.at[i, 'seed']}")
            peak[i] = twin
    out["max_params"] = peak
    return out, raised


def load_results(
    path, warn: list[str] | None = None, label: str | None = None
) -> Results:
    """Read one results directory; problems other than a missing
    ``summary.csv`` / ``config.toml`` are appended to ``warn``."""
    warn = [] if warn is None else warn
    path = Path(path)
    check_dir(path)
    config_text = (path / "config.toml").read_text(encoding="utf-8", errors="replace")
    try:
        config = tomllib.loads(config_text)
    except tomllib.TOMLDecodeError as exc:
        warn.append(f"{path / 'config.toml'}: not valid TOML ({exc})")
        config = {}
    manifest = None
    if (path / "manifest.json").is_file():
        try:
            manifest = json.loads((path / "manifest.json").read_text(encoding="utf-8"))
            if not isinstance(manifest, dict):
                raise TypeError("not a JSON object")
        except (ValueError, TypeError) as exc:
            warn.append(f"{path / 'manifest.json'}: could not be read ({exc})")
            manifest = None
    else:
        warn.append(f"{path}: no manifest.json; environment unknown")
    summary = _read_csv(path / "summary.csv", "summary", warn)
    if summary is None:
        summary = pd.DataFrame(columns=_COLUMNS["summary"])
    if "status" in summary.columns:
        summary["status"] = summary["status"].fillna("").astype(str).str.strip()
    summary, raised = peak_params_floor(summary)
    if raised:
        warn.append(f"{path}: max_params of {len(raised)} unit(s) raised to their fixed-max twin's parameters "
                    f"(the network at the unit's peak widths; the run counted parameters after each "
                    f"experience only, before isocl counted them while training): {', '.join(raised[:6])}"
                    + (f" and {len(raised) - 6} more" if len(raised) > 6 else ""))
    frames = {}
    for kind in ("metrics", "experiences", "structure"):
        frames[kind] = _read_csv(path / f"{kind}.csv", kind, warn)
        if (
            frames[kind] is None
            and not (path / f"{kind}.csv").is_file()
            and kind != "structure"
        ):  # reported with the spectra figure
            warn.append(f"{path}: no {kind}.csv")
    study_dir = path / "study" if (path / "study").is_dir() else None
    return Results(
        path=path,
        label=label or path.name,
        benchmark=_benchmark_name(config, manifest, path),
        config=config,
        config_text=config_text,
        manifest=manifest,
        summary=summary,
        metrics=frames["metrics"],
        experiences=frames["experiences"],
        structure=frames["structure"],
        study_dir=study_dir,
    )


def results_labels(paths: Sequence[Path]) -> list[str]:
    """Folder names, made unique with as many parent folders as needed
    (``a/results``, ``b/results``) and, failing that, ``#2``, ``#3``..."""
    parts = [p.resolve().parts for p in paths]
    labels = []
    for i, pp in enumerate(parts):
        label = pp[-1] if pp else str(paths[i])
        for depth in range(1, len(pp) + 1):
            label = "/".join(pp[-depth:]).lstrip("/") or str(paths[i])
            clash = [
                j
                for j, qq in enumerate(parts)
                if j != i and "/".join(qq[-depth:]).lstrip("/") == label
            ]
            if not clash:
                break
        labels.append(label)
    seen: dict[str, int] = {}
    out = []
    for label in labels:
        seen[label] = seen.get(label, 0) + 1
        out.append(label if seen[label] == 1 else f"{label}#{seen[label]}")
    return out


def strategies_of(r: Results) -> set[str]:
    out = set(r.summary["strategy"].astype(str)) if "strategy" in r.summary else set()
    for df in (r.metrics, r.experiences, r.structure):
        if df is not None:
            out |= set(df["strategy"].astype(str))
    return out


def rename_collisions(results: list[Results]) -> None:
    """Prefix strategy names that occur in several directories with the
    directory label.  Twins follow their strategy: if ``X`` collides,
    ``fixed-final:X`` and ``fixed-max:X`` are prefixed as well (and the other
    way round), so a family keeps one hue."""
    count: dict[str, int] = {}
    for r in results:
        for family in {family_of(s) for s in strategies_of(r)}:
            count[family] = count.get(family, 0) + 1
    for r in results:
        mapping = {
            s: f"{r.label}{DIR_SEPARATOR}{s}"
            for s in strategies_of(r)
            if count[family_of(s)] > 1
        }
        if not mapping:
            continue
        for attr in ("summary", "metrics", "experiences", "structure"):
            df = getattr(r, attr)
            if df is not None and "strategy" in df.columns:
                setattr(r, attr, df.assign(strategy=df["strategy"].replace(mapping)))


def concat(frames: list[pd.DataFrame | None], kind: str) -> pd.DataFrame | None:
    frames = [f for f in frames if f is not None]
    if not frames:
        return None
    frames = [f for f in frames if len(f)]
    if not frames:
        return pd.DataFrame(columns=_COLUMNS[kind])
    return pd.concat(frames, ignore_index=True)


def _first_line(text) -> str:
    if text is None or (isinstance(text, float) and math.isnan(text)):
        return "(no error message)"
    lines = [ln.strip() for ln in str(text).strip().splitlines() if ln.strip()]
    return lines[-1] if lines else "(no error message)"


def _study_storages(study_dir: Path) -> list[tuple[Path, Callable[[], object]]]:
    """(file, storage factory) for the Optuna storages in ``study_dir``:
    ``journal.log`` first (``isocl tune`` moves a study that goes parallel from
    ``study.db`` into the journal and uses the journal from then on), then
    ``study.db``."""
    import optuna

    found: list[tuple[Path, Callable[[], object]]] = []
    log = study_dir / "journal.log"
    if log.is_file():

        def journal(p=log):
            from optuna.storages.journal import JournalFileBackend, JournalStorage

            return JournalStorage(JournalFileBackend(str(p.resolve())))

        found.append((log, journal))
    db = study_dir / "study.db"
    if db.is_file():
        found.append(
            (db, lambda p=db: optuna.storages.RDBStorage(f"sqlite:///{p.resolve()}"))
        )
    return found


def load_studies(study_dir: Path, warn: list[str]) -> list:
    """Every study in the storages of ``study_dir``; a study name found in
    both storages is taken from the journal."""
    import optuna

    studies, seen = [], {}
    storages = _study_storages(study_dir)
    if not storages:
        warn.append(
            f"{study_dir}: no Optuna storage (study.db or journal.log); "
            "study figures skipped"
        )
        return studies
    for file, make in storages:
        try:
            with _warnings.catch_warnings():
                _warnings.simplefilter("ignore")
                storage = make()
                names = optuna.study.get_all_study_names(storage=storage)
                if not names:
                    warn.append(f"{file}: holds no Optuna study; study figures skipped")
                for name in names:
                    if name in seen:
                        warn.append(
                            f"{file}: study {name!r} is also in {seen[name].name}; "
                            f"using {seen[name].name}"
                        )
                        continue
                    studies.append(optuna.load_study(study_name=name, storage=storage))
                    seen[name] = file
        except Exception as exc:  # noqa: BLE001 - any storage problem is a warning
            warn.append(
                f"{file}: could not load the Optuna studies "
                f"({type(exc).__name__}: {_first_line(str(exc))}); study figures skipped"
            )
    return studies


