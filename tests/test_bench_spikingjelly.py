"""BIRIL against SpikingJelly 2.0 as an independent reference: neuron, network, STDP.

What ``biril bench`` compares must compute the same thing: the IF layer matches
``IFNode`` (sigmoid α=4, reset not detached), the SpikingJelly network built for the bench
matches ``SpikingResNet`` weight for weight, and our conv/linear STDP matches
``STDPLearner`` once the documented trace conventions are matched.
"""

import math

import pytest
import torch
from torch import nn

pytest.importorskip("spikingjelly")

from biril.bench_spikingjelly import (  # noqa: E402
    SJConvSTDP,
    SJSpikingResNet,
    if_node,
    run_if_node,
    same_step_corr,
    spikingjelly,
    spikingjelly_tau,
)
from biril.models import PRESETS, build_model  # noqa: E402
from biril.neurons import IFNeuron  # noqa: E402
from biril.plasticity import stdp_delta_conv2d, stdp_delta_linear  # noqa: E402


def spikes(shape, rate, seed):
    g = torch.Generator().manual_seed(seed)
    return (torch.rand(shape, generator=g, dtype=torch.float64) < rate).double()


@pytest.mark.parametrize("reset", ["hard", "soft"])
def test_if_neuron_matches_spikingjelly_ifnode(reset):
    g = torch.Generator().manual_seed(0)
    current = 0.8 * torch.randn(6, 4, 3, 5, 5, generator=g, dtype=torch.float64) + 0.4
    grad = torch.randn(current.shape, generator=g, dtype=torch.float64)
    a, b = current.clone().requires_grad_(), current.float().requires_grad_()
    ours = IFNeuron(reset=reset)(a)
    theirs = run_if_node(if_node(hard=reset == "hard"), b)  # SpikingJelly's CPU op: float32
    ours.backward(grad)
    theirs.backward(grad.float())
    assert torch.equal(ours.float(), theirs)
    torch.testing.assert_close(a.grad.float(), b.grad, rtol=1e-5, atol=1e-5)


def test_spikingjelly_network_is_the_same_network():
    torch.manual_seed(0)
    ours = build_model("small", 1, 10, time_steps=4).double()
    theirs = SJSpikingResNet(PRESETS["small"], 1, 10, time_steps=4).double()
    theirs.load_state_dict(ours.state_dict(), strict=True)
    x = torch.randn(3, 1, 12, 12, dtype=torch.float64)
    out, _ = ours(x)
    spikingjelly().functional.reset_net(theirs)
    ref = theirs(x)
    torch.testing.assert_close(out, ref, rtol=1e-10, atol=1e-10)
    (out**2).sum().backward()
    (ref**2).sum().backward()
    for (name, p), (_, q) in zip(ours.named_parameters(), theirs.named_parameters(), strict=True):
        torch.testing.assert_close(p.grad, q.grad, rtol=1e-8, atol=1e-10, msg=name)


CONV_CASES = [
    # (T, B, C_in, C_out, size, stride, padding, tau+, tau-, A+, A-)
    (4, 2, 3, 5, 6, 1, 1, 2.0, 2.0, 1.0, 1.0),
    (5, 3, 2, 4, 7, 2, 1, 3.0, 1.5, 0.7, 0.4),
    (3, 1, 4, 3, 5, 1, 0, 1.0, 4.0, 1.0, 0.0),
]


@pytest.mark.parametrize("T,B,ci,co,size,stride,padding,tp,tm,ap,am", CONV_CASES)
def test_conv_stdp_matches_stdp_learner(T, B, ci, co, size, stride, padding, tp, tm, ap, am):
    conv = nn.Conv2d(ci, co, 3, stride, padding, bias=False).double()
    pre = spikes((T, B, ci, size, size), 0.3, seed=1)
    h_out = (size + 2 * padding - 3) // stride + 1
    post = spikes((T, B, co, h_out, h_out), 0.3, seed=2)
    sj = SJConvSTDP(conv, tau_plus=tp, tau_minus=tm, a_plus=ap, a_minus=am)
    sj.record(pre, post)
    theirs = sj.delta()
    ours = stdp_delta_conv2d(
        pre,
        post,
        conv.weight.shape,
        stride=stride,
        padding=padding,
        tau_plus=tp,
        tau_minus=tm,
        a_plus=ap,
        a_minus=am,
    )
    expected = theirs + am * same_step_corr(pre, post, conv)
    assert expected.abs().max() > 1.0  # a real, non-trivial update
    torch.testing.assert_close(
        ours.double() * B * h_out * h_out * T,
        expected,
        rtol=1e-5,
        atol=1e-5 * expected.abs().max().item(),
    )


def test_spikingjelly_traces_are_cleared_between_batches():
    # SpikingJelly's traces outlive a batch unless reset; ours start at zero every batch.
    conv = nn.Conv2d(2, 3, 3, 1, 1, bias=False).double()
    pre, post = spikes((4, 2, 2, 5, 5), 0.3, 3), spikes((4, 2, 3, 5, 5), 0.3, 4)
    sj = SJConvSTDP(conv)
    sj.record(pre, post)
    first = sj.delta()
    sj.record(pre, post)
    torch.testing.assert_close(sj.delta(), first)


def test_linear_stdp_matches_stdp_learner():
    T, B, n_in, n_out, tp, tm, ap, am = 5, 4, 6, 3, 2.0, 3.0, 1.0, 0.6
    pre, post = spikes((T, B, n_in), 0.4, 5), spikes((T, B, n_out), 0.4, 6)
    fc = spikingjelly().layer.Linear(n_in, n_out, bias=False, step_mode="m").double()
    source = nn.Identity()
    learner = spikingjelly().learning.STDPLearner(
        "m",
        fc,
        source,
        spikingjelly_tau(tp),
        spikingjelly_tau(tm),
        f_pre=lambda w: am,
        f_post=lambda w: ap,
    )
    with torch.no_grad():
        fc(pre)
        source(post)
    theirs = learner.step(on_grad=False)
    same_step = torch.einsum("tbo,tbi->oi", post, pre)
    ours = stdp_delta_linear(pre, post, tau_plus=tp, tau_minus=tm, a_plus=ap, a_minus=am)
    torch.testing.assert_close(ours.double() * B * T, theirs + am * same_step, rtol=1e-5, atol=1e-5)


def test_matched_tau_decays_like_ours():
    for tau in (1.0, 2.0, 5.0):
        assert 1 - 1 / spikingjelly_tau(tau) == pytest.approx(math.exp(-1 / tau), rel=1e-12)
