"""``StudyLease``: one sweep driver per study, across machines sharing one database.

Two drivers on one study would each ask the searcher for trials and each run them, and the
study would end up with half of them and orphaned WAITING rows. A folder lock cannot help
when the drivers run on different machines against one PostgreSQL database, so the lease
lives in that database: a row per study in ``biril_sweep_leases`` naming its holder (PID,
host, since), renewed by a heartbeat thread every ``beat_s`` and valid until ``expires``.

- Taking it is one atomic statement: an INSERT (the study name is the primary key), or,
  when the row there is stale, an UPDATE conditioned on the stale holder still being in
  it. Two drivers racing for a free or stale lease: exactly one wins.
- A stale lease is one past its expiry (its holder stopped beating: crashed, killed, cut
  off), or one held by a PID that no longer runs on this very host, so re-running the
  command right after a SIGKILL resumes at once rather than after the expiry.
- Readers (``biril best``, ``report``, the dashboard) never look at it.

Clocks of the machines must agree to within the lease's ``ttl_s`` (NTP does far better).
"""

from __future__ import annotations

import contextlib
import os
import socket
import threading
import time
import uuid
from collections.abc import Iterator

import sqlalchemy as sa

from results.database import display_url, first_line, redact

from .spec import SweepError

TABLE = "biril_sweep_leases"
TTL_S = 60.0
BEAT_S = 15.0

_metadata = sa.MetaData()
_leases = sa.Table(
    TABLE,
    _metadata,
    sa.Column("study_name", sa.String(512), primary_key=True),
    sa.Column("owner", sa.String(64), nullable=False),
    sa.Column("pid", sa.Integer, nullable=False),
    sa.Column("host", sa.String(255), nullable=False),
    sa.Column("since", sa.Float, nullable=False),
    sa.Column("heartbeat", sa.Float, nullable=False),
    sa.Column("expires", sa.Float, nullable=False),
)


class StudyBusy(SweepError):
    """Another live driver holds the study's lease; the message names it."""


def describe(row) -> str:
    since = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(row.since))
    ago = max(0.0, time.time() - row.heartbeat)
    return (
        f"PID {row.pid} on {row.host[:80]} since {since} (last heartbeat {ago:.0f} s ago)"
    )


def is_stale(row, now: float) -> bool:
    """Past its expiry, or its holder's PID no longer runs on this host."""
    if row.expires < now:
        return True
    if row.host != socket.gethostname():
        return False
    try:
        os.kill(row.pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:  # it runs, as another user
        return False
    return False


class StudyLease:
    """Hold ``study_name``'s lease in the database at ``url`` while the ``with`` block runs."""

    def __init__(
        self, url: str, study_name: str, ttl_s: float = TTL_S, beat_s: float = BEAT_S
    ) -> None:
        self.url = url
        self.study_name = study_name
        self.ttl_s = ttl_s
        self.beat_s = beat_s
        self.owner = uuid.uuid4().hex
        self.lost = False  # set when a heartbeat found the lease taken over
        self._engine: sa.Engine | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def acquire(self) -> None:
        """Take the lease, or raise ``StudyBusy`` naming its live holder (never waits)."""
        self._engine = sa.create_engine(self.url)
        try:
            with self._writing():
                _metadata.create_all(self._engine, checkfirst=True)
                if not self._take():
                    raise StudyBusy(self._busy_message())
        except BaseException:
            self._engine.dispose()
            raise
        self._thread = threading.Thread(target=self._beat, name="biril-lease", daemon=True)
        self._thread.start()

    def release(self) -> None:
        if self._engine is None:
            return
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        with contextlib.suppress(sa.exc.SQLAlchemyError), self._engine.begin() as c:
            c.execute(sa.delete(_leases).where(self._mine()))
        self._engine.dispose()
        self._engine = None

    def __enter__(self) -> StudyLease:
        self.acquire()
        return self

    def __exit__(self, *exc) -> None:
        self.release()

    def _row(self, now: float) -> dict:
        return {
            "owner": self.owner,
            "pid": os.getpid(),
            "host": socket.gethostname()[:255],
            "since": now,
            "heartbeat": now,
            "expires": now + self.ttl_s,
        }

    def _take(self, attempts: int = 3) -> bool:
        """INSERT a new lease, or take over a stale one; False while a live one holds it."""
        for _ in range(attempts):
            now = time.time()
            try:
                with self._engine.begin() as c:
                    c.execute(
                        sa.insert(_leases).values(study_name=self.study_name, **self._row(now))
                    )
                return True
            except sa.exc.IntegrityError:
                pass
            with self._engine.begin() as c:
                held = c.execute(
                    sa.select(_leases).where(_leases.c.study_name == self.study_name)
                ).one_or_none()
                if held is None:  # released in between: try again from the top
                    continue
                if not is_stale(held, now):
                    return False
                taken = c.execute(
                    sa.update(_leases)
                    .where(_leases.c.study_name == self.study_name, _leases.c.owner == held.owner)
                    .values(**self._row(now))
                )
                return taken.rowcount == 1
        return False

    def _busy_message(self) -> str:
        with self._engine.connect() as c:
            held = c.execute(
                sa.select(_leases).where(_leases.c.study_name == self.study_name)
            ).one_or_none()
        who = describe(held) if held is not None else "another driver"
        return (
            f"sweep {self.study_name} in {display_url(self.url)} is being run by {who}: "
            "wait for it to finish (`biril best` and `biril report` can read it meanwhile), "
            "or pass --name for another sweep"
        )

    def _mine(self):
        return sa.and_(_leases.c.study_name == self.study_name, _leases.c.owner == self.owner)

    def _beat(self) -> None:
        while not self._stop.wait(self.beat_s):
            now = time.time()
            try:
                with self._engine.begin() as c:
                    renewed = c.execute(
                        sa.update(_leases)
                        .where(self._mine())
                        .values(heartbeat=now, expires=now + self.ttl_s)
                    )
            except sa.exc.SQLAlchemyError:
                continue  # a busy or briefly unreachable database: the next beat retries
            if renewed.rowcount == 0:
                self.lost = True
                return

    @contextlib.contextmanager
    def _writing(self) -> Iterator[None]:
        """Database errors (read-only, unreachable) as one ``SweepError`` line."""
        try:
            yield
        except sa.exc.SQLAlchemyError as e:
            message = (
                f"cannot write the sweep's lease into {display_url(self.url)}: {first_line(e)}; "
                "the sweep needs a database it can write (check its permissions, or pass "
                "another --db / --storage)"
            )
            raise SweepError(redact(message, self.url)) from None
