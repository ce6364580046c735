"""One writer per place: a training run owns its folder, a sweep driver its study.

Two runs into one folder, two drivers on one study: the second is refused with one line
naming the first, and the first's results are intact. A killed owner's lock or lease is
taken over. Every second writer here is a real ``biril`` process.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import sqlalchemy as sa
import torch
import yaml
from test_cli import biril, error_line

from biril.checkpoint import CHECKPOINT_NAME, LOCK_NAME
from biril.folder_lock import FolderBusy, FolderLock
from results.store import open_storage
from sweeps.lease import TABLE, StudyBusy, StudyLease
from sweeps.runner import own_sweep
from sweeps.spec import SweepError, parse_spec
from sweeps.store import resolve_store

POSTGRES_URL = "postgresql+psycopg2://biril:biril@127.0.0.1:55432/biril"


def wait_for(condition, what: str, proc: subprocess.Popen | None = None, limit_s=300) -> None:
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f"exited before {what}: {proc.stderr.read()}")
        if condition():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def test_a_second_train_into_a_busy_folder_is_refused_and_the_first_is_intact(tmp_path):
    out = tmp_path / "runs" / "a"
    first = subprocess.Popen(
        [sys.executable, "-m", "birilcli", "train", "--seed", "1", "--epochs", "2",
         "--batch-size", "128", "--output-dir", str(out)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    lock = out / LOCK_NAME
    wait_for(lambda: lock.exists() and lock.stat().st_size > 0, "the lock", first)
    line = error_line(biril("train", "--seed", "2", "--epochs", "1", "--output-dir", str(out)))
    assert f"{out} is in use by PID {first.pid} on {socket.gethostname()}" in line
    assert "(biril train)" in line and "choose another --output-dir" in line
    _, err = first.communicate(timeout=600)
    assert first.returncode == 0, err
    state = torch.load(out / CHECKPOINT_NAME, weights_only=True)
    assert (state["config"]["seed"], state["epoch"]) == (1, 2)  # the first run's, whole
    assert sorted(p.name for p in out.iterdir()) == [LOCK_NAME, CHECKPOINT_NAME]  # no .tmp


def hold_in_child(lock_file: Path) -> subprocess.Popen:
    """Another process holding ``lock_file`` until it is killed."""
    code = (
        "import sys, time; from biril.folder_lock import FolderLock\n"
        "FolderLock(sys.argv[1], 'test holder').acquire(); print('held', flush=True)\n"
        "time.sleep(600)"
    )
    child = subprocess.Popen(
        [sys.executable, "-c", code, str(lock_file)], stdout=subprocess.PIPE, text=True
    )
    assert child.stdout.readline().strip() == "held"
    return child


def test_a_folder_lock_names_its_holder_and_a_killed_holders_lock_is_taken_over(tmp_path):
    lock_file = tmp_path / "run" / LOCK_NAME
    child = hold_in_child(lock_file)
    with pytest.raises(FolderBusy) as busy:
        FolderLock(lock_file, "second").acquire()
    assert busy.value.holder["pid"] == child.pid
    assert busy.value.holder["command"] == "test holder"
    os.kill(child.pid, signal.SIGKILL)
    child.wait()
    # The kernel dropped the dead process's lock; the file with its name is still there.
    assert lock_file.stat().st_size > 0
    with FolderLock(lock_file, "third"):
        with pytest.raises(FolderBusy):  # one process, two opens: still exclusive
            FolderLock(lock_file, "fourth").acquire()


def test_a_train_takes_over_the_folder_of_a_killed_run(tmp_path):
    out = tmp_path / "run"
    child = hold_in_child(out / LOCK_NAME)
    os.kill(child.pid, signal.SIGKILL)
    child.wait()
    r = biril("train", "--epochs", "1", "--batch-size", "128", "--output-dir", str(out))
    assert r.returncode == 0, r.stderr
    assert torch.load(out / CHECKPOINT_NAME, weights_only=True)["epoch"] == 1


# Leases in the database: the study of a sweep whose drivers may run on different machines.


def lease_row(url: str, study: str):
    engine = sa.create_engine(url)
    try:
        with engine.connect() as c:
            return c.execute(
                sa.text(f"SELECT * FROM {TABLE} WHERE study_name = :s"), {"s": study}
            ).one_or_none()
    finally:
        engine.dispose()


def write_lease(url: str, study: str, **fields) -> None:
    """A lease row as another driver would have left it."""
    row = {"study_name": study, "owner": "other", "pid": 1, "host": "elsewhere",
           "since": 0.0, "heartbeat": 0.0, "expires": time.time() + 600, **fields}
    with StudyLease(url, "create-the-table"):
        pass
    engine = sa.create_engine(url)
    with engine.begin() as c:
        c.execute(sa.text(f"DELETE FROM {TABLE} WHERE study_name = :s"), {"s": study})
        names = ", ".join(row)
        c.execute(
            sa.text(f"INSERT INTO {TABLE} ({names}) VALUES (:{', :'.join(row)})"), row
        )
    engine.dispose()


def postgres_url() -> str:
    url = os.environ.get("BIRIL_TEST_POSTGRES_URL")
    if not url:
        pytest.skip(
            "no PostgreSQL: set BIRIL_TEST_POSTGRES_URL (source .ci/setup-postgres.sh, "
            f"which serves {POSTGRES_URL})"
        )
    return url


@pytest.fixture
def sqlite_url(tmp_path):
    return f"sqlite:///{tmp_path}/leases.db"


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request, tmp_path):
    """A database for leases: SQLite in a fresh folder, or the shared PostgreSQL server."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/leases.db"
    return postgres_url()


def test_a_lease_is_exclusive_and_free_again_once_released(sqlite_url):
    with StudyLease(sqlite_url, "digits/x"):
        with pytest.raises(StudyBusy) as busy:
            StudyLease(sqlite_url, "digits/x").acquire()
        assert f"PID {os.getpid()} on {socket.gethostname()}" in str(busy.value)
        with StudyLease(sqlite_url, "digits/other"):  # another study: free
            pass
    assert lease_row(sqlite_url, "digits/x") is None
    with StudyLease(sqlite_url, "digits/x"):
        pass


def test_racing_drivers_get_the_lease_exactly_once(db_url):
    import uuid

    with StudyLease(db_url, "warm-up"):  # the table exists before the race
        pass
    study = f"digits/race{uuid.uuid4().hex[:8]}"
    leases = [StudyLease(db_url, study) for _ in range(6)]
    won, start = [], threading.Barrier(len(leases))

    def run(lease: StudyLease) -> None:
        start.wait()
        try:
            lease.acquire()
            won.append(lease)
        except StudyBusy:
            pass

    threads = [threading.Thread(target=run, args=(lease,)) for lease in leases]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(won) == 1
    won[0].release()


def test_a_stale_lease_is_taken_over_and_a_live_one_is_not(db_url):
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True)
    dead_pid = int(dead.stdout)
    cases = [
        ({"host": "elsewhere", "expires": time.time() - 1}, True),  # expired: crashed
        ({"host": socket.gethostname(), "pid": dead_pid}, True),  # its PID ended here
        ({"host": "elsewhere"}, False),  # beating on another machine
        ({"host": socket.gethostname(), "pid": os.getppid()}, False),  # alive here
    ]
    for fields, taken in cases:
        write_lease(db_url, "digits/stale", **fields)
        lease = StudyLease(db_url, "digits/stale")
        if taken:
            with lease:
                assert lease_row(db_url, "digits/stale").owner == lease.owner
        else:
            with pytest.raises(StudyBusy):
                lease.acquire()
    write_lease(db_url, "digits/stale", expires=0.0)  # leave none behind in a shared db
    with StudyLease(db_url, "digits/stale"):
        pass


def test_the_heartbeat_renews_the_lease_and_notices_a_takeover(sqlite_url):
    with StudyLease(sqlite_url, "digits/h", ttl_s=5, beat_s=0.05) as lease:
        first = lease_row(sqlite_url, "digits/h").expires
        wait_for(lambda: lease_row(sqlite_url, "digits/h").expires > first, "a heartbeat")
        engine = sa.create_engine(sqlite_url)
        with engine.begin() as c:
            c.execute(sa.text(f"UPDATE {TABLE} SET owner = 'thief'"))
        engine.dispose()
        wait_for(lambda: lease.lost, "the heartbeat to notice")


def test_a_lease_needs_a_writable_database(tmp_path):
    db = tmp_path / "ro.db"
    with StudyLease(f"sqlite:///{db}", "create"):
        pass
    url = f"sqlite:///file:{db}?mode=ro&uri=true"
    with pytest.raises(SweepError, match="cannot write the sweep's lease into"):
        StudyLease(url, "digits/ro").acquire()


# Two drivers on one study: a held sweep (the test holds it as a running driver would)
# and a real `biril sweep`, refused before Ray starts and before it touches the study.


def tiny_spec(tmp_path: Path, name: str = "busy") -> Path:
    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump({
        "name": name,
        "train": {"dataset": "digits", "epochs": 1, "device": "cpu"},
        "search": {"warm_start": ["1:8:3"], "num_trials": 1},
        "scheduler": {"type": "none"},
    }))
    return path


def assert_no_trials(url: str, study: str) -> None:
    import optuna

    names = {s.study_name for s in optuna.get_all_study_summaries(url)}
    if study in names:
        assert optuna.load_study(study_name=study, storage=url).trials == []


def test_a_second_sweep_on_a_busy_local_study_is_refused(tmp_path):
    spec_file = tiny_spec(tmp_path)
    root = tmp_path / "R"
    store = resolve_store(parse_spec(yaml.safe_load(spec_file.read_text())), str(root))
    open_storage(store.store, create=True)
    with own_sweep(store):
        line = error_line(biril("sweep", str(spec_file), "--storage", str(root)))
    assert f"sweep digits/busy in {root}/digits/busy is being run by PID {os.getpid()}" in line
    assert "--name for another sweep" in line
    assert_no_trials(store.db_url, "digits/busy")
    assert not (root / "digits" / "busy").exists()  # Tune never started


def shared_study_refused(tmp_path: Path, url: str, study: str, name: str) -> None:
    """A driver elsewhere (its own results folder) holds the study in the shared ``url``."""
    spec_file = tiny_spec(tmp_path, name)
    open_storage(url, create=True)
    with StudyLease(url, study):
        r = biril("sweep", str(spec_file), "--storage", str(tmp_path / "here"), "--db", url)
        line = error_line(r)
    assert f"sweep {study} in " in line and f"is being run by PID {os.getpid()}" in line
    assert_no_trials(url, study)


def test_a_second_sweep_on_a_study_in_a_shared_sqlite_database_is_refused(tmp_path):
    url = f"sqlite:///{tmp_path}/shared.db"
    shared_study_refused(tmp_path, url, "digits/shared", "shared")


def test_a_second_sweep_on_a_study_in_postgres_is_refused(tmp_path):
    import uuid

    url = postgres_url()
    name = f"lease{uuid.uuid4().hex[:8]}"
    shared_study_refused(tmp_path, url, f"digits/{name}", name)
