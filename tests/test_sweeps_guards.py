"""What a sweep checks before Ray starts: the study and the Tune folder agree, the spec is
the one the sweep started with, the database is an Optuna one, and no password is shown.

No Ray starts here: a Tune folder is "restorable" when it holds Tune's ``tuner.pkl``.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import optuna
import pytest
from click.testing import CliRunner

from birilcli.main import cli
from results.store import open_storage
from sweeps import SweepError, parse_spec, run_sweep
from sweeps.runner import prepare_study
from sweeps.store import resolve_store

optuna.logging.set_verbosity(optuna.logging.WARNING)
SPEC = {
    "name": "guards",
    "train": {"dataset": "digits", "epochs": 1},
    "search": {"warm_start": ["1:8:3"], "num_trials": 1},
    "scheduler": {"type": "none"},
}


@pytest.fixture
def sweep(tmp_path):
    """(store, spec, storage) of a sweep whose study ran one trial and whose Tune folder exists."""
    spec = parse_spec(SPEC)
    store = resolve_store(spec, storage=str(tmp_path / "R"))
    storage = open_storage(store.store, create=True)
    study = optuna.create_study(study_name=store.study_name, storage=storage)
    study.set_user_attr("spec", spec.to_store())
    study.add_trial(optuna.trial.create_trial(value=0.9))
    Path(store.results_dir).mkdir(parents=True)
    (Path(store.results_dir) / "tuner.pkl").write_bytes(b"Tune's state")
    return store, spec, storage


def studies(storage) -> list[str]:
    return [s.study_name for s in optuna.get_all_study_summaries(storage)]


def test_an_intact_sweep_resumes(sweep):
    store, spec, storage = sweep
    assert prepare_study(store, spec, storage, fresh=False) is True
    assert studies(storage) == [store.study_name]


def test_fresh_deletes_the_study_and_the_tune_folder(sweep):
    store, spec, storage = sweep
    assert prepare_study(store, spec, storage, fresh=True) is False
    assert studies(storage) == [] and not Path(store.results_dir).exists()


def test_a_changed_spec_is_refused_and_nothing_is_deleted(sweep):
    store, _, storage = sweep
    changed = parse_spec({**SPEC, "train": {"dataset": "digits", "epochs": 2}})
    with pytest.raises(SweepError, match="spec of sweep digits/guards changed"):
        prepare_study(store, changed, storage, fresh=False)
    assert studies(storage) == [store.study_name] and Path(store.results_dir).exists()


def test_finished_trials_without_a_tune_folder_are_kept(sweep):
    store, spec, storage = sweep
    (Path(store.results_dir) / "tuner.pkl").unlink()
    with pytest.raises(SweepError, match="has finished trials but there is no Tune experiment"):
        prepare_study(store, spec, storage, fresh=False)
    assert studies(storage) == [store.study_name]


def test_a_tune_folder_without_its_study_is_refused(sweep):
    store, spec, storage = sweep
    optuna.delete_study(study_name=store.study_name, storage=storage)
    with pytest.raises(SweepError, match="holds a Tune experiment but .* has no study"):
        prepare_study(store, spec, storage, fresh=False)
    assert (Path(store.results_dir) / "tuner.pkl").exists()


def tables(db: Path) -> set[str]:
    with sqlite3.connect(db) as con:
        return {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='table'")}


def test_a_database_of_something_else_is_refused_untouched(tmp_path):
    db = tmp_path / "other.db"
    with sqlite3.connect(db) as con:
        con.execute("CREATE TABLE invoices (id INTEGER, amount REAL)")
    result = CliRunner().invoke(
        cli, ["sweep", "--storage", str(tmp_path / "R"), "--db", f"sqlite:///{db}"]
    )
    assert result.exit_code == 2
    assert "is not an Optuna results store" in result.stderr and "invoices" in result.stderr
    assert tables(db) == {"invoices"}


def test_a_new_or_optuna_database_is_accepted(tmp_path):
    new = f"sqlite:///{tmp_path / 'new.db'}"
    open_storage(new, create=True)  # creates Optuna's tables
    assert {"studies", "trials", "version_info"} <= tables(tmp_path / "new.db")
    open_storage(new, create=True)  # and opens them again


def test_the_database_password_is_never_shown(tmp_path, monkeypatch):
    import socket

    with socket.socket() as s:  # a port nobody listens on: the connection is refused
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"postgresql+psycopg2://biril:Pa55-w0rd@127.0.0.1:{port}/biril"
    with pytest.raises(SweepError) as err:
        run_sweep(parse_spec(SPEC), storage=str(tmp_path / "R"), db=url)
    assert f"postgresql+psycopg2://biril:***@127.0.0.1:{port}/biril" in str(err.value)
    monkeypatch.setenv("BIRIL_DB", url)  # the way a submitted job gets it
    result = CliRunner().invoke(cli, ["sweep", "--storage", str(tmp_path / "R")])
    assert result.exit_code == 2 and "biril:***@" in result.stderr
    assert "Pa55-w0rd" not in str(err.value) + result.output + result.stderr
