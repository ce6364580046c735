"""Optuna's RDB storage as the results store uses it; opened through ``results.store``.

This is the one module of ``results`` that imports Optuna at import time (its class
subclasses Optuna's), and only ``results.store.open_storage`` imports it, on first use.
"""

from __future__ import annotations

import optuna
from sqlalchemy.exc import IntegrityError

from results.database import display_url


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


def create(url: str, attempts: int = 3) -> PasswordFreeStorage:
    """The storage on ``url``, its tables created if new, safe against another process
    creating the same new database.

    Optuna checks for its version rows and then inserts them, so a second creator in between
    (two sweeps started together, a reader polling the file) makes the insert fail on a unique
    key. The rows exist by then, so opening again succeeds.
    """
    for _ in range(attempts - 1):
        try:
            return PasswordFreeStorage(url)
        except IntegrityError:
            continue
    return PasswordFreeStorage(url)


def attach(url: str) -> optuna.storages.RDBStorage:
    """The storage on an existing Optuna database, for reading: no table is created."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    return optuna.storages.RDBStorage(url, skip_table_creation=True)
