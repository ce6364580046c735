"""The results store on PostgreSQL: write sweeps into it, read them back with analysis.

Server: ``$BIRIL_TEST_POSTGRES_URL`` (``.ci/run`` sources ``.ci/setup-postgres.sh``, which
starts Debian's PostgreSQL on loopback), else the URL that script uses by default. Skipped
only when the variable is unset and no server answers there; a set but unreachable URL fails.
Each test uses its own study names and deletes its studies, so a shared database is fine.
"""

from __future__ import annotations

import os
import uuid

import numpy as np
import optuna
import pandas as pd
import pytest
from test_analysis import Run, peaked_runs, sqlite_root, write_sweep

import analysis
from analysis.stats import summarize_ratios
from results.database import display_url

DEFAULT_URL = "postgresql+psycopg2://biril:biril@127.0.0.1:55432/biril"


@pytest.fixture(scope="module")
def pg_url():
    import sqlalchemy

    url = os.environ.get("BIRIL_TEST_POSTGRES_URL")
    target = url or DEFAULT_URL
    try:
        engine = sqlalchemy.create_engine(target, connect_args={"connect_timeout": 5})
        with engine.connect():
            pass
        engine.dispose()
    except (sqlalchemy.exc.SQLAlchemyError, ImportError) as err:
        if url:
            pytest.fail(f"BIRIL_TEST_POSTGRES_URL={display_url(url)} is unreachable: {err}")
        pytest.skip(
            f"no PostgreSQL: BIRIL_TEST_POSTGRES_URL is unset and nothing answers at "
            f"{display_url(DEFAULT_URL)} (source .ci/setup-postgres.sh to start one)"
        )
    return target


@pytest.fixture
def cleanup(pg_url):
    """Study names to delete from the shared database after the test."""
    names: list[str] = []
    yield names
    existing = {s.study_name for s in optuna.get_all_study_summaries(pg_url)}
    for name in names:
        if name in existing:
            optuna.delete_study(study_name=name, storage=pg_url)


def test_synthetic_sweep_reads_back_as_from_sqlite(pg_url, cleanup, tmp_path):
    dataset = f"pgtest_{uuid.uuid4().hex[:8]}"
    runs = peaked_runs((0.1, 0.6, 0.3), n_ratios=5, seeds=2, noise=0.01,
                       rng=np.random.default_rng(0))
    runs += [Run((1, 1, 1), 0.5, full=False), Run((2, 1, 1), None, state="FAIL")]
    cleanup.append(f"{dataset}/grid")
    write_sweep(pg_url, dataset, "grid", runs)
    root, sqlite_url = sqlite_root(tmp_path)
    write_sweep(sqlite_url, dataset, "grid", runs)

    from_pg = analysis.load_trials(pg_url, dataset=dataset)
    from_sqlite = analysis.load_trials(root, dataset=dataset)
    assert len(from_pg) == len(runs)
    pd.testing.assert_frame_equal(from_pg, from_sqlite)
    pd.testing.assert_frame_equal(
        analysis.load_curves(pg_url, dataset=dataset), analysis.load_curves(root, dataset=dataset)
    )
    assert analysis.best_ratio(dataset, storage=pg_url) == analysis.best_ratio(dataset, root)
    report = analysis.write_report(pg_url, dataset=dataset, output=tmp_path / "pg.html")
    assert dataset in report.read_text()


def credentials(url: str) -> str:
    """``user:password@``: how a URL's password appears wherever the URL is written."""
    from sqlalchemy.engine import make_url

    u = make_url(url)
    return f"{u.username}:{u.password}@"


def test_the_pickled_store_keeps_no_password(pg_url):
    import pickle

    from results.optuna_storage import PasswordFreeStorage
    from results.store import open_storage

    storage = open_storage(pg_url, create=True)
    saved = pickle.dumps(storage)  # as Tune saves the searcher into the results folder
    assert credentials(pg_url).encode() not in saved
    assert pickle.loads(saved).url == pg_url  # the driver that opened it gets it back
    PasswordFreeStorage._opened.clear()  # any other process sees the masked URL alone
    assert pickle.loads(saved).url == display_url(pg_url)


@pytest.mark.slow
def test_tiny_sweep_into_postgres_reads_back(pg_url, cleanup, tmp_path):
    from sweeps import parse_spec, run_sweep

    name = f"pg-{uuid.uuid4().hex[:8]}"
    cleanup.append(f"digits/{name}")
    spec = parse_spec({
        "name": name,
        "train": {"dataset": "digits", "epochs": 2},
        "search": {"num_trials": 3, "warm_start": ["1:8:3", "0:1:0", "1:0:0"],
                   "confirm": {"top_k": 1, "seeds": 1}},
        "scheduler": {"type": "none"},
        "resources": {"cpus_per_trial": 1, "max_concurrent": 1},
    })
    summary = run_sweep(spec, storage=str(tmp_path / "results"), db=pg_url, progress=False)

    trials = analysis.load_trials(pg_url, dataset="digits", sweep=name)
    # 3 searched, the top ratio on seed 1, and pure STBP on seed 1 unless it is that ratio.
    assert len(trials) == summary.n_trials and summary.complete
    assert trials["state"].eq("COMPLETE").all() and trials["full_run"].all()
    assert list(trials["stage"]).count("search") == 3
    assert set(trials["ratio_int"]) == {"1:8:3", "0:1:0", "1:0:0"}
    assert sorted(trials[trials["ratio_int"] == "0:1:0"]["seed"]) == [0, 1]
    assert trials["test_acc"].notna().all() and (trials["epochs_completed"] == 2).all()
    assert (trials["val_size"] == 144).all()
    curves = analysis.load_curves(pg_url, dataset="digits", sweep=name)
    assert len(curves) == 2 * len(trials) and set(curves["epoch"]) == {1, 2}

    # The sweep's own summary (computed by sweeps from the study) names the same best ratio.
    top = summarize_ratios(trials).iloc[0]
    assert (top["ratio_stdp"], top["ratio_stbp"], top["ratio_stdp_stbp"]) == pytest.approx(
        summary.best.ratio)
    assert top["val_acc"] == pytest.approx(summary.best.val_acc)
    assert top["n_seeds"] == summary.best.n_seeds == 2
    report = analysis.write_report(pg_url, dataset="digits", output=tmp_path / "r.html")
    assert name in report.read_text()
    # The password is in no summary and no file of the results folder (Tune's pickles too).
    assert summary.storage == display_url(pg_url)
    secret = credentials(pg_url).encode()
    assert not [f for f in (tmp_path / "results").rglob("*") if f.is_file()
                and secret in f.read_bytes()]
