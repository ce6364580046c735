"""Where results live: the results root, its database, the study and Tune folder per sweep.

A results root ``R`` is ``--storage``, else ``$BIRIL_RESULTS``, else ``./biril-results``.
It holds ``R/biril.db``, one Optuna database for every sweep run into it (or any SQLAlchemy
URL given as ``--db``, e.g. PostgreSQL for a team; an object-store root such as
``s3://…`` needs one, since SQLite needs a filesystem), with one study ``<dataset>/<sweep>``
per sweep, and ``R/<dataset>/<sweep>/``, that sweep's Ray Tune experiment folder (per-epoch
curves, checkpoints). ``sweeps`` writes this layout; ``analysis`` and ``cluster`` read it.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

RESULTS_ENV = "BIRIL_RESULTS"
DEFAULT_ROOT = "biril-results"
DB_NAME = "biril.db"
# Roots on object storage hold Tune folders but never a database Optuna can open.
OBJECT_STORE_SCHEMES = ("s3", "gs", "gcs", "abfs", "abfss", "az", "hdfs")
_URI = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*://")


def is_uri(path: str) -> bool:
    """True for ``s3://…``, ``postgresql://…`` and other schemes; ``file://`` is a local path."""
    return bool(_URI.match(path)) and not path.startswith("file://")


def is_object_store(path: str) -> bool:
    """True for an object-store root (``s3://``, ``gs://``, …), which holds no database."""
    return is_uri(path) and path.split("://", 1)[0].lower() in OBJECT_STORE_SCHEMES


def results_root(storage: str | os.PathLike | None = None) -> str:
    """``storage``, else ``$BIRIL_RESULTS``, else ``./biril-results``; local paths absolute."""
    root = os.fspath(storage) if storage is not None else ""
    root = root or os.environ.get(RESULTS_ENV) or DEFAULT_ROOT
    if is_uri(root):
        return root.rstrip("/")
    return str(Path(root.removeprefix("file://")).expanduser().resolve())


def sqlite_url(root: str) -> str:
    """The SQLAlchemy URL of the root's own database, ``R/biril.db``."""
    return f"sqlite:///{root}/{DB_NAME}"


def study_name(dataset: str, sweep: str) -> str:
    return f"{dataset}/{sweep}"


def split_study_name(name: str) -> tuple[str, str] | None:
    """``(dataset, sweep)`` from a ``<dataset>/<sweep>`` study name, else None."""
    dataset, sep, sweep = name.partition("/")
    return (dataset, sweep) if sep and dataset and sweep else None


def experiment_dir(root: str, dataset: str, sweep: str) -> str:
    """The sweep's Tune experiment folder, ``R/<dataset>/<sweep>``."""
    return f"{root}/{dataset}/{sweep}"
