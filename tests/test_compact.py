"""Spikes saved for backward as booleans: the same gradients, and only spikes are packed."""

import copy

import torch

import biril.compact as compact
from biril.config import TrainConfig
from biril.models import build_model
from biril.schedule import Mode
from biril.trainer import BIRILStep


def model_and_batch():
    torch.manual_seed(0)
    model = build_model("small", 1, 10, time_steps=4).to(memory_format=torch.channels_last)
    return model, torch.randn(8, 1, 12, 12), torch.arange(8) % 10


def test_only_saved_spike_tensors_are_packed(monkeypatch):
    model, x, _ = model_and_batch()
    seen = []

    def spy(t):
        packed = compact._pack(t)
        binary = t.is_floating_point() and bool(((t == 0) | (t == 1)).all())
        seen.append((isinstance(packed, compact._Packed), binary, t.numel()))
        return packed

    with compact.compact_spikes(), torch.autograd.graph.saved_tensors_hooks(spy, compact._unpack):
        model(x)
    packed = [numel for p, _, numel in seen if p]
    # Every packed tensor is 0/1 valued; every 0/1 activation saved is packed (small 0/1
    # parameters aside, like a freshly initialised BN bias of zeros).
    assert packed and all(binary for p, binary, _ in seen if p)
    assert all(p for p, binary, numel in seen if binary and numel > 1000)


def test_a_step_with_compact_spikes_is_the_same_step():
    model, x, y = model_and_batch()
    twin = copy.deepcopy(model)
    plain = BIRILStep(model, TrainConfig(lr=0.01), total_steps=10)
    packed = BIRILStep(twin, TrainConfig(lr=0.01, compact_spikes=True), total_steps=10)
    for mode in (Mode.STBP, Mode.STDP_STBP, Mode.STBP):
        assert plain(x, y, mode) == packed(x, y, mode)
    for (name, p), q in zip(model.named_parameters(), twin.parameters(), strict=True):
        assert torch.equal(p, q), name
