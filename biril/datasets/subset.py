"""Stratified, seeded subsets of a training split: cheap runs and the few-label regime.

A 5,000-image MNIST run takes minutes on a CPU, and the question "does an unsupervised
rule earn its share" is asked where labels are scarce. Both need a subset that keeps the
class balance (a plain random 600 of MNIST can be 10% off per class) and that is the same
for every run of a comparison, so it is drawn from ``split_seed``, not the run's seed.
"""

from __future__ import annotations

import dataclasses

import torch

from .registry import DatasetError, DatasetSplits


def stratified_indices(y: torch.Tensor, n: int, seed: int) -> torch.Tensor:
    """``n`` indices into ``y`` with each class's share of ``y`` (largest remainders), sorted.

    Within each class the first of a seeded permutation are taken, so a larger ``n``
    keeps every image of a smaller one's subset for the same seed and class quotas.
    """
    if not 0 < n <= len(y):
        raise DatasetError(f"a subset of {n} images cannot be drawn from {len(y)}")
    classes, counts = torch.unique(y, return_counts=True)
    exact = counts.double() * n / len(y)
    quota = exact.floor().long()
    short = n - int(quota.sum())
    quota[torch.argsort(exact - quota, descending=True, stable=True)[:short]] += 1
    g = torch.Generator().manual_seed(seed)
    order = torch.randperm(len(y), generator=g)
    shuffled = y[order]
    # Rank of each shuffled image within its class: its position among that class's images.
    by_class = torch.argsort(shuffled, stable=True)
    starts = torch.cumsum(counts, 0) - counts
    rank = torch.empty_like(by_class)
    rank[by_class] = torch.arange(len(y)) - starts.repeat_interleave(counts)
    class_index = torch.searchsorted(classes, shuffled)
    keep = rank < quota[class_index]
    return order[keep].sort().values


def train_subset(splits: DatasetSplits, n: int, seed: int) -> DatasetSplits:
    """``splits`` with its training part cut to a stratified ``n``; validation untouched."""
    idx = stratified_indices(splits.train_y, n, seed)
    return dataclasses.replace(splits, train_x=splits.train_x[idx], train_y=splits.train_y[idx])
