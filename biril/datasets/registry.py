"""The registry every dataset module adds itself to, and the split they all share."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import torch

from results.errors import UserError


class DatasetError(UserError, RuntimeError):
    """Data that is missing, incomplete or corrupt; the message says where and what to do."""


@dataclass
class DatasetSplits:
    """Train/validation/test tensors plus what the device loader needs to use them.

    Images are ``[N, C, H, W]``; events are ``[N, T, 2, H, W]`` frames. ``scale`` maps raw
    values to ``[0, 1]`` before ``mean``/``std`` normalization, done per batch on device.
    """

    name: str
    train_x: torch.Tensor
    train_y: torch.Tensor
    val_x: torch.Tensor
    val_y: torch.Tensor
    test_x: torch.Tensor
    test_y: torch.Tensor
    num_classes: int
    scale: float = 255.0
    mean: tuple[float, ...] = ()
    std: tuple[float, ...] = ()
    augment: Literal["none", "crop_flip"] = "none"
    crop_padding: int = 4

    @property
    def is_events(self) -> bool:
        return self.train_x.dim() == 5

    @property
    def input_shape(self) -> tuple[int, ...]:
        return tuple(self.train_x.shape[1:])

    @property
    def in_channels(self) -> int:
        return self.input_shape[-3]


@dataclass(frozen=True)
class DatasetInfo:
    """A registered dataset: how to load it and what a user needs to know about it.

    ``folder`` is where its files live relative to the data root (shown by ``inventory``);
    ``count(root)`` returns ``(training-pool size, test size)`` from file headers or listings,
    so an inventory need not decode every image.
    """

    name: str
    load: Callable[..., DatasetSplits]
    num_classes: int
    input_shape: tuple[int, ...]
    preset: str
    layout: str
    time_steps: int = 4
    files: Callable[[Path], list[Path]] = field(default=lambda root: [])
    folder: str = ""
    count: Callable[[Path], tuple[int, int]] | None = None

    def missing(self, root: Path) -> list[Path]:
        """Required files under ``root`` that are not there (empty: ready to load)."""
        return [p for p in self.files(root) if not p.exists()]


REGISTRY: dict[str, DatasetInfo] = {}


def register(info: DatasetInfo) -> DatasetInfo:
    REGISTRY[info.name] = info
    return info


def unreadable(name: str, path: Path | str, problem: str) -> DatasetError:
    """The error for a file that exists but cannot be read as the format it should be."""
    return DatasetError(
        f"{name}: {path} is truncated or corrupt ({problem}). Replace it with an intact copy, "
        f"or delete it and pass --download."
    )


def data_root(root: str | Path | None = None) -> Path:
    """``--data-root``, else ``$BIRIL_DATA``, else ``~/.cache/biril/data``."""
    if root is not None:
        return Path(root).expanduser()
    env = os.environ.get("BIRIL_DATA")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "biril" / "data"


def split_indices(n: int, val_fraction: float, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Deterministic (train, val) index split of ``range(n)`` from ``seed``."""
    g = torch.Generator().manual_seed(seed)
    perm = torch.randperm(n, generator=g)
    n_val = max(1, round(n * val_fraction))
    return perm[n_val:].sort().values, perm[:n_val].sort().values


def load_dataset(
    name: str,
    root: str | Path | None = None,
    *,
    val_fraction: float = 0.1,
    split_seed: int = 0,
    download: bool = False,
    time_steps: int | None = None,
) -> DatasetSplits:
    """Load a registered dataset's splits; fails fast with the expected layout if absent."""
    if name not in REGISTRY:
        raise DatasetError(f"unknown dataset {name!r}; choose one of: {', '.join(REGISTRY)}")
    info = REGISTRY[name]
    path = data_root(root)
    if not download and info.missing(path):
        absent = info.missing(path)
        missing = ", ".join(str(p) for p in absent[:3]) + (" ..." if len(absent) > 3 else "")
        raise DatasetError(
            f"{name}: data not found (missing {missing}). Expected layout under {path}: "
            f"{info.layout}. Put it there, point --data-root/BIRIL_DATA at it, "
            f"or pass --download."
        )
    return info.load(
        root=path,
        val_fraction=val_fraction,
        split_seed=split_seed,
        download=download,
        time_steps=time_steps or info.time_steps,
    )
