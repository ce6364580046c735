"""The sign test: on a random network and one batch of real static images, the default
STDP update moves each winner's filter *toward* the patterns it responds to.

The reference is written out independently of the rule's trace algebra: the winners'
rate-Hebbian direction ``H_c = Σ_{b,pos} win_c · r̄_c · (x̄_patch − mean patch)``, with
rates averaged over time, patches unfolded explicitly and winners picked by a plain argmax
of ``conv(x̄)/‖w_c‖``. The balanced kernel, right for independent firing, points the
other way on these inputs (the defect issue 21 measured: cosine −0.14 to −0.72).
"""

import pytest
import torch
import torch.nn.functional as F
from sklearn.datasets import load_digits

from biril import TrainConfig
from biril.models import build_model
from biril.plasticity import STDPParams, filter_norms, stdp_deltas
from biril.trainer import stdp_params

T = 4


def batch():
    d = load_digits()
    x = torch.tensor(d.images[:64], dtype=torch.float32).unsqueeze(1) / 16.0
    return (x - x.mean()) / x.std()


def network():
    torch.manual_seed(0)
    model = build_model("small", 1, 10, time_steps=T)
    model.train()
    return model


def hebbian_direction(layer, pre, post, k=1):
    """``H`` of one conv layer from time-averaged input and output, by explicit patches."""
    x_bar = pre.float().mean(0)  # [B, Cin, H, W]
    rate = post.float().mean(0).flatten(2)  # [B, C, L]
    # The covariance form: each input channel centred over batch and positions (then the
    # border's zero padding reads as "average input").
    x_c = x_bar - x_bar.mean(dim=(0, 2, 3), keepdim=True)
    patches = F.unfold(x_c, layer.kernel_size, padding=layer.padding, stride=layer.stride)
    w = layer.weight.detach().flatten(1)
    drive = torch.einsum("ci,bil->bcl", w, F.unfold(
        x_bar, layer.kernel_size, padding=layer.padding, stride=layer.stride))
    score = drive / w.norm(dim=1).view(1, -1, 1)
    win = (score == score.amax(dim=1, keepdim=True)).float()
    return torch.einsum("bcl,bil->ci", win * rate, patches)


def tangential(delta, weight):
    unit = (weight.detach() / filter_norms(weight)).flatten(1)
    d = delta.flatten(1)
    return d - (d * unit).sum(1, keepdim=True) * unit


def cosines(params: STDPParams):
    model = network()
    with torch.no_grad():
        _, records = model(batch(), record=True)
    deltas = stdp_deltas(records, params, winners=1, center=True)
    out = {}
    for rec, delta in zip(records, deltas, strict=True):
        # Both tangential: synaptic normalization removes any radial part, and a winner's
        # Hebbian direction is largely radial (it won because its filter matches).
        h = tangential(hebbian_direction(rec.layer, rec.pre, rec.post), rec.layer.weight)
        d = tangential(delta, rec.layer.weight.detach())
        moved = d.norm(dim=1) > 0
        per_filter = F.cosine_similarity(d[moved], h[moved], dim=1)
        layer_cos = float(F.cosine_similarity(d.flatten(), h.flatten(), dim=0))
        out[rec.layer] = (layer_cos, float((per_filter > 0).float().mean()))
    return out


def test_the_default_rule_is_hebbian_for_the_winners_in_every_layer():
    params = stdp_params(TrainConfig(), T)
    assert params.a_minus == 0.0
    for layer_cos, positive in cosines(params).values():
        assert layer_cos >= 0.5
        assert positive >= 0.9


def test_the_balanced_kernel_pushes_static_inputs_the_other_way_at_the_stem():
    params = stdp_params(TrainConfig(stdp_kernel="balanced"), T)
    assert params.a_minus == pytest.approx(2.56, abs=0.01)
    stem_cos, _ = next(iter(cosines(params).values()))
    assert stem_cos < 0
