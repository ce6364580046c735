"""The results store, located and opened in one place, as Optuna's ``storages.get_storage``
is for Optuna: every command that writes or reads the store goes through here.

- ``locate``: ``--storage`` (a results folder, a ``.db`` file or a database URL) and, for
  ``biril sweep``, ``--db``, to a ``Store``: the database URL and the results folder;
- ``open_storage``: that database as Optuna's storage, created for a sweep that writes it,
  never created for a reader;
- ``connect``: that database as an SQLAlchemy engine, for the readers that query Optuna's
  tables directly (``analysis.tables``).

A database holding someone else's tables is refused before Optuna touches it (Optuna would
create its own there), and every message shows the URL with its password masked. Optuna is
imported only by ``open_storage``, so the readers and ``import results.store`` stay cheap.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from results import layout
from results.database import (
    DatabaseError,
    check_db_url,
    check_optuna_database,
    display_url,
    first_line,
    redact,
)
from results.errors import StoreError

if TYPE_CHECKING:
    import optuna
    import sqlalchemy as sa


@dataclass(frozen=True)
class Store:
    """A results store: its database URL and, when it has one, its results folder (the root
    that also holds Tune's experiments and the checkpoints)."""

    url: str
    root: str | None = None

    @property
    def shown(self) -> str:
        """The URL as every message shows it, password masked."""
        return display_url(self.url)


def locate(
    storage: str | os.PathLike | None, db: str | None = None, *, create: bool = False,
    db_flag: str = "--db",
) -> Store:
    """The store ``--storage`` (else ``$BIRIL_RESULTS``, else ``./biril-results``) names.

    ``create`` (``biril sweep``): ``storage`` is the results root, made if new; the database
    is ``db``, else SQLite in the root (an object-store root needs ``db``). Otherwise (the
    readers): ``storage`` is a results folder, a SQLite file or a database URL, and its
    database must exist. Raises ``StoreError`` naming the flag to fix (``db_flag``: where
    ``db`` came from, ``--db`` or ``$BIRIL_DB``).
    """
    root = layout.results_root(storage)
    if create:
        return _new_store(root, db, db_flag)
    if layout.is_object_store(root):
        raise StoreError(
            f"{root} is an object-store results root, which holds no database; "
            "pass the sweep's --db URL (e.g. postgresql+psycopg2://...) as --storage"
        )
    if layout.is_uri(root):
        return Store(root)
    path = Path(root)
    file = path if path.is_file() else path / layout.DB_NAME
    if not file.is_file():
        raise StoreError(
            f"no results store at {path}: {file} does not exist; run `biril sweep` first, or "
            "pass --storage with a results folder or a database URL"
        )
    return Store(f"sqlite:///{file}", None if path.is_file() else root)


def _new_store(root: str, db: str | None, db_flag: str) -> Store:
    if db is None:
        if layout.is_uri(root):
            raise StoreError(
                f"--storage {root} is an object-store URI, where SQLite cannot live: "
                "name the Optuna database with --db URL (e.g. postgresql+psycopg2://…)"
            )
        try:
            Path(root).mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise StoreError(f"--storage {root}: cannot create the results folder ({e})") from None
        db = layout.sqlite_url(root)
    try:
        check_db_url(db, db_flag)
    except DatabaseError as e:
        raise StoreError(str(e)) from None
    return Store(db, root)


def open_storage(
    store: Store | str, *, create: bool = False, db_flag: str | None = None
) -> optuna.storages.RDBStorage:
    """The store's database as Optuna's storage, or a ``StoreError`` naming the URL, masked.

    ``create`` (``biril sweep``): a new, empty database is given Optuna's tables, and the
    storage pickles without its password (``results.optuna_storage``). Otherwise the
    database must already be an Optuna one, and nothing is created.
    """
    url = store.url if isinstance(store, Store) else store
    flag = db_flag or ("--db" if create else "--storage")
    try:
        check_optuna_database(url, flag, empty_ok=create)
    except DatabaseError as e:
        raise StoreError(str(e)) from None
    from results import optuna_storage

    try:
        return optuna_storage.create(url) if create else optuna_storage.attach(url)
    except Exception as e:  # driver missing, server down, bad credentials: all fatal here
        message = f"cannot open the Optuna database {display_url(url)}: {first_line(e)}"
        raise StoreError(redact(message, url)) from None


@contextlib.contextmanager
def connect(store: Store) -> Iterator[sa.engine.Engine]:
    """An engine on the store's database, checked to be an Optuna one (never written to)."""
    import sqlalchemy as sa

    try:
        check_optuna_database(store.url, "--storage", empty_ok=False)
    except DatabaseError as err:
        raise StoreError(str(err)) from None
    engine = sa.create_engine(store.url)
    try:
        yield engine
    finally:
        engine.dispose()
