"""Optuna's tables read directly: only the studies, trials and attributes a reader needs.

Why not Optuna's API: ``RDBStorage.get_all_trials`` builds every trial whole — parameters,
intermediate values, system attributes and every user attribute, the per-epoch ``curve``
(kilobytes of JSON per trial) included — and ``biril best`` needs ten small attributes of
each. At 10,000 trials that was 20 s of reading for an answer computed in a fraction of one.
Here one ``SELECT`` per table fetches just the columns and attribute keys asked for, with
SQLAlchemy Core (so SQLite and PostgreSQL alike) and without importing Optuna or pandas.

The price is reading Optuna's schema rather than its API: ``studies``,
``study_user_attributes``, ``trials``, ``trial_values`` and ``trial_user_attributes``, the
columns of which have not changed since Optuna 3.0. ``tests/test_store_scale.py`` checks
every field read here against Optuna's own reading of the same store.

Example::

    with open_store("biril-results") as store:
        studies = find_studies(store, dataset="digits")
        trials = read_trials(store, studies, keys=RUN_ATTRS)   # {study name: [StoredTrial]}
"""

from __future__ import annotations

import contextlib
import datetime as dt
import enum
import functools
import json
import math
import os
from collections import defaultdict
from collections.abc import Callable, Collection, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa

from results import layout
from results.errors import StoreError, printable, quote
from results.schema import REQUIRED_TRIAL_ATTRS
from results.store import connect, locate

STUDIES = sa.table("studies", sa.column("study_id"), sa.column("study_name"))
STUDY_ATTRS = sa.table(
    "study_user_attributes", sa.column("study_id"), sa.column("key"), sa.column("value_json")
)
TRIALS = sa.table(
    "trials", sa.column("trial_id"), sa.column("number"), sa.column("study_id"),
    sa.column("state"), sa.column("datetime_start", sa.DateTime),
    sa.column("datetime_complete", sa.DateTime),
)
VALUES = sa.table(
    "trial_values", sa.column("trial_id"), sa.column("objective"), sa.column("value"),
    sa.column("value_type"),
)
TRIAL_ATTRS = sa.table(
    "trial_user_attributes", sa.column("trial_id"), sa.column("key"), sa.column("value_json")
)
PARAMS = sa.table(
    "trial_params", sa.column("trial_id"), sa.column("param_name"), sa.column("param_value"),
    sa.column("distribution_json"),
)
# How Optuna stores an infinite objective value (its ``value`` column holds NULL then).
INFINITE = {"INF_POS": math.inf, "INF_NEG": -math.inf}


class State(enum.Enum):
    """A trial's state, as Optuna names it (``state.name`` reads the same as Optuna's)."""

    RUNNING = "RUNNING"
    COMPLETE = "COMPLETE"
    PRUNED = "PRUNED"
    FAIL = "FAIL"
    WAITING = "WAITING"


class SelectedAttrs(dict):
    """A trial's user attributes restricted to the keys that were read.

    Asking for a key that was not read is a bug in the reader's key list, not a missing
    attribute: it raises instead of answering ``None``, so code that starts using a new
    attribute (``results.runs.run_of``) cannot silently see every trial without it.
    """

    def __init__(self, values: dict[str, Any], keys: frozenset[str] | None) -> None:
        super().__init__(values)
        self.keys_read = keys

    def _check(self, key: str) -> None:
        if self.keys_read is not None and key not in self.keys_read:
            raise KeyError(
                f"user attribute {key!r} was not read from the store; add it to the keys "
                "the reader selects (results.runs.RUN_ATTRS for the ranking)"
            )

    def __getitem__(self, key: str) -> Any:
        self._check(key)
        return super().__getitem__(key)

    def get(self, key: str, default: Any = None) -> Any:
        self._check(key)
        return super().get(key, default)

    def __contains__(self, key: object) -> bool:
        self._check(key)  # type: ignore[arg-type]
        return super().__contains__(key)


@dataclass
class StoredTrial:
    """One trial as read here, duck-typed like Optuna's ``FrozenTrial`` where it is used."""

    db_id: int
    number: int
    state: State
    datetime_start: dt.datetime | None
    datetime_complete: dt.datetime | None
    values: list[float] | None = None
    user_attrs: dict[str, Any] = field(default_factory=dict)
    params: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class StudyRef:
    """A BIRIL study of the store: its database id, name, dataset and sweep."""

    study_id: int
    name: str
    dataset: str
    sweep: str


@dataclass(frozen=True)
class OpenStore:
    """A store opened for reading: its engine and its URL as it may be shown (masked)."""

    engine: sa.engine.Engine
    shown: str


@contextlib.contextmanager
def open_store(storage: str | os.PathLike | None) -> Iterator[OpenStore]:
    """The store ``--storage`` names (``results.store.locate``), checked to be an Optuna
    database and never written to, or a StoreError."""
    store = locate(storage)
    with connect(store) as engine:
        yield OpenStore(engine, store.shown)


def find_studies(
    store: OpenStore, dataset: str | None = None, sweep: str | None = None
) -> list[StudyRef]:
    """The BIRIL studies matching ``dataset``/``sweep``, or a StoreError naming what exists.

    A study is BIRIL's when its ``dataset`` and ``sweep`` user attributes say so, or failing
    those, when its name is ``<dataset>/<sweep>``.
    """
    with store.engine.connect() as connection:
        names = dict(connection.execute(sa.select(STUDIES.c.study_id, STUDIES.c.study_name)).all())
        attrs: dict[int, dict[str, Any]] = defaultdict(dict)
        query = sa.select(STUDY_ATTRS.c.study_id, STUDY_ATTRS.c.key, STUDY_ATTRS.c.value_json)
        for study_id, key, value in connection.execute(
            query.where(STUDY_ATTRS.c.key.in_(("dataset", "sweep")))
        ):
            attrs[study_id][key] = _loads(value, lambda i=study_id: f"study {names[i]}", key)
    if not names:
        raise StoreError(f"results store {store.shown} holds no studies; run `biril sweep` first")
    ours = []
    for study_id, name in sorted(names.items()):
        ident = _identity(name, attrs.get(study_id, {}))
        if ident is not None:
            ours.append(StudyRef(study_id, name, *ident))
    if not ours:
        raise StoreError(
            f"results store {store.shown} holds no BIRIL sweep studies (found: "
            f"{', '.join(sorted(names.values()))}); studies need the dataset/sweep user attrs "
            "or a '<dataset>/<sweep>' name"
        )
    return _select(ours, dataset, sweep, store.shown)


def read_trials(
    store: OpenStore, studies: list[StudyRef], keys: Collection[str] | None = None,
    skip: Collection[str] = (), params: bool = False, full_runs: bool = False,
) -> dict[str, list[StoredTrial]]:
    """The trials of ``studies`` by study name, in trial order, with their objective values,
    the user attributes ``keys`` (every one when None) less those in ``skip``, and with
    ``params`` their Optuna parameters (as Optuna hands them out: a category, not its index).
    ``full_runs``: only completed trials whose ``full_run`` attribute is true (all a ranking
    reads; a third or less of a sweep under ASHA).

    Every finished trial read must carry the contract's ``REQUIRED_TRIAL_ATTRS`` (they are
    read whatever ``keys`` says): a study that lacks them was not written by ``biril sweep``.
    """
    ids = [s.study_id for s in studies]
    names = {s.study_id: s.name for s in studies}
    by_id: dict[int, StoredTrial] = {}
    study_of: dict[int, int] = {}
    selected = frozenset((*keys, *REQUIRED_TRIAL_ATTRS)) if keys is not None else None
    wanted = TRIALS.c.study_id.in_(ids)
    if full_runs:
        marked = sa.select(TRIAL_ATTRS.c.trial_id).where(
            TRIAL_ATTRS.c.key == "full_run", TRIAL_ATTRS.c.value_json == json.dumps(True)
        )
        wanted = sa.and_(wanted, TRIALS.c.state == State.COMPLETE.name,
                         TRIALS.c.trial_id.in_(marked))
    in_studies = sa.select(TRIALS.c.trial_id).where(wanted)
    with store.engine.connect() as connection:
        query = sa.select(
            TRIALS.c.trial_id, TRIALS.c.number, TRIALS.c.study_id, TRIALS.c.state,
            TRIALS.c.datetime_start, TRIALS.c.datetime_complete,
        ).where(wanted)
        for db_id, number, study_id, state, start, complete in connection.execute(query):
            by_id[db_id] = StoredTrial(db_id, number, State[state], start, complete)
            study_of[db_id] = study_id
        query = sa.select(
            VALUES.c.trial_id, VALUES.c.objective, VALUES.c.value, VALUES.c.value_type
        ).where(VALUES.c.trial_id.in_(in_studies)).order_by(VALUES.c.trial_id, VALUES.c.objective)
        for db_id, _, value, value_type in connection.execute(query):
            trial = by_id[db_id]
            number = INFINITE.get(value_type, value)
            trial.values = [*trial.values, number] if trial.values else [number]
        query = sa.select(TRIAL_ATTRS.c.trial_id, TRIAL_ATTRS.c.key, TRIAL_ATTRS.c.value_json)
        query = query.where(TRIAL_ATTRS.c.trial_id.in_(in_studies))
        if selected is not None:
            query = query.where(TRIAL_ATTRS.c.key.in_(sorted(selected)))
        if skip:
            query = query.where(TRIAL_ATTRS.c.key.not_in(sorted(skip)))
        rows = connection.execute(query.order_by(TRIAL_ATTRS.c.trial_id)).all()
        attrs = _attrs_by_trial(rows, lambda i: _trial_name(by_id[i], names[study_of[i]]))
        if params:
            query = sa.select(
                PARAMS.c.trial_id, PARAMS.c.param_name, PARAMS.c.param_value,
                PARAMS.c.distribution_json,
            ).where(PARAMS.c.trial_id.in_(in_studies))
            for db_id, name, value, distribution in connection.execute(query):
                by_id[db_id].params[name] = _external(value, distribution)
    out: dict[str, list[StoredTrial]] = {s.name: [] for s in studies}
    for db_id, trial in by_id.items():
        found = attrs.get(db_id, {})
        trial.user_attrs = found if selected is None else SelectedAttrs(found, selected)
        out[names[study_of[db_id]]].append(trial)
    for name, trials in out.items():
        trials.sort(key=lambda t: t.number)
        for trial in trials:
            _check_contract(name, trial)
    return out


def read_attr(store: OpenStore, studies: list[StudyRef], key: str) -> dict[int, Any]:
    """One user attribute of every trial of ``studies`` that has it, by database trial id.

    The per-epoch ``curve`` is read this way, apart from the small attributes, and only by
    the readers that draw or export curves.
    """
    ids = [s.study_id for s in studies]
    in_studies = sa.select(TRIALS.c.trial_id).where(TRIALS.c.study_id.in_(ids))
    query = sa.select(TRIAL_ATTRS.c.trial_id, TRIAL_ATTRS.c.value_json).where(
        TRIAL_ATTRS.c.key == key, TRIAL_ATTRS.c.trial_id.in_(in_studies)
    )
    with store.engine.connect() as connection:
        rows = connection.execute(query).all()
    # One parse of one JSON array is several times faster than one parse per trial.
    try:
        values = json.loads("[" + ",".join(value for _, value in rows) + "]")
    except json.JSONDecodeError:
        studies_named = printable(", ".join(s.name for s in studies))
        values = [_loads(value, lambda i=db_id: f"trial (database id {i}) of {studies_named}",
                         key) for db_id, value in rows]
    return {db_id: value for (db_id, _), value in zip(rows, values, strict=True)}


def _trial_name(trial: StoredTrial, study: str) -> str:
    return f"trial #{trial.number} of study {study}"


def _loads(text: str, where: Callable[[], str], key: str) -> Any:
    """One stored JSON value, or a ``StoreError`` naming where it is (a tampered store)."""
    try:
        return json.loads(text)
    except (json.JSONDecodeError, TypeError):
        raise StoreError(
            f"{printable(where())}: user attribute {printable(key)!r} holds malformed JSON "
            f"({quote(text, 60)}); repair or delete that trial in the store"
        ) from None


def _attrs_by_trial(
    rows: Sequence[tuple[int, str, str]], trial_name: Callable[[int], str]
) -> dict[int, dict[str, Any]]:
    """(trial id, key, value JSON) rows, ordered by trial, as one dict per trial.

    The rows are joined into one JSON document and parsed once: twice as fast as a
    ``json.loads`` per value, of which a store of 10,000 trials has a quarter of a million.
    A document that does not parse is parsed again value by value, to name the bad one
    (``trial_name``: a trial's name from its database id).
    """
    ids: list[int] = []
    parts: list[str] = []
    quoted: dict[str, str] = {}
    for db_id, key, value in rows:
        if not ids or ids[-1] != db_id:
            parts.append("},{" if ids else "{")
            ids.append(db_id)
        else:
            parts.append(",")
        name = quoted.get(key)
        if name is None:
            name = quoted[key] = json.dumps(key)
        parts += (name, ":", value)
    if not ids:
        return {}
    try:
        return dict(zip(ids, json.loads("[" + "".join(parts) + "}]"), strict=True))
    except json.JSONDecodeError:
        for db_id, key, value in rows:
            _loads(value, lambda i=db_id: trial_name(i), key)
        raise


@functools.lru_cache(maxsize=64)
def _distribution(text: str) -> tuple[str, list | None]:
    """(kind, categorical choices) of a stored distribution; one parse per distinct JSON."""
    stored = json.loads(text)
    name = stored["name"]
    if name == "CategoricalDistribution":
        return "categorical", stored["attributes"]["choices"]
    return ("int" if name.startswith("Int") else "float"), None


def _external(value: float, distribution: str) -> Any:
    """A parameter as Optuna's ``to_external_repr`` gives it: categories by their index."""
    kind, choices = _distribution(distribution)
    if kind == "categorical":
        return choices[int(value)]
    return int(value) if kind == "int" else value


def _check_contract(study: str, trial: StoredTrial) -> None:
    missing = [key for key in REQUIRED_TRIAL_ATTRS if key not in trial.user_attrs]
    if trial.state is State.COMPLETE and missing:
        raise StoreError(
            f"study {study!r} trial {trial.number} lacks the BIRIL user attrs "
            f"{', '.join(missing)}; it was not written by `biril sweep` (contract: every "
            "trial carries dataset, sweep, stage, ratio, seed, epochs, full_run, val_acc)"
        )


def _identity(name: str, attrs: dict[str, Any]) -> tuple[str, str] | None:
    """(dataset, sweep) from the study's user attrs, else from a ``dataset/sweep`` name."""
    if isinstance(attrs.get("dataset"), str) and isinstance(attrs.get("sweep"), str):
        return attrs["dataset"], attrs["sweep"]
    return layout.split_study_name(name)


def _select(
    ours: list[StudyRef], dataset: str | None, sweep: str | None, shown: str
) -> list[StudyRef]:
    """The studies matching the filters, or a StoreError naming what the store does hold."""
    if dataset is not None:
        known = sorted({s.dataset for s in ours})
        ours = [s for s in ours if s.dataset == dataset]
        if not ours:
            raise StoreError(
                f"no sweep of dataset {dataset!r} in {shown}; datasets with results: "
                f"{', '.join(known)}"
            )
    if sweep is not None:
        known = sorted({s.sweep for s in ours})
        ours = [s for s in ours if s.sweep == sweep]
        if not ours:
            where = f" for dataset {dataset!r}" if dataset is not None else ""
            raise StoreError(
                f"no sweep named {sweep!r}{where} in {shown}; sweeps: {', '.join(known)}"
            )
    return ours
