"""scikit-learn's bundled 8×8 handwritten digits: real data that needs no download."""

from __future__ import annotations

import torch

from .registry import DatasetInfo, DatasetSplits, register, split_indices

TEST_FRACTION = 0.2
TEST_SEED = 1234  # fixed, so every run and every sweep reports on the same test digits


def load(*, val_fraction: float, split_seed: int, **_) -> DatasetSplits:
    from sklearn.datasets import load_digits

    bunch = load_digits()
    x = torch.as_tensor(bunch.images, dtype=torch.uint8).unsqueeze(1)  # values 0..16
    y = torch.as_tensor(bunch.target, dtype=torch.long)
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
