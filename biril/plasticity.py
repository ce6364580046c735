"""Trace-based STDP (paper Eq. 3) for linear and conv layers, and its application.

The all-pairs sum of Eq. 3 is computed exactly with two exponential traces — a scan over
``T`` — and one correlation per layer: a matmul for linear layers, a conv weight-gradient
for conv layers. Both STDP terms are stacked along the batch axis so each layer costs a
single kernel call, and no ``[B, C_out, C_in, H, W]`` temporary is ever built.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn


@dataclass(frozen=True)
class STDPParams:
    """Trace time constants and amplitudes of Eq. 3."""

    tau_plus: float = 2.0
    tau_minus: float = 2.0
    a_plus: float = 1.0
    a_minus: float = 1.0


def _trace(spikes: torch.Tensor, decay: float) -> torch.Tensor:
    """``z_t = decay·z_{t-1} + s_t`` from ``z_{-1} = 0``, for all ``t`` at once."""
    out = torch.empty_like(spikes)
    z = torch.zeros_like(spikes[0])
    for t in range(spikes.shape[0]):
        z = decay * z + spikes[t]
        out[t] = z
    return out


def _stdp_pairs(pre: torch.Tensor, post: torch.Tensor, p: STDPParams):
    """Stacked (input, output) operands whose correlation is the un-normalized ΔW.

    LTP: ``A+ · corr(post_t, x_t)``; LTD: ``−A− · corr(λ−·y_{t−1}, pre_t)``.
    """
    lam_p = math.exp(-1.0 / p.tau_plus)
    lam_m = math.exp(-1.0 / p.tau_minus)
    pre = pre.float()
    post = post.float()
    x = _trace(pre, lam_p)
    y = _trace(post, lam_m)
    y_prev = torch.zeros_like(y)
    y_prev[1:] = y[:-1]
    inputs = torch.cat([x, pre]).flatten(0, 1)
    outputs = torch.cat([p.a_plus * post, (-p.a_minus * lam_m) * y_prev]).flatten(0, 1)
    return inputs, outputs


def stdp_delta_linear(
    pre: torch.Tensor,
    post: torch.Tensor,
    *,
    tau_plus: float = 2.0,
    tau_minus: float = 2.0,
    a_plus: float = 1.0,
    a_minus: float = 1.0,
) -> torch.Tensor:
    """ΔW ``[out, in]`` of a linear layer from ``pre [T,B,in]`` and ``post [T,B,out]``.

    Normalized by ``B·T`` so the step size does not depend on batch size or time steps.
    """
    T, B = pre.shape[:2]
    inputs, outputs = _stdp_pairs(pre, post, STDPParams(tau_plus, tau_minus, a_plus, a_minus))
    return outputs.transpose(0, 1) @ inputs / (B * T)


def stdp_delta_conv2d(
    pre: torch.Tensor,
    post: torch.Tensor,
    weight_shape: torch.Size | tuple[int, ...],
    *,
    stride: int | tuple[int, int] = 1,
    padding: int | tuple[int, int] = 0,
    tau_plus: float = 2.0,
    tau_minus: float = 2.0,
    a_plus: float = 1.0,
    a_minus: float = 1.0,
) -> torch.Tensor:
    """ΔW of ``weight_shape`` from ``pre [T,B,C_in,H,W]`` and ``post [T,B,C_out,H',W']``.

    Normalized by ``B·H'·W'·T``: the sum runs over the batch, the output positions and
    the time steps, and the step size must not depend on any of them.
    """
    T, B = pre.shape[:2]
    h_out, w_out = post.shape[-2:]
    inputs, outputs = _stdp_pairs(pre, post, STDPParams(tau_plus, tau_minus, a_plus, a_minus))
    delta = torch.nn.grad.conv2d_weight(
        inputs, tuple(weight_shape), outputs, stride=stride, padding=padding
    )
    return delta / (B * h_out * w_out * T)


def stdp_delta(layer: nn.Module, pre: torch.Tensor, post: torch.Tensor, p: STDPParams):
    """ΔW for a recorded ``nn.Conv2d`` or ``nn.Linear`` layer."""
    kw = dict(tau_plus=p.tau_plus, tau_minus=p.tau_minus, a_plus=p.a_plus, a_minus=p.a_minus)
    if isinstance(layer, nn.Conv2d):
        if layer.groups != 1 or layer.dilation != (1, 1):
            raise ValueError("STDP supports conv layers with groups=1 and dilation=1 only")
        return stdp_delta_conv2d(
            pre, post, layer.weight.shape, stride=layer.stride, padding=layer.padding, **kw
        )
    if isinstance(layer, nn.Linear):
        return stdp_delta_linear(pre, post, **kw)
    raise TypeError(f"STDP is defined for Conv2d and Linear layers, not {type(layer).__name__}")


def filter_norms(weight: torch.Tensor) -> torch.Tensor:
    """L2 norm of each output filter (row), shaped to broadcast against ``weight``."""
    return weight.detach().flatten(1).norm(dim=1).view(-1, *([1] * (weight.dim() - 1)))


@torch.no_grad()
def renormalize_(weight: torch.Tensor, norms: torch.Tensor, eps: float = 1e-12) -> None:
    """Synaptic normalization: rescale each output filter back to the given L2 norm."""
    weight.mul_(norms / filter_norms(weight).clamp_min(eps))
