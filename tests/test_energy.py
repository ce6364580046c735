"""Synaptic-operation counts against hand-computed small networks and a naive pair count."""

from __future__ import annotations

import itertools

import pytest
import torch
from torch import nn

from biril.energy import EnergyMonitor, conv_synaptic_ops
from biril.models import build_model


def naive_conv_ops(conv: nn.Conv2d, spikes: torch.Tensor) -> float:
    """Every (output position, kernel offset) pair that lands inside the input, by loops."""
    n, c_in, h, w = spikes.shape
    (kh, kw), (sh, sw), (ph, pw), (dh, dw) = (
        conv.kernel_size, conv.stride, conv.padding, conv.dilation
    )
    h_out = (h + 2 * ph - dh * (kh - 1) - 1) // sh + 1
    w_out = (w + 2 * pw - dw * (kw - 1) - 1) // sw + 1
    per_channel = conv.out_channels // conv.groups
    total = 0.0
    for i, j, a, b in itertools.product(range(h_out), range(w_out), range(kh), range(kw)):
        r, c = i * sh - ph + a * dh, j * sw - pw + b * dw
        if 0 <= r < h and 0 <= c < w:
            total += float(spikes[:, :, r, c].sum()) * per_channel
    return total


def test_conv_stride2_padding1_edges_by_hand():
    # 4x4 input, 3x3 kernel, stride 2, padding 1 -> 2x2 output. Row (and column) r of the
    # input is covered by output rows: r=0 -> {0}, r=1 -> {0, 1}, r=2 -> {1}, r=3 -> {1}.
    conv = nn.Conv2d(1, 2, 3, stride=2, padding=1, bias=False)
    spikes = torch.zeros(1, 1, 4, 4)
    spikes[0, 0, 0, 0] = 1  # 1 x 1 positions x 2 channels = 2
    spikes[0, 0, 1, 1] = 1  # 2 x 2 positions x 2 channels = 8
    spikes[0, 0, 3, 2] = 1  # 1 x 1 positions x 2 channels = 2
    assert conv_synaptic_ops(conv, spikes) == 12.0
    with EnergyMonitor(conv, analog_layers=()) as monitor:
        conv(spikes)
    assert monitor.sops == {"": 12.0}
    assert monitor.macs == {}


def test_conv_interior_spike_reaches_full_kernel():
    # stride 1, padding 1, 5x5: an interior spike reaches 3x3 positions x 4 channels = 36,
    # a corner spike 2x2 x 4 = 16; two time steps (N = 2) add up.
    conv = nn.Conv2d(1, 4, 3, stride=1, padding=1, bias=False)
    spikes = torch.zeros(2, 1, 5, 5)
    spikes[0, 0, 2, 2] = 1
    spikes[1, 0, 0, 0] = 1
    assert conv_synaptic_ops(conv, spikes) == 36.0 + 16.0


@pytest.mark.parametrize(
    "kernel,stride,padding,dilation,groups",
    [(3, 1, 1, 1, 1), (3, 2, 1, 1, 1), (1, 2, 0, 1, 1), (3, 2, 0, 1, 2), (3, 1, 2, 2, 1)],
)
def test_conv_ops_match_naive_pair_count(kernel, stride, padding, dilation, groups):
    torch.manual_seed(0)
    conv = nn.Conv2d(4, 6, kernel, stride, padding, dilation, groups=groups, bias=False)
    spikes = (torch.rand(3, 4, 7, 6) < 0.3).float()
    assert conv_synaptic_ops(conv, spikes) == pytest.approx(naive_conv_ops(conv, spikes))


def test_linear_counts_output_features_per_input_spike():
    fc = nn.Linear(5, 3)
    spikes = torch.tensor([[1.0, 0, 1, 0, 0], [0, 0, 0, 1, 1]])  # 4 spikes
    with EnergyMonitor(fc, analog_layers=()) as monitor:
        fc(spikes)
    est = monitor.estimate(samples=2, e_ac_pj=0.9, e_mac_pj=4.6)
    assert monitor.sops == {"": 12.0}
    assert est.sops_per_sample == 6.0
    assert est.energy_pj_per_sample == pytest.approx(6.0 * 0.9)
    assert est.ann_macs_per_sample == 15  # 5 x 3, run once
    assert est.ann_energy_pj_per_sample == pytest.approx(15 * 4.6)


def test_analog_stem_counts_macs_and_pooled_fc_counts_pool_spikes():
    stem = nn.Conv2d(1, 4, 3, padding=1, bias=False)
    pool = nn.AdaptiveAvgPool2d(1)
    fc = nn.Linear(4, 3)
    net = nn.ModuleDict({"stem": stem, "pool": pool, "fc": fc})
    x = torch.rand(2, 1, 8, 8)
    spikes = torch.zeros(2, 4, 8, 8)
    spikes[0, 1, 2:4, 2:5] = 1  # 6 spikes into the pool of sample 0
    spikes[1, 3, 0, 0] = 1  # 1 into sample 1
    with EnergyMonitor(net) as monitor:  # default analog layer: the first one, the stem
        stem(x)
        fc(pool(spikes).flatten(1))
    assert monitor.macs == {"stem": 2 * 8 * 8 * 4 * 9}  # output elements x C_in x 3 x 3
    assert monitor.sops == {"fc": 7 * 3}  # each pooled spike reaches the 3 FC outputs
    est = monitor.estimate(samples=2, e_ac_pj=1.0, e_mac_pj=10.0)
    assert est.macs_per_sample == 8 * 8 * 4 * 9
    assert est.energy_pj_per_sample == pytest.approx(10.5 * 1.0 + 2304 * 10.0)
    assert est.ann_macs_per_sample == 2304 + 12


def test_unknown_analog_layer_fails_fast():
    with pytest.raises(ValueError, match="not Conv2d/Linear"):
        EnergyMonitor(nn.Linear(2, 2), analog_layers=("stem",))


@pytest.mark.parametrize("time_steps", [1, 3])
def test_spiking_resnet_counts_against_recorded_spikes(time_steps):
    torch.manual_seed(1)
    model = build_model("small", 1, 10, time_steps, stdp_linear=True).eval()
    x = torch.rand(5, 1, 8, 8) * 4
    with torch.no_grad(), EnergyMonitor(model) as monitor:
        _, records = model(x, record=True)
    # Direct encoding: the stem runs once per image, whatever T is.
    assert monitor.macs == {"stem_conv": 5 * 8 * 8 * 32 * 9}
    names = {m: n for n, m in model.named_modules()}
    convs = [(r.layer, r.pre, r.post) for r in records if isinstance(r.layer, nn.Conv2d)]
    expected = {
        names[layer]: naive_conv_ops(layer, pre.flatten(0, 1)) for layer, pre, _ in convs[1:]
    }
    pool_input = convs[-1][2]  # the last block's output spikes enter the pool, then fc1
    hidden = records[-1][2]  # fc1 -> IF spikes, fc2's input
    expected["fc1"] = float(pool_input.sum()) * 128
    expected["fc2"] = float(hidden.sum()) * 10
    assert set(monitor.sops) == set(expected)
    for name, value in expected.items():
        assert monitor.sops[name] == pytest.approx(value), name
    # The ANN reference: every layer's dense MACs, once. small: stem 1->32 and block 1
    # (32->32, two 3x3 convs) at 8x8; block 2 (32->64, stride 2, 1x1 shortcut) at 4x4.
    dense = 8 * 8 * 32 * 9 + 2 * (8 * 8 * 32 * 32 * 9)
    dense += 4 * 4 * 64 * 32 * 9 + 4 * 4 * 64 * 64 * 9 + 4 * 4 * 64 * 32
    dense += 64 * 128 + 128 * 10
    assert monitor.estimate(5).ann_macs_per_sample == dense


def test_evaluate_reports_energy_with_the_configured_constants():
    from biril import build_config
    from biril.datasets import load_dataset
    from biril.loader import DeviceLoader
    from biril.trainer import build_for, evaluate

    config = build_config(dataset="digits", time_steps=2, e_ac_pj=1.0, e_mac_pj=2.0)
    splits = load_dataset("digits", None, val_fraction=0.1, split_seed=0)
    torch.manual_seed(0)
    model = build_for(config, splits, torch.device("cpu"))
    loader = DeviceLoader(splits, "val", 64, torch.device("cpu"))
    _, _, rates, cost = evaluate(model, loader, config)
    assert cost.macs_per_sample == 8 * 8 * 32 * 9  # the stem, once per image
    assert cost.energy_pj_per_sample == pytest.approx(
        cost.sops_per_sample * 1.0 + cost.macs_per_sample * 2.0
    )
    assert cost.ann_energy_pj_per_sample == pytest.approx(2.0 * cost.ann_macs_per_sample)
    # Spikes drive SOPs: with every IF layer silent there would be none.
    assert (cost.sops_per_sample > 0) == any(r > 0 for r in rates.values())
