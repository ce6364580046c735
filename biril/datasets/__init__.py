"""Dataset registry: name → loader returning in-memory tensor splits.

Every dataset is returned as tensors (images as ``uint8`` or raw counts, scaled and
normalized on the training device per batch), with a deterministic validation split carved
from its training set. Sweeps select on validation accuracy; the test set is for reporting.
Nothing is downloaded unless asked: missing data fails before training, naming the path.
"""

from __future__ import annotations

from . import digits  # noqa: E402,F401  (registers itself)
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
    "load_dataset",
    "register",
    "split_indices",
]
