"""The sweep's Optuna database opens safely while another process creates it."""

from __future__ import annotations

import subprocess
import sys

import optuna
from sqlalchemy import event
from sqlalchemy.engine import Engine

from results.store import open_storage


def test_another_process_creating_the_same_new_database_meanwhile_is_harmless(tmp_path):
    url = f"sqlite:///{tmp_path}/biril.db"
    other = f"import optuna; optuna.storages.RDBStorage({url!r})"
    raced = []

    def create_elsewhere_first(conn, cursor, statement, params, context, executemany):
        # Between Optuna's "no version yet" check and its insert, a second process (a reader
        # polling the file, a second sweep) finishes creating the database: the CI failure.
        if statement.startswith("INSERT INTO alembic_version") and not raced:
            raced.append(statement)
            subprocess.run([sys.executable, "-c", other], check=True, timeout=120)

    event.listen(Engine, "before_cursor_execute", create_elsewhere_first)
    try:
        storage = open_storage(url, create=True)
    finally:
        event.remove(Engine, "before_cursor_execute", create_elsewhere_first)

    assert raced, "the race was not staged"
    optuna.create_study(study_name="digits/x", storage=storage)
    assert [s.study_name for s in optuna.get_all_study_summaries(url)] == ["digits/x"]
