"""The fast trace-form STDP against a naive O(T²) all-pairs sum of Eq. 3."""

import dataclasses
import math

import pytest
import torch
import torch.nn.functional as F

from biril.plasticity import (
    STDPParams,
    _presynaptic_drive,
    centered,
    renormalize_,
    rotate_,
    stdp_delta,
    stdp_delta_conv2d,
    stdp_delta_linear,
    stdp_deltas,
)


def pair_weight(t_pre: int, t_post: int, tp, tm, ap, am, same_step=True) -> float:
    """Eq. 3 kernel: causal pairs (t_post >= t_pre) potentiate, the others depress.

    ``same_step=False`` is the strict reading: a pair at one step counts for nothing.
    """
    if t_post == t_pre and not same_step:
        return 0.0
    if t_post >= t_pre:
        return ap * math.exp(-(t_post - t_pre) / tp)
    return -am * math.exp(-(t_pre - t_post) / tm)


def naive_linear(pre, post, tp, tm, ap, am, same_step=True):
    T, B = pre.shape[:2]
    dw = torch.zeros(post.shape[2], pre.shape[2], dtype=torch.float64)
    for t1 in range(T):
        for t2 in range(T):
            w = pair_weight(t1, t2, tp, tm, ap, am, same_step)
            dw += w * torch.einsum("bo,bi->oi", post[t2].double(), pre[t1].double())
    return dw / (B * T)


def naive_conv(pre, post, k, stride, padding, tp, tm, ap, am, same_step=True):
    """Every (pre spike, post spike) pair of every synapse, via explicit patches."""
    T, B, c_in = pre.shape[:3]
    c_out, h_out, w_out = post.shape[2:]
    dw = torch.zeros(c_out, c_in * k * k, dtype=torch.float64)
    for t1 in range(T):
        patches = F.unfold(pre[t1].double(), k, padding=padding, stride=stride)  # [B, CKK, L]
        for t2 in range(T):
            w = pair_weight(t1, t2, tp, tm, ap, am, same_step)
            post_flat = post[t2].double().flatten(2)  # [B, C_out, L]
            dw += w * torch.einsum("bol,bil->oi", post_flat, patches)
    return dw.view(c_out, c_in, k, k) / (B * h_out * w_out * T)


def spikes(*shape, p=0.3, seed=0):
    g = torch.Generator().manual_seed(seed)
    return (torch.rand(*shape, generator=g) < p).float()


PARAMS = [(2.0, 2.0, 1.0, 1.0), (3.0, 1.5, 0.7, 1.3)]


@pytest.mark.parametrize("same_step", [True, False])
@pytest.mark.parametrize("tp,tm,ap,am", PARAMS)
@pytest.mark.parametrize("T", [1, 4, 6])
def test_linear_matches_pair_sum(tp, tm, ap, am, T, same_step):
    pre, post = spikes(T, 3, 5, seed=1), spikes(T, 3, 4, seed=2)
    fast = stdp_delta_linear(
        pre, post, tau_plus=tp, tau_minus=tm, a_plus=ap, a_minus=am, same_step=same_step
    )
    assert fast.shape == (4, 5)
    ref = naive_linear(pre, post, tp, tm, ap, am, same_step)
    torch.testing.assert_close(fast.double(), ref)


def test_linear_hand_computed_pair():
    # One pre spike at t=0, one post spike at t=1: only LTP, A+·exp(-1/2), over B·T = 2.
    pre = torch.tensor([[[1.0]], [[0.0]]])
    post = torch.tensor([[[0.0]], [[1.0]]])
    assert stdp_delta_linear(pre, post).item() == pytest.approx(math.exp(-0.5) / 2)
    # Reversed order: post at t=0, pre at t=1 → only LTD, −A−·exp(-1/2) / 2.
    assert stdp_delta_linear(post, pre).item() == pytest.approx(-math.exp(-0.5) / 2)
    # Same step counts as causal: +A+ / (B·T).
    both = torch.tensor([[[1.0]]])
    assert stdp_delta_linear(both, both).item() == pytest.approx(1.0)


@pytest.mark.parametrize("same_step", [True, False])
@pytest.mark.parametrize("tp,tm,ap,am", PARAMS)
@pytest.mark.parametrize(
    "k,stride,padding,hw", [(3, 1, 1, 6), (3, 2, 1, 7), (1, 2, 0, 6), (3, 1, 0, 5)]
)
def test_conv_matches_pair_sum(tp, tm, ap, am, k, stride, padding, hw, same_step):
    T, B, c_in, c_out = 4, 2, 3, 5
    pre = spikes(T, B, c_in, hw, hw, seed=3)
    h_out = (hw + 2 * padding - k) // stride + 1
    post = spikes(T, B, c_out, h_out, h_out, seed=4)
    fast = stdp_delta_conv2d(
        pre, post, (c_out, c_in, k, k), stride=stride, padding=padding,
        tau_plus=tp, tau_minus=tm, a_plus=ap, a_minus=am, same_step=same_step,
    )
    ref = naive_conv(pre, post, k, stride, padding, tp, tm, ap, am, same_step)
    torch.testing.assert_close(fast.double(), ref, rtol=1e-5, atol=1e-6)


def test_conv_analog_presynaptic_input():
    # The stem sees analog currents, not spikes: the pair sum is bilinear, so it still holds.
    g = torch.Generator().manual_seed(5)
    pre = torch.randn(3, 2, 2, 5, 5, generator=g)
    post = spikes(3, 2, 4, 5, 5, seed=6)
    fast = stdp_delta_conv2d(pre, post, (4, 2, 3, 3), padding=1)
    torch.testing.assert_close(
        fast.double(), naive_conv(pre, post, 3, 1, 1, 2.0, 2.0, 1.0, 1.0), rtol=1e-5, atol=1e-6
    )


def test_renormalize_restores_each_filter_norm():
    w = torch.randn(4, 3, 3, 3)
    norms = w.flatten(1).norm(dim=1)
    w2 = w + torch.randn_like(w)
    renormalize_(w2, norms.view(-1, 1, 1, 1))
    torch.testing.assert_close(w2.flatten(1).norm(dim=1), norms)


def channels_last_steps(x):
    """``[T, B, C, H, W]`` whose every step is a channels-last ``[B, C, H, W]`` (a network's)."""
    return x.flatten(0, 1).contiguous(memory_format=torch.channels_last).view(x.shape)


def test_conv_layouts_of_a_network_give_the_same_pair_sum():
    T, B, c_in, c_out, hw = 4, 3, 3, 5, 6
    pre, post = spikes(T, B, c_in, hw, hw, seed=7), spikes(T, B, c_out, hw, hw, seed=8)
    ref = naive_conv(pre, post, 3, 1, 1, 2.0, 2.0, 1.0, 1.0)
    cl = stdp_delta_conv2d(channels_last_steps(pre), channels_last_steps(post), (5, 3, 3, 3),
                           padding=1)
    torch.testing.assert_close(cl.double(), ref, rtol=1e-5, atol=1e-6)
    # Direct encoding records the analog input expanded over T (stride 0), not copied.
    x = torch.randn(B, c_in, hw, hw, generator=torch.Generator().manual_seed(9))
    repeated = x.unsqueeze(0).expand(T, *x.shape)
    fast = stdp_delta_conv2d(repeated, post, (5, 3, 3, 3), padding=1)
    ref = naive_conv(repeated.contiguous(), post, 3, 1, 1, 2.0, 2.0, 1.0, 1.0)
    torch.testing.assert_close(fast.double(), ref, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("spike_dtype", [torch.float32, torch.bfloat16])  # bf16: autocast
@pytest.mark.parametrize("layout", ["contiguous", "channels_last"])
def test_conv_in_bfloat16_is_within_its_roundings_of_the_pair_sum(layout, spike_dtype):
    # Spikes are exact in bfloat16 and products accumulate in float32. Three roundings to 8
    # significant bits (relative 2^-9 each): the pair kernel K, the mixed traces, and the
    # result. LTP and LTD terms cancel, so the bound is on the sum of the magnitudes of
    # all pair terms.
    T, B, c_in, c_out, hw = 4, 4, 6, 8, 8
    pre, post = spikes(T, B, c_in, hw, hw, seed=10), spikes(T, B, c_out, hw, hw, seed=11)
    pre_in, post_in = pre.to(spike_dtype), post.to(spike_dtype)
    if layout == "channels_last":
        pre_in, post_in = channels_last_steps(pre_in), channels_last_steps(post_in)
    assert _presynaptic_drive(pre_in, STDPParams(), torch.bfloat16).dtype == torch.bfloat16
    fast = stdp_delta_conv2d(
        pre_in, post_in, (c_out, c_in, 3, 3), padding=1, dtype=torch.bfloat16
    )
    assert fast.dtype == torch.float32
    ref = naive_conv(pre, post, 3, 1, 1, 2.0, 2.0, 1.0, 1.0)
    magnitude = naive_conv(pre, post, 3, 1, 1, 2.0, 2.0, 1.0, -1.0)  # LTD terms counted +
    err = (fast.double() - ref).abs()
    assert (err <= 3 * 2**-9 * magnitude).all()
    assert err.max() > 0  # it really ran in bfloat16


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_a_pass_whose_layers_share_spike_tensors_gives_each_layer_its_pair_sum(dtype):
    # One recorded pass as a downsampling block records it: x is the pre of conv1 and of
    # the shortcut, h is conv1's post and conv2's pre, out is the post of both. Each cast
    # and trace is made once per tensor; a channel slice of x (same storage, another
    # shape) must not be mistaken for x, nor the direct-encoded stem input for a copy.
    T, B, hw = 4, 3, 6
    conv1, conv2 = torch.nn.Conv2d(4, 6, 3, 2, 1), torch.nn.Conv2d(6, 6, 3, 1, 1)
    shortcut, part = torch.nn.Conv2d(4, 6, 1, 2, 0), torch.nn.Conv2d(2, 6, 1, 2, 0)
    stem = torch.nn.Conv2d(1, 4, 3, 1, 1)
    image = torch.randn(B, 1, hw, hw, generator=torch.Generator().manual_seed(3))
    analog = image.unsqueeze(0).expand(T, *image.shape)
    x = channels_last_steps(spikes(T, B, 4, hw, hw, seed=4))
    h = channels_last_steps(spikes(T, B, 6, hw // 2, hw // 2, seed=5))
    out = channels_last_steps(spikes(T, B, 6, hw // 2, hw // 2, seed=6))
    records = [  # (layer, pre, post, drive); no competition, so no drive is read
        (stem, analog, x, None), (conv1, x, h, None), (conv2, h, out, None),
        (shortcut, x, out, None), (part, x[:, :, :2], out, None),
    ]
    deltas = stdp_deltas(records, STDPParams(), dtype)
    for (layer, pre, post, _), fast in zip(records, deltas, strict=True):
        k, s, p = layer.kernel_size[0], layer.stride[0], layer.padding[0]
        ref = naive_conv(pre.contiguous(), post.contiguous(), k, s, p, 2.0, 2.0, 1.0, 1.0)
        if dtype == torch.float32:
            torch.testing.assert_close(fast.double(), ref, rtol=1e-5, atol=1e-6)
        else:  # the same three roundings as above (the analog input's is the trace's)
            magnitude = naive_conv(
                pre.abs().contiguous(), post.contiguous(), k, s, p, 2.0, 2.0, 1.0, -1.0
            )
            assert ((fast.double() - ref).abs() <= 3 * 2**-9 * magnitude).all()


def expected_delta_independent(T, p_pre, p_post, params: STDPParams) -> float:
    """E[ΔW] for independent Bernoulli trains: every pair fires with p_pre·p_post, so the
    naive pair sum of the expectation is the kernel summed over all pairs, / T."""
    total = sum(
        pair_weight(s, t, params.tau_plus, params.tau_minus, params.a_plus, params.a_minus,
                    params.same_step)
        for s in range(T) for t in range(T)
    )
    return p_pre * p_post * total / T


@pytest.mark.parametrize("same_step", [True, False])
@pytest.mark.parametrize("T", [2, 4, 8, 16])
def test_default_rule_depresses_independent_firing(T, same_step):
    params = STDPParams.balanced(T, same_step=same_step)
    assert expected_delta_independent(T, 0.3, 0.2, params) < 0
    # balance 1: LTD exactly cancels LTP, pair by pair summed.
    exact = STDPParams.balanced(T, balance=1.0, same_step=same_step)
    assert expected_delta_independent(T, 0.3, 0.2, exact) == pytest.approx(0, abs=1e-12)
    # A+ = A− (the old default): with causal same-step pairs, uncorrelated firing
    # potentiates (the defect this replaces); the strict reading is exactly neutral.
    symmetric = expected_delta_independent(T, 0.3, 0.2, STDPParams(same_step=same_step))
    assert symmetric > 0 if same_step else symmetric == pytest.approx(0, abs=1e-12)


def test_balanced_amplitude_at_four_steps_is_the_documented_one():
    # T=4, τ±=2, causal: LTP 4 + 3e^-½ + 2e^-1 + e^-3/2, LTD the same without the 4.
    ltp = 4 + 3 * math.exp(-0.5) + 2 * math.exp(-1) + math.exp(-1.5)
    assert STDPParams.balanced(4, balance=1.0).a_minus == pytest.approx(ltp / (ltp - 4))
    assert STDPParams.balanced(4, balance=1.0).a_minus == pytest.approx(2.44, abs=0.005)


def test_fast_rule_depresses_independent_spike_trains_on_average():
    # The fast form on real random spikes, many samples: its mean ΔW sits below zero.
    T, params = 4, STDPParams.balanced(4)
    pre, post = spikes(T, 4000, 6, p=0.3, seed=12), spikes(T, 4000, 5, p=0.2, seed=13)
    fast = stdp_delta_linear(pre, post, **dataclasses.asdict(params))
    expected = expected_delta_independent(T, 0.3, 0.2, params)
    assert fast.mean().item() == pytest.approx(expected, abs=abs(expected) / 2)


def test_a_window_of_one_step_cannot_be_balanced():
    with pytest.raises(ValueError, match="at least 2 time steps"):
        STDPParams.balanced(1)


def test_rotation_turns_each_layer_by_the_rate_and_keeps_filter_norms():
    g = torch.Generator().manual_seed(14)
    w = torch.randn(6, 3, 3, 3, generator=g)
    delta = torch.randn(6, 3, 3, 3, generator=g) + 5 * w  # a large radial part
    norms = w.flatten(1).norm(dim=1).view(-1, 1, 1, 1)
    new = w.clone()
    rotate_(new, delta, 0.01)
    renormalize_(new, norms)
    torch.testing.assert_close(new.flatten(1).norm(dim=1), norms.flatten())
    # Relative change 0.01 along the tangent, then back onto each filter's sphere:
    # second order in the rate.
    assert ((new - w).norm() / w.norm()).item() == pytest.approx(0.01, rel=1e-3)


def naive_centered(pre):
    """``pre`` minus its mean over the batch and positions, per step and channel, by hand."""
    out = pre.double().clone()
    for t in range(pre.shape[0]):
        for c in range(pre.shape[2]):
            out[t, :, c] -= pre[t, :, c].double().mean()
    return out


@pytest.mark.parametrize("stem", [False, True])
def test_covariance_form_is_the_pair_sum_over_centred_presynaptic_input(stem):
    T, B, c_in, c_out, hw = 4, 3, 3, 5, 6
    conv = torch.nn.Conv2d(c_in, c_out, 3, 1, 1)
    if stem:  # direct encoding: an analog image repeated over T as a stride-0 view
        image = torch.rand(B, c_in, hw, hw, generator=torch.Generator().manual_seed(15))
        pre = image.unsqueeze(0).expand(T, *image.shape)
    else:
        pre = spikes(T, B, c_in, hw, hw, seed=15)
    post = spikes(T, B, c_out, hw, hw, seed=16)
    p = STDPParams.balanced(T)
    fast = stdp_delta(conv, pre, post, p, center=True)
    ref = naive_conv(naive_centered(pre), post, 3, 1, 1, 2.0, 2.0, 1.0, p.a_minus)
    torch.testing.assert_close(fast.double(), ref, rtol=1e-5, atol=1e-6)
    # Independent of how often the inputs fire: a constant added to every input is gone.
    shifted = stdp_delta(conv, pre + 1.0, post, p, center=True)
    torch.testing.assert_close(shifted, fast, rtol=1e-4, atol=1e-6)


def test_linear_layers_get_the_same_centred_winners_rule():
    T, B = 4, 6
    pre, post = spikes(T, B, 7, seed=17), spikes(T, B, 10, seed=18)
    fc = torch.nn.Linear(7, 10)
    p = STDPParams.balanced(T)
    fast = stdp_delta(fc, pre, post, p, center=True)
    ref = naive_linear(naive_centered(pre), post, 2.0, 2.0, 1.0, p.a_minus)
    torch.testing.assert_close(fast.double(), ref)
    torch.testing.assert_close(centered(pre).mean(dim=1), torch.zeros(T, 7))
