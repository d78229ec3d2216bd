"""Results directory I/O (format: docs/results-format.md). Every write is atomic."""

from __future__ import annotations

import json
import math
import os
import re
import sys
import tempfile
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pandas as pd

from isocl.bench import config
from isocl.bench.config import ConfigError
from isocl.bench.names import slug

__all__ = [
    "KINDS",
    "RunStopped",
    "atomic_write_bytes",
    "atomic_write_text",
    "check_output_folder",
    "check_same_config",
    "comparable_config",
    "claim_output_folder",
    "first_missing",
    "FolderLock",
    "LOCK",
    "lock_holder",
    "lock_output_folder",
    "RunInterrupted",
    "undo_new_folder",
    "collate",
    "folder_kind",
    "load_units",
    "read_manifest",
    "scan_units",
    "unit_path",
    "unit_stem",
    "METRICS_COLUMNS",
    "EXPERIENCE_COLUMNS",
    "SUMMARY_COLUMNS",
    "STRUCTURE_COLUMNS",
]

METRICS_COLUMNS = ["strategy", "seed", "trained_exp", "eval_exp", "accuracy", "loss"]
EXPERIENCE_COLUMNS = ["strategy", "seed", "experience", "avg_accuracy", "params", "widths", "wall_time_s"]
SUMMARY_COLUMNS = [
    "strategy", "seed", "status", "final_accuracy", "avg_incremental_accuracy", "forgetting", "bwt",
    "params", "max_params", "widths", "wall_time_s", "error",
]
STRUCTURE_COLUMNS = [
    "strategy", "seed", "experience", "epoch", "layer", "event", "neurons_before", "neurons_after",
    "bound", "max_logit_change", "acc_before", "acc_after", "removed_sigmas", "sigmas",
]


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` via a temporary file in the same folder and a rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp creates 0600; results are meant to be shared
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def atomic_write_text(path: Path, text: str) -> None:
    """Write ``text`` (UTF-8) to ``path`` atomically (:func:`atomic_write_bytes`)."""
    atomic_write_bytes(path, text.encode("utf-8"))


class RunStopped(RuntimeError):
    """A run stopped by its environment (a killed worker, a full disk): what is finished is saved and
    rerunning the same command resumes. ``isocl`` prints it on one line and exits with code 1."""


# -- output folders: isocl writes only into folders it wrote -------------------------------------------------

MANIFEST = "manifest.json"
KINDS = ("run", "tune", "plot", "export")  # what wrote a folder: manifest.json's "kind"
_TMP = re.compile(r"\..+\.tmp|\.isocl\.lock")  # a temporary file of atomic_write_text, a lock, left by a killed process
LOCK = ".isocl.lock"  # the writer's lock file in an output folder (lock_output_folder)


def read_manifest(path: Path) -> dict[str, Any] | None:
    """The ``manifest.json`` of folder ``path`` as a dict, or None when there is none, it is unreadable, or isocl did not write it."""
    try:
        data = json.loads((path / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) and "isocl" in data else None


def _written_by_isocl(path: Path, name: str) -> bool:
    """``name`` in ``path`` names isocl in its head (best.toml's comment, report.md's "by `isocl plot`")."""
    try:
        with open(path / name, encoding="utf-8") as fh:
            return "isocl" in fh.read(400)
    except (OSError, ValueError):
        return False


def _legacy_kind(path: Path, entries: set[str]) -> str | None:
    """Folders isocl wrote without a usable manifest: results (config.toml and units/), and from before
    manifests had a kind: tune studies (a study lock, or best.toml / tuned.toml headed by isocl; a
    `--strategy all` root holds such studies) and plot outputs (figures/ and a report by isocl)."""
    def is_study(p: Path, names: set[str]) -> bool:
        return ".tune.lock" in names or any(n in names and _written_by_isocl(p, n) for n in ("best.toml", "tuned.toml"))

    if {"config.toml", "units"} <= entries and (path / "units").is_dir():
        return "run"  # a results folder whose manifest was lost or damaged
    if is_study(path, entries):
        return "tune"
    subdirs = [path / n for n in entries if (path / n).is_dir()]
    if subdirs and all(is_study(d, set(os.listdir(d))) for d in subdirs):
        return "tune"
    if {"figures", "report.md", "report.html"} <= entries and _written_by_isocl(path, "report.md"):
        return "plot"
    return None


def folder_kind(path: str | Path) -> str | None:
    """What wrote the existing folder ``path``: a kind of :data:`KINDS`, ``""`` for an empty folder
    (temporary files of a killed atomic write do not count), None for a folder isocl did not write."""
    path = Path(path)
    entries = {n for n in os.listdir(path) if not _TMP.fullmatch(n)}
    if not entries:
        return ""
    manifest = read_manifest(path)
    if manifest is not None:
        kind = manifest.get("kind")
        if kind is None and "benchmark" in manifest:
            return "run"  # a run manifest from before "kind"
        return kind if kind in KINDS else None
    return _legacy_kind(path, entries)


_KIND_TEXT = {"run": "run results", "tune": "a tune study", "plot": "plots", "export": "an export"}


def check_output_folder(path: str | Path, kind: str, *, accept: tuple[str, ...] = (), option: str = "--out") -> str:
    """Whether ``isocl`` may write output of ``kind`` into ``path`` (reads only): ``"new"`` (absent, its
    parent can hold it), ``"empty"`` or ``"resume"`` (an isocl folder of ``kind`` or one of ``accept``).

    Refuses (ConfigError, naming ``option``) a file, a path under a file, an unwritable parent, and an
    existing folder that isocl did not write or wrote for something else.
    """
    path = Path(path)
    where = f"{option} {path}"
    try:
        if path.exists() or path.is_symlink():
            if not path.is_dir():
                raise ConfigError(f"{where}: exists and is not a folder; choose a new or empty folder")
            kind_found = folder_kind(path)
        else:
            kind_found = None
            parent = path.absolute().parent
            while not parent.exists():
                parent = parent.parent
            if not parent.is_dir():
                raise ConfigError(f"{where}: cannot create the folder: {parent} is a file, not a folder")
            if not os.access(parent, os.W_OK | os.X_OK):
                raise ConfigError(f"{where}: cannot create the folder: {parent} is not writable")
            return "new"
    except OSError as exc:
        raise ConfigError(f"{where}: cannot use this folder ({exc.strerror or exc})") from None
    if kind_found == "":
        return "empty"
    if kind_found is None:
        raise ConfigError(f"{where}: the folder exists and was not written by isocl (it holds "
                          f"{_listing(path)}); isocl writes only into a new or empty folder or one it wrote, "
                          "so choose another --out")
    if kind_found != kind and kind_found not in accept:
        raise ConfigError(f"{where}: the folder holds {_KIND_TEXT[kind_found]} of isocl, not "
                          f"{_KIND_TEXT[kind]}; choose another folder")
    return "resume"


def _listing(path: Path, n: int = 3) -> str:
    names = sorted(os.listdir(path))
    return ", ".join(names[:n]) + (f" and {len(names) - n} more" if len(names) > n else "")


def claim_output_folder(path: str | Path, kind: str, argv: list[str] | None = None, *,
                        accept: tuple[str, ...] = (), option: str = "--out", checked: str | None = None) -> str:
    """Check ``path`` (:func:`check_output_folder`), create it, check that a file can be written there
    and, unless it is an isocl folder already, mark it with a manifest ``{"isocl", "kind", "command",
    "created"}``. Returns the check's answer (``"new"``, ``"empty"`` or ``"resume"``).

    ``checked``: the answer of an earlier :func:`check_output_folder` of this command, which has
    since put its own first files there (``isocl tune`` opens its study before it claims the folder).
    """
    import isocl

    path = Path(path)
    state = checked or check_output_folder(path, kind, accept=accept, option=option)
    try:
        path.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(dir=path, prefix=".isocl-probe.", suffix=".tmp")
        os.close(fd)
        os.unlink(probe)
        if state != "resume" or read_manifest(path) is None:
            atomic_write_text(path / MANIFEST, json.dumps({
                "isocl": isocl.__version__, "kind": kind, "command": " ".join(argv if argv is not None else sys.argv),
                "created": datetime.now(timezone.utc).isoformat(timespec="seconds")}, indent=1))
    except OSError as exc:
        raise ConfigError(f"{option} {path}: cannot write there ({exc.strerror or exc})") from None
    return state


class FolderLock:
    """An exclusive lock on an output folder held by this process (:func:`lock_output_folder`);
    :meth:`release` (or leaving a ``with`` block) removes the lock file and frees the folder."""

    def __init__(self, path: Path, fd: int) -> None:
        self.path, self._fd = path, fd

    def release(self) -> None:
        if self._fd is None:
            return
        try:
            os.unlink(self.path / LOCK)  # before unlocking: a process waiting on this file retries on the new one
        except OSError:
            pass
        os.close(self._fd)  # frees the flock
        self._fd = None

    def __enter__(self) -> "FolderLock":
        return self

    def __exit__(self, *exc) -> None:
        self.release()


def _holder(text: str) -> tuple[int | None, str]:
    try:
        data = json.loads(text)
        return int(data["pid"]), str(data.get("command", ""))
    except (ValueError, KeyError, TypeError):
        return None, ""


# by hand: fcntl.flock is what the standard library offers (filelock would add a dependency for the same call);
# the kernel frees the lock when its process dies, so a lock left by a killed process is never held
def lock_output_folder(path: str | Path, argv: list[str] | None = None, *, option: str = "--out") -> FolderLock:
    """Create ``path`` if needed and take the exclusive writer's lock of it (``path/.isocl.lock``, holding
    this process's id and command). Another live holder: ConfigError naming its process and command. A
    lock file left by a process that no longer runs (killed) is taken over, with a note on stderr."""
    import fcntl

    path = Path(path)
    command = " ".join(argv if argv is not None else sys.argv)
    try:
        path.mkdir(parents=True, exist_ok=True)
        while True:
            fd = os.open(path / LOCK, os.O_RDWR | os.O_CREAT, 0o666)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                pid, cmd = _holder(os.pread(fd, 4096, 0).decode("utf-8", "replace"))
                os.close(fd)
                who = f"process {pid}" + (f" ({cmd})" if cmd else "") if pid is not None else "another process"
                raise ConfigError(locked_message(path, who, option)) from None
            try:  # the file may have been removed by its last holder between our open and our lock: retry
                same = os.stat(path / LOCK).st_ino == os.fstat(fd).st_ino
            except FileNotFoundError:
                same = False
            if same:
                break
            os.close(fd)
        old_pid, _ = _holder(os.pread(fd, 4096, 0).decode("utf-8", "replace"))
        if old_pid is not None and old_pid != os.getpid():
            print(f"isocl: note: {path / LOCK} was left by process {old_pid}, which no longer holds it "
                  "(killed?); taking it over", file=sys.stderr)
        data = json.dumps({"pid": os.getpid(), "command": command,
                           "since": datetime.now(timezone.utc).isoformat(timespec="seconds")}).encode()
        os.ftruncate(fd, 0)
        os.pwrite(fd, data, 0)
    except OSError as exc:
        raise ConfigError(f"{option} {path}: cannot lock the folder ({exc.strerror or exc})") from None
    return FolderLock(path, fd)


def locked_message(path: Path, who: str, option: str = "--out") -> str:
    return (f"{option} {path}: {who} is writing into this folder (it holds {Path(path) / LOCK}); "
            f"wait for it to finish, or choose another {option}")


def lock_holder(path: str | Path) -> str | None:
    """Who holds the writer's lock of the existing folder ``path`` (``"process N (command)"``), or None when
    nobody does. Reads only (a shared lock probe on an existing lock file)."""
    import fcntl

    try:
        fd = os.open(Path(path) / LOCK, os.O_RDONLY)
    except OSError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        pid, cmd = _holder(os.pread(fd, 4096, 0).decode("utf-8", "replace"))
        return (f"process {pid}" + (f" ({cmd})" if cmd else "")) if pid is not None else "another process"
    except OSError:
        return None
    finally:
        os.close(fd)  # also frees the probe's shared lock
    return None


class RunInterrupted(KeyboardInterrupt):
    """A run stopped by SIGINT (Ctrl-C) or SIGTERM: finished units are saved, no partial record is left;
    ``isocl`` prints its one line and exits with 128 + the signal number (130, 143)."""

    def __init__(self, finished: int, total: int, signum: int = 2) -> None:
        super().__init__(f"interrupted: {finished} of {total} units finished; rerun the same command to resume")
        self.finished, self.total, self.signum = finished, total, signum


# -- resuming: the same configuration only ------------------------------------------------------------------

def comparable_config(cfg: dict[str, Any]) -> dict[str, Any]:
    """A resolved config without what may grow between resumed runs (strategies, seeds, device, audit)."""
    import copy as _copy

    cfg = _copy.deepcopy(cfg)
    cfg.pop("strategies", None)
    cfg.pop("strategy", None)
    cfg.pop("search", None)  # search spaces do not change a run
    cfg.pop("logging", None)  # nor do loggers and saved models
    cfg.pop("output", None)
    for key in ("seeds", "device", "audit"):  # audit changes no training (config.TRAINING["audit"])
        cfg.get("training", {}).pop(key, None)
    if "training" in cfg:  # a folder written before training.precision existed ran in float32 (its default)
        cfg["training"].setdefault("precision", config.TRAINING["precision"][1])
    return cfg


def _flatten(d: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in d.items():
        if isinstance(v, dict):
            out.update(_flatten(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out


def check_same_config(out: Path, bench) -> None:
    """Refuse (ConfigError) to resume a run into a folder whose finished units used another configuration
    (``bench``: the run's resolved benchmark)."""
    import tomllib

    path = Path(out) / "config.toml"
    if not path.is_file() or not any((Path(out) / "units").glob("*.json")):
        return
    try:
        old = comparable_config(tomllib.loads(path.read_text(encoding="utf-8")))
    except (OSError, ValueError) as exc:  # TOMLDecodeError, UnicodeDecodeError
        raise ConfigError(f"{path} is damaged ({type(exc).__name__}: {exc}); its units cannot be checked against "
                          "this configuration: restore it or choose another --out") from None
    new = comparable_config(tomllib.loads(config.to_toml(bench.to_dict())))
    if old != new:
        flat_old, flat_new = _flatten(old), _flatten(new)
        diff = sorted(k for k in set(flat_old) | set(flat_new) if flat_old.get(k) != flat_new.get(k))
        raise ConfigError(
            f"{out} holds results of another configuration (differs in {', '.join(diff) or 'its settings'}); "
            "resume with the same settings or choose another --out"
        )


def first_missing(path: str | Path) -> Path | None:
    """The outermost folder that creating ``path`` would create (None if it exists)."""
    path = Path(path).absolute()
    if path.exists():
        return None
    while not path.parent.exists():
        path = path.parent
    return path


def undo_new_folder(path: str | Path, state: str, created: Path | None) -> None:
    """Remove what a command put into an output folder it checked as ``"new"`` (``created``: its
    :func:`first_missing`) or ``"empty"``, when it then stops on bad input: nothing is left behind."""
    import shutil

    if state == "new" and created is not None:
        shutil.rmtree(created, ignore_errors=True)
    elif state == "empty":
        for p in Path(path).iterdir():
            shutil.rmtree(p, ignore_errors=True) if p.is_dir() and not p.is_symlink() else p.unlink(missing_ok=True)


def unit_stem(strategy: str, seed: int) -> str:
    """``fixed-final:neuro-grow``, 0 -> ``fixed-final_neuro-grow-seed0``: a unit's file name in
    ``units/`` (``.json``), ``models/`` and ``logs/``."""
    return f"{slug(strategy)}-seed{seed}"


def unit_path(out: Path, strategy: str, seed: int) -> Path:
    return Path(out) / "units" / f"{unit_stem(strategy, seed)}.json"


def _clean(v: Any) -> Any:
    if isinstance(v, float) and not math.isfinite(v):
        return None
    if isinstance(v, dict):
        return {k: _clean(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_clean(x) for x in v]
    return v


def write_unit(out: Path, record: dict[str, Any]) -> Path:
    path = unit_path(out, record["strategy"], record["seed"])
    atomic_write_text(path, json.dumps(_clean(record), indent=1))
    return path


_RECORD_TYPES = {"strategy": str, "seed": int, "status": str, "matrix": list, "experiences": list,
                 "structure": list, "final_widths": list, "max_widths": list}


def _record_problem(path: Path, record: Any) -> str | None:
    """Why ``record`` (read from ``path``) is not a unit record this folder can use, or None."""
    if not isinstance(record, dict):
        return f"not a unit record (a JSON {type(record).__name__})"
    for key, kind in _RECORD_TYPES.items():
        if key in ("matrix", "experiences", "structure", "final_widths", "max_widths") and record.get("status") != "ok":
            continue
        value = record.get(key)
        if not isinstance(value, kind) or isinstance(value, bool):
            return f"{key} is {value!r}, expected a {kind.__name__}"
    if unit_path(path.parent.parent, record["strategy"], record["seed"]).name != path.name:
        return f"it holds unit {record['strategy']} seed {record['seed']}, not the one its name says"
    return None


def scan_units(out: Path) -> tuple[list[dict[str, Any]], list[tuple[Path, str]]]:
    """The unit records of a results folder and the damaged files among them, (path, why): truncated
    or invalid JSON, a record lacking its fields, a record under another unit's name (a copy)."""
    units, damaged = [], []
    for path in sorted((Path(out) / "units").glob("*.json")):
        try:
            record = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
            damaged.append((path, f"unreadable ({type(exc).__name__}: {exc})"))
            continue
        problem = _record_problem(path, record)
        if problem is None:
            units.append(record)
        else:
            damaged.append((path, problem))
    return units, damaged


def load_units(out: Path) -> list[dict[str, Any]]:
    """The usable unit records of a results folder (damaged files are left out: those units rerun)."""
    return scan_units(out)[0]


def _csv(df: pd.DataFrame, path: Path, columns: list[str]) -> None:
    atomic_write_text(path, df.reindex(columns=columns).to_csv(index=False))


def collate(out: Path, order: list[tuple[str, int]] | None = None) -> pd.DataFrame:
    """Rewrite metrics.csv, experiences.csv, summary.csv and structure.csv from the unit files."""
    units = load_units(out)
    if order is not None:
        rank = {key: i for i, key in enumerate(order)}
        units.sort(key=lambda u: rank.get((u["strategy"], u["seed"]), len(rank)))
    metrics, exps, summary, structure = [], [], [], []
    for u in units:
        s, seed = u["strategy"], u["seed"]
        for row in u.get("matrix", []):
            metrics.append({"strategy": s, "seed": seed, **row})
        for row in u.get("experiences", []):
            exps.append({"strategy": s, "seed": seed, **row})
        for row in u.get("structure", []):
            structure.append({"strategy": s, "seed": seed, **row})
        summary.append({k: u.get(k) for k in SUMMARY_COLUMNS})
    out = Path(out)
    _csv(pd.DataFrame(metrics), out / "metrics.csv", METRICS_COLUMNS)
    _csv(pd.DataFrame(exps), out / "experiences.csv", EXPERIENCE_COLUMNS)
    _csv(pd.DataFrame(structure), out / "structure.csv", STRUCTURE_COLUMNS)
    df = pd.DataFrame(summary).reindex(columns=SUMMARY_COLUMNS)
    _csv(df, out / "summary.csv", SUMMARY_COLUMNS)
    return df


def summary_table(df: pd.DataFrame) -> str:
    """Mean +- std over seeds per strategy, as a plain-text table."""
    ok = df[df["status"] == "ok"].copy()
    if ok.empty:
        return "no finished units"
    rows = []
    for name, g in ok.groupby("strategy", sort=False):
        def ms(col, scale=100.0):
            v = g[col].astype(float) * scale
            return f"{v.mean():6.2f} ± {v.std(ddof=1) if len(v) > 1 else 0.0:5.2f}"
        rows.append([name, str(len(g)), ms("final_accuracy"), ms("forgetting"), ms("bwt"),
                     f"{int(g['params'].astype(float).mean()):,}"])
    failed = df[df["status"] != "ok"]
    head = ["strategy", "seeds", "final acc (%)", "forgetting (%)", "BWT (%)", "params"]
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(head)]
    line = lambda cells: "  ".join(c.ljust(w) for c, w in zip(cells, widths))  # noqa: E731
    text = "\n".join([line(head), line(["-" * w for w in widths])] + [line(r) for r in rows])
    for _, r in failed.iterrows():
        text += f"\nFAILED {r['strategy']} seed {r['seed']}: {r['error']}"
    return text
