"""``StoreError``: a results store that cannot answer what was asked of it."""

from __future__ import annotations


class StoreError(RuntimeError):
    """The results store is missing, unreadable, empty, or lacks what was asked for."""
