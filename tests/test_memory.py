"""The activation-memory estimate, against what torch's autograd actually saves.

The reference is torch's own accounting: every tensor a training forward saves for
backward passes through ``saved_tensors_hooks``; their storages (weights left out, each
counted once) are what backward keeps alive.
"""

from __future__ import annotations

import pytest
import torch

import biril.memory
import biril.trainer
from biril.config import ConfigError, TrainConfig
from biril.memory import PEAK_FACTOR, check_fits, estimate
from biril.models import build_model


def saved_bytes(preset: str, shape: tuple[int, int, int], batch: int, steps: int) -> int:
    torch.manual_seed(0)
    model = build_model(preset, shape[0], 10, steps)
    weights = {p.untyped_storage().data_ptr() for p in model.parameters()}
    seen: set[int] = set()
    total = 0

    def pack(t: torch.Tensor) -> torch.Tensor:
        nonlocal total
        storage = t.untyped_storage()
        if storage.data_ptr() not in weights | seen:
            seen.add(storage.data_ptr())
            total += storage.nbytes()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        out, _ = model(torch.rand(batch, *shape), record=True)
    assert out.requires_grad
    return total


@pytest.mark.parametrize(
    "preset,shape,batch,steps",
    [
        ("small", (1, 8, 8), 16, 4),
        ("small", (1, 8, 8), 4, 16),
        ("mnist", (1, 28, 28), 8, 4),
        ("small", (1, 28, 28), 4, 2),
        ("paper18", (3, 32, 32), 4, 2),
    ],
)
def test_the_estimate_is_within_15_percent_of_what_autograd_saves(preset, shape, batch, steps):
    torch.set_num_threads(1)
    measured = saved_bytes(preset, shape, batch, steps)
    estimated = estimate(preset, shape, batch, steps).bytes / PEAK_FACTOR
    assert estimated == pytest.approx(measured, rel=0.15)


def test_a_run_that_cannot_fit_is_refused_before_any_allocation(monkeypatch, tmp_path):
    def no_data(*args, **kwargs):
        raise AssertionError("the dataset was loaded")

    monkeypatch.setattr(biril.trainer, "load_dataset", no_data)
    monkeypatch.setattr(biril.memory, "available_bytes", lambda device: 8 * 2**30)
    config = TrainConfig(
        dataset="mnist", batch_size=4096, time_steps=1000, device="cpu",
        output_dir=str(tmp_path / "run"),
    )
    with pytest.raises(ConfigError) as refused:
        biril.trainer.train(config)
    line = str(refused.value)
    assert "--batch-size 4096 x --time-steps 1000" in line and "8.0 GiB free" in line
    assert "lower --batch-size or --time-steps" in line
    assert not (tmp_path / "run").exists()  # not even the output folder


def test_a_run_that_fits_passes_the_check():
    small = TrainConfig(dataset="digits", batch_size=64, device="cpu")
    need = check_fits(small, torch.device("cpu"))
    assert 0 < need.bytes < 2**30
