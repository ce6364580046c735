"""Eq. 4 and the cross-entropy option, against values worked out by hand and torch's own
cross-entropy: the trainer tests use ``bir_loss`` as their reference, so it needs its own."""

from __future__ import annotations

import copy
import math

import pytest
import torch
import torch.nn.functional as F

from biril import TrainConfig
from biril.models import build_model
from biril.schedule import Mode
from biril.trainer import BIRILStep, bir_loss

MEAN_OUT = torch.tensor([[0.2, 0.5, 0.3], [0.9, 0.0, 0.1]])
TARGET = torch.tensor([1, 0])


def test_mse_is_half_the_squared_error_per_sample():
    # one-hot [0,1,0]: 0.2² + 0.5² + 0.3² = 0.38;  [1,0,0]: 0.1² + 0 + 0.1² = 0.02
    # 1/(2S) · Σ = (0.38 + 0.02) / (2 · 2) = 0.1
    assert bir_loss(MEAN_OUT, TARGET, "mse", 3).item() == pytest.approx(0.1)


def test_ce_is_the_mean_negative_log_softmax():
    def nll(row: list[float], k: int) -> float:
        return -(row[k] - math.log(sum(math.exp(v) for v in row)))

    expected = (nll([0.2, 0.5, 0.3], 1) + nll([0.9, 0.0, 0.1], 0)) / 2
    assert bir_loss(MEAN_OUT, TARGET, "ce", 3).item() == pytest.approx(expected)


def test_a_ce_run_steps_down_the_cross_entropy_gradient():
    torch.manual_seed(0)
    model = build_model("small", 1, 10, time_steps=3)
    lr = 0.05
    config = TrainConfig(optimizer="sgd", momentum=0.0, lr=lr, loss="ce")
    step = BIRILStep(model, config, total_steps=1000)
    x, y = torch.randn(8, 1, 8, 8), torch.arange(8) % 10
    reference = copy.deepcopy(model)
    out, _ = reference(x)
    expected_loss = F.cross_entropy(out.mean(0), y)
    expected_loss.backward()
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    loss, _ = step(x, y, Mode.STBP)
    assert loss == pytest.approx(expected_loss.item(), rel=1e-5)
    for (name, p), (_, q) in zip(
        model.named_parameters(), reference.named_parameters(), strict=True
    ):
        assert torch.allclose(p, before[name] - lr * q.grad, atol=1e-6), name
