"""Distributed tuning on a real PostgreSQL server: two `isocl tune` workers share one study and
finish exactly N trials; a killed worker's trial is failed and retried; optuna-dashboard opens it.

The fixture starts a throwaway server from the machine's PostgreSQL binaries
(initdb / pg_ctl; as the ``postgres`` user when the tests run as root, since
initdb refuses root) in a temporary folder, listening only on a Unix socket
there, and removes it afterwards. Skipped only where no binaries exist.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
import tomli_w

REPO = Path(__file__).resolve().parents[1]
PLUGINS = REPO / "tests" / "fixtures" / "pg_strategies"
N_TRIALS = 6


def _pg_bindir() -> Path | None:
    for cand in sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True):  # Debian / Ubuntu
        if (cand / "initdb").is_file() and (cand / "pg_ctl").is_file():
            return cand
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb and shutil.which("pg_ctl") else None


@pytest.fixture(scope="module")
def postgres_url():
    """``postgresql://postgres@/isocl?host=SOCKET_DIR`` of a throwaway server."""
    bindir = _pg_bindir()
    if bindir is None:
        pytest.skip("no PostgreSQL server binaries (initdb, pg_ctl) on this machine: "
                    "install postgresql (e.g. apt-get install postgresql) to run the distributed-tuning test")
    pytest.importorskip("psycopg2", reason="the PostgreSQL driver is the postgres extra: pip install 'isocl[postgres]'")
    base = Path(tempfile.mkdtemp(prefix="isocl-pg-"))
    demote = None
    if os.geteuid() == 0:  # initdb refuses to run as root
        import pwd

        try:
            pw = pwd.getpwnam("postgres")
        except KeyError:
            shutil.rmtree(base)
            pytest.skip("running as root and there is no 'postgres' user to run the PostgreSQL server as")
        os.chown(base, pw.pw_uid, pw.pw_gid)

        def demote():
            os.setgid(pw.pw_gid)
            os.setuid(pw.pw_uid)

    def run(*cmd):
        subprocess.run([str(c) for c in cmd], check=True, capture_output=True, preexec_fn=demote, cwd=base,
                       timeout=120)

    data = base / "data"
    try:
        run(bindir / "initdb", "-D", data, "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync")
        run(bindir / "pg_ctl", "-D", data, "-l", base / "server.log", "-w", "-t", "60", "start", "-o",
            f"-c listen_addresses='' -c unix_socket_directories={base} -c fsync=off -c max_connections=40")
        run(bindir / "createdb", "-h", base, "-U", "postgres", "isocl")
        yield f"postgresql://postgres@/isocl?host={base}"
    finally:
        if (data / "postmaster.pid").exists():
            subprocess.run([str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"], capture_output=True,
                           preexec_fn=demote, cwd=base, timeout=60)
        shutil.rmtree(base, ignore_errors=True)


def tune(bench: Path, url: str, out: Path, env: dict, **extra_env) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "isocl.cli", "tune", str(bench), "--strategy", "slow-naive",
           "--trials", str(N_TRIALS), "--storage", url, "--study", "pg-test", "--out", str(out), "--no-plots"]
    return subprocess.Popen(cmd, env={**env, **extra_env}, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, start_new_session=True, cwd=out.parent)


@pytest.mark.slow  # see tox -e fast
def test_two_workers_share_a_study_and_a_killed_trial_is_retried(tmp_path, postgres_url, cifar10_source):
    import optuna
    from optuna.trial import TrialState

    bench = tmp_path / "tiny.toml"
    bench.write_text(tomli_w.dumps({
        "name": "tiny", "strategies": ["slow-naive"],
        "scenario": {"n_experiences": 2, "train_per_class": 20, "test_per_class": 10, "validation_fraction": 0.2},
        "training": {"epochs": 1, "batch_size": 32, "seeds": [0]}, "model": {"widths": [8]},
        "search": {"slow-naive": {"lr": {"type": "float", "low": 1e-4, "high": 1e-2, "log": True}}},
    }), encoding="utf-8")
    env = {**os.environ, "PYTHONPATH": str(REPO), "ISOCL_DATA": str(cifar10_source), "OMP_NUM_THREADS": "1",
           "ISOCL_STRATEGY_PATH": str(PLUGINS), "ISOCL_HEARTBEAT_S": "1"}  # a silent trial is stale after 3 s
    hang = tmp_path / "hanging"
    # A and B start together on the empty database: both create Optuna's tables (the race storage.py retries)
    a = tune(bench, postgres_url, tmp_path / "a", env, ISOCL_TEST_HANG=str(hang))
    c_started = tmp_path / "c-started"  # B's trials wait for C's first, so both run trials however slow C starts
    b = tune(bench, postgres_url, tmp_path / "b", env, ISOCL_TEST_SLEEP="4", ISOCL_TEST_WAIT_FOR=str(c_started))
    deadline = time.monotonic() + 180
    while not hang.exists():
        assert a.poll() is None, a.communicate()[0]
        assert time.monotonic() < deadline, "worker A never started its trial"
        time.sleep(0.2)
    time.sleep(0.5)
    os.killpg(a.pid, signal.SIGKILL)  # A dies mid-trial, leaving it RUNNING
    a.wait()
    c = tune(bench, postgres_url, tmp_path / "c", env, ISOCL_TEST_SLEEP="4", ISOCL_TEST_MARK=str(c_started))
    out_b, _ = b.communicate(timeout=300)
    out_c, _ = c.communicate(timeout=300)
    assert b.returncode == 0, out_b
    assert c.returncode == 0, out_c

    study = optuna.load_study(study_name="pg-test", storage=postgres_url)
    trials = study.get_trials(deepcopy=False)
    finished = [t for t in trials if t.state in (TrialState.COMPLETE, TrialState.PRUNED)]
    assert len(finished) == N_TRIALS
    killed = [t for t in trials if str(t.user_attrs.get("worker", "")).split(":")[1:2] == [hang.read_text()]]
    assert len(killed) == 1 and killed[0].state == TrialState.FAIL
    retried = [t for t in trials if t.system_attrs.get("failed_trial") == killed[0].number]
    assert len(retried) == 1 and retried[0].state in (TrialState.COMPLETE, TrialState.PRUNED)
    assert retried[0].params == killed[0].params
    workers = {t.user_attrs["worker"].split(":")[1] for t in finished}
    assert len(workers) == 2, f"B and C should both have run trials: {workers}"
    assert not [t for t in trials if t.state == TrialState.RUNNING]
    for out in (out_b, out_c):
        assert "Warning" not in out, out
    assert (tmp_path / "b" / "best.toml").is_file() and (tmp_path / "c" / "best.toml").is_file()

    # optuna-dashboard opens the study (its WSGI app, as `optuna-dashboard URL` serves it)
    from wsgiref.util import setup_testing_defaults

    from optuna_dashboard import wsgi

    app = wsgi(postgres_url)
    environ: dict = {}
    setup_testing_defaults(environ)
    environ["PATH_INFO"] = "/api/studies"
    status = []
    body = b"".join(app(environ, lambda s, headers, exc_info=None: status.append(s)))
    assert status[0].startswith("200"), status
    studies = json.loads(body)["study_summaries"]
    assert [s["study_name"] for s in studies] == ["pg-test"]
    sid = studies[0]["study_id"]
    environ["PATH_INFO"] = f"/api/studies/{sid}"
    detail = json.loads(b"".join(app(environ, lambda s, headers, exc_info=None: status.append(s))))
    assert status[-1].startswith("200") and detail["name"] == "pg-test" and len(detail["trials"]) == len(trials)


def test_opening_an_empty_database_retries_the_table_race(monkeypatch):
    """Two workers creating Optuna's tables at once: the loser's UniqueViolation is retried."""
    from sqlalchemy.exc import IntegrityError

    from isocl.tuning import storage

    calls = []

    def make():
        calls.append(1)
        if len(calls) < 3:
            raise IntegrityError("CREATE TABLE studies", {}, Exception(
                'duplicate key value violates unique constraint "pg_type_typname_nsp_index"'))
        return "storage"

    monkeypatch.setattr("time.sleep", lambda s: None)
    assert storage._open_rdb(make) == "storage" and len(calls) == 3
    with pytest.raises(IntegrityError):
        storage._open_rdb(lambda: (_ for _ in ()).throw(IntegrityError("INSERT", {}, Exception("NOT NULL"))))
    monkeypatch.setenv("ISOCL_HEARTBEAT_S", "2")
    assert storage.heartbeat_interval() == 2
    monkeypatch.setenv("ISOCL_HEARTBEAT_S", "0")
    with pytest.raises(storage.ConfigError, match="ISOCL_HEARTBEAT_S"):
        storage.heartbeat_interval()
