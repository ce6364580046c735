"""Achieved FLOP/s of a training step, next to what the device could do at most.

"Near the hardware" needs a number: the FLOPs a step performs (counted by torch's own
``FlopCounterMode``, which knows the convolutions, their gradients and every matmul; the
element-wise passes it ignores cost bandwidth, not FLOPs) over its median time, as a share
of the device's dense tensor-core peak. Peaks come from the vendors' data sheets and are
known here only for the GPUs the project runs on; a CPU's peak depends on its cores,
clocks and vector units, which torch does not report, so there it is left unknown.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch.utils.flop_counter import FlopCounterMode

# Dense (no 2:4 sparsity) peak TFLOP/s per precision, from NVIDIA's data sheets. Matched
# against ``torch.cuda.get_device_name`` in this order, so the more specific name first.
PEAK_TFLOPS: tuple[tuple[str, dict[str, float]], ...] = (
    ("H200", {"bf16": 989.0, "tf32": 494.0, "fp32": 67.0}),
    ("H100 PCIe", {"bf16": 756.0, "tf32": 378.0, "fp32": 51.0}),
    ("H100", {"bf16": 989.0, "tf32": 494.0, "fp32": 67.0}),  # SXM5 (HBM3)
    ("A100", {"bf16": 312.0, "tf32": 156.0, "fp32": 19.5}),
    ("L40S", {"bf16": 362.0, "tf32": 183.0, "fp32": 91.6}),
)


def count_flops(fn: Callable[[], object]) -> int:
    """FLOPs of one call of ``fn`` (a multiply-add counts 2), as torch counts them."""
    with FlopCounterMode(display=False) as counter:
        fn()
    return counter.get_total_flops()


def step_precision(device: torch.device, amp: bool) -> str:
    """The tensor-core precision a step's convolutions run in: bf16, tf32 or fp32.

    Under autocast the convolutions are bf16. In float32, cuDNN uses TF32 unless
    ``torch.backends.cudnn.allow_tf32`` is off (torch's default is on).
    """
    if amp:
        return "bf16"
    if device.type == "cuda" and torch.backends.cudnn.allow_tf32:
        return "tf32"
    return "fp32"


def device_peak(device: torch.device, precision: str) -> tuple[float | None, str]:
    """(peak TFLOP/s, what it is) of ``device`` in ``precision``; ``None`` when unknown."""
    if device.type != "cuda":
        return None, "peak unknown (CPU: torch does not report cores, clocks or vector units)"
    name = torch.cuda.get_device_name(device)
    for key, peaks in PEAK_TFLOPS:
        if key in name:
            return peaks[precision], f"{name}, dense {precision} (data sheet)"
    return None, f"peak unknown ({name} is not in biril.flops.PEAK_TFLOPS)"


def achieved(flops: int, seconds: float, peak: float | None) -> dict:
    """TFLOP/s of ``flops`` done in ``seconds``, and its share of ``peak`` (if known)."""
    tflops = flops / seconds / 1e12
    return {
        "gflop": flops / 1e9,
        "tflop_per_s": tflops,
        "peak_tflop_per_s": peak,
        "share_of_peak": tflops / peak if peak else None,
    }
