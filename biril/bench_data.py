"""``bench_loader``: the device-resident loader against a plain torchvision ``DataLoader``.

Both pipelines serve the same training split in the same batches: the baseline is what a
torchvision script does (a per-sample ``__getitem__`` that builds a PIL image, then
``RandomCrop``/``RandomHorizontalFlip`` where the dataset augments, ``ToTensor``,
``Normalize``; ``DataLoader(shuffle=True)``; ``.to(device)`` per batch), the fast path is
``DeviceLoader`` (tensor on the device, batches by indexing, normalize and augment in batch).
Figures are medians of repeated runs in one process, and the ratios are the result.

>>> r = bench_loader("mnist", root="../shared/data", batches=100)  # doctest: +SKIP
>>> r["loader_speedup"], r["train_speedup"]  # doctest: +SKIP
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Iterable
from itertools import islice
from pathlib import Path

import torch
from PIL import Image
from torch.utils.data import DataLoader, Dataset

from .config import TrainConfig
from .datasets import DatasetSplits, load_dataset
from .loader import DeviceLoader
from .schedule import modes
from .trainer import BIRILStep, build_for, resolve_device, seed_everything, to_time_major


class PerSampleImages(Dataset):
    """The training split served one PIL image at a time, as torchvision's datasets do."""

    def __init__(self, splits: DatasetSplits) -> None:
        from torchvision import transforms as T

        self.x = splits.train_x.permute(0, 2, 3, 1).numpy()  # HWC, as PIL wants
        self.y = splits.train_y.tolist()
        # ToTensor divides by 255; fold the dataset's own scale into Normalize.
        k = splits.scale / 255.0
        steps: list = []
        if splits.augment == "crop_flip":
            steps += [
                T.RandomCrop(self.x.shape[1], padding=splits.crop_padding),
                T.RandomHorizontalFlip(),
            ]
        mean, std = splits.mean or (0.0,), splits.std or (1.0,)
        steps += [T.ToTensor(), T.Normalize([m * k for m in mean], [s * k for s in std])]
        self.transform = T.Compose(steps)

    def __len__(self) -> int:
        return len(self.y)

    def __getitem__(self, i: int):
        image = self.x[i]
        pil = Image.fromarray(image[..., 0] if image.shape[-1] == 1 else image)
        return self.transform(pil), self.y[i]


class PerSampleEvents(Dataset):
    """Event frames served one sample at a time (the usual tonic + DataLoader script)."""

    def __init__(self, splits: DatasetSplits) -> None:
        self.x, self.y = splits.train_x, splits.train_y

    def __len__(self) -> int:
        return len(self.y)

    def __getitem__(self, i: int):
        return self.x[i].float(), int(self.y[i])


def torchvision_batches(
    splits: DatasetSplits, batch_size: int, device: torch.device, num_workers: int
) -> Callable[[], Iterable[tuple[torch.Tensor, torch.Tensor]]]:
    """A fresh shuffled epoch of the baseline pipeline, moved to ``device`` per batch."""
    ds = PerSampleEvents(splits) if splits.is_events else PerSampleImages(splits)
    dl = DataLoader(
        ds,
        batch_size=batch_size,
        shuffle=True,
        num_workers=num_workers,
        pin_memory=device.type == "cuda",
    )

    def epoch():
        for x, y in dl:
            yield x.to(device, non_blocking=True), y.to(device, non_blocking=True)

    return epoch


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def images_per_s(
    batches: Iterable[tuple[torch.Tensor, torch.Tensor]],
    n: int,
    device: torch.device,
    consume: Callable[[torch.Tensor, torch.Tensor], object] = lambda x, y: None,
) -> float:
    """Throughput of ``consume`` over the first ``n`` batches (iterator start-up included)."""
    sync(device)
    t0 = time.perf_counter()
    seen = 0
    for x, y in islice(batches, n):
        consume(x, y)
        seen += len(y)
    sync(device)
    return seen / (time.perf_counter() - t0)


def bench_loader(
    dataset: str = "mnist",
    root: str | Path | None = None,
    device: str | None = None,
    batches: int = 100,
    *,
    batch_size: int = 64,
    train_batches: int = 10,
    repeats: int = 3,
    num_workers: int = 0,
    ratio: str = "1:8:3",
) -> dict:
    """Images/s of both pipelines, loader alone and in BIRIL training steps; medians, ratios.

    ``batches`` batches are timed for the loader alone and ``train_batches`` training steps
    (a fresh model each, after one warm-up step) for each pipeline, ``repeats`` times.
    """
    dev = resolve_device(device)
    splits = load_dataset(dataset, root)
    fast = DeviceLoader(splits, "train", batch_size, dev, train=True)
    slow = torchvision_batches(splits, batch_size, dev, num_workers)
    batches = min(batches, len(fast))
    loader = {"device": [], "torchvision": []}
    train = {"device": [], "torchvision": []}
    for r in range(repeats):
        loader["device"].append(images_per_s(fast.batches(0, r), batches, dev))
        loader["torchvision"].append(images_per_s(slow(), batches, dev))
        for name, make in (("device", lambda r=r: fast.batches(0, r)), ("torchvision", slow)):
            train[name].append(train_images_per_s(dataset, splits, dev, make(), train_batches,
                                                  batch_size, ratio))
    med = {k: statistics.median(v) for k, v in loader.items()}
    med_train = {k: statistics.median(v) for k, v in train.items()}
    return {
        "dataset": dataset,
        "device": str(dev),
        "batch_size": batch_size,
        "batches": batches,
        "train_batches": train_batches,
        "repeats": repeats,
        "num_workers": num_workers,
        "loader_device_ips": med["device"],
        "loader_torchvision_ips": med["torchvision"],
        "loader_speedup": med["device"] / med["torchvision"],
        "train_device_ips": med_train["device"],
        "train_torchvision_ips": med_train["torchvision"],
        "train_speedup": med_train["device"] / med_train["torchvision"],
    }


def train_images_per_s(
    dataset: str,
    splits: DatasetSplits,
    device: torch.device,
    batches: Iterable[tuple[torch.Tensor, torch.Tensor]],
    n: int,
    batch_size: int,
    ratio: str,
) -> float:
    """BIRIL steps on a fresh model fed by ``batches``: one warm-up step, then ``n`` timed."""
    config = TrainConfig(dataset=dataset, ratio=ratio, batch_size=batch_size)
    seed_everything(0)
    model = build_for(config, splits, device)
    step = BIRILStep(model, config, total_steps=n + 1)
    schedule = iter(modes(ratio, n + 1))
    it = iter(batches)

    def consume(x: torch.Tensor, y: torch.Tensor) -> None:
        step(to_time_major(x), y, next(schedule))

    consume(*next(it))
    return images_per_s(it, n, device, consume)

