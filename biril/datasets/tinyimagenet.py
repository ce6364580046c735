"""Tiny-ImageNet-200 in its standard folder layout, decoded once into one uint8 tensor.

The release has no test labels, so its labelled ``val`` set serves as the test set and
validation is carved from ``train``. Class indices follow the sorted wnids (as torchvision's
``ImageFolder`` numbers the ``train`` folders).
"""

from __future__ import annotations

import os
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

NAME = "tinyimagenet"
FOLDER = "tiny-imagenet-200"
SIZE = 64
URL = "http://cs231n.stanford.edu/tiny-imagenet-200.zip"
LAYOUT = (
    f"{FOLDER}/ with wnids.txt, train/<wnid>/images/*.JPEG, val/images/*.JPEG and "
    "val/val_annotations.txt (the extracted tiny-imagenet-200.zip)"
)


def files(root: Path) -> list[Path]:
    d = root / FOLDER
    return [d / "wnids.txt", d / "train", d / "val" / "images", d / "val" / "val_annotations.txt"]


def incomplete(path: Path, what: str) -> DatasetError:
    return DatasetError(
        f"{NAME}: incomplete data, {what} at {path}. Expected layout: {LAYOUT}. "
        f"Re-extract the archive there, or pass --download."
    )


def read_wnids(root: Path) -> list[str]:
    path = root / FOLDER / "wnids.txt"
    wnids = sorted({line.strip() for line in path.read_text().splitlines() if line.strip()})
    if not wnids:
        raise unreadable(NAME, path, "no class ids in it")
    return wnids


def jpegs(folder: Path) -> list[Path]:
    return sorted(folder / e.name for e in os.scandir(folder) if e.name.endswith(".JPEG"))


def train_items(root: Path, wnids: list[str]) -> tuple[list[Path], list[int]]:
    paths, labels = [], []
    for label, wnid in enumerate(wnids):
        folder = root / FOLDER / "train" / wnid / "images"
        found = jpegs(folder) if folder.is_dir() else []
        if not found:
            raise incomplete(folder, f"no JPEG images for class {wnid}")
        paths += found
        labels += [label] * len(found)
    return paths, labels


def val_items(root: Path, wnids: list[str]) -> tuple[list[Path], list[int]]:
    """The official val images with their labels from ``val_annotations.txt``."""
    ann = root / FOLDER / "val" / "val_annotations.txt"
    index = {w: i for i, w in enumerate(wnids)}
    paths, labels = [], []
    for number, line in enumerate(ann.read_text().splitlines(), 1):
        if not line.strip():
            continue
        fields = line.split("\t")
        if len(fields) < 2 or fields[1] not in index:
            raise unreadable(
                NAME, ann, f"line {number} is not '<file>\\t<wnid from wnids.txt>\\t...': {line!r}"
            )
        path = root / FOLDER / "val" / "images" / fields[0]
        if not path.is_file():
            raise incomplete(path, "an image named in val_annotations.txt is missing")
        paths.append(path)
        labels.append(index[fields[1]])
    if not paths:
        raise unreadable(NAME, ann, "no annotations in it")
    return paths, labels


def decode(paths: list[Path]) -> torch.Tensor:
    """All images as ``[N, 3, 64, 64]`` uint8 (grayscale JPEGs expanded to RGB)."""
    from torchvision.io import ImageReadMode, decode_jpeg, read_file  # lazy: >1 s to import

    out = torch.empty((len(paths), 3, SIZE, SIZE), dtype=torch.uint8)
    for i, path in enumerate(paths):
        try:
            image = decode_jpeg(read_file(str(path)), mode=ImageReadMode.RGB)
        except RuntimeError as e:
            raise unreadable(NAME, path, f"not a decodable JPEG: {e}") from None
        if image.shape != (3, SIZE, SIZE):
            raise unreadable(NAME, path, f"image of {tuple(image.shape[1:])}, expected 64x64")
        out[i] = image
    return out


def fetch(root: Path) -> None:
    """The release archive through torchvision's download helper (only with --download)."""
    from torchvision.datasets.utils import download_and_extract_archive

    if all(p.exists() for p in files(root)):
        return
    try:
        download_and_extract_archive(URL, str(root))
    except Exception as e:  # network and extraction errors all mean the same here
        raise DatasetError(
            f"{NAME}: --download into {root} failed ({type(e).__name__}: {e}). Check the "
            f"network, or place {FOLDER}/ there by hand."
        ) from None


def load(
    *, root: Path, val_fraction: float, split_seed: int, download: bool = False, **_
) -> DatasetSplits:
    if download:
        fetch(root)
    wnids = read_wnids(root)
    train_paths, train_labels = train_items(root, wnids)
    test_paths, test_labels = val_items(root, wnids)
    train, val = split_indices(len(train_paths), val_fraction, split_seed)
    x = decode(train_paths)
    y = torch.tensor(train_labels, dtype=torch.long)
    return DatasetSplits(
        name=NAME,
        train_x=x[train],
        train_y=y[train],
        val_x=x[val],
        val_y=y[val],
        test_x=decode(test_paths),
        test_y=torch.tensor(test_labels, dtype=torch.long),
        num_classes=len(wnids),
        scale=255.0,
        mean=(0.4802, 0.4481, 0.3975),
        std=(0.2770, 0.2691, 0.2821),
        augment="crop_flip",
        crop_padding=8,  # CIFAR's 4 pixels at 32x32, scaled to 64x64
    )


def count(root: Path) -> tuple[int, int]:
    """(train images, annotated val images) from listings alone: nothing is decoded."""
    wnids = read_wnids(root)
    folders = [root / FOLDER / "train" / w / "images" for w in wnids]
    n_train = sum(len(jpegs(f)) for f in folders if f.is_dir())
    ann = root / FOLDER / "val" / "val_annotations.txt"
    n_test = sum(1 for line in ann.read_text().splitlines() if line.strip())
    return n_train, n_test


register(
    DatasetInfo(
        name=NAME,
        load=load,
        num_classes=200,
        input_shape=(3, SIZE, SIZE),
        preset="paper18",
        layout=LAYOUT,
        files=files,
        folder=FOLDER,
        count=count,
    )
)
