"""Trace-based STDP (paper Eq. 3) for linear and conv layers, and its application.

The all-pairs sum of Eq. 3 is computed exactly: the presynaptic spikes are mixed over time
by the ``T×T`` pair kernel (the forward LTP trace and a backward LTD trace in one matrix),
then correlated once with the postsynaptic spikes — a matmul for linear layers, a conv
weight-gradient for conv layers. One kernel call per layer over ``T·B`` samples; no
``[B, C_out, C_in, H, W]`` temporary is ever built.

Conv correlations can run in bfloat16 (``dtype``): spikes are exact in it, the traces
are mixed from them by a bfloat16 matmul, and the products accumulate in float32. Only
the pair kernel, the trace values and the result are rounded (relative ≈ 2⁻⁹ each, far
below STDP's own noise). Where the hardware has native bfloat16 (AMX, avx512_bf16, CUDA)
that makes the update 3–7× cheaper.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import torch
from torch import nn

from .competition import winners_by_drive


@dataclass(frozen=True)
class STDPParams:
    """Trace time constants and amplitudes of Eq. 3, and how same-step pairs count.

    ``same_step=True`` (causal): with no synaptic delay the input at step t drives the
    output at step t, so a same-step pair potentiates. ``False`` is the strict reading of
    Eq. 3 (``t_pre < t_post`` only): same-step pairs are ignored.
    """

    tau_plus: float = 2.0
    tau_minus: float = 2.0
    a_plus: float = 1.0
    a_minus: float = 1.0
    same_step: bool = True

    @classmethod
    def balanced(
        cls,
        T: int,
        *,
        tau_plus: float = 2.0,
        tau_minus: float = 2.0,
        a_plus: float = 1.0,
        balance: float = 1.05,
        same_step: bool = True,
    ) -> STDPParams:
        """The parameters whose LTD outweighs LTP by ``balance`` over a ``T``-step window.

        Song, Miller & Abbott (2000): with ``A−τ−`` a little above ``A+τ+`` independent
        pre/post firing depresses on average, so only correlation potentiates. In discrete
        time the integrals are sums over the window's pairs, and a causal same-step pair
        adds ``T·A+`` to LTP: at ``T=4, τ±=2`` it takes ``A− = 2.44·A+`` just to cancel.
        """
        ltp, ltd = _kernel_sums(T, tau_plus, tau_minus, same_step)
        if ltd == 0.0:
            raise ValueError(
                f"a {T}-step window has no anti-causal pair to balance LTP with; "
                "use at least 2 time steps or set a_minus explicitly"
            )
        a_minus = balance * a_plus * ltp / ltd
        return cls(tau_plus, tau_minus, a_plus, a_minus, same_step)


def _kernel_sums(T: int, tau_plus: float, tau_minus: float, same_step: bool):
    """(Σ LTP pair weights, Σ LTD pair shapes) over a ``T``-step window, for ``A± = 1``."""
    lags = range(0 if same_step else 1, T)
    ltp = sum((T - lag) * math.exp(-lag / tau_plus) for lag in lags)
    ltd = sum((T - lag) * math.exp(-lag / tau_minus) for lag in range(1, T))
    return ltp, ltd


@functools.cache
def pair_kernel(T: int, p: STDPParams) -> torch.Tensor:
    """``K[t_pre, t_post]``: the Eq. 3 weight of a spike pair at those two steps.

    ``A+·λ+^(t_post−t_pre)`` when ``t_post > t_pre`` (and at ``t_post = t_pre`` unless
    ``p.same_step`` is off), ``−A−·λ−^(t_pre−t_post)`` when ``t_pre > t_post``. Cached:
    every STDP step of every layer asks for the same few numbers, so the shared tensor
    must never be modified.
    """
    t = torch.arange(T, dtype=torch.float64)
    lag = t[None, :] - t[:, None]  # t_post - t_pre
    ltp = p.a_plus * torch.exp(-lag.clamp_min(0) / p.tau_plus)
    ltd = -p.a_minus * torch.exp(lag.clamp_max(0) / p.tau_minus)
    kernel = torch.where(lag >= 0, ltp, ltd)
    if not p.same_step:
        kernel = kernel.masked_fill(lag == 0, 0.0)
    return kernel.float()


def _presynaptic_drive(
    pre: torch.Tensor, p: STDPParams, dtype: torch.dtype = torch.float32
) -> torch.Tensor:
    """``z_t = Σ_s K[s, t]·pre_s``: every presynaptic spike's weight on a post spike at t.

    Equal to the forward trace ``A+·x_t`` minus a backward-in-time trace for LTD, so
    ``ΔW = Σ_t corr(post_t, z_t)`` is the exact all-pairs sum of Eq. 3 — and costs one
    correlation over ``T·B`` samples instead of two (LTP and LTD) over ``2·T·B``.
    ``z`` keeps the memory layout of ``pre`` (no copy of a channels-last tensor).

    For a bfloat16 correlation (``dtype``) the spikes (exact in bfloat16) are mixed in
    bfloat16 with ``K`` rounded to it (2⁻⁹): a float32 ``z`` cast afterwards moves 1.4×
    the bytes from float32 spikes and 5× from the bfloat16 spikes of autocast.
    """
    T = pre.shape[0]
    K = pair_kernel(T, p).to(pre.device)
    if pre.stride(0) == 0:  # direct encoding: one analog input repeated over T
        return K.sum(0).view(T, *[1] * (pre.dim() - 1)) * pre[0].float()
    if dtype == torch.bfloat16:
        K, pre = K.to(dtype), pre.to(dtype)
    else:
        pre = pre.float()
    channels_last = pre.dim() == 5 and not pre.is_contiguous()
    if channels_last:  # [T, B, C, H, W] over channels-last [B, C, H, W] steps
        pre = pre.permute(0, 1, 3, 4, 2)
    z = (K.t() @ pre.reshape(T, -1)).view(pre.shape)
    return z.permute(0, 1, 4, 2, 3) if channels_last else z


def stdp_delta_linear(
    pre: torch.Tensor,
    post: torch.Tensor,
    *,
    tau_plus: float = 2.0,
    tau_minus: float = 2.0,
    a_plus: float = 1.0,
    a_minus: float = 1.0,
    same_step: bool = True,
) -> torch.Tensor:
    """ΔW ``[out, in]`` of a linear layer from ``pre [T,B,in]`` and ``post [T,B,out]``.

    Normalized by ``B·T`` so the step size does not depend on batch size or time steps.
    """
    z = _presynaptic_drive(pre, STDPParams(tau_plus, tau_minus, a_plus, a_minus, same_step))
    return _correlate_linear(z, post)


def _correlate_linear(z: torch.Tensor, post: torch.Tensor) -> torch.Tensor:
    """``Σ_t post_tᵀ z_t`` over ``T·B`` samples, normalized by ``B·T`` (see above)."""
    samples = z.shape[:2].numel()
    return post.float().flatten(0, 1).t() @ z.float().flatten(0, 1) / samples


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
    same_step: bool = True,
    dtype: torch.dtype = torch.float32,
) -> torch.Tensor:
    """ΔW of ``weight_shape`` from ``pre [T,B,C_in,H,W]`` and ``post [T,B,C_out,H',W']``.

    Normalized by ``B·H'·W'·T``: the sum runs over the batch, the output positions and
    the time steps, and the step size must not depend on any of them. ``dtype``: the
    precision of the correlation (float32, or bfloat16 for speed); ΔW is float32.
    """
    p = STDPParams(tau_plus, tau_minus, a_plus, a_minus, same_step)
    z = _presynaptic_drive(pre, p, dtype)
    return _correlate(z, post, weight_shape, stride, padding, dtype)


def _correlate(z, post, weight_shape, stride, padding, dtype: torch.dtype) -> torch.Tensor:
    """``Σ_t corr(post_t, z_t)`` over ``T·B`` samples, normalized (see above)."""
    T, B = post.shape[:2]
    h_out, w_out = post.shape[-2:]
    # bfloat16 operands channels-last (oneDNN's fastest weight gradient on CPU): post's
    # cast and layout change are one copy, and z (already bfloat16) is copied only if the
    # network is not channels-last. float32 operands keep the network's layout.
    fmt = torch.channels_last if dtype == torch.bfloat16 else torch.preserve_format
    delta = torch.nn.grad.conv2d_weight(
        z.flatten(0, 1).to(dtype, memory_format=fmt),
        tuple(weight_shape),
        post.flatten(0, 1).to(dtype, memory_format=fmt),
        stride=stride, padding=padding,
    )
    return delta.float() / (B * h_out * w_out * T)


def stdp_delta(
    layer: nn.Module,
    pre: torch.Tensor,
    post: torch.Tensor,
    p: STDPParams,
    dtype: torch.dtype = torch.float32,
    winners: int | None = None,
    center: bool = False,
    drive: torch.Tensor | None = None,
):
    """ΔW for one recorded ``nn.Conv2d`` or ``nn.Linear`` layer (see ``stdp_deltas``)."""
    return stdp_deltas([(layer, pre, post, drive)], p, dtype, winners, center)[0]


def centered(z: torch.Tensor) -> torch.Tensor:
    """The trace minus its mean over the batch and positions, per step and input channel.

    The covariance form of Hebbian learning (Sejnowski 1977): a post spike then pulls
    its filter towards how this input differs from the average input, not towards the
    average itself. Spikes are non-negative, so the average input is one direction that
    every filter's raw update shares; with it left in, the filters of deep layers all
    rotated onto it. Mixing over time is linear, so this equals centring the
    presynaptic spikes before the pair sum of Eq. 3.
    """
    dims = [1, *range(3, z.dim())]
    return z - z.float().mean(dim=dims, keepdim=True).to(z.dtype)


def stdp_deltas(
    records: list[tuple[nn.Module, torch.Tensor, torch.Tensor, torch.Tensor | None]],
    p: STDPParams,
    dtype: torch.dtype = torch.float32,
    winners: int | None = None,
    center: bool = False,
) -> list[torch.Tensor]:
    """ΔW of every recorded layer ``(layer, pre, post, drive)`` of one forward pass.

    ``winners``: how many output channels learn at each position, those of strongest
    drive (``biril.competition``); ``None`` keeps them all. ``center``: the covariance
    form (see ``centered``). A spike tensor is one layer's post and the next layers' pre
    (a block's output feeds the next block's conv1 and its shortcut), so each is cast to
    ``dtype`` and mixed into its trace once per pass instead of once per use. All are
    dropped after the tensor's last use, so at most a few layers' worth are alive at once.
    """

    def ident(x: torch.Tensor) -> tuple:
        return (x.data_ptr(), x.shape, x.stride(), x.dtype)

    last_use = {ident(x): i for i, (_, pre, post, _) in enumerate(records) for x in (pre, post)}
    memo: dict[tuple, torch.Tensor] = {}

    def once(kind: str, x: torch.Tensor, make) -> torch.Tensor:
        key = (kind, ident(x))
        if key not in memo:
            memo[key] = make(x)
        return memo[key]

    def cast(x: torch.Tensor) -> torch.Tensor:
        # Dense spikes keep their layout; a direct-encoded input (stride 0 over T) stays
        # a view, which the trace handles without materializing T copies.
        return x if x.stride(0) == 0 else once("cast", x, lambda t: t.to(dtype))

    def learners(layer: nn.Module, post: torch.Tensor, drive: torch.Tensor | None):
        if winners is None:
            return cast(post)
        return winners_by_drive(cast(post), drive, layer.weight, winners)

    def trace(x: torch.Tensor) -> torch.Tensor:
        z = _presynaptic_drive(cast(x), p, dtype)
        return centered(z) if center else z

    deltas = []
    for i, (layer, pre, post, drive) in enumerate(records):
        if isinstance(layer, nn.Conv2d):
            if layer.groups != 1 or layer.dilation != (1, 1):
                raise ValueError("STDP supports conv layers with groups=1 and dilation=1 only")
            z = once("trace", pre, trace)
            deltas.append(
                _correlate(z, learners(layer, post, drive), layer.weight.shape, layer.stride,
                           layer.padding, dtype)
            )
        elif isinstance(layer, nn.Linear):
            deltas.append(_correlate_linear(trace(pre), learners(layer, post, drive).float()))
        else:
            raise TypeError(
                f"STDP is defined for Conv2d and Linear layers, not {type(layer).__name__}"
            )
        for key in [k for k in memo if last_use[k[1]] == i]:
            del memo[key]
    return deltas


@torch.no_grad()
def rotate_(weight: torch.Tensor, delta: torch.Tensor, rate: float, eps: float = 1e-12) -> None:
    """``W ← W + rate·‖W‖·D/‖D‖``, ``D`` being ΔW with each filter's radial part removed.

    STDP's raw ΔW has no natural scale (it is a spike correlation, 30–130× smaller than an
    Adam step at the old fixed rate), so its size is set here: ``rate`` is the layer's
    relative change per STDP step. Synaptic normalization would undo any radial part, so
    it is removed first and ``rate`` is the rotation, in radians, of the layer's filters
    (RMS over filters, weighted by their norms). Filters that learned nothing (no winning
    position) do not move. No host sync: the scale stays a device tensor.
    """
    unit = weight / filter_norms(weight).clamp_min(eps)
    radial = (delta * unit).flatten(1).sum(1).view(-1, *[1] * (weight.dim() - 1))
    tangential = delta - radial * unit
    scale = rate * weight.norm() / tangential.norm().clamp_min(eps)
    weight.add_(tangential * scale)


def filter_norms(weight: torch.Tensor) -> torch.Tensor:
    """L2 norm of each output filter (row), shaped to broadcast against ``weight``."""
    return weight.detach().flatten(1).norm(dim=1).view(-1, *([1] * (weight.dim() - 1)))


@torch.no_grad()
def renormalize_(weight: torch.Tensor, norms: torch.Tensor, eps: float = 1e-12) -> None:
    """Synaptic normalization: rescale each output filter back to the given L2 norm."""
    weight.mul_(norms / filter_norms(weight).clamp_min(eps))


def native_bf16(device: torch.device) -> bool:
    """Whether ``device`` runs bfloat16 convolutions natively (not emulated, so faster)."""
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    return device.type == "cpu" and torch.ops.mkldnn._is_mkldnn_bf16_supported()
