"""Device-resident batching: index a tensor on the training device, augment in batch.

Datasets that fit in memory live on the device once; an epoch is a permutation and a few
vectorized ops per batch — no per-sample Python, no worker processes.
"""

from __future__ import annotations

from collections.abc import Iterator

import torch

from .datasets import DatasetSplits


def epoch_generator(seed: int, epoch: int) -> torch.Generator:
    """The RNG of one epoch: a function of (seed, epoch) so a resumed run replays it."""
    return torch.Generator().manual_seed(seed * 1_000_003 + epoch)


def batch_crop_flip(x: torch.Tensor, padding: int, g: torch.Generator) -> torch.Tensor:
    """Random crop after zero padding, and random horizontal flip, for a whole batch."""
    b, _, h, w = x.shape
    dy = torch.randint(0, 2 * padding + 1, (b,), generator=g).to(x.device)
    dx = torch.randint(0, 2 * padding + 1, (b,), generator=g).to(x.device)
    flip = (torch.rand(b, generator=g) < 0.5).to(x.device)
    padded = torch.nn.functional.pad(x, (padding,) * 4)
    rows = (dy[:, None] + torch.arange(h, device=x.device))[:, None, :, None]
    cols = (dx[:, None] + torch.arange(w, device=x.device))
    cols = torch.where(flip[:, None], cols.flip(1), cols)[:, None, None, :]
    batch = torch.arange(b, device=x.device)[:, None, None, None]
    chan = torch.arange(x.shape[1], device=x.device)[None, :, None, None]
    return padded[batch, chan, rows, cols]


class DeviceLoader:
    """Mini-batches of ``(x, y)`` from tensors held on ``device``, normalized as floats."""

    def __init__(
        self,
        splits: DatasetSplits,
        part: str,
        batch_size: int,
        device: torch.device,
        *,
        train: bool = False,
    ) -> None:
        self.x = getattr(splits, f"{part}_x").to(device)
        self.y = getattr(splits, f"{part}_y").to(device)
        self.batch_size = batch_size
        self.device = device
        self.train = train
        self.augment = splits.augment if train else "none"
        self.padding = splits.crop_padding
        self.scale = splits.scale
        shape = (1, -1, 1, 1)
        self.mean = torch.tensor(splits.mean or (0.0,), device=device).view(shape)
        self.std = torch.tensor(splits.std or (1.0,), device=device).view(shape)

    def __len__(self) -> int:
        n, b = len(self.y), self.batch_size
        if self.train and n % b == 1:  # a batch of one breaks BatchNorm: drop it
            return n // b
        return -(-n // b)

    @property
    def num_samples(self) -> int:
        return len(self.y)

    def _prepare(self, x: torch.Tensor) -> torch.Tensor:
        x = (x.float() / self.scale - self.mean) / self.std if x.dim() == 4 else x.float()
        return x

    def batches(self, seed: int = 0, epoch: int = 0) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        g = epoch_generator(seed, epoch)
        n = len(self.y)
        order = torch.randperm(n, generator=g).to(self.device) if self.train else None
        for i in range(len(self)):
            sl = slice(i * self.batch_size, (i + 1) * self.batch_size)
            idx = order[sl] if order is not None else sl
            x = self._prepare(self.x[idx])
            if self.augment == "crop_flip":
                x = batch_crop_flip(x, self.padding, g)
            yield x, self.y[idx]
