"""DVS128 Gesture in tonic's ``DVSGesture`` layout, as ``[T, 2, H, W]`` event-count frames.

tonic reads the recordings and bins them (``ToFrame(n_time_bins=T)``, after
``Downsample`` for the 64x64 and 32x32 variants). Framing all 1,341 recordings takes
minutes, so the frames of each (T, size) are written once under
``<root>/.biril_cache/dvs128_gesture/`` and reused by every later run and sweep trial.
tonic starts a download whenever its files look absent, so they are checked here first.
"""

from __future__ import annotations

import os
import warnings
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

NAME = "dvs128_gesture"
FOLDER = "DVSGesture"
SENSOR = 128
NUM_CLASSES = 11
FRAMES = 16
MIN_FILES = 100  # tonic's own "is it extracted" test; below it, tonic downloads
SPLITS = {True: "ibmGestureTrain", False: "ibmGestureTest"}
LAYOUT = (
    f"{FOLDER}/ibmGestureTrain.tar.gz and {FOLDER}/ibmGestureTest.tar.gz, each extracted beside "
    f"it as ibmGestureTrain/ and ibmGestureTest/ with user<NN>_<lighting>/<label>.npy "
    f"recordings (columns x, y, polarity, t in ms), at least {MIN_FILES} per split "
    "(tonic's DVSGesture layout)"
)


def files(root: Path) -> list[Path]:
    base = root / FOLDER
    return [p for folder in SPLITS.values() for p in (base / f"{folder}.tar.gz", base / folder)]


def recordings(root: Path, train: bool) -> list[Path]:
    """The ``.npy`` recordings of a split, found as tonic finds them."""
    folder = root / FOLDER / SPLITS[train]
    return sorted(Path(d) / f for d, _, fs in os.walk(folder) for f in fs if f.endswith("npy"))


def check_split(root: Path, train: bool) -> int:
    """Number of recordings, after making sure tonic will read them rather than download."""
    folder = root / FOLDER / SPLITS[train]
    archive = root / FOLDER / f"{SPLITS[train]}.tar.gz"
    n = len(recordings(root, train))
    problems = [f"no {archive}"] if not archive.is_file() else []
    if n < MIN_FILES:
        problems.append(f"{n} recordings in {folder}, tonic needs at least {MIN_FILES}")
    if problems:
        raise DatasetError(
            f"{NAME}: incomplete data ({'; '.join(problems)}). Expected layout under {root}: "
            f"{LAYOUT}. Put it there, or pass --download."
        )
    return n


def fetch(root: Path, train: bool) -> None:
    """tonic's own download of one split (only with --download; a no-op when present)."""
    from tonic.datasets import DVSGesture

    try:
        DVSGesture(str(root), train=train)
    except Exception as e:  # network, checksum and extraction errors all mean the same here
        raise DatasetError(
            f"{NAME}: --download into {root / FOLDER} failed ({type(e).__name__}: {e}). "
            f"Check the network, or place the files there by hand."
        ) from None


def transform(size: int, time_steps: int):
    from tonic.transforms import Compose, Downsample, ToFrame

    to_frame = ToFrame(sensor_size=(size, size, 2), n_time_bins=time_steps)
    if size == SENSOR:
        return to_frame
    return Compose([Downsample(spatial_factor=size / SENSOR), to_frame])


def frame_split(root: Path, train: bool, size: int, time_steps: int, download: bool):
    """(frames ``[N, T, 2, size, size]`` int16, labels) of one split, framed by tonic."""
    from tonic.datasets import DVSGesture

    if download:
        fetch(root, train)
    check_split(root, train)
    folder = root / FOLDER / SPLITS[train]
    try:
        ds = DVSGesture(str(root), train=train, transform=transform(size, time_steps))
    except ValueError as e:
        raise unreadable(
            NAME, folder, f"names must be user<NN>_<lighting>/<label>.npy: {e}"
        ) from None
    x = torch.empty((len(ds), time_steps, 2, size, size), dtype=torch.int16)
    for i in range(len(ds)):
        try:
            frames, _ = ds[i]
        except (ValueError, IndexError, TypeError, OSError, EOFError) as e:
            raise unreadable(
                NAME, ds.data[i], f"{type(e).__name__}: {e}; expected an [N, 4] array of x, y, "
                f"polarity, t (ms) within the {SENSOR}x{SENSOR} sensor"
            ) from None
        if frames.shape != x.shape[1:]:
            raise unreadable(
                NAME, ds.data[i], f"framed to {frames.shape}, expected {tuple(x.shape[1:])}"
            )
        x[i] = torch.from_numpy(frames)
    y = torch.tensor(ds.targets, dtype=torch.long)
    if len(y) and int(y.max()) >= NUM_CLASSES:
        bad = ds.data[int(y.argmax())]
        raise unreadable(NAME, bad, f"label {int(y.max())} outside 0..{NUM_CLASSES - 1}")
    return x, y


def cache_file(root: Path, train: bool, size: int, time_steps: int) -> Path:
    key = f"T{time_steps}_{size}x{size}"
    return root / ".biril_cache" / NAME / key / f"{'train' if train else 'test'}.pt"


def cached_split(root: Path, train: bool, size: int, time_steps: int, download: bool):
    """Frames from the cache when it matches the recordings on disk, else framed and cached."""
    path = cache_file(root, train, size, time_steps)
    if path.is_file():
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
            if state["sources"] == len(recordings(root, train)):
                return state["x"], state["y"]
        except (OSError, RuntimeError, KeyError, EOFError):
            pass  # a stale or damaged cache is rebuilt below
    x, y = frame_split(root, train, size, time_steps, download)
    save_cache(path, {"x": x, "y": y, "sources": len(recordings(root, train))})
    return x, y


def save_cache(path: Path, state: dict) -> None:
    """Write atomically; a read-only data root only costs the re-framing next time."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
        torch.save(state, tmp)
        os.replace(tmp, path)
    except OSError as e:
        warnings.warn(f"{NAME}: could not cache frames at {path} ({e})", stacklevel=2)


def make_load(size: int):
    def load(
        *,
        root: Path,
        val_fraction: float,
        split_seed: int,
        download: bool = False,
        time_steps: int = FRAMES,
        **_,
    ) -> DatasetSplits:
        train_x, train_y = cached_split(root, True, size, time_steps, download)
        test_x, test_y = cached_split(root, False, size, time_steps, download)
        train, val = split_indices(len(train_y), val_fraction, split_seed)
        return DatasetSplits(
            name=NAME if size == SENSOR else f"{NAME}_{size}",
            train_x=train_x[train],
            train_y=train_y[train],
            val_x=train_x[val],
            val_y=train_y[val],
            test_x=test_x,
            test_y=test_y,
            num_classes=NUM_CLASSES,
            scale=1.0,  # event counts go in as they are; the stem's BN sets their scale
            augment="none",
        )

    return load


def count(root: Path) -> tuple[int, int]:
    return check_split(root, True), check_split(root, False)


for _size in (SENSOR, 64, 32):
    register(
        DatasetInfo(
            name=NAME if _size == SENSOR else f"{NAME}_{_size}",
            load=make_load(_size),
            num_classes=NUM_CLASSES,
            input_shape=(FRAMES, 2, _size, _size),
            preset="paper18",
            layout=LAYOUT + ("" if _size == SENSOR else f"; downsampled to {_size}x{_size}"),
            time_steps=FRAMES,
            files=files,
            folder=FOLDER,
            count=count,
        )
    )
