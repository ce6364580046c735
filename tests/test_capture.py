"""``capture: compile``: the compiled step does the eager step's maths.

Compiling takes minutes on a small CPU (each kind of step compiles its own graph), so
the comparison is a slow test. What it checks: from the same weights and batch, one step
of each mode gives the same loss, the same spikes (so the same STDP update) and the same
weights afterwards, up to the rounding of kernels fused in another order. The optimizer is
plain SGD, whose step is the gradient times the rate: Adam's first step is the gradient's
sign, so a gradient of 1e-12 in one and -1e-12 in the other would move a weight by twice
the rate, which says nothing about the compiled maths.
"""

import pytest
import torch

from biril.capture import capture
from biril.config import TrainConfig
from biril.models import build_model
from biril.schedule import MODES
from biril.trainer import BIRILStep


def test_none_leaves_the_model_as_it_is_and_compile_compiles_it_in_place():
    model = build_model("small", 1, 10, 2)
    assert capture(model, "none", torch.device("cpu")) is model
    assert model._compiled_call_impl is None
    assert capture(model, "compile", torch.device("cpu")) is model  # compiles on first call
    assert model._compiled_call_impl is not None
    assert "stem_conv.weight" in model.state_dict()  # checkpoints keep their names


def test_the_config_takes_none_or_compile_only():
    assert TrainConfig().capture == "none"
    assert TrainConfig(capture="compile").capture == "compile"
    with pytest.raises(ValueError, match="capture"):
        TrainConfig(capture="cudagraph")


@pytest.mark.slow
def test_compiled_steps_match_the_eager_steps_in_every_mode():
    torch.manual_seed(0)
    config = TrainConfig(
        dataset="digits", preset="small", time_steps=2, batch_size=4, optimizer="sgd",
        momentum=0.0, lr=0.1,
    )
    eager = build_model("small", 1, 10, 2).to(memory_format=torch.channels_last)
    compiled = build_model("small", 1, 10, 2).to(memory_format=torch.channels_last)
    compiled.load_state_dict(eager.state_dict())
    capture(compiled, "compile", torch.device("cpu"))
    steps = [BIRILStep(m, config, total_steps=100) for m in (eager, compiled)]
    x = torch.rand(4, 1, 8, 8).contiguous(memory_format=torch.channels_last)
    y = torch.tensor([0, 3, 5, 9])
    for mode in MODES:
        (loss_e, correct_e), (loss_c, correct_c) = (step(x, y, mode) for step in steps)
        assert loss_c == pytest.approx(loss_e, rel=1e-5), mode
        assert correct_c == correct_e
        for (name, a), b in zip(eager.state_dict().items(), compiled.state_dict().values(),
                                strict=True):
            if a.is_floating_point():
                torch.testing.assert_close(b, a, rtol=1e-5, atol=1e-6, msg=f"{mode} {name}")
