"""``biril doctor``'s checks of the results store: can a sweep write here and reach its database?

The results root and the database are resolved exactly as ``biril sweep`` resolves them
(``--storage``, else ``$BIRIL_RESULTS``, else ``./biril-results``; ``--db``, else SQLite in
the root). Nothing is created: writability is probed with a temporary file that is removed
again, and a database that does not exist yet is reported as "will be created". An
object-store root is not contacted (the doctor makes no network access beyond a cluster
address); a database URL given with ``--db`` is connected to, with a timeout. Passwords in
URLs are never shown.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from biril.doctor import INSTALL_PROJECT, Check, first_line
from results.layout import is_uri, results_root, sqlite_url

DB_CONNECT_TIMEOUT_S = 5


def storage_checks(
    storage: str | None = None, db: str | None = None, database: bool = True
) -> list[Check]:
    """The results root (writable?) and, with ``database``, the Optuna database (reachable?)."""
    root = results_root(storage)
    if is_uri(root):
        checks = [
            Check(
                "results root",
                True,
                f"{root}: object store, not contacted (no network access); every node "
                "needs write access to it",
                required=True,
                detail={"path": root},
            )
        ]
    else:
        checks = [root_check(Path(root))]
    if not database:
        return checks
    if db is None and is_uri(root):
        checks.append(
            Check(
                "database",
                False,
                f"the results root {root} is an object-store URI, where SQLite cannot live",
                fix="name the Optuna database: --db URL (e.g. postgresql+psycopg2://user@host/biril)",
                required=True,
            )
        )
    else:
        checks.append(database_check(db or sqlite_url(root)))
    return checks


def cannot_create(path: Path) -> str | None:
    """Why the folder ``path``, or a new file there, cannot be created and written, or None.

    Probed with a temporary file (removed again) in ``path`` if it exists, else in its
    nearest existing ancestor, where the missing folders would be created.
    """
    existing = path
    while not existing.exists():
        existing = existing.parent
    if not existing.is_dir():
        return f"{existing} is a file, not a folder"
    try:
        with tempfile.NamedTemporaryFile(dir=existing, prefix=".biril-doctor-"):
            return None
    except OSError as e:
        return f"cannot write in {existing}: {e.strerror or type(e).__name__}"


def root_check(root: Path) -> Check:
    """The results root exists and takes a file, or can be created."""
    problem = cannot_create(root)
    if problem is not None:
        return Check(
            "results root",
            False,
            f"{root}: {problem}",
            fix="pass --storage (or set BIRIL_RESULTS to) a folder you can write",
            required=True,
        )
    state = "writable" if root.is_dir() else "will be created (its parent is writable)"
    return Check(
        "results root", True, f"{root}: {state}", required=True, detail={"path": str(root)}
    )


def database_check(url: str) -> Check:
    """Connect and run a query, or for a new SQLite file check that it can be created."""
    try:
        from sqlalchemy import create_engine, text
        from sqlalchemy.engine import make_url
        from sqlalchemy.exc import ArgumentError
    except ImportError as e:
        return Check(
            "database", False, f"cannot check: {first_line(e)}", fix=INSTALL_PROJECT, required=True
        )
    fix = "pass --db an SQLAlchemy URL you can reach (e.g. postgresql+psycopg2://user@host/biril)"
    try:
        parsed = make_url(url)
    except ArgumentError:  # the text may hold a password: it is not echoed
        return Check("database", False, "--db is not an SQLAlchemy URL", fix=fix, required=True)
    shown = parsed.render_as_string(hide_password=True)
    backend = parsed.get_backend_name()
    path = parsed.database if backend == "sqlite" else None
    if path and path != ":memory:" and not Path(path).exists():
        problem = cannot_create(Path(path))
        if problem is not None:
            return Check(
                "database", False, f"{shown}: cannot be created: {problem}", fix=fix, required=True
            )
        return Check(
            "database",
            True,
            f"{shown}: will be created by the first sweep",
            required=True,
            detail={"url": shown},
        )
    # A query, not only a connection: SQLite opens any file, database or not, lazily.
    query = "SELECT count(*) FROM sqlite_master" if backend == "sqlite" else "SELECT 1"
    timeout = (
        {"connect_timeout": DB_CONNECT_TIMEOUT_S} if backend in ("postgresql", "mysql") else {}
    )
    try:
        engine = create_engine(parsed, connect_args=timeout)
        try:
            with engine.connect() as conn:
                conn.execute(text(query))
        finally:
            engine.dispose()
    except Exception as e:  # driver missing, server down, bad credentials, not a database
        reason = first_line(e)
        if parsed.password:
            reason = reason.replace(str(parsed.password), "***")
        return Check("database", False, f"{shown}: {reason}", fix=fix, required=True)
    return Check("database", True, f"{shown}: reachable", required=True, detail={"url": shown})
