"""How much memory a training step needs, estimated before anything is allocated.

A run whose activations cannot fit its device should fail in a second with a line naming
the flags to lower, not after loading data and building the model, in an allocator
traceback (``--time-steps 100000`` asked for 52 GB). The estimate counts what backward
keeps: per spiking neuron and time step and sample, the tensors the autograd graph saves
around each conv-BN-IF set (``BYTES_PER_NEURON_STEP``), summed over every IF layer of the
preset at the dataset's input size. ``tests/test_memory.py`` checks it against the bytes
torch's autograd actually saves (``saved_tensors_hooks``) on small CPU runs.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import torch

from .config import ConfigError, TrainConfig
from .models import PRESETS, Architecture

# Bytes autograd keeps per IF neuron, time step and sample in a training step (float32):
# the IF scan's charged membrane (4), the conv output BN normalizes (4) and the spikes the
# next conv reads (4); the STDP records are views of these. torch's own count
# (saved_tensors_hooks, weights left out) gives 11.1-12.4 on the small, mnist and paper18
# presets (tests/test_memory.py).
BYTES_PER_NEURON_STEP = 12
# What else a step holds at its peak beside saved activations: gradients flowing back
# through one layer at a time and the allocator's slack. A factor, not an addend.
PEAK_FACTOR = 1.25


@dataclass(frozen=True)
class MemoryEstimate:
    """The estimate and what it rests on, for a message that names the levers."""

    bytes: int
    neurons_per_step: int  # IF neurons of one sample at one time step
    batch_size: int
    time_steps: int

    @property
    def gib(self) -> float:
        return self.bytes / 2**30


def if_neurons(arch: Architecture, input_shape: tuple[int, ...]) -> int:
    """IF neurons of one sample at one step: every conv-BN-IF output map, plus FC1's."""
    height, width = input_shape[-2], input_shape[-1]

    def down(size: int, stride: int) -> int:  # a 3x3 conv, padding 1
        return (size - 1) // stride + 1

    height, width = down(height, arch.stem_stride), down(width, arch.stem_stride)
    total = arch.stem_channels * height * width
    for channels, blocks, stride in arch.stages:
        for i in range(blocks):
            if i == 0:
                height, width = down(height, stride), down(width, stride)
            total += 2 * channels * height * width  # two IF sets per basic block
    return total + arch.fc_hidden


def estimate(
    preset: str, input_shape: tuple[int, ...], batch_size: int, time_steps: int
) -> MemoryEstimate:
    """Activation memory of one training step of ``preset`` at this batch and ``T``."""
    neurons = if_neurons(PRESETS[preset], input_shape)
    total = neurons * batch_size * time_steps * BYTES_PER_NEURON_STEP * PEAK_FACTOR
    return MemoryEstimate(int(total), neurons, batch_size, time_steps)


def available_bytes(device: torch.device) -> int | None:
    """Memory free for this run on ``device`` now; None where it cannot be known."""
    if device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
        return int(free)
    if device.type == "cpu":
        return _cpu_available()
    return None


def _cpu_available() -> int | None:
    """``MemAvailable`` of ``/proc/meminfo`` (Linux): free RAM plus what caches give back."""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def check_fits(config: TrainConfig, device: torch.device) -> MemoryEstimate:
    """Refuse (``ConfigError``) a run whose training step cannot fit ``device``'s free memory.

    The line names the flags that shrink it. Where free memory cannot be read, the run goes
    ahead (a CUDA out-of-memory during it still ends as one line, see ``biril.trainer``).
    """
    from .datasets import REGISTRY

    info = REGISTRY[config.dataset]
    preset = config.preset or info.preset
    steps = config.time_steps or info.time_steps
    need = estimate(preset, info.input_shape, config.batch_size, steps)
    free = available_bytes(device)
    if free is not None and need.bytes > free:
        raise ConfigError(
            f"a training step needs about {need.gib:.1f} GiB of activations ({preset} preset, "
            f"--batch-size {config.batch_size} x --time-steps {steps}) but {device} has "
            f"{free / 2**30:.1f} GiB free: lower --batch-size or --time-steps"
        )
    return need


@contextlib.contextmanager
def out_of_memory_as_error(config: TrainConfig) -> Iterator[None]:
    """An allocator failure during the run as one ``ConfigError`` line naming the levers.

    The estimate above leaves out what it cannot see (other processes on the GPU, the
    allocator's fragmentation), so a run it let through can still run out.
    """
    try:
        yield
    except torch.cuda.OutOfMemoryError:
        raise ConfigError(_ran_out("the GPU", config)) from None
    except RuntimeError as e:
        if "can't allocate memory" not in str(e):
            raise
        raise ConfigError(_ran_out("RAM", config)) from None


def _ran_out(where: str, config: TrainConfig) -> str:
    steps = f"--time-steps {config.time_steps}" if config.time_steps else "--time-steps"
    return (
        f"the run ran out of {where} (--batch-size {config.batch_size}, {steps}): lower "
        "them, pass --compact-spikes, or free the device of other work"
    )
