"""Dataset registry: name → loader returning in-memory tensor splits.

Every dataset is returned as tensors (images as ``uint8`` or raw counts, scaled and
normalized on the training device per batch), with a deterministic validation split carved
from its training set. Sweeps select on validation accuracy; the test set is for reporting.
Nothing is downloaded unless asked: missing data fails before training, naming the path.
"""

from __future__ import annotations

# Each module registers its datasets on import; this order is the order `inventory` lists.
from . import digits, vision, tinyimagenet, dvs_gesture  # noqa: F401  # isort: skip
from .inventory import inventory
from .registry import (
    REGISTRY,
    DatasetError,
    DatasetInfo,
    DatasetSplits,
    data_root,
    load_dataset,
    register,
    split_indices,
)

__all__ = [
    "REGISTRY",
    "DatasetError",
    "DatasetInfo",
    "DatasetSplits",
    "data_root",
    "inventory",
    "load_dataset",
    "register",
    "split_indices",
]
