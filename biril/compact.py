"""Spikes saved for backward as 1-byte booleans instead of 4-byte floats.

A conv, linear or pooling layer fed by spikes keeps its input for the backward pass. Those
inputs are exactly 0 or 1, so storing them as ``torch.bool`` is lossless and takes a
quarter of the memory. Inside ``compact_spikes()`` every IF layer registers its output, and
autograd's saved-tensor hooks pack any saved tensor that is (a view of) a registered one;
backward unpacks it to the original dtype and memory layout.
"""

from __future__ import annotations

import contextlib
import weakref
from collections.abc import Iterator
from dataclasses import dataclass

import torch

# The spike tensors of the forward in progress, by id. Weak values: an entry disappears
# with its tensor, so an id reused by a later tensor never matches.
_spikes: weakref.WeakValueDictionary[int, torch.Tensor] | None = None


def mark_spikes(spikes: torch.Tensor) -> torch.Tensor:
    """Register an IF layer's output (a no-op outside ``compact_spikes()``)."""
    if _spikes is not None:
        _spikes[id(spikes)] = spikes
    return spikes


@dataclass(frozen=True)
class _Packed:
    bits: torch.Tensor
    dtype: torch.dtype


def _pack(t: torch.Tensor) -> torch.Tensor | _Packed:
    base = t if t._base is None else t._base
    if _spikes is not None and _spikes.get(id(base)) is base and t.is_floating_point():
        return _Packed(t.to(torch.bool), t.dtype)  # keeps the strides (channels-last too)
    return t


def _unpack(saved: torch.Tensor | _Packed) -> torch.Tensor:
    return saved.bits.to(saved.dtype) if isinstance(saved, _Packed) else saved


@contextlib.contextmanager
def compact_spikes(enabled: bool = True) -> Iterator[None]:
    """Run a forward pass whose saved spike tensors are stored as booleans."""
    global _spikes
    if not enabled:
        yield
        return
    _spikes = weakref.WeakValueDictionary()
    try:
        with torch.autograd.graph.saved_tensors_hooks(_pack, _unpack):
            yield
    finally:
        _spikes = None
