"""Where a training step's time goes: ``torch.profiler`` per kernel, grouped by kind.

Measure before changing: the step's cost split by operator (CPU) and kernel (CUDA),
each with its calls and self time, and the same self time summed into a few kinds so a
table of dozens of rows still says in one line what dominates. An operator run inside a
labelled scope counts for the scope (the STDP update, the optimizer, the IF neuron's
scan), since those are the parts one would change; the others count by what they are
(convolutions, batch norm, ranking, copies and layout changes, ...). Self time counts
each operator's own work once, so the kinds add up to the profiled total.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch.profiler import ProfilerActivity, profile, record_function

# The label ``profile_calls`` callers put around the STDP update (``stdp_scope``).
STDP_SCOPE = "biril::stdp_update"
# (kind, prefixes of an enclosing scope's name), innermost scope first wins.
SCOPES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("STDP update", (STDP_SCOPE,)),
    ("optimizer", ("Optimizer.step", "Optimizer.zero_grad")),
    ("IF neuron", ("IFSequence", "SigmoidSpike")),
)
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


def scope_of(event) -> str | None:
    """The labelled scope an event ran in (itself included), innermost first; else None."""
    while event is not None:
        for kind, prefixes in SCOPES:
            if event.name.startswith(prefixes):
                return kind
        event = event.cpu_parent
    return None


def stdp_scope(fn: Callable) -> Callable:
    """``fn`` run inside the ``STDP update`` scope (wrap ``BIRILStep.apply_stdp`` in it)."""

    def scoped(*args, **kwargs):
        with record_function(STDP_SCOPE):
            return fn(*args, **kwargs)

    return scoped


def profile_calls(fn: Callable[[], object], device: torch.device, calls: int = 3) -> dict:
    """Profile ``calls`` calls of ``fn`` (after one untimed call); per-kernel rows and kinds.

    On CUDA the rows are the device's kernels (their time on the GPU), on the CPU the
    operators (self CPU time). Times are per call of ``fn``, in milliseconds.
    """
    fn()  # caches, lazy state, cuDNN's algorithm search: not what a step costs
    cuda = device.type == "cuda"
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if cuda else [])
    with profile(activities=activities) as prof:
        for _ in range(calls):
            fn()
        if cuda:
            torch.cuda.synchronize(device)
    return tally(prof.events(), cuda, calls)


def tally(events, cuda: bool, calls: int) -> dict:
    """Rows by operator or kernel name, and kinds, from the profiler's host-side events.

    Every kernel is counted with the operator that launched it (the profiler links them),
    so a kernel gets its kind from that operator's scope or name: the operator names
    (``aten::cudnn_convolution``) say more than the kernels' (``sm90_xmma_…``).
    """
    by_name: dict[str, dict] = {}
    kinds: dict[str, float] = {}
    for event in events:
        if event.device_type.name != "CPU" or event.is_async:
            continue
        if cuda:
            pieces = [(k.name, k.duration) for k in event.kernels]
        else:
            pieces = [(event.name, event.self_cpu_time_total)]
        kind = scope_of(event) or kind_of(event.name)
        for name, us in pieces:
            if us <= 0:
                continue
            ms = us / 1e3 / calls
            row = by_name.setdefault(name, {"name": name, "calls": 0, "self_ms": 0.0})
            row["calls"] += 1
            row["self_ms"] += ms
            kinds[kind] = kinds.get(kind, 0.0) + ms
    rows = sorted(by_name.values(), key=lambda r: r["self_ms"], reverse=True)
    total = sum(r["self_ms"] for r in rows)
    for r in rows:
        r["calls"] = r["calls"] / calls
        r["share"] = r["self_ms"] / total if total else 0.0
    return {
        "clock": "CUDA kernel time" if cuda else "self CPU time",
        "total_ms": total,
        "kinds_ms": dict(sorted(kinds.items(), key=lambda kv: kv[1], reverse=True)),
        "kernels": rows,
    }
