"""MNIST, Fashion-MNIST, CIFAR-10 and CIFAR-100 in torchvision's on-disk formats.

torchvision reads the files (and fetches them, only with ``download=True``). Before it
does, the files are checked here, so a missing, truncated or corrupt file fails with its
path and the fix rather than with an assertion deep inside torchvision. CIFAR's files are
Python pickles, and unpickling runs whatever code a file names: each is unpickled (here
or by torchvision) only after it matched the md5 sum torchvision publishes for it. The official test
set is kept for reporting; validation is a seeded slice of the official training set.
"""

from __future__ import annotations

import math
import pickle
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch

from .registry import (
    DatasetError,
    DatasetInfo,
    DatasetSplits,
    register,
    split_indices,
    unreadable,
)

# ----------------------------------------------------------------------------- IDX (MNIST)

IDX_FILES = {
    True: ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    False: ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
IDX_UBYTE = 0x08  # the IDX type code of unsigned bytes, the only one MNIST-like files use


def idx_dims(name: str, path: Path, ndim: int) -> tuple[int, ...]:
    """The dimensions an IDX file's header declares, after checking the file holds them all."""
    with open(path, "rb") as f:
        head = f.read(4 + 4 * ndim)
    if len(head) < 4 + 4 * ndim:
        raise unreadable(name, path, f"{len(head)}-byte file, shorter than an IDX header")
    zero, dtype, nd = int.from_bytes(head[:2], "big"), head[2], head[3]
    if zero != 0 or dtype != IDX_UBYTE or nd != ndim:
        raise unreadable(
            name, path, f"not an unsigned-byte IDX file with {ndim} dimension(s): "
            f"magic {head[:4].hex()}"
        )
    dims = tuple(int.from_bytes(head[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    expected = 4 + 4 * ndim + math.prod(dims)
    size = path.stat().st_size
    if size != expected:
        raise unreadable(
            name, path, f"its header declares shape {dims} = {expected} bytes, the file has {size}"
        )
    return dims


def dataset_class(spec: VisionSpec) -> type:
    """torchvision's class for ``spec``, imported only when a torchvision dataset is used.

    Importing torchvision costs a fresh trial actor over a second; digits sweeps never need it.
    """
    import torchvision.datasets

    return getattr(torchvision.datasets, spec.torchvision_class)


def fetch(name: str, root: Path, make: Callable[[], object]) -> None:
    """Run a library's own download (only reached with ``download=True``)."""
    try:
        make()
    except Exception as e:  # network, checksum and extraction errors all mean the same here
        raise DatasetError(
            f"{name}: --download into {root} failed ({type(e).__name__}: {e}). Check the "
            f"network, or place the files there by hand."
        ) from None


def read_idx(spec: VisionSpec, root: Path, train: bool, download: bool):
    """(images ``[N,1,H,W]`` uint8, labels) of one MNIST-like split."""
    cls = dataset_class(spec)
    if download:
        fetch(spec.name, root, lambda: cls(str(root), train=train, download=True))
    raw = root / spec.folder
    images, labels = (raw / f for f in IDX_FILES[train])
    n, h, w = idx_dims(spec.name, images, 3)
    (m,) = idx_dims(spec.name, labels, 1)
    if n == 0:
        raise unreadable(spec.name, images, "its header declares 0 images, so it holds none")
    if n != m or (h, w) != spec.input_shape[1:]:
        raise unreadable(
            spec.name, images, f"{n} images of {h}x{w} but {m} labels in {labels.name}; "
            f"expected {spec.input_shape[1]}x{spec.input_shape[2]} images, one label each"
        )
    ds = cls(str(root), train=train)
    return ds.data.unsqueeze(1).contiguous(), ds.targets.long()


def idx_files(spec: VisionSpec, root: Path) -> list[Path]:
    return [root / spec.folder / f for t in (True, False) for f in IDX_FILES[t]]


def count_idx(spec: VisionSpec, root: Path) -> tuple[int, int]:
    raw = root / spec.folder
    return tuple(idx_dims(spec.name, raw / IDX_FILES[t][0], 3)[0] for t in (True, False))


# ------------------------------------------------------------------------- CIFAR pickles


def cifar_files(spec: VisionSpec, root: Path) -> list[tuple[Path, str]]:
    """(path, md5) of every file torchvision's CIFAR class reads, batches and meta."""
    cls = dataset_class(spec)
    folder = root / spec.folder
    listed = [(folder / f, md5) for f, md5 in cls.train_list + cls.test_list]
    return listed + [(folder / cls.meta["filename"], cls.meta["md5"])]


def cifar_paths(spec: VisionSpec, root: Path) -> list[Path]:
    return [p for p, _ in cifar_files(spec, root)]


def verify_cifar(spec: VisionSpec, root: Path) -> None:
    """Every CIFAR file matches torchvision's published md5, so it is safe to unpickle."""
    from torchvision.datasets.utils import check_integrity

    for path, md5 in cifar_files(spec, root):
        if not check_integrity(str(path), md5):
            raise DatasetError(
                f"{spec.name}: {path} does not match torchvision's md5 sum for it (an "
                "incomplete or altered copy), so it was not unpickled. Replace it, or delete "
                "it and pass --download."
            )


def read_cifar(spec: VisionSpec, root: Path, train: bool, download: bool):
    """(images ``[N,3,32,32]`` uint8, labels) of one CIFAR split."""
    cls = dataset_class(spec)
    if download:
        fetch(spec.name, root, lambda: cls(str(root), train=train, download=True))
    verify_cifar(spec, root)
    try:
        ds = cls(str(root), train=train)
    except (pickle.UnpicklingError, EOFError, KeyError, ValueError, TypeError) as e:
        raise unreadable(spec.name, first_unpicklable(spec, root), repr(e)) from None
    x = torch.from_numpy(ds.data).permute(0, 3, 1, 2).contiguous()
    return x, torch.as_tensor(ds.targets, dtype=torch.long)


def first_unpicklable(spec: VisionSpec, root: Path) -> Path:
    """The verified CIFAR file that breaks loading (the folder, if each unpickles alone)."""
    for path, _ in cifar_files(spec, root):
        try:
            with open(path, "rb") as f:
                entry = pickle.load(f, encoding="latin1")
            if not isinstance(entry, dict):
                return path
        except (pickle.UnpicklingError, EOFError, ValueError, TypeError):
            return path
    return root / spec.folder


def count_cifar(spec: VisionSpec, root: Path) -> tuple[int, int]:
    """Label counts of the train and test pickles (an md5 and a second of unpickling)."""
    verify_cifar(spec, root)
    cls = dataset_class(spec)
    folder = root / spec.folder
    sizes = []
    for listed in (cls.train_list, cls.test_list):
        n = 0
        for file_name, _ in listed:
            try:
                with open(folder / file_name, "rb") as f:
                    entry = pickle.load(f, encoding="latin1")
                n += len(entry["labels"] if "labels" in entry else entry["fine_labels"])
            except (pickle.UnpicklingError, EOFError, KeyError, ValueError, TypeError) as e:
                raise unreadable(spec.name, folder / file_name, repr(e)) from None
        sizes.append(n)
    return sizes[0], sizes[1]


# ------------------------------------------------------------------------------ registry


@dataclass(frozen=True)
class VisionSpec:
    """One torchvision dataset: where its files live and how to present it to the model."""

    name: str
    torchvision_class: str
    folder: str
    read: Callable[[VisionSpec, Path, bool, bool], tuple[torch.Tensor, torch.Tensor]]
    files: Callable[[VisionSpec, Path], list[Path]]
    count: Callable[[VisionSpec, Path], tuple[int, int]]
    num_classes: int
    input_shape: tuple[int, int, int]
    mean: tuple[float, ...]
    std: tuple[float, ...]
    augment: str
    preset: str
    layout: str

    def load(
        self, *, root: Path, val_fraction: float, split_seed: int, download: bool = False, **_
    ) -> DatasetSplits:
        train_x, train_y = self.read(self, root, True, download)
        test_x, test_y = self.read(self, root, False, download)
        for y, part in ((train_y, "train"), (test_y, "test")):
            if len(y) and int(y.max()) >= self.num_classes:
                raise unreadable(
                    self.name, root / self.folder,
                    f"{part} label {int(y.max())} outside 0..{self.num_classes - 1}",
                )
        train, val = split_indices(len(train_y), val_fraction, split_seed)
        return DatasetSplits(
            name=self.name,
            train_x=train_x[train],
            train_y=train_y[train],
            val_x=train_x[val],
            val_y=train_y[val],
            test_x=test_x,
            test_y=test_y,
            num_classes=self.num_classes,
            scale=255.0,
            mean=self.mean,
            std=self.std,
            augment=self.augment,
            crop_padding=4,
        )

    def info(self) -> DatasetInfo:
        return DatasetInfo(
            name=self.name,
            load=self.load,
            num_classes=self.num_classes,
            input_shape=self.input_shape,
            preset=self.preset,
            layout=self.layout,
            files=lambda root: self.files(self, root),
            folder=self.folder,
            count=lambda root: self.count(self, root),
        )


def idx_layout(folder: str) -> str:
    files = ", ".join(f for t in (True, False) for f in IDX_FILES[t])
    return f"{folder}/ with the uncompressed IDX files {files} (torchvision's layout)"


IDX = {"read": read_idx, "files": idx_files, "count": count_idx}
CIFAR = {"read": read_cifar, "files": cifar_paths, "count": count_cifar}
CIFAR_SHAPE = {"input_shape": (3, 32, 32), "augment": "crop_flip", "preset": "paper18"}
MNIST_SHAPE = {"input_shape": (1, 28, 28), "augment": "none", "preset": "mnist"}

SPECS = [
    VisionSpec(
        name="mnist", torchvision_class="MNIST", folder="MNIST/raw", num_classes=10,
        mean=(0.1307,), std=(0.3081,), layout=idx_layout("MNIST/raw"), **IDX, **MNIST_SHAPE,
    ),
    VisionSpec(
        name="fashion_mnist", torchvision_class="FashionMNIST", folder="FashionMNIST/raw",
        num_classes=10, mean=(0.2860,), std=(0.3530,), layout=idx_layout("FashionMNIST/raw"),
        **IDX, **MNIST_SHAPE,
    ),
    VisionSpec(
        name="cifar10", torchvision_class="CIFAR10", folder="cifar-10-batches-py",
        num_classes=10, mean=(0.4914, 0.4822, 0.4465), std=(0.2470, 0.2435, 0.2616),
        layout="cifar-10-batches-py/ with data_batch_1..5, test_batch, batches.meta "
        "(the python pickles of cifar-10-python.tar.gz)",
        **CIFAR, **CIFAR_SHAPE,
    ),
    VisionSpec(
        name="cifar100", torchvision_class="CIFAR100", folder="cifar-100-python",
        num_classes=100, mean=(0.5071, 0.4865, 0.4409), std=(0.2673, 0.2564, 0.2762),
        layout="cifar-100-python/ with train, test, meta (the python pickles of "
        "cifar-100-python.tar.gz)",
        **CIFAR, **CIFAR_SHAPE,
    ),
]

for _spec in SPECS:
    register(_spec.info())
