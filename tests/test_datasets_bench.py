"""The torchvision baseline of ``bench_loader`` serves the same data as the device loader."""

from __future__ import annotations

import pytest
import torch

from biril.bench_data import PerSampleImages, bench_loader
from biril.datasets import load_dataset
from biril.loader import DeviceLoader


def test_baseline_normalizes_like_the_formula():
    s = load_dataset("digits")  # values 0..16, scale 16
    ds = PerSampleImages(s)
    for i in (0, 7, 100):
        x, y = ds[i]
        expected = (s.train_x[i].float() / 16.0 - s.mean[0]) / s.std[0]
        assert torch.allclose(x, expected, atol=1e-5) and y == int(s.train_y[i])
    batch = next(DeviceLoader(s, "train", 8, torch.device("cpu")).batches())[0]
    assert torch.allclose(batch, torch.stack([ds[i][0] for i in range(8)]), atol=1e-5)


def test_baseline_augments_like_torchvision_when_the_dataset_does():
    s = load_dataset("digits")
    s.augment, s.crop_padding = "crop_flip", 2
    ds = PerSampleImages(s)
    names = [type(t).__name__ for t in ds.transform.transforms]
    assert names == ["RandomCrop", "RandomHorizontalFlip", "ToTensor", "Normalize"]
    assert ds[0][0].shape == (1, 8, 8)


def test_bench_loader_reports_medians_and_ratios():
    r = bench_loader("digits", device="cpu", batches=3, train_batches=2, repeats=1, batch_size=16)
    for key in ("loader", "train"):
        dev, tv = r[f"{key}_device_ips"], r[f"{key}_torchvision_ips"]
        assert dev > 0 and tv > 0
        assert r[f"{key}_speedup"] == pytest.approx(dev / tv)
    assert r["batches"] == 3 and r["device"] == "cpu"
