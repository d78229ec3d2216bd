"""Where a study lives: SQLite for one worker, Optuna's journal file for
several local workers, an RDB URL (PostgreSQL) for several machines; the
lock beside a local study, stale RUNNING trials, and the checks that make
resuming a study safe.

A study that started with one worker and resumes with several is copied
into the journal once, and the journal is used from then on. With an RDB
storage every worker sends Optuna heartbeats (every 60 s), and a trial
silent for 3 minutes is marked FAIL by the next worker to start a trial and
retried once with the same parameters.
"""

from __future__ import annotations

import copy
import os
import re
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from isocl.bench.config import ConfigError
from isocl.tuning.space import distribution

HEARTBEAT_INTERVAL_S = 60
HEARTBEAT_GRACE_S = 180
HEARTBEAT_ENV = "ISOCL_HEARTBEAT_S"  # another interval (grace: 3 intervals), e.g. faster failover, or tests
RDB_OPEN_ATTEMPTS = 8  # workers that create Optuna's tables on an empty database at once race (see _open_rdb)
STUDY_ATTR = "isocl"  # study user attr: what the study tunes (checked on resume)


@dataclass(frozen=True)
class StorageSpec:
    """Where the study lives, in a form worker processes can re-open.

    ``kind`` is ``sqlite`` or ``rdb`` (an SQLAlchemy URL in ``target``) or
    ``journal`` (a JournalFileBackend file in ``target``). ``lock_path`` is a
    local lock file that lets a starting run know whether anybody else is
    using the study (None for shared RDB servers).
    """

    kind: str
    target: str
    lock_path: str | None = None

    def display(self) -> str:
        if self.kind == "journal":
            return f"journal:{self.target}"
        try:
            from sqlalchemy.engine import make_url

            return make_url(self.target).render_as_string(hide_password=True)
        except Exception:  # noqa: BLE001 - only for messages
            return re.sub(r"//([^:/@]+):[^@]*@", r"//\1:***@", self.target)

    def open(self):
        """A fresh Optuna storage object (each process opens its own)."""
        import optuna

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            warnings.simplefilter("ignore", FutureWarning)
            if self.kind == "journal":
                from optuna.storages.journal import JournalFileBackend, JournalStorage

                return JournalStorage(JournalFileBackend(self.target))
            engine_kwargs: dict[str, Any] = {}
            if self.kind == "sqlite":
                engine_kwargs = {"connect_args": {"timeout": 60}}
            elif self.target.startswith(("postgresql", "mysql")):
                engine_kwargs = {"pool_pre_ping": True, "connect_args": {"connect_timeout": 10}}
            # Trials left RUNNING by a dead worker, on RDB storages: Optuna's heartbeat.
            # Every running trial records a heartbeat every HEARTBEAT_INTERVAL_S; before
            # each new trial Optuna marks trials silent for HEARTBEAT_GRACE_S as FAIL and
            # the retry callback re-enqueues their parameters once. This is what makes
            # several machines on one PostgreSQL safe; for local storages see
            # fail_stale_trials (immediate, under the study lock).
            interval = heartbeat_interval()
            return _open_rdb(lambda: optuna.storages.RDBStorage(
                with_driver(self.target),
                engine_kwargs=engine_kwargs,
                heartbeat_interval=interval,
                grace_period=3 * interval,
                heartbeat_stale_trial_callback=optuna.storages.RetryHeartbeatStaleTrialCallback(max_retry=1),
            ))


def with_driver(url: str) -> str:
    """``postgresql://...`` with the PostgreSQL driver that is installed named (SQLAlchemy 2.0 defaults to
    psycopg2, 2.1 to psycopg 3: either works, whichever the machine has)."""
    import importlib.util

    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            for module, dialect in (("psycopg", "postgresql+psycopg://"), ("psycopg2", "postgresql+psycopg2://")):
                if importlib.util.find_spec(module) is not None:
                    return dialect + url[len(prefix):]
    return url


def heartbeat_interval() -> int:
    """Seconds between heartbeats of a running trial (``$ISOCL_HEARTBEAT_S``, default 60); a trial silent
    for three intervals is failed and retried by the next worker to start a trial."""
    raw = os.environ.get(HEARTBEAT_ENV, "").strip()
    if not raw:
        return HEARTBEAT_INTERVAL_S
    try:
        value = int(raw)
    except ValueError:
        value = 0
    if value < 1:
        raise ConfigError(f"{HEARTBEAT_ENV}={raw!r}: expected a whole number of seconds >= 1")
    return value


# Optuna's RDBStorage creates its tables (create_all) and inserts its version row when it opens an
# empty database; two workers doing so at once collide in PostgreSQL (UniqueViolation on pg_type,
# DuplicateTable, or the version row). The loser retries: by then the tables exist.
def _open_rdb(make):
    import random
    import time

    from sqlalchemy.exc import IntegrityError, ProgrammingError

    for attempt in range(RDB_OPEN_ATTEMPTS):
        try:
            return make()
        except (IntegrityError, ProgrammingError) as exc:
            text = str(exc).lower()
            racing = any(k in text for k in ("unique", "already exists", "duplicate"))
            if not racing or attempt == RDB_OPEN_ATTEMPTS - 1:
                raise
            time.sleep(random.uniform(0.1, 0.5) * (attempt + 1))
    raise AssertionError("unreachable")  # pragma: no cover


def _local_sqlite(path: Path) -> str:
    return f"sqlite:///{path}"


def resolve_storage(storage: str | None, out_dir: Path, jobs: int = 1) -> tuple[StorageSpec, StorageSpec | None]:
    """The study's storage and, when a one-worker study goes parallel, the SQLite file to copy it from.

    ``storage=None``: ``OUT/journal.log`` if it exists, else ``OUT/study.db``
    for one worker, ``OUT/journal.log`` for several. ``storage`` may be an
    SQLAlchemy URL (``sqlite:///path.db``, ``postgresql://user@host/db``) or
    ``journal:PATH`` (a journal file, e.g. on NFS). Checks directories; does
    not open anything.
    """
    if storage is None:
        try:
            out_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ConfigError(f"--out {out_dir}: cannot create the study directory ({exc.strerror or exc})") from None
        lock = str(out_dir / ".tune.lock")
        journal, db = out_dir / "journal.log", out_dir / "study.db"
        journal_spec = StorageSpec("journal", str(journal), lock)
        if journal.exists() and journal.stat().st_size > 0:  # (opening a journal creates an empty file)
            return journal_spec, None
        db_spec = StorageSpec("sqlite", _local_sqlite(db), lock)
        if jobs == 1:
            return db_spec, None
        return journal_spec, (db_spec if db.exists() else None)
    if not isinstance(storage, str) or not storage.strip():
        raise ConfigError(f"--storage {storage!r}: expected a URL such as sqlite:///path/study.db, "
                          "postgresql://user@host/db or journal:PATH")
    storage = storage.strip()
    if storage.startswith("journal:"):
        path = Path(storage[len("journal:"):]).expanduser()
        _check_parent(path, storage)
        return StorageSpec("journal", str(path), str(path) + ".isocl-lock"), None
    if "://" not in storage:
        raise ConfigError(f"--storage {storage!r}: not a storage URL; expected sqlite:///path/study.db, "
                          "postgresql://user@host/db (several machines) or journal:PATH")
    if storage.startswith("sqlite:"):
        from sqlalchemy.engine import make_url

        try:
            database = make_url(storage).database
        except Exception as exc:  # noqa: BLE001
            raise ConfigError(f"--storage {storage!r}: not a valid SQLite URL ({exc})") from None
        if not database or database == ":memory:":
            if jobs > 1:
                raise ConfigError(f"--storage {storage!r}: an in-memory study cannot be shared by --jobs {jobs} workers")
            return StorageSpec("sqlite", storage, None), None
        path = Path(database).expanduser()
        _check_parent(path, storage)
        return StorageSpec("sqlite", storage, str(path) + ".isocl-lock"), None
    return StorageSpec("rdb", storage, None), None


def _check_parent(path: Path, given: str) -> None:
    parent = path.parent if str(path.parent) else Path(".")
    if not parent.is_dir():
        raise ConfigError(f"--storage {given}: directory {parent} does not exist (or is not a directory); "
                          "create it first or choose another path")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise ConfigError(f"--storage {given}: directory {parent} is not writable")
    if path.exists() and not path.is_file():
        raise ConfigError(f"--storage {given}: {path} exists and is not a file")


def open_checked(spec: StorageSpec):
    """Open the storage or raise ConfigError: nothing of a study is created here."""
    try:
        return spec.open()
    except Exception as exc:  # noqa: BLE001 - any driver error means: cannot use this storage
        msg = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        hint = ""
        if isinstance(exc, ImportError):
            hint = " (is the database driver installed? for PostgreSQL: pip install 'isocl[postgres]')"
        raise ConfigError(f"--storage {spec.display()}: cannot open the study storage: "
                          f"{type(exc).__name__}: {msg}{hint}") from None


# Optuna has no run-level lock for local storages (the journal's lock guards one write, not a run)
class StudyLock:
    """An advisory lock file beside a local study.

    A run that gets it exclusively knows that no other ``isocl tune`` (and
    none of their workers) is using the study, so trials still RUNNING were
    left by a killed process. It then keeps a shared lock (as do its worker
    processes) for as long as it runs.
    """

    def __init__(self, path: str | None):
        self.path, self.fd = path, None

    def acquire(self, exclusive: bool = True) -> bool:
        if self.path is None:
            return False
        try:
            import fcntl
        except ImportError:  # not POSIX: no stale-trial cleanup, heartbeats only
            return False
        self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        if exclusive:
            try:
                fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return True
            except OSError:
                pass
        fcntl.flock(self.fd, fcntl.LOCK_SH)
        return False

    def share(self) -> None:
        if self.fd is not None:
            import fcntl

            fcntl.flock(self.fd, fcntl.LOCK_SH)

    def release(self) -> None:
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None


# optuna.storages.fail_stale_trials needs a heartbeat, which only RDBStorage has (not JournalStorage, Optuna 5)
def fail_stale_trials(study) -> list[int]:
    """Mark every RUNNING trial FAIL and retry its parameters once.

    Called only by a run holding the study lock exclusively (local storages):
    then nobody else is running trials, and a RUNNING trial was left by a
    process that died mid-trial (kill -9, OOM, power). This is immediate,
    unlike the heartbeat (which only fails a trial after its grace period
    and is what RDB storages shared by several machines rely on; see
    StorageSpec.open). Retrying uses Optuna's RetryHeartbeatStaleTrialCallback
    (the former RetryFailedTrialCallback), so a configuration that kills
    its process twice is not retried forever.
    """
    import optuna
    from optuna.trial import TrialState

    storage = study._storage
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        retry = optuna.storages.RetryHeartbeatStaleTrialCallback(max_retry=1)
    failed = []
    for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        try:
            storage.set_trial_system_attr(t._trial_id, "isocl_fail_reason",
                                          "stale: left RUNNING by a worker that died; failed when the study resumed")
            if storage.set_trial_state_values(t._trial_id, state=TrialState.FAIL):
                failed.append(t.number)
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
                    retry(study, copy.deepcopy(storage.get_trial(t._trial_id)))
        except optuna.exceptions.UpdateFinishedTrialError:
            pass  # it finished meanwhile
    return failed


def check_existing(storage, spec: StorageSpec, name: str, strategy: str, directions: list[str],
                    space: Mapping[str, Mapping[str, Any]], where: str) -> bool:
    """If the study exists, check that resuming it makes sense (read-only)."""
    from optuna.distributions import check_distribution_compatibility

    try:
        sid = storage.get_study_id_from_name(name)
    except KeyError:
        return False
    have = [d.name.lower() for d in storage.get_study_directions(sid)]
    if have != directions:
        kind = "multi-objective" if len(have) > 1 else "single-objective"
        raise ConfigError(
            f"study {name!r} in {spec.display()} is {kind} (directions {have}); this run asks for {directions}. "
            "Use another --study name (or --out) for a new study"
        )
    info = storage.get_study_user_attrs(sid).get(STUDY_ATTR, {})
    if info.get("strategy") not in (None, strategy):
        raise ConfigError(
            f"study {name!r} in {spec.display()} tunes strategy {info['strategy']!r}, not {strategy!r}. "
            "Use another --study name (or --out) for a new study"
        )
    new = {k: distribution(s) for k, s in space.items()}
    for t in storage.get_all_trials(sid, deepcopy=False):
        for param, dist in t.distributions.items():
            if param in new:
                try:
                    check_distribution_compatibility(dist, new[param])
                except ValueError as exc:
                    raise ConfigError(
                        f"{where}: search.{strategy}.{param}: does not match the existing study {name!r} "
                        f"(was {dist}; {exc}). Keep the old definition or use another --study name"
                    ) from None
    return True


