"""The results store's database: its URL checked and shown without a password, and the
check that it is an Optuna store before anything is written to or read from it.

``biril sweep`` writes the store and ``biril best``/``report`` read it; both refuse a
database that holds someone else's tables, because opening an Optuna storage on it would
create Optuna's thirteen tables there. A database URL may carry a password, so every
message and summary shows it through ``display_url``, and driver errors through ``redact``.
"""

from __future__ import annotations

from urllib.parse import quote

from .errors import UserError

# The variable ``biril sweep --db`` falls back on: how a submitted job gets its URL, which
# may hold a password, without the URL ever appearing on a command line.
DB_ENV = "BIRIL_DB"
# Tables every Optuna database has; a database holding other tables but not these is
# another application's.
OPTUNA_TABLES = {"studies", "trials", "trial_user_attributes", "version_info"}
URL_EXAMPLES = "e.g. sqlite:////abs/path/biril.db or postgresql+psycopg2://user@host/db"


class DatabaseError(UserError, RuntimeError):
    """A database URL that is malformed or unreachable, or a database that is not a store."""


def display_url(url: str) -> str:
    """``url`` with its password masked (``***``), for every message, log and summary."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return url


def redact(text: str, url: str) -> str:
    """``text`` (a driver's error, say) with ``url``'s password masked wherever it appears."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        password = make_url(url).password
    except ArgumentError:
        return text
    if not password:
        return text
    return text.replace(password, "***").replace(quote(password, safe=""), "***")


def check_db_url(url: str, flag: str) -> None:
    """Raise unless ``url`` parses as an SQLAlchemy URL; the message never repeats it.

    (Text that does not parse cannot be masked, and may still hold a password.)
    """
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        make_url(url)
    except ArgumentError:
        raise DatabaseError(f"{flag} is not an SQLAlchemy URL ({URL_EXAMPLES})") from None


def check_optuna_database(url: str, flag: str, *, empty_ok: bool) -> None:
    """Raise unless ``url`` is an Optuna database (or, with ``empty_ok``, holds no tables).

    Only the table names are read; nothing is created or written.
    """
    import sqlalchemy

    check_db_url(url, flag)
    shown = display_url(url)
    try:
        engine = sqlalchemy.create_engine(url)
    except (sqlalchemy.exc.ArgumentError, ImportError) as err:
        raise DatabaseError(
            f"cannot open database URL {shown}: {redact(first_line(err), url)}"
        ) from None
    try:
        tables = set(sqlalchemy.inspect(engine).get_table_names())
    except sqlalchemy.exc.SQLAlchemyError as err:
        raise DatabaseError(
            f"cannot read {shown} as a database: {redact(first_line(err), url)}; pass {flag} "
            "with a BIRIL results folder or an Optuna database URL"
        ) from None
    finally:
        engine.dispose()
    missing = sorted(OPTUNA_TABLES - tables)
    if missing and (tables or not empty_ok):
        held = f"; it holds {', '.join(sorted(tables))}" if tables else ""
        raise DatabaseError(
            f"{shown} is not an Optuna results store (tables {', '.join(missing)} missing"
            f"{held}); point {flag} at the folder or database `biril sweep` wrote"
            + (", or at a new, empty database" if empty_ok else "")
        )


def first_line(err: BaseException) -> str:
    """An error's first line (drivers append statements and links on later ones)."""
    text = str(err).strip()
    return text.splitlines()[0] if text else type(err).__name__
