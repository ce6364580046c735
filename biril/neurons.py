"""Integrate-and-Fire neurons with a sigmoid surrogate gradient (paper Eq. 1–2, 5–6).

Tensors are time-major ``[T, B, ...]``: the membrane update is a short scan over ``T``
while every stateless layer around it runs once on ``[T·B, ...]``.

The multi-step neuron is one autograd node (``IFSequence``) rather than a chain of
per-step ops: the forward scan keeps only the charged membrane ``H_t`` for backward (the
spikes are recomputed from it exactly, ``S_t = H_t ≥ V_th``), and the backward pass turns
the through-time recursion into one fused multiply-add per step after computing every
surrogate factor for all ``T`` steps at once. It matches the per-step autograd chain of
``spike()`` (reset not detached) to float rounding.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Literal

import torch
from torch import nn

from .compact import mark_spikes


class SigmoidSpike(torch.autograd.Function):
    """Heaviside forward, ``α·σ(αx)·(1−σ(αx))`` backward, with ``x = V − V_th``.

    The forward is exact (spikes are 0/1); only the backward is smoothed, which is what
    lets STBP push gradients through the threshold.
    """

    @staticmethod
    def forward(ctx, x: torch.Tensor, alpha: float) -> torch.Tensor:
        ctx.save_for_backward(x)
        ctx.alpha = alpha
        return (x >= 0).to(x.dtype)

    @staticmethod
    def backward(ctx, grad_out: torch.Tensor):
        (x,) = ctx.saved_tensors
        sg = torch.sigmoid(ctx.alpha * x)
        return grad_out * (ctx.alpha * sg * (1.0 - sg)), None


def spike(x: torch.Tensor, alpha: float = 4.0) -> torch.Tensor:
    """Spike where ``x >= 0`` with the sigmoid surrogate of steepness ``alpha``."""
    return SigmoidSpike.apply(x, alpha)


def if_scan(current: torch.Tensor, v_threshold: float, soft: bool) -> torch.Tensor:
    """Charged membranes ``H_t = V_{t-1} + I_t`` of all steps; ``V_0 = 0``, no autograd.

    Hard reset: ``V_t = 0`` where ``H_t ≥ V_th`` else ``H_t``; soft: ``V_t = H_t − V_th``
    where it fired. Each step rounds exactly as the per-step form does, so spikes are exact.
    """
    h = torch.empty_like(current)
    h[0].copy_(current[0])
    # 0/1 masks as floats: mixed bool-float element-wise ops take a slow casting path.
    mask = torch.empty_like(current[0])
    for t in range(1, current.shape[0]):
        prev = h[t - 1]
        if soft:
            torch.ge(prev, v_threshold, out=mask)
            torch.add(prev, mask, alpha=-v_threshold, out=h[t])
            h[t].add_(current[t])
        else:
            torch.lt(prev, v_threshold, out=mask)
            torch.addcmul(current[t], prev, mask, out=h[t])
    return h


def if_scan_backward(
    grad_spikes: torch.Tensor, h: torch.Tensor, v_threshold: float, alpha: float, soft: bool
) -> torch.Tensor:
    """``∂L/∂I`` of every step from ``∂L/∂S`` and the saved charged membranes ``H``.

    With ``σ'_t`` the surrogate at ``H_t − V_th``, the gradient reaching ``H_t`` is
    ``b_t + a_t·g_{t+1}`` where ``b_t = ∂L/∂S_t·σ'_t`` and ``a_t = ∂V_t/∂H_t`` (hard:
    ``1 − S_t − H_t·σ'_t``; soft: ``1 − V_th·σ'_t``), and ``∂L/∂I_t`` equals it. ``a`` and
    ``b`` are computed for all steps at once; the scan is one multiply-add per step.
    """
    sig = torch.sub(h, v_threshold).mul_(alpha).sigmoid_()
    sg = torch.ops.aten.sigmoid_backward(torch.tensor(alpha, dtype=h.dtype, device=h.device), sig)
    if soft:
        a = sg.mul(-v_threshold).add_(1.0)
    else:
        a = torch.lt(h, v_threshold, out=torch.empty_like(h)).addcmul_(h, sg, value=-1.0)
    g = sg.mul_(grad_spikes)
    for t in range(h.shape[0] - 2, -1, -1):
        g[t].addcmul_(a[t], g[t + 1])
    return g


@functools.cache
def _compiled(fn: Callable) -> Callable:
    """``fn`` compiled once per process (inductor fuses the scan's element-wise ops)."""
    return torch.compile(fn, dynamic=True, fullgraph=True)


class IFSequence(torch.autograd.Function):
    """All ``T`` steps of a multi-step IF layer as a single autograd node.

    Saves only the charged membrane ``H`` (one tensor the size of the input), not the
    per-step spikes, resets and surrogate inputs an unrolled graph would keep.
    """

    @staticmethod
    def forward(ctx, current, v_threshold: float, alpha: float, soft: bool, compile: bool):
        if compile:  # the compiled scans write through out= views, which must be contiguous
            h = _compiled(if_scan)(current.contiguous(), v_threshold, soft)
        else:
            h = if_scan(current, v_threshold, soft)
        ctx.save_for_backward(h)
        ctx.args = (v_threshold, alpha, soft, compile)
        return torch.ge(h, v_threshold, out=torch.empty_like(current))

    @staticmethod
    def backward(ctx, grad_spikes: torch.Tensor):
        (h,) = ctx.saved_tensors
        v_threshold, alpha, soft, compile = ctx.args
        scan = _compiled(if_scan_backward) if compile else if_scan_backward
        return scan(grad_spikes, h, v_threshold, alpha, soft), None, None, None, None


class IFNeuron(nn.Module):
    """Multi-step Integrate-and-Fire: ``V_t = V_{t-1} + I_t``, ``S_t = H(V_t − V_th)``.

    ``reset="hard"`` sets a firing neuron's membrane to 0; ``"soft"`` subtracts ``V_th``.
    The membrane starts at 0 on every call, so no state outlives a batch. ``compile=True``
    runs the time scans through ``torch.compile`` (one fused kernel per scan).

    >>> IFNeuron()(torch.tensor([[0.6], [0.6], [0.6]])).flatten().tolist()
    [0.0, 1.0, 0.0]
    """

    def __init__(
        self,
        v_threshold: float = 1.0,
        reset: Literal["hard", "soft"] = "hard",
        alpha: float = 4.0,
        compile: bool = False,
    ) -> None:
        super().__init__()
        if reset not in ("hard", "soft"):
            raise ValueError(f"reset must be 'hard' or 'soft', got {reset!r}")
        self.v_threshold = v_threshold
        self.reset = reset
        self.alpha = alpha
        self.compile = compile

    def forward(self, current: torch.Tensor) -> torch.Tensor:
        spikes = IFSequence.apply(
            current, self.v_threshold, self.alpha, self.reset == "soft", self.compile
        )
        return mark_spikes(spikes)

    def extra_repr(self) -> str:
        return (
            f"v_threshold={self.v_threshold}, reset={self.reset}, alpha={self.alpha}, "
            f"compile={self.compile}"
        )
