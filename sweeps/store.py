"""Where a sweep's results go: the results root, its Optuna database, the Tune folder.

The layout is ``results.layout``'s (shared with ``analysis`` and ``cluster``); this module
creates it for one sweep and opens its database for writing.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path

import optuna
from optuna.trial import TrialState

from biril.bounded_input import clip
from results import layout
from results.database import (
    DatabaseError,
    check_db_url,
    check_optuna_database,
    display_url,
    first_line,
    redact,
)

from .spec import SweepError, SweepSpec


@dataclass(frozen=True)
class Store:
    """The results root resolved for one sweep."""

    root: str
    db_url: str
    dataset: str
    sweep: str

    @property
    def dataset_dir(self) -> str:
        """Tune's ``storage_path`` (the experiment is ``name = sweep`` under it)."""
        return f"{self.root}/{self.dataset}"

    @property
    def results_dir(self) -> str:
        return layout.experiment_dir(self.root, self.dataset, self.sweep)

    @property
    def study_name(self) -> str:
        return layout.study_name(self.dataset, self.sweep)

    @property
    def is_local(self) -> bool:
        return not layout.is_uri(self.root)


def resolve_store(
    spec: SweepSpec, storage: str | None = None, db: str | None = None, db_flag: str = "--db"
) -> Store:
    """The sweep's store; fails fast on an unusable root or database URL.

    ``db_flag`` names where ``db`` came from in messages (``--db`` or ``$BIRIL_DB``).
    """
    root = layout.results_root(storage)
    if db is None and layout.is_uri(root):
        raise SweepError(
            f"--storage {clip(root)} is an object-store URI, where SQLite cannot live: "
            "name the Optuna database with --db URL (e.g. postgresql+psycopg2://…)"
        )
    store = Store(root=root, db_url=db or layout.sqlite_url(root), dataset=spec.dataset,
                  sweep=spec.name)
    if store.is_local:
        check_writable(Path(store.dataset_dir), root)
    try:
        check_db_url(store.db_url, db_flag)
    except DatabaseError as e:
        raise SweepError(str(e)) from None
    return store


def check_writable(folder: Path, root: str) -> None:
    """Create the sweep's dataset folder under the root and write a file there, or say why
    not, before Ray starts (a read-only or too-long path would fail deep inside Tune)."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as e:
        raise SweepError(
            f"--storage {clip(root)}: cannot write the results folder {clip(folder)} "
            f"({e.strerror or e}); choose a folder you can write to, with a shorter path if "
            "it is too long"
        ) from None


def open_storage(url: str, db_flag: str = "--db") -> optuna.storages.RDBStorage:
    """Connect to (and create, if new) the Optuna database; errors name the URL, masked.

    A database that already holds tables, none of them Optuna's, is refused untouched.
    """
    try:
        check_optuna_database(url, db_flag, empty_ok=True)
    except DatabaseError as e:
        raise SweepError(str(e)) from None
    try:
        return _create_storage(url)
    except Exception as e:  # driver missing, server down, bad credentials: all fatal here
        message = f"cannot open the Optuna database {display_url(url)}: {first_line(e)}"
        raise SweepError(redact(message, url)) from None


class PasswordFreeStorage(optuna.storages.RDBStorage):
    """Optuna's RDB storage, pickled without the password in its URL.

    Tune pickles the searcher, storage included, into the results folder (``tuner.pkl``,
    ``searcher-state-*.pkl``), which may sit in a shared bucket. The pickle keeps the
    masked URL; unpickling it in the sweep's driver, which opened the real URL first, takes
    that one back.
    """

    _opened: dict[str, str] = {}  # masked URL -> the URL this process opened

    def __init__(self, url: str, **kwargs) -> None:
        super().__init__(url, **kwargs)
        PasswordFreeStorage._opened[display_url(url)] = url

    def __getstate__(self) -> dict:
        return {**super().__getstate__(), "url": display_url(self.url)}

    def __setstate__(self, state: dict) -> None:
        super().__setstate__({**state, "url": self._opened.get(state["url"], state["url"])})


def _create_storage(url: str, attempts: int = 3) -> optuna.storages.RDBStorage:
    """``RDBStorage(url)``, safe against another process creating the same new database.

    Optuna checks for its version rows and then inserts them, so a second creator in between
    (two sweeps started together, a reader polling the file) makes the insert fail on a unique
    key. The rows exist by then, so opening again succeeds.
    """
    from sqlalchemy.exc import IntegrityError

    for _ in range(attempts - 1):
        try:
            return PasswordFreeStorage(url)
        except IntegrityError:
            continue
    return PasswordFreeStorage(url)


def find_study(storage: optuna.storages.BaseStorage, name: str) -> optuna.Study | None:
    try:
        return optuna.load_study(study_name=name, storage=storage)
    except KeyError:
        return None


def finished_trials(study: optuna.Study) -> int:
    return len(study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.FAIL)))


def remove_experiment(store: Store) -> None:
    """Delete the sweep's Tune folder (``--fresh``), local or on object storage."""
    import pyarrow.fs

    fs, path = pyarrow.fs.FileSystem.from_uri(
        store.results_dir if not store.is_local else f"file://{store.results_dir}"
    )
    if fs.get_file_info(path).type != pyarrow.fs.FileType.NotFound:
        fs.delete_dir(path)
