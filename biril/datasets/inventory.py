"""``inventory(root)``: every registered dataset, whether it is on disk, and its sizes.

Sizes come from file headers and directory listings (``DatasetInfo.count``), so a table of
every dataset costs seconds, not a decode of every image; only datasets without a counter
(the bundled ``digits``) are loaded to count them.
"""

from __future__ import annotations

import os
from pathlib import Path

from .registry import REGISTRY, DatasetError, DatasetInfo, data_root, load_dataset, split_indices


def inventory(root: str | Path | None = None, val_fraction: float = 0.1) -> list[dict]:
    """One row per dataset: name, status, path, n_train/n_val/n_test, input_shape, classes.

    ``status`` is ``"found"``, ``"missing"`` (files absent) or ``"error"`` (present but
    incomplete or unreadable); ``detail`` says what is wrong. Counts are ``None`` unless found.

    >>> rows = inventory("/data")  # doctest: +SKIP
    >>> [(r["name"], r["status"]) for r in rows]  # doctest: +SKIP
    """
    path = existing_root(root)
    return [row(info, path, val_fraction) for info in REGISTRY.values()]


def existing_root(root: str | Path | None) -> Path:
    """The data root, checked: one the user named must be a folder that exists.

    The default root may not exist yet (a fresh machine): then all but the bundled
    dataset are missing, which is what the inventory is for.
    """
    path = data_root(root)
    named = "--data-root" if root is not None else None
    if named is None and os.environ.get("BIRIL_DATA"):
        named = "BIRIL_DATA"
    if path.exists() and not path.is_dir():
        raise DatasetError(
            f"{named or 'the data root'} {path} is a file, not a folder: point it at the "
            "folder that holds the datasets"
        )
    if named and not path.exists():
        raise DatasetError(
            f"{named} {path} does not exist: point it at the folder that holds the datasets "
            "(or create it, and fetch them with biril train --download)"
        )
    return path


def row(info: DatasetInfo, root: Path, val_fraction: float) -> dict:
    out = {
        "name": info.name,
        "status": "found",
        "path": str(root / info.folder) if info.folder else "(bundled)",
        "n_train": None,
        "n_val": None,
        "n_test": None,
        "input_shape": info.input_shape,
        "num_classes": info.num_classes,
        "detail": "",
    }
    absent = info.missing(root)
    if absent:
        out.update(status="missing", detail=f"missing {absent[0]}")
        return out
    try:
        out.update(counts(info, root, val_fraction))
    except (DatasetError, OSError) as e:
        out.update(status="error", detail=str(e))
    return out


def counts(info: DatasetInfo, root: Path, val_fraction: float) -> dict:
    if info.count is None:
        splits = load_dataset(info.name, root, val_fraction=val_fraction)
        return {
            "n_train": len(splits.train_y),
            "n_val": len(splits.val_y),
            "n_test": len(splits.test_y),
        }
    pool, n_test = info.count(root)
    train, val = split_indices(pool, val_fraction, 0)
    return {"n_train": len(train), "n_val": len(val), "n_test": n_test}
