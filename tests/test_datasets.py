"""Every dataset format, loaded from small fakes written here in its exact on-disk format.

Each sample's identity is written into its pixels (and its label), so the tests check what
the loaders return against what was written, not against the loaders' own output. No test
may touch the network: sockets fail for the whole module.
"""

from __future__ import annotations

import hashlib
import pickle
import socket
import subprocess
import sys

import numpy as np
import pytest
import torch
from PIL import Image

from biril.datasets import DatasetError, inventory, load_dataset


@pytest.fixture(autouse=True)
def no_network(monkeypatch):
    def refuse(*args, **kwargs):
        raise OSError("network access attempted in a test")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


@pytest.fixture
def publish_md5(monkeypatch):
    """``publish(root)``: torchvision's CIFAR md5 lists now name the fakes under ``root``.

    The fakes cannot match the real files' sums, so they are published in their place:
    the files are still verified before they are unpickled, exactly as real ones are.
    """
    import torchvision.datasets as tvd

    def md5(path) -> str:
        return hashlib.md5(path.read_bytes()).hexdigest() if path.is_file() else "absent"

    def publish(root) -> None:
        for cls in (tvd.CIFAR10, tvd.CIFAR100):
            folder = root / cls.base_folder
            for listed in ("train_list", "test_list"):
                files = [[name, md5(folder / name)] for name, _ in getattr(cls, listed)]
                monkeypatch.setattr(cls, listed, files)
            meta = {**cls.meta, "md5": md5(folder / cls.meta["filename"])}
            monkeypatch.setattr(cls, "meta", meta)

    return publish


class Payload:
    """A pickle whose loading creates a file: proof of code run by unpickling."""

    def __init__(self, marker) -> None:
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


# --------------------------------------------------------------------------- MNIST (IDX)


def write_idx(path, array: np.ndarray) -> None:
    """The IDX format: 0x0000, type 0x08 (ubyte), ndim, big-endian int32 dims, raw bytes."""
    path.parent.mkdir(parents=True, exist_ok=True)
    dims = b"".join(int(d).to_bytes(4, "big") for d in array.shape)
    path.write_bytes(bytes([0, 0, 0x08, array.ndim]) + dims + array.astype(np.uint8).tobytes())


def fake_idx_images(n: int, offset: int) -> np.ndarray:
    images = np.zeros((n, 28, 28), dtype=np.uint8)
    images[:, 0, 0] = np.arange(n) + offset  # identity of each sample
    images[:, 27, 27] = 255
    return images


def write_mnist(root, folder="MNIST", n_train=40, n_test=12):
    raw = root / folder / "raw"
    write_idx(raw / "train-images-idx3-ubyte", fake_idx_images(n_train, 0))
    write_idx(raw / "train-labels-idx1-ubyte", np.arange(n_train) % 10)
    write_idx(raw / "t10k-images-idx3-ubyte", fake_idx_images(n_test, 100))
    write_idx(raw / "t10k-labels-idx1-ubyte", (np.arange(n_test) + 3) % 10)
    return raw


@pytest.mark.parametrize(
    ("name", "folder"), [("mnist", "MNIST"), ("fashion_mnist", "FashionMNIST")]
)
def test_idx_datasets_load_split_and_keep_the_test_set(tmp_path, name, folder):
    write_mnist(tmp_path, folder)
    s = load_dataset(name, tmp_path, val_fraction=0.25, split_seed=3)
    assert s.train_x.dtype == torch.uint8 and s.train_x.shape[1:] == (1, 28, 28)
    assert (len(s.train_y), len(s.val_y), len(s.test_y)) == (30, 10, 12)
    ids_train = s.train_x[:, 0, 0, 0].tolist()
    ids_val = s.val_x[:, 0, 0, 0].tolist()
    assert sorted(ids_train + ids_val) == list(range(40))  # a partition of the train file
    assert s.train_y.tolist() == [i % 10 for i in ids_train]  # labels follow their images
    assert s.test_x[:, 0, 0, 0].tolist() == list(range(100, 112))  # official test, in order
    assert s.test_y.tolist() == [(i + 3) % 10 for i in range(12)]
    assert int(s.test_x[0, 0, 27, 27]) == 255
    assert s.augment == "none" and s.scale == 255.0 and len(s.mean) == 1


def test_validation_split_is_seeded(tmp_path):
    write_mnist(tmp_path)
    val = [load_dataset("mnist", tmp_path, split_seed=k).val_x[:, 0, 0, 0] for k in (0, 0, 1)]
    val = [v.tolist() for v in val]
    assert val[0] == val[1] and val[0] != val[2]


def test_missing_mnist_names_path_layout_and_download(tmp_path):
    with pytest.raises(DatasetError) as err:
        load_dataset("mnist", tmp_path)
    msg = str(err.value)
    assert "mnist" in msg and str(tmp_path / "MNIST" / "raw" / "train-images-idx3-ubyte") in msg
    assert "IDX" in msg and "--download" in msg


def test_truncated_idx_file_is_named(tmp_path):
    raw = write_mnist(tmp_path)
    path = raw / "train-images-idx3-ubyte"
    path.write_bytes(path.read_bytes()[:1000])
    with pytest.raises(DatasetError, match="truncated or corrupt") as err:
        load_dataset("mnist", tmp_path)
    assert str(path) in str(err.value) and "header declares shape (40, 28, 28)" in str(err.value)


def test_idx_file_shorter_than_its_header(tmp_path):
    raw = write_mnist(tmp_path)
    (raw / "t10k-labels-idx1-ubyte").write_bytes(b"\x00\x00")
    with pytest.raises(DatasetError, match="shorter than an IDX header"):
        load_dataset("mnist", tmp_path)


def test_labels_that_do_not_match_images(tmp_path):
    raw = write_mnist(tmp_path)
    write_idx(raw / "train-labels-idx1-ubyte", np.arange(39) % 10)
    with pytest.raises(DatasetError, match="40 images of 28x28 but 39 labels"):
        load_dataset("mnist", tmp_path)


def test_download_uses_torchvision_and_fails_cleanly_offline(tmp_path):
    with pytest.raises(DatasetError, match="--download into .* failed"):
        load_dataset("mnist", tmp_path, download=True)


# ------------------------------------------------------------------------- CIFAR pickles


def cifar_rows(n: int, offset: int) -> np.ndarray:
    """Rows of 3072 bytes: 1024 red, 1024 green, 1024 blue, each plane row-major."""
    rows = np.random.default_rng(offset).integers(0, 256, (n, 3072), dtype=np.uint8)
    rows[:, 0] = np.arange(n) + offset
    return rows


def dump(path, obj) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as f:
        pickle.dump(obj, f)


def write_cifar10(root, per_batch=6, n_test=5):
    d = root / "cifar-10-batches-py"
    for b in range(1, 6):
        rows = cifar_rows(per_batch, 10 * b)
        labels = [(b + i) % 10 for i in range(per_batch)]
        dump(d / f"data_batch_{b}", {"data": rows, "labels": labels})
    test_labels = [i % 10 for i in range(n_test)]
    dump(d / "test_batch", {"data": cifar_rows(n_test, 200), "labels": test_labels})
    dump(d / "batches.meta", {"label_names": [f"class{i}" for i in range(10)]})
    return d


def write_cifar100(root, n_train=20, n_test=7):
    d = root / "cifar-100-python"
    fine = lambda n: [(7 * i) % 100 for i in range(n)]  # noqa: E731
    dump(d / "train", {"data": cifar_rows(n_train, 0), "fine_labels": fine(n_train),
                       "coarse_labels": [0] * n_train})
    dump(d / "test", {"data": cifar_rows(n_test, 100), "fine_labels": fine(n_test),
                      "coarse_labels": [0] * n_test})
    dump(d / "meta", {"fine_label_names": [f"c{i}" for i in range(100)],
                      "coarse_label_names": [f"s{i}" for i in range(20)]})
    return d


def test_cifar10_pickles_to_chw_with_seeded_validation(tmp_path, publish_md5):
    write_cifar10(tmp_path)
    publish_md5(tmp_path)
    s = load_dataset("cifar10", tmp_path, val_fraction=0.2)
    assert s.train_x.shape[1:] == (3, 32, 32) and s.train_x.dtype == torch.uint8
    assert (len(s.train_y), len(s.val_y), len(s.test_y)) == (24, 6, 5)
    test_rows = cifar_rows(5, 200)
    for i in range(5):  # channel c, row h, column w is byte c*1024 + h*32 + w of the row
        expected = torch.from_numpy(test_rows[i].reshape(3, 32, 32))
        assert torch.equal(s.test_x[i], expected)
    written = {(10 * b + i): (b + i) % 10 for b in range(1, 6) for i in range(6)}
    got = dict(zip(torch.cat([s.train_x, s.val_x])[:, 0, 0, 0].tolist(),
                   torch.cat([s.train_y, s.val_y]).tolist(), strict=True))
    assert got == written
    assert s.augment == "crop_flip" and len(s.mean) == 3 and s.num_classes == 10


def test_cifar100_fine_labels(tmp_path, publish_md5):
    write_cifar100(tmp_path)
    publish_md5(tmp_path)
    s = load_dataset("cifar100", tmp_path, val_fraction=0.1)
    assert s.num_classes == 100 and (len(s.train_y), len(s.val_y)) == (18, 2)
    assert s.test_y.tolist() == [(7 * i) % 100 for i in range(7)]
    assert torch.equal(s.test_x[3], torch.from_numpy(cifar_rows(7, 100)[3].reshape(3, 32, 32)))


def test_cifar_md5_mismatch_names_the_file(tmp_path):
    d = write_cifar10(tmp_path)
    with pytest.raises(DatasetError, match="md5") as err:
        load_dataset("cifar10", tmp_path)
    assert str(d / "data_batch_1") in str(err.value) and "--download" in str(err.value)


@pytest.mark.parametrize("published", [True, False], ids=["fakes-published", "real-md5s"])
def test_a_planted_cifar_pickle_never_runs(tmp_path, publish_md5, published):
    d = write_cifar10(tmp_path)
    if published:
        publish_md5(tmp_path)  # every other file verifies; the planted one cannot
    marker = tmp_path / "payload-ran"
    dump(d / "data_batch_2", Payload(marker))
    with pytest.raises(DatasetError, match="does not match torchvision's md5") as err:
        load_dataset("cifar10", tmp_path)
    assert str(d / ("data_batch_2" if published else "data_batch_1")) in str(err.value)
    row = {r["name"]: r for r in inventory(tmp_path)}["cifar10"]
    assert row["status"] == "error" and "md5" in row["detail"]
    assert not marker.exists()


def test_broken_cifar_pickle_names_the_file(tmp_path, publish_md5):
    d = write_cifar10(tmp_path)
    (d / "data_batch_3").write_bytes(b"\x80\x04 this is not a pickle")
    publish_md5(tmp_path)
    with pytest.raises(DatasetError, match="truncated or corrupt") as err:
        load_dataset("cifar10", tmp_path)
    assert str(d / "data_batch_3") in str(err.value)


def test_truncated_cifar_pickle(tmp_path, publish_md5):
    d = write_cifar100(tmp_path)
    data = (d / "train").read_bytes()
    (d / "train").write_bytes(data[: len(data) // 2])
    publish_md5(tmp_path)
    with pytest.raises(DatasetError, match="truncated or corrupt") as err:
        load_dataset("cifar100", tmp_path)
    assert str(d / "train") in str(err.value)


def test_missing_cifar_names_layout(tmp_path):
    with pytest.raises(DatasetError) as err:
        load_dataset("cifar100", tmp_path)
    msg = str(err.value)
    assert str(tmp_path / "cifar-100-python" / "train") in msg and "pickles" in msg
    assert "--download" in msg


# ------------------------------------------------------------------------ Tiny-ImageNet

WNIDS = ["n02", "n01", "n03"]  # deliberately unsorted in wnids.txt


def color(k: int) -> tuple[int, int, int]:
    return (10 * k % 256, 60 + 5 * k % 196, 200 - 3 * k % 200)


def write_tiny(root, per_class=4):
    d = root / "tiny-imagenet-200"
    d.mkdir(parents=True)
    (d / "wnids.txt").write_text("\n".join(WNIDS) + "\n")
    for c, wnid in enumerate(WNIDS):
        images = d / "train" / wnid / "images"
        images.mkdir(parents=True)
        (d / "train" / wnid / f"{wnid}_boxes.txt").write_text("")
        for i in range(per_class):
            Image.new("RGB", (64, 64), color(10 * c + i)).save(images / f"{wnid}_{i}.JPEG")
    (d / "val" / "images").mkdir(parents=True)
    lines = []
    for j, wnid in enumerate(["n03", "n01", "n02", "n01"]):
        Image.new("RGB", (64, 64), color(100 + j)).save(d / "val" / "images" / f"val_{j}.JPEG")
        lines.append(f"val_{j}.JPEG\t{wnid}\t0\t0\t63\t63")
    Image.new("L", (64, 64), 77).save(d / "val" / "images" / "val_4.JPEG")  # grayscale
    lines.append("val_4.JPEG\tn02\t1\t2\t30\t40")
    (d / "val" / "val_annotations.txt").write_text("\n".join(lines) + "\n")
    return d


def test_tinyimagenet_folders_and_val_annotations(tmp_path):
    write_tiny(tmp_path)
    s = load_dataset("tinyimagenet", tmp_path, val_fraction=0.25)
    assert s.num_classes == 3 and s.train_x.shape[1:] == (3, 64, 64)
    assert (len(s.train_y), len(s.val_y), len(s.test_y)) == (9, 3, 5)
    # classes numbered by sorted wnid: n01 -> 0, n02 -> 1, n03 -> 2
    assert s.test_y.tolist() == [2, 0, 1, 0, 1]
    for j in range(4):  # JPEG is lossy: the solid colour comes back within a few levels
        mean = s.test_x[j].float().mean((1, 2))
        assert torch.allclose(mean, torch.tensor(color(100 + j), dtype=torch.float), atol=3)
    assert torch.allclose(s.test_x[4].float().mean((1, 2)), torch.full((3,), 77.0), atol=2)
    # a train image's colour says which class folder it came from
    train_of = {1: "n02", 0: "n01", 2: "n03"}
    for x, y in zip(torch.cat([s.train_x, s.val_x]), torch.cat([s.train_y, s.val_y]), strict=True):
        c = WNIDS.index(train_of[int(y)])
        candidates = torch.tensor([color(10 * c + i) for i in range(4)], dtype=torch.float)
        assert (candidates - x.float().mean((1, 2))).abs().max(1).values.min() <= 3
    assert s.augment == "crop_flip"


def test_tinyimagenet_missing_annotations(tmp_path):
    d = write_tiny(tmp_path)
    (d / "val" / "val_annotations.txt").unlink()
    with pytest.raises(DatasetError) as err:
        load_dataset("tinyimagenet", tmp_path)
    assert str(d / "val" / "val_annotations.txt") in str(err.value)
    assert "train/<wnid>/images" in str(err.value) and "--download" in str(err.value)


def test_tinyimagenet_image_named_but_absent(tmp_path):
    d = write_tiny(tmp_path)
    (d / "val" / "images" / "val_2.JPEG").unlink()
    with pytest.raises(DatasetError, match="incomplete") as err:
        load_dataset("tinyimagenet", tmp_path)
    assert str(d / "val" / "images" / "val_2.JPEG") in str(err.value)


def test_tinyimagenet_class_without_images(tmp_path):
    d = write_tiny(tmp_path)
    for f in (d / "train" / "n03" / "images").iterdir():
        f.unlink()
    with pytest.raises(DatasetError, match="no JPEG images for class n03"):
        load_dataset("tinyimagenet", tmp_path)


def test_tinyimagenet_corrupt_jpeg(tmp_path):
    d = write_tiny(tmp_path)
    bad = d / "train" / "n01" / "images" / "n01_2.JPEG"
    bad.write_bytes(b"not a jpeg at all")
    with pytest.raises(DatasetError, match="not a decodable JPEG") as err:
        load_dataset("tinyimagenet", tmp_path)
    assert str(bad) in str(err.value)


def test_tinyimagenet_bad_annotation_line(tmp_path):
    d = write_tiny(tmp_path)
    with open(d / "val" / "val_annotations.txt", "a") as f:
        f.write("val_0.JPEG\tn99\t0\t0\t1\t1\n")
    with pytest.raises(DatasetError, match="line 6"):
        load_dataset("tinyimagenet", tmp_path)


# ------------------------------------------------------------------------ DVS128 Gesture

N_USERS = 10  # 10 users x 11 gestures = 110 recordings: tonic wants at least 100 per split


def events(label: int, user: int) -> np.ndarray:
    """Five events at 0, 25, 50, 75 and 100 ms; columns x, y, polarity, t (ms)."""
    x = [label, 127, 64, 5, 0]
    y = [user, 3, 127, 64, 0]
    p = [1, 0, 1, 1, 0]
    t = [0, 25, 50, 75, 100]
    return np.array([x, y, p, t], dtype=np.int64).T


def write_dvs(root, n_users=N_USERS):
    base = root / "DVSGesture"
    for folder in ("ibmGestureTrain", "ibmGestureTest"):
        base.mkdir(parents=True, exist_ok=True)
        (base / f"{folder}.tar.gz").write_bytes(b"")  # tonic only checks that it is there
        for user in range(1, n_users + 1):
            d = base / folder / f"user{user:02d}_fluorescent"
            d.mkdir(parents=True)
            for label in range(11):
                np.save(d / f"{label}.npy", events(label, user))
    return base


def expected_frames(label: int, user: int, size: int, time_steps: int = 4) -> torch.Tensor:
    """By hand: ToFrame(n_time_bins=4) bins are 25 ms wide from t=0; the event at the last
    timestamp (100 ms) starts a fifth bin and is dropped. Downsampling floors x*size/128."""
    f = torch.zeros((time_steps, 2, size, size), dtype=torch.int16)
    ev = events(label, user)
    for b in range(4):
        x, y, p, _ = ev[b]
        f[b, p, y * size // 128, x * size // 128] += 1
    return f


@pytest.mark.parametrize("size", [128, 32])
def test_dvs_gesture_frames(tmp_path, size):
    write_dvs(tmp_path)
    name = "dvs128_gesture" if size == 128 else f"dvs128_gesture_{size}"
    s = load_dataset(name, tmp_path, val_fraction=0.1, time_steps=4)
    assert s.train_x.shape[1:] == (4, 2, size, size) and s.is_events
    assert (len(s.train_y), len(s.val_y), len(s.test_y)) == (99, 11, 110)
    assert s.num_classes == 11 and s.augment == "none"
    # tonic lists user folders in os.walk order; the first event (x=label, y=user) says which
    for x, y in zip(s.test_x, s.test_y, strict=True):
        assert int(x.sum()) == 4  # the fifth event, at the last timestamp, is dropped
        if size == 128:
            user = int(x[0, 1].nonzero()[0][0])
            assert torch.equal(x, expected_frames(int(y), user, size))
    assert sorted(s.test_y.tolist()) == sorted(list(range(11)) * N_USERS)


def test_dvs_downsampled_frames_by_hand(tmp_path):
    write_dvs(tmp_path)
    s = load_dataset("dvs128_gesture_32", tmp_path, time_steps=4)
    x, y = s.test_x, s.test_y
    # user 8, label 9 maps to a unique first-event pixel (y=2, x=2) at 32x32
    matches = [i for i in range(len(y)) if int(y[i]) == 9 and int(x[i, 0, 1, 2, 2]) == 1]
    assert matches
    assert torch.equal(x[matches[0]], expected_frames(9, 8, 32))
    f = x[matches[0]]  # hand-checked positions: (127,3)->(31,0), (64,127)->(16,31), (5,64)->(1,16)
    assert int(f[1, 0, 0, 31]) == 1 and int(f[2, 1, 31, 16]) == 1 and int(f[3, 1, 16, 1]) == 1


def test_dvs_frames_are_cached_and_reused(tmp_path, monkeypatch):
    write_dvs(tmp_path)
    first = load_dataset("dvs128_gesture_32", tmp_path, time_steps=4)
    cache = tmp_path / ".biril_cache" / "dvs128_gesture" / "T4_32x32"
    assert (cache / "train.pt").is_file() and (cache / "test.pt").is_file()
    from tonic.datasets import DVSGesture

    def must_not_read(self, index):
        raise AssertionError("recordings read again despite the cache")

    monkeypatch.setattr(DVSGesture, "__getitem__", must_not_read)
    again = load_dataset("dvs128_gesture_32", tmp_path, time_steps=4)
    assert torch.equal(first.test_x, again.test_x) and torch.equal(first.val_y, again.val_y)
    with pytest.raises(AssertionError, match="read again"):  # other T: a new cache entry
        load_dataset("dvs128_gesture_32", tmp_path, time_steps=2)


def test_dvs_cache_rebuilt_when_recordings_change(tmp_path):
    base = write_dvs(tmp_path)
    load_dataset("dvs128_gesture_32", tmp_path, time_steps=4)
    extra = base / "ibmGestureTest" / "user11_led"
    extra.mkdir()
    np.save(extra / "4.npy", events(4, 11))
    assert len(load_dataset("dvs128_gesture_32", tmp_path, time_steps=4).test_y) == 111


def test_dvs_missing_archive_fails_before_tonic_downloads(tmp_path):
    base = write_dvs(tmp_path)
    (base / "ibmGestureTest.tar.gz").unlink()
    with pytest.raises(DatasetError) as err:
        load_dataset("dvs128_gesture", tmp_path)
    msg = str(err.value)
    assert str(base / "ibmGestureTest.tar.gz") in msg and "--download" in msg
    assert "user<NN>_<lighting>/<label>.npy" in msg


def test_dvs_too_few_recordings(tmp_path):
    write_dvs(tmp_path, n_users=5)
    with pytest.raises(DatasetError, match="55 recordings in .*ibmGestureTrain, tonic needs"):
        load_dataset("dvs128_gesture", tmp_path)


def test_dvs_event_file_with_wrong_columns(tmp_path):
    base = write_dvs(tmp_path)
    bad = base / "ibmGestureTrain" / "user03_fluorescent" / "7.npy"
    np.save(bad, events(7, 3)[:, :3])  # x, y, p but no timestamps
    with pytest.raises(DatasetError, match="truncated or corrupt") as err:
        load_dataset("dvs128_gesture_32", tmp_path, time_steps=4)
    assert str(bad) in str(err.value) and "[N, 4]" in str(err.value)


def test_dvs_truncated_event_file(tmp_path):
    base = write_dvs(tmp_path)
    bad = base / "ibmGestureTest" / "user02_fluorescent" / "0.npy"
    bad.write_bytes(bad.read_bytes()[:90])
    with pytest.raises(DatasetError, match="truncated or corrupt") as err:
        load_dataset("dvs128_gesture_32", tmp_path, time_steps=4)
    assert str(bad) in str(err.value)


# ------------------------------------------------------------------------------ inventory


def sizes(row: dict) -> tuple:
    return row["n_train"], row["n_val"], row["n_test"]


def test_inventory_counts_found_missing_and_broken(tmp_path, publish_md5):
    write_mnist(tmp_path, n_train=40, n_test=12)
    write_cifar10(tmp_path, per_batch=6, n_test=5)
    publish_md5(tmp_path)
    write_dvs(tmp_path)
    raw = write_mnist(tmp_path, "FashionMNIST")
    (raw / "t10k-images-idx3-ubyte").write_bytes(b"\x00\x00\x08\x03")
    rows = {r["name"]: r for r in inventory(tmp_path)}
    assert rows["mnist"]["status"] == "found"
    assert sizes(rows["mnist"]) == (36, 4, 12)
    assert rows["mnist"]["input_shape"] == (1, 28, 28) and rows["mnist"]["num_classes"] == 10
    assert rows["mnist"]["path"] == str(tmp_path / "MNIST" / "raw")
    assert sizes(rows["cifar10"]) == (27, 3, 5)
    assert rows["dvs128_gesture_64"]["n_test"] == 110
    assert rows["dvs128_gesture_64"]["input_shape"] == (16, 2, 64, 64)
    # 1,797 bundled digits: 20% (359) held out for test, 10% of the other 1,438 for validation
    assert sizes(rows["digits"]) == (1294, 144, 359)
    assert rows["fashion_mnist"]["status"] == "error"
    assert "t10k-images-idx3-ubyte" in rows["fashion_mnist"]["detail"]
    assert rows["cifar100"]["status"] == "missing" and rows["cifar100"]["n_train"] is None
    assert str(tmp_path / "cifar-100-python") in rows["cifar100"]["detail"]
    assert rows["tinyimagenet"]["status"] == "missing"
    assert not (tmp_path / ".biril_cache").exists()  # counting frames nothing


def test_inventory_root_from_environment(tmp_path, monkeypatch):
    write_mnist(tmp_path)
    monkeypatch.setenv("BIRIL_DATA", str(tmp_path))
    rows = {r["name"]: r for r in inventory()}
    assert rows["mnist"]["status"] == "found" and rows["cifar10"]["status"] == "missing"


def test_registry_presets_shapes_and_frames():
    from biril.datasets import REGISTRY
    from biril.models import PRESETS

    expected = {
        "mnist": ("mnist", (1, 28, 28), 10, 4),
        "fashion_mnist": ("mnist", (1, 28, 28), 10, 4),
        "cifar10": ("paper18", (3, 32, 32), 10, 4),
        "cifar100": ("paper18", (3, 32, 32), 100, 4),
        "tinyimagenet": ("paper18", (3, 64, 64), 200, 4),
        "dvs128_gesture": ("paper18", (16, 2, 128, 128), 11, 16),
        "dvs128_gesture_64": ("paper18", (16, 2, 64, 64), 11, 16),
        "dvs128_gesture_32": ("paper18", (16, 2, 32, 32), 11, 16),
    }
    for name, (preset, shape, classes, steps) in expected.items():
        info = REGISTRY[name]
        assert (info.preset, info.input_shape, info.num_classes, info.time_steps) == (
            preset, shape, classes, steps
        )
        assert info.preset in PRESETS


def test_digits_are_scikit_learns_digits_read_without_importing_it():
    from collections import Counter

    from sklearn.datasets import load_digits

    s = load_dataset("digits", val_fraction=0.1, split_seed=0)
    ours = Counter(
        (img.numpy().tobytes(), int(label))
        for xs, ys in ((s.train_x, s.train_y), (s.val_x, s.val_y), (s.test_x, s.test_y))
        for img, label in zip(xs[:, 0], ys, strict=True)
    )
    ref = load_digits()
    theirs = Counter(
        (img.astype(np.uint8).tobytes(), int(label))
        for img, label in zip(ref.images, ref.target, strict=True)
    )
    assert ours == theirs and sum(ours.values()) == 1797

    code = (
        "import sys; from biril.datasets import load_dataset; "
        "load_dataset('digits', val_fraction=0.1, split_seed=0); "
        "assert 'sklearn' not in sys.modules, 'scikit-learn was imported'"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)
