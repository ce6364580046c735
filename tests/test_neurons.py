"""IF dynamics against hand-computed sequences; the surrogate against its formula."""

import math

import pytest
import torch

from biril.neurons import IFNeuron, spike


def run(neuron: IFNeuron, currents: list[float]) -> list[float]:
    x = torch.tensor(currents).view(-1, 1)  # [T, B=1]
    return neuron(x).flatten().tolist()


def test_hard_reset_sequence():
    # V: .625, 1.25→spike→0, .625, 2.125→spike→0, .25
    assert run(IFNeuron(reset="hard"), [0.625, 0.625, 0.625, 1.5, 0.25]) == [0, 1, 0, 1, 0]


def test_soft_reset_sequence():
    # V: .625, 1.25→spike→.25, .875, 2.375→spike→1.375, 1.625→spike→.625
    assert run(IFNeuron(reset="soft"), [0.625, 0.625, 0.625, 1.5, 0.25]) == [0, 1, 0, 1, 1]


def test_threshold_is_inclusive_and_configurable():
    assert run(IFNeuron(v_threshold=1.0), [1.0]) == [1]
    assert run(IFNeuron(v_threshold=2.0), [1.0, 0.5, 0.5]) == [0, 0, 1]


def test_membrane_starts_at_zero_every_call():
    n = IFNeuron()
    assert run(n, [0.75]) == [0]
    assert run(n, [0.75]) == [0]  # no state carried over from the previous call


@pytest.mark.parametrize("alpha", [1.0, 4.0, 10.0])
def test_surrogate_gradient_matches_formula(alpha):
    x = torch.linspace(-2, 2, 41, dtype=torch.float64, requires_grad=True)
    spike(x, alpha).sum().backward()
    for xi, gi in zip(x.detach().tolist(), x.grad.tolist(), strict=True):
        s = 1 / (1 + math.exp(-alpha * xi))
        assert gi == pytest.approx(alpha * s * (1 - s), rel=1e-12)


def test_if_single_step_gradient_is_surrogate_at_v_minus_threshold():
    current = torch.tensor([[0.7, 1.3]], dtype=torch.float64, requires_grad=True)
    IFNeuron(v_threshold=1.0, alpha=4.0)(current).sum().backward()
    expected = []
    for v in (0.7, 1.3):
        s = 1 / (1 + math.exp(-4.0 * (v - 1.0)))
        expected.append(4.0 * s * (1 - s))
    assert current.grad.flatten().tolist() == pytest.approx(expected, rel=1e-12)
