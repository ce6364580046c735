"""The fused IF layer against a naive per-step reference written here, both resets.

The reference unrolls ``T`` steps with autograd and a straight-through sigmoid surrogate
(``H(x) + (σ(αx) − stop_grad(σ(αx)))``: exact Heaviside forward, ``α·σ'(αx)`` backward) —
no code from ``biril.neurons``. Spikes must be identical, gradients equal to rounding.
"""

import pytest
import torch

from biril.neurons import IFNeuron


def reference_if(current, v_threshold, alpha, reset):
    v = torch.zeros_like(current[0])
    spikes = []
    for i_t in current:
        v = v + i_t
        x = v - v_threshold
        soft_step = torch.sigmoid(alpha * x)
        s = (x >= 0).to(x.dtype) + (soft_step - soft_step.detach())  # + exactly 0
        v = v * (1 - s) if reset == "hard" else v - s * v_threshold
        spikes.append(s)
    return torch.stack(spikes)


def inputs(shape, dtype, seed=0):
    g = torch.Generator().manual_seed(seed)
    current = 0.8 * torch.randn(shape, generator=g, dtype=dtype) + 0.4
    return current, torch.randn(shape, generator=g, dtype=dtype)


def spikes_and_grad(fn, current, grad):
    x = current.clone().requires_grad_()
    out = fn(x)
    out.backward(grad)
    return out.detach(), x.grad


CASES = [
    # (shape [T, ...], v_threshold, alpha)
    ((5, 3, 4, 6, 6), 1.0, 4.0),
    ((4, 7, 11), 0.5, 2.0),
    ((1, 9), 1.0, 4.0),
    ((16, 2, 3, 4), 1.5, 10.0),
]


@pytest.mark.parametrize("reset", ["hard", "soft"])
@pytest.mark.parametrize("shape,v_threshold,alpha", CASES)
@pytest.mark.parametrize("dtype,tol", [(torch.float64, 1e-12), (torch.float32, 1e-5)])
def test_fused_if_matches_per_step_reference(reset, shape, v_threshold, alpha, dtype, tol):
    current, grad = inputs(shape, dtype)
    ref_s, ref_g = spikes_and_grad(
        lambda x: reference_if(x, v_threshold, alpha, reset), current, grad
    )
    neuron = IFNeuron(v_threshold=v_threshold, reset=reset, alpha=alpha)
    s, g = spikes_and_grad(neuron, current, grad)
    assert s.dtype == dtype
    assert torch.equal(s, ref_s)
    assert 0.05 < s.mean() < 0.95  # the case really exercises both spikes and silence
    torch.testing.assert_close(g, ref_g, rtol=tol, atol=tol)


@pytest.mark.parametrize("reset", ["hard", "soft"])
def test_hand_computed_gradient_through_a_reset(reset):
    # T=2, one neuron: I = (1.25, 0.5), V_th = 1, α = 4. Step 0 fires (H0 = 1.25).
    # hard: V0 = H0·(1−S0), so ∂V0/∂H0 = 1 − S0 − H0·σ'0 = −1.25·σ'0;
    # soft: V0 = H0 − S0, so ∂V0/∂H0 = 1 − σ'0.  H1 = V0 + I1; L = S0 + S1.
    current = torch.tensor([[1.25], [0.5]], dtype=torch.float64, requires_grad=True)
    IFNeuron(reset=reset)(current).sum().backward()
    sig = lambda x: 1 / (1 + torch.exp(torch.tensor(-4.0 * x, dtype=torch.float64)))  # noqa: E731
    d = lambda x: 4 * sig(x) * (1 - sig(x))  # noqa: E731
    h1 = (0.0 if reset == "hard" else 0.25) + 0.5
    dv0 = -1.25 * d(0.25) if reset == "hard" else 1 - d(0.25)
    expected = [d(0.25) + d(h1 - 1) * dv0, d(h1 - 1)]
    torch.testing.assert_close(current.grad.flatten(), torch.stack(expected).flatten())


def test_channels_last_and_expanded_inputs():
    # The stem's direct encoding feeds a stride-0 expand over T; channels-last convs feed
    # [T, B, C, H, W] views whose inner dims are NHWC in memory.
    current, grad = inputs((4, 2, 3, 5, 5), torch.float64)
    cl = current.flatten(0, 1).contiguous(memory_format=torch.channels_last).view(current.shape)
    for x in (cl, current[0].unsqueeze(0).expand(4, 2, 3, 5, 5)):
        ref_s, ref_g = spikes_and_grad(lambda t: reference_if(t, 1.0, 4.0, "hard"), x, grad)
        s, g = spikes_and_grad(IFNeuron(), x, grad)
        assert torch.equal(s, ref_s)
        torch.testing.assert_close(g, ref_g, rtol=1e-12, atol=1e-12)


def saved_bytes(fn, x):
    """Bytes autograd keeps for backward while ``fn(x)``'s graph is alive."""
    total = 0

    def pack(t):
        nonlocal total
        total += t.numel() * t.element_size()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        out = fn(x)
    return total, out


def test_backward_keeps_one_membrane_tensor_only():
    current, _ = inputs((4, 8, 16, 6, 6), torch.float32)
    x = current.requires_grad_()
    ours, _ = saved_bytes(IFNeuron(), x)
    unrolled, _ = saved_bytes(lambda t: reference_if(t, 1.0, 4.0, "hard"), x)
    assert ours == x.numel() * 4  # the charged membrane H, nothing per step
    assert unrolled >= 3 * ours


@pytest.mark.parametrize("reset", ["hard", pytest.param("soft", marks=pytest.mark.slow)])
def test_compiled_scans_match_reference(reset):
    # torch.compile (inductor, C++ on CPU) of both scans: ~25 s for a cold compilation on
    # 2 cores, so only the default reset runs by default.
    current, grad = inputs((4, 3, 4, 6, 6), torch.float32)
    cl = current.flatten(0, 1).contiguous(memory_format=torch.channels_last).view(current.shape)
    for x in (current, cl):
        ref_s, ref_g = spikes_and_grad(lambda t: reference_if(t, 1.0, 4.0, reset), x, grad)
        s, g = spikes_and_grad(IFNeuron(reset=reset, compile=True), x, grad)
        assert torch.equal(s, ref_s)
        torch.testing.assert_close(g, ref_g, rtol=1e-5, atol=1e-5)


def test_channels_last_network_computes_the_same_step():
    # The GPU-path switch TrainConfig.channels_last: same maths, another memory layout.
    from biril.config import TrainConfig
    from biril.datasets import load_dataset
    from biril.trainer import build_for

    splits = load_dataset("digits")
    torch.manual_seed(0)
    cpu = torch.device("cpu")
    plain = build_for(TrainConfig(preset="small", channels_last=False), splits, cpu).double()
    fast = build_for(TrainConfig(preset="small", channels_last=True), splits, torch.device("cpu"))
    fast = fast.double()
    fast.load_state_dict(plain.state_dict())
    assert fast.blocks[0].conv1.weight.is_contiguous(memory_format=torch.channels_last)
    x = torch.randn(8, 1, 8, 8, dtype=torch.float64)
    outs = []
    for model in (plain, fast):
        out, _ = model(x)
        out.square().sum().backward()
        outs.append((out, model.blocks[0].conv1.weight.grad))
    torch.testing.assert_close(outs[1][0], outs[0][0], rtol=1e-10, atol=1e-10)
    torch.testing.assert_close(outs[1][1], outs[0][1], rtol=1e-8, atol=1e-10)
