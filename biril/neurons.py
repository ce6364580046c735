"""Integrate-and-Fire neurons with a sigmoid surrogate gradient (paper Eq. 1–2, 5–6).

Tensors are time-major ``[T, B, ...]``: the membrane update is a short scan over ``T``
while every stateless layer around it runs once on ``[T·B, ...]``.
"""

from __future__ import annotations

from typing import Literal

import torch
from torch import nn


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


class IFNeuron(nn.Module):
    """Multi-step Integrate-and-Fire: ``V_t = V_{t-1} + I_t``, ``S_t = H(V_t − V_th)``.

    ``reset="hard"`` sets a firing neuron's membrane to 0; ``"soft"`` subtracts ``V_th``.
    The membrane starts at 0 on every call, so no state outlives a batch.

    >>> IFNeuron()(torch.tensor([[0.6], [0.6], [0.6]])).flatten().tolist()
    [0.0, 1.0, 0.0]
    """

    def __init__(
        self,
        v_threshold: float = 1.0,
        reset: Literal["hard", "soft"] = "hard",
        alpha: float = 4.0,
    ) -> None:
        super().__init__()
        if reset not in ("hard", "soft"):
            raise ValueError(f"reset must be 'hard' or 'soft', got {reset!r}")
        self.v_threshold = v_threshold
        self.reset = reset
        self.alpha = alpha

    def forward(self, current: torch.Tensor) -> torch.Tensor:
        v = torch.zeros_like(current[0])
        spikes = []
        for i_t in current:
            v = v + i_t
            s = spike(v - self.v_threshold, self.alpha)
            v = v * (1.0 - s) if self.reset == "hard" else v - s * self.v_threshold
            spikes.append(s)
        return torch.stack(spikes)

    def extra_repr(self) -> str:
        return f"v_threshold={self.v_threshold}, reset={self.reset}, alpha={self.alpha}"
