"""Where a training step's time goes: ``torch.profiler`` per kernel, grouped by kind.

Measure before changing: the step's cost split by operator (CPU) and kernel (CUDA),
each with its calls and self time, and the same self time summed into a few kinds
(convolutions, batch norm, the neuron's scan, STDP's ranking, copies and layout changes,
the optimizer, ...) so a table of dozens of rows still says in one line what dominates.
Self time counts each operator's own work once (a conv's time is not counted again in
the module that called it), so the shares add up to the profiled total.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch.profiler import ProfilerActivity, profile

# (kind, substrings of an operator or kernel name); the first kind that matches wins, so
# the specific ones come first. Names are torch's ATen operators on the CPU and cuDNN /
# cuBLAS / Triton / ATen kernels on CUDA.
KINDS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("optimizer", ("_foreach_", "adam", "Adam", "multi_tensor")),
    ("convolution", ("conv", "Conv", "cudnn", "wgrad", "dgrad", "fprop", "implicit_gemm",
                     "sm90_xmma", "sm80_xmma", "xmma_")),
    ("matmul", ("aten::mm", "aten::addmm", "aten::bmm", "aten::matmul", "gemm", "Gemm")),
    ("batch_norm", ("batch_norm", "bn_", "BatchNorm")),
    ("ranking (topk/sort)", ("topk", "sort", "Sort", "radix", "bitonic")),
    ("reduction", ("sum", "mean", "norm", "reduce", "Reduce")),
    ("copy/layout", ("copy", "clone", "contiguous", "permute", "transpose", "to_copy",
                     "cat", "stack", "Memcpy", "Memset", "fill", "zero")),
)


def kind_of(name: str) -> str:
    """The kind of work an operator or kernel name stands for (``other`` if none)."""
    for kind, keys in KINDS:
        if any(k in name for k in keys):
            return kind
    return "element-wise/other"


def profile_calls(fn: Callable[[], object], device: torch.device, calls: int = 3) -> dict:
    """Profile ``calls`` calls of ``fn`` (after one untimed call); per-kernel rows and kinds.

    On CUDA the rows are the device's kernels (self CUDA time), on the CPU the operators
    (self CPU time). Times are per call of ``fn``, in milliseconds.
    """
    fn()  # caches, lazy state, cuDNN's algorithm search: not what a step costs
    cuda = device.type == "cuda"
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if cuda else [])
    with profile(activities=activities) as prof:
        for _ in range(calls):
            fn()
        if cuda:
            torch.cuda.synchronize(device)
    rows = []
    for event in prof.key_averages():
        self_us = event.self_device_time_total if cuda else event.self_cpu_time_total
        if self_us > 0 and (not cuda or event.device_type.name == "CUDA"):
            rows.append({"name": event.key, "calls": event.count // calls,
                         "self_ms": self_us / 1e3 / calls})
    rows.sort(key=lambda r: r["self_ms"], reverse=True)
    total = sum(r["self_ms"] for r in rows)
    kinds: dict[str, float] = {}
    for r in rows:
        r["share"] = r["self_ms"] / total if total else 0.0
        kinds[kind_of(r["name"])] = kinds.get(kind_of(r["name"]), 0.0) + r["self_ms"]
    return {
        "clock": "self CUDA time" if cuda else "self CPU time",
        "total_ms": total,
        "kinds_ms": dict(sorted(kinds.items(), key=lambda kv: kv[1], reverse=True)),
        "kernels": rows,
    }
