"""scikit-learn's bundled 8×8 handwritten digits: real data that needs no download."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import torch

from .registry import DatasetError, DatasetInfo, DatasetSplits, register, split_indices

TEST_FRACTION = 0.2
TEST_SEED = 1234  # fixed, so every run and every sweep reports on the same test digits


def digits_file() -> Path:
    """The CSV that scikit-learn ships and ``load_digits`` parses, found without importing it.

    Importing scikit-learn takes 1.7 s, paid by every fresh sweep trial process for a
    1797-row table; ``find_spec`` of a top-level package runs none of its code.
    """
    spec = importlib.util.find_spec("sklearn")
    if spec is None or spec.origin is None:
        raise DatasetError(
            "the digits dataset is scikit-learn's bundled copy, and scikit-learn is not "
            "installed: pip install scikit-learn"
        )
    path = Path(spec.origin).parent / "datasets" / "data" / "digits.csv.gz"
    if not path.is_file():
        raise DatasetError(f"scikit-learn's digits data is missing at {path}: reinstall it")
    return path


def load(*, val_fraction: float, split_seed: int, **_) -> DatasetSplits:
    # Each row: 64 pixel values 0..16 of an 8×8 image, then the label (load_digits' format).
    rows = torch.as_tensor(np.loadtxt(digits_file(), delimiter=",", dtype=np.uint8))
    x = rows[:, :64].reshape(-1, 1, 8, 8)
    y = rows[:, 64].long()
    rest, test = split_indices(len(y), TEST_FRACTION, TEST_SEED)
    train, val = split_indices(len(rest), val_fraction, split_seed)
    train, val = rest[train], rest[val]
    return DatasetSplits(
        name="digits",
        train_x=x[train],
        train_y=y[train],
        val_x=x[val],
        val_y=y[val],
        test_x=x[test],
        test_y=y[test],
        num_classes=10,
        scale=16.0,
        mean=(0.3,),
        std=(0.38,),
    )


register(
    DatasetInfo(
        name="digits",
        load=load,
        num_classes=10,
        input_shape=(1, 8, 8),
        preset="small",
        layout="bundled with scikit-learn (nothing to download)",
    )
)
