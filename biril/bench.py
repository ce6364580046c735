"""``biril bench``: medians of one training step per BIRIL mode, side by side in one run.

Speed is reported as ratios measured in the same process (STDP-STBP/STBP, STDP/STBP), so
the figures survive a change of machine; absolute medians are printed for context.
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass

import torch

from .config import TrainConfig
from .models import build_model
from .schedule import MODES, Mode
from .trainer import BIRILStep, resolve_device

# (in_channels, height/width, classes) of a typical dataset for each preset.
BENCH_INPUT = {"small": (1, 28, 10), "paper18": (3, 32, 10)}


@dataclass
class StepTiming:
    preset: str
    mode: str
    median_s: float
    samples_per_s: float


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_steps_per_mode(
    preset: str,
    *,
    batch_size: int = 64,
    time_steps: int = 4,
    reps: int = 5,
    warmup: int = 2,
    device: str | None = None,
    amp: bool = False,
) -> list[StepTiming]:
    """Median wall time of one BIRIL step in each mode on random data of the preset's size.

    Modes are interleaved within each repetition so drift (thermal, other load) hits all
    three alike and the ratios stay fair.
    """
    dev = resolve_device(device)
    c, hw, classes = BENCH_INPUT[preset]
    torch.manual_seed(0)
    model = build_model(preset, c, classes, time_steps).to(dev)
    config = TrainConfig(preset=preset, time_steps=time_steps, amp=amp, device=device)
    step = BIRILStep(model, config, total_steps=10_000)
    x = torch.randn(batch_size, c, hw, hw, device=dev)
    y = torch.randint(0, classes, (batch_size,), device=dev)
    times: dict[Mode, list[float]] = {m: [] for m in MODES}
    for rep in range(warmup + reps):
        for mode in MODES:
            _sync(dev)
            t0 = time.perf_counter()
            step(x, y, mode)
            _sync(dev)
            if rep >= warmup:
                times[mode].append(time.perf_counter() - t0)
    return [
        StepTiming(preset, m.value, statistics.median(ts), batch_size / statistics.median(ts))
        for m, ts in times.items()
    ]


def step_ratios(timings: list[StepTiming]) -> dict[str, dict[str, float]]:
    """Per preset: ``stdp_stbp_over_stbp`` and ``stdp_over_stbp`` from the medians."""
    out: dict[str, dict[str, float]] = {}
    for preset in dict.fromkeys(t.preset for t in timings):
        med = {t.mode: t.median_s for t in timings if t.preset == preset}
        out[preset] = {
            "stdp_stbp_over_stbp": med["stdp_stbp"] / med["stbp"],
            "stdp_over_stbp": med["stdp"] / med["stbp"],
        }
    return out
