"""The real MNIST copy in ``../shared/data`` (see its README): read exactly, and it trains."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from biril import TrainConfig, train
from biril.datasets import inventory, load_dataset

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"
needs_mnist = pytest.mark.skipif(
    not (SHARED / "MNIST" / "raw" / "train-images-idx3-ubyte").exists(),
    reason=f"real MNIST not at {SHARED}",
)


@needs_mnist
def test_real_mnist_matches_its_readme():
    s = load_dataset("mnist", SHARED)
    assert (len(s.train_y) + len(s.val_y), len(s.test_y)) == (60_000, 10_000)
    # test-set label counts published in ../shared/data/README.md
    counts = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
    assert torch.bincount(s.test_y, minlength=10).tolist() == counts
    assert s.train_x.dtype == torch.uint8 and int(s.train_x.max()) == 255
    row = next(r for r in inventory(SHARED) if r["name"] == "mnist")
    assert (row["status"], row["n_train"], row["n_val"], row["n_test"]) == (
        "found", 54_000, 6_000, 10_000
    )


@pytest.mark.slow
@needs_mnist
def test_one_epoch_on_real_mnist_beats_a_real_floor(tmp_path):
    """The data path end to end: real IDX files → splits → device loader → a trained model.

    Pure STBP (0:1:0), so the floor tests the data rather than the STDP mix; about 5 min of
    CPU on the "mnist" preset. Chance is 10%; a wrong label or pixel order stays near it.
    """
    torch.set_num_threads(2)
    result = train(
        TrainConfig(
            dataset="mnist", data_root=str(SHARED), ratio="0:1:0", epochs=1, device="cpu",
            output_dir=str(tmp_path),
        )
    )
    assert result.test_acc >= 0.95 and result.val_acc >= 0.95
