"""Synaptic operations and energy per sample, measured during evaluation.

Why: an SNN's case is its energy; the ratio changes firing rates, so a sweep that only
ranks accuracy cannot say which ratio is best *for a budget*. ``EnergyMonitor`` counts,
with forward hooks on every ``Conv2d``/``Linear`` layer, what an event-driven chip would
execute:

- a **synaptic operation (SOP, one accumulate)** per input spike per target it reaches.
  Conv: each input element reaches the output positions whose window covers it (fewer at
  the borders and with stride), times ``out_channels / groups``. This is computed exactly
  as ``Σ conv2d(spikes summed over channels, ones-kernel)``, the same stride, padding and
  dilation: summing that output counts every (input element, output position) pair.
  Linear: ``out_features`` per input spike. A Linear fed by an average pool (the head's
  FC after global pooling) is counted as the fused pool+FC an event-driven chip runs:
  every spike entering the pool reaches all ``out_features`` (with weight ``W/area``).
- **multiply-accumulates (MACs)** for the analog-input layer (the stem conv): output
  elements × ``in_channels/groups`` × kernel area, *per call*. For static images the
  stem runs once per sample (direct encoding feeds the same current at every step, see
  ``SpikingResNet.forward``), so its MACs count once, not ``T`` times; for event frames
  it runs on all ``T`` frames and counts ``T`` times. This is what the code executes.

Energy = SOPs × ``e_ac_pj`` + MACs × ``e_mac_pj`` (45 nm: 0.9 pJ and 4.6 pJ). The ANN
reference is the same network run once, non-spiking: every synaptic layer's dense MACs for
one step × ``e_mac_pj``. BN (foldable into weights), pooling adds, neuron updates and
memory traffic are not counted, as in the usual SOP estimates.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

E_AC_PJ = 0.9  # one 32-bit float accumulate, 45 nm (Horowitz, ISSCC 2014)
E_MAC_PJ = 4.6  # one 32-bit float multiply-accumulate, 45 nm

SYNAPTIC = (nn.Conv2d, nn.Linear)
POOLS = (nn.AvgPool2d, nn.AdaptiveAvgPool2d)


@dataclass(frozen=True)
class EnergyEstimate:
    """Per-sample operation counts and energies (pJ) of one evaluation pass."""

    sops_per_sample: float
    macs_per_sample: float
    energy_pj_per_sample: float
    ann_macs_per_sample: float
    ann_energy_pj_per_sample: float


def conv_synaptic_ops(conv: nn.Conv2d, spikes: torch.Tensor) -> float:
    """SOPs of ``spikes`` (``[N, C_in, H, W]``, spike counts) entering ``conv``.

    Σ over input elements of spikes × (output positions reached) × out_channels/groups.
    """
    with torch.autocast(device_type=spikes.device.type, enabled=False):
        counts = spikes.detach().float().sum(1, keepdim=True)
        padding = conv.padding
        if conv.padding_mode != "zeros":
            # Padded copies of border elements are those elements: pad first, then count.
            counts = F.pad(counts, conv._reversed_padding_repeated_twice, conv.padding_mode)
            padding = 0
        ones = counts.new_ones(1, 1, *conv.kernel_size)
        reach = F.conv2d(counts, ones, None, conv.stride, padding, conv.dilation)
        return float(reach.sum(dtype=torch.float64)) * (conv.out_channels // conv.groups)


def fan_in(layer: nn.Module) -> int:
    """Multiply-accumulates per output element."""
    if isinstance(layer, nn.Conv2d):
        kh, kw = layer.kernel_size
        return layer.in_channels // layer.groups * kh * kw
    return layer.in_features


class EnergyMonitor:
    """Counts SOPs and MACs of every Conv2d/Linear layer over the batches run while active.

    ``analog_layers``: names (as in ``named_modules``) of the layers whose input is
    analog and so counts MACs; default: the first synaptic layer (the stem conv). Every
    layer's input dimension 0 indexes samples (or time-steps × samples).
    """

    def __init__(self, model: nn.Module, analog_layers: Collection[str] | None = None) -> None:
        self.model = model
        layers = [(n, m) for n, m in model.named_modules() if isinstance(m, SYNAPTIC)]
        if analog_layers is None:
            analog_layers = [layers[0][0]] if layers else []
        unknown = set(analog_layers) - {n for n, _ in layers}
        if unknown:
            raise ValueError(
                f"analog_layers {sorted(unknown)} are not Conv2d/Linear layers of the model"
            )
        self.analog = set(analog_layers)
        self.sops: dict[str, float] = {}
        self.macs: dict[str, float] = {}
        self.dense_macs: dict[str, int] = {}  # per sample, one step: the ANN reference
        self._pooled_spikes: float | None = None
        self._handles: list = []

    def __enter__(self) -> EnergyMonitor:
        for name, module in self.model.named_modules():
            if isinstance(module, SYNAPTIC):
                self._handles.append(module.register_forward_hook(self._synaptic_hook(name)))
            elif isinstance(module, POOLS):
                self._handles.append(module.register_forward_hook(self._pool_hook))
        return self

    def __exit__(self, *exc) -> None:
        for h in self._handles:
            h.remove()
        self._handles.clear()

    def _pool_hook(self, _module, inputs, _out) -> None:
        self._pooled_spikes = float(inputs[0].detach().float().sum(dtype=torch.float64))

    def _synaptic_hook(self, name: str):
        def hook(layer, inputs, out):
            x = inputs[0]
            pooled, self._pooled_spikes = self._pooled_spikes, None
            self.dense_macs[name] = out.numel() // out.shape[0] * fan_in(layer)
            if name in self.analog:
                self.macs[name] = self.macs.get(name, 0.0) + out.numel() * fan_in(layer)
                return
            if isinstance(layer, nn.Conv2d):
                ops = conv_synaptic_ops(layer, x)
            else:
                spikes = pooled if pooled is not None else float(x.detach().float().sum())
                ops = spikes * layer.out_features
            self.sops[name] = self.sops.get(name, 0.0) + ops

        return hook

    def estimate(
        self, samples: int, e_ac_pj: float = E_AC_PJ, e_mac_pj: float = E_MAC_PJ
    ) -> EnergyEstimate:
        """Totals divided by the ``samples`` evaluated, and their energies in pJ."""
        if samples <= 0:
            raise ValueError(f"samples must be positive, got {samples}")
        sops = sum(self.sops.values()) / samples
        macs = sum(self.macs.values()) / samples
        ann_macs = float(sum(self.dense_macs.values()))
        return EnergyEstimate(
            sops_per_sample=sops,
            macs_per_sample=macs,
            energy_pj_per_sample=sops * e_ac_pj + macs * e_mac_pj,
            ann_macs_per_sample=ann_macs,
            ann_energy_pj_per_sample=ann_macs * e_mac_pj,
        )
