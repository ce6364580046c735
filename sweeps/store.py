"""Where a sweep's results go: the results root, its Optuna database, the Tune folder.

The layout is ``results.layout``'s (shared with ``analysis`` and ``cluster``), and the store
is opened by ``results.store`` (``locate``, ``open_storage``); this module places one sweep
in it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import optuna
from optuna.trial import TrialState

from biril.bounded_input import clip
from biril.folder_lock import ensure_writable
from results import layout
from results.errors import StoreError
from results.store import Store, locate

from .spec import SweepError, SweepSpec


@dataclass(frozen=True)
class SweepLocation:
    """Where one sweep's results go: the results store, and the sweep's place in it."""

    store: Store
    dataset: str
    sweep: str

    @property
    def root(self) -> str:
        assert self.store.root is not None  # ``locate(create=True)`` always has a root
        return self.store.root

    @property
    def db_url(self) -> str:
        return self.store.url

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
) -> SweepLocation:
    """The sweep's place in the store; fails fast on an unusable root or database URL.

    ``db_flag`` names where ``db`` came from in messages (``--db`` or ``$BIRIL_DB``).
    """
    try:
        store = locate(storage, db, create=True, db_flag=db_flag)
    except StoreError as e:
        raise SweepError(str(e)) from None
    location = SweepLocation(store, dataset=spec.dataset, sweep=spec.name)
    if location.is_local:
        check_writable(Path(location.dataset_dir), location.root)
    return location


def check_writable(folder: Path, root: str) -> None:
    """Create the sweep's dataset folder under the root and write a file there, or say why
    not, before Ray starts (a read-only or too-long path would fail deep inside Tune)."""
    try:
        ensure_writable(folder)
    except OSError as e:
        raise SweepError(
            f"--storage {clip(root)}: cannot write the results folder {clip(folder)} "
            f"({e.strerror or e}); choose a folder you can write to, with a shorter path if "
            "it is too long"
        ) from None


def find_study(storage: optuna.storages.BaseStorage, name: str) -> optuna.Study | None:
    try:
        return optuna.load_study(study_name=name, storage=storage)
    except KeyError:
        return None


def finished_trials(study: optuna.Study) -> int:
    return len(study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.FAIL)))


def remove_experiment(store: SweepLocation) -> None:
    """Delete the sweep's Tune folder (``--fresh``), local or on object storage."""
    import pyarrow.fs

    fs, path = pyarrow.fs.FileSystem.from_uri(
        store.results_dir if not store.is_local else f"file://{store.results_dir}"
    )
    if fs.get_file_info(path).type != pyarrow.fs.FileType.NotFound:
        fs.delete_dir(path)
