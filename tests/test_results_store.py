"""``results.store``: the one place ``--storage``/``--db`` become a database and it is opened."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path

import optuna
import pytest

from results.errors import StoreError
from results.store import Store, locate, open_storage

REPO = Path(__file__).resolve().parents[1]
optuna.logging.set_verbosity(optuna.logging.WARNING)


def tables(db: Path) -> set[str]:
    with sqlite3.connect(db) as con:
        return {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='table'")}


def test_a_sweep_creates_its_root_and_database_a_reader_finds_them(tmp_path):
    root = tmp_path / "new" / "results"
    store = locate(str(root), create=True)
    assert root.is_dir() and store == Store(f"sqlite:///{root}/biril.db", str(root))
    optuna.create_study(study_name="digits/x", storage=open_storage(store, create=True))
    # The reader's three ways to name the same store: the folder, the file, the URL.
    for storage in (root, root / "biril.db", store.url):
        found = open_storage(locate(storage))
        assert [s.study_name for s in optuna.get_all_study_summaries(found)] == ["digits/x"]
    assert locate(root / "biril.db").root is None  # a bare file is no results folder


def test_a_reader_creates_nothing(tmp_path):
    with pytest.raises(StoreError, match="no results store at"):
        locate(tmp_path)
    assert list(tmp_path.iterdir()) == []
    empty = tmp_path / "biril.db"
    sqlite3.connect(empty).close()
    with pytest.raises(StoreError, match="not an Optuna results store"):
        open_storage(locate(tmp_path))
    assert tables(empty) == set()  # Optuna's thirteen tables were not created


def test_a_password_never_reaches_a_message(tmp_path):
    url = "postgresql+psycopg2://biril:s3cret@127.0.0.1:1/biril"
    with pytest.raises(StoreError) as err:
        open_storage(url, create=True)
    assert "s3cret" not in str(err.value) and "***" in str(err.value)


def test_importing_the_store_imports_no_optuna():
    code = "import sys, results.store; print('optuna' in sys.modules, 'torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["False", "False"]
