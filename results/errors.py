"""The one error type for a mistake a user can fix, and how its message quotes input.

Every package's user errors (``ConfigError``, ``SweepError``, ``StoreError``,
``ClusterError``, …) subclass ``UserError``, so the command line turns all of them into one
``error: …`` line and exit status 2 by type, whatever modules were imported before. It lives
on the bottom floor (no torch, no Ray) so every package can raise it.

A message quotes user input through ``quote`` (at most ``QUOTE_LIMIT`` characters, so a
5000-character name or an expanded YAML alias cannot flood the terminal) and names read
from a store through ``printable`` (control characters escaped, so a tampered database
cannot move the cursor or forge a line).
"""

from __future__ import annotations

import reprlib

QUOTE_LIMIT = 200
# reprlib bounds the work too: long strings and deep or long containers are cut while the
# text is built, so quoting an expanded YAML alias bomb costs nothing.
_REPR = reprlib.Repr()
_REPR.maxstring = _REPR.maxother = QUOTE_LIMIT


class UserError(Exception):
    """A mistake the user can fix; the message is one line: the flag or file, and the fix."""


class StoreError(UserError, RuntimeError):
    """The results store is missing, unreadable, empty, or lacks what was asked for."""


def printable(text: object) -> str:
    """``text`` with every non-printable character escaped (``\\n``, ``\\x1b``, …)."""
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in str(text))


def quote(value: object, limit: int = QUOTE_LIMIT) -> str:
    """``repr(value)`` for a message, at most ``limit`` characters (``…`` marks a cut)."""
    text = printable(_REPR.repr(value))
    return text if len(text) <= limit else text[: limit - 1] + "…"
