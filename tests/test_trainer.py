"""Each BIRIL mode moves exactly the weights the DESIGN table says, by exactly its rule."""

import copy
import math

import pytest
import torch

from biril import DivergenceError, TrainConfig, train
from biril.competition import winners_by_drive
from biril.models import build_model
from biril.plasticity import STDPParams, filter_norms, renormalize_, stdp_delta
from biril.schedule import Mode
from biril.trainer import BIRILStep, bir_loss

LR, STDP_LR, T = 0.05, 0.02, 3


PARAMS = STDPParams(a_minus=0.0)  # the default kernel: causal, LTP only
ALL = 10_000  # stdp_winners at or above a layer's channels: no competition


def setup(stdp_linear=False, cyclic="sequential", precision="float32", winners=ALL):
    torch.manual_seed(0)
    model = build_model("small", 1, 10, time_steps=T, stdp_linear=stdp_linear)
    config = TrainConfig(
        optimizer="sgd", momentum=0.0, lr=LR, stdp_lr=STDP_LR, cyclic=cyclic,
        stdp_precision=precision, stdp_winners=winners,
    )
    step = BIRILStep(model, config, total_steps=1000)
    x = torch.randn(8, 1, 8, 8)
    y = torch.arange(8) % 10
    return model, step, x, y


def reference_grads(model, x, y):
    """Plain autograd on an independent copy: the STBP gradient of every parameter."""
    ref = copy.deepcopy(model)
    out, records = ref(x, record=True)
    bir_loss(out.mean(0), y, "mse", 10).backward()
    grads = {n: p.grad.clone() for n, p in ref.named_parameters()}
    # Records of the copy hold the spikes of the same forward (same weights, same input).
    layers = dict(ref.named_modules())
    names = {id(m): n for n, m in layers.items()}
    recs = [(names[id(r.layer)], r.pre, r.post, r.drive) for r in records]
    return grads, recs


def rotated(weight, delta, rate):
    """``weight`` turned by ``rate`` (relative to its norm) along ΔW's per-filter tangent."""
    tangent = delta.clone()
    for i in range(weight.shape[0]):  # filter by filter, the plain way
        u = weight[i] / weight[i].norm()
        tangent[i] -= (delta[i] * u).sum() * u
    return weight + rate * weight.norm() / tangent.norm() * tangent


def expected_stdp(weight, layer, pre, post, dtype=torch.float32, winners=None, drive=None):
    delta = stdp_delta(layer, pre, post, PARAMS, dtype, winners, center=True, drive=drive)
    w = rotated(weight, delta, STDP_LR)
    renormalize_(w, filter_norms(weight))
    return w


def stdp_names(model):
    return {n + ".weight" for n, m in model.named_modules() if m in model.stdp_layers()}


def test_stdp_iteration_moves_convs_by_stdp_only_and_the_rest_by_gradient():
    model, step, x, y = setup()
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    grads, recs = reference_grads(model, x, y)
    modules = dict(model.named_modules())
    step(x, y, Mode.STDP)
    after = dict(model.named_parameters())
    conv = stdp_names(model)
    assert len(conv) == 6  # stem, 2 convs per block x 2 blocks, one shortcut
    for name, pre, post, _ in recs:
        w = expected_stdp(before[name + ".weight"], modules[name], pre, post)
        torch.testing.assert_close(after[name + ".weight"].detach(), w)
    for name, p in after.items():
        if name not in conv:
            torch.testing.assert_close(p.detach(), before[name] - LR * grads[name])


def test_bfloat16_precision_applies_the_bfloat16_correlation():
    model, step, x, y = setup(precision="bfloat16")
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    _, recs = reference_grads(model, x, y)
    modules = dict(model.named_modules())
    step(x, y, Mode.STDP)
    after = dict(model.named_parameters())
    for name, pre, post, _ in recs:
        w = expected_stdp(before[name + ".weight"], modules[name], pre, post, torch.bfloat16)
        torch.testing.assert_close(after[name + ".weight"].detach(), w)
        exact = expected_stdp(before[name + ".weight"], modules[name], pre, post)
        assert not torch.equal(w, exact)  # the two precisions really differ


def test_stbp_iteration_is_a_plain_gradient_step_everywhere():
    model, step, x, y = setup()
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    grads, _ = reference_grads(model, x, y)
    step(x, y, Mode.STBP)
    for name, p in model.named_parameters():
        torch.testing.assert_close(p.detach(), before[name] - LR * grads[name])


def test_stdp_stbp_sequential_is_stbp_then_stdp_on_the_same_spikes():
    model, step, x, y = setup()
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    grads, recs = reference_grads(model, x, y)
    modules = dict(model.named_modules())
    step(x, y, Mode.STDP_STBP)
    after = dict(model.named_parameters())
    conv = stdp_names(model)
    for name, pre, post, _ in recs:
        stbp = before[name + ".weight"] - LR * grads[name + ".weight"]
        w = expected_stdp(stbp, modules[name], pre, post)
        torch.testing.assert_close(after[name + ".weight"].detach(), w)
    for name, p in after.items():
        if name not in conv:
            torch.testing.assert_close(p.detach(), before[name] - LR * grads[name])


def test_fused_normalizes_the_combined_update_to_the_pre_iteration_norm():
    model, step, x, y = setup(cyclic="fused")
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    grads, recs = reference_grads(model, x, y)
    modules = dict(model.named_modules())
    step(x, y, Mode.STDP_STBP)
    after = dict(model.named_parameters())
    for name, pre, post, _ in recs:
        w0 = before[name + ".weight"]
        delta = stdp_delta(modules[name], pre, post, PARAMS, center=True)
        w = rotated(w0 - LR * grads[name + ".weight"], delta, STDP_LR)
        renormalize_(w, filter_norms(w0))
        torch.testing.assert_close(after[name + ".weight"].detach(), w)


def test_stdp_rate_anneals_on_the_same_cosine_as_the_gradient_rate():
    model, _, x, y = setup()
    total = 6
    step = BIRILStep(model, TrainConfig(lr=LR, stdp_lr=STDP_LR), total_steps=total)
    for k in range(1, total + 1):
        step(x, y, Mode.STDP if k % 2 else Mode.STBP)
        cosine = (1 + math.cos(math.pi * k / total)) / 2
        assert step.stdp_rate == pytest.approx(STDP_LR * cosine)
        assert step.optimizer.param_groups[0]["lr"] == pytest.approx(LR * cosine)
        if k == 3:  # a resumed run continues the schedule where it stopped
            state = copy.deepcopy(step.state_dict())
            step = BIRILStep(model, TrainConfig(lr=LR, stdp_lr=STDP_LR), total_steps=total)
            step.load_state_dict(state)


def test_competition_lets_only_each_positions_winners_learn():
    model, step, x, y = setup(winners=1)
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    _, recs = reference_grads(model, x, y)
    modules = dict(model.named_modules())
    step(x, y, Mode.STDP)
    for name, pre, post, drive in recs:
        w0 = before[name + ".weight"]
        w = expected_stdp(w0, modules[name], pre, post, winners=1, drive=drive)
        torch.testing.assert_close(model.get_submodule(name).weight.detach(), w)
        every = expected_stdp(w0, modules[name], pre, post)
        assert not torch.allclose(w, every)  # the losers' pairs really were left out
        assert not torch.equal(winners_by_drive(post, drive, w0, 1), post)


def test_stdp_step_size_is_the_configured_rotation_and_is_recorded():
    model, step, x, y = setup()
    before = [w.detach().clone() for w in step.stdp_weights]
    step(x, y, Mode.STDP)
    for w, b in zip(step.stdp_weights, before, strict=True):
        # A rotation by a small angle θ changes a vector by 2·sin(θ/2) of its norm.
        rel = float((w.detach() - b).norm() / b.norm())
        assert rel == pytest.approx(STDP_LR, rel=0.01)
    step(x, y, Mode.STBP)
    diag = step.diagnostics.epoch_summary()
    assert set(diag) == {n for n, m in model.named_modules() if m in model.stdp_layers()}
    for d in diag.values():
        assert d["stdp_step"] == pytest.approx(STDP_LR, rel=0.01)
        assert 0 < d["grad_step"] and d["grad_step"] != pytest.approx(STDP_LR, rel=0.1)
        assert 0.9 < d["init_cos"] < 1.0  # two small steps from initialization


def test_frozen_control_leaves_convs_untouched_in_stdp_iterations():
    model, _, x, y = setup()
    step = BIRILStep(model, TrainConfig(stdp_lr=0.0), total_steps=10)
    before = [w.detach().clone() for w in step.stdp_weights]
    fc = model.fc2.weight.detach().clone()
    step(x, y, Mode.STDP)
    for w, b in zip(step.stdp_weights, before, strict=True):
        assert torch.equal(w.detach(), b)
    assert not torch.equal(model.fc2.weight.detach(), fc)  # the rest still learns


def test_stdp_linear_option_includes_fc1():
    model, step, x, y = setup(stdp_linear=True)
    assert model.fc1 in model.stdp_layers()
    before = model.fc1.weight.detach().clone()
    grads, recs = reference_grads(model, x, y)
    step(x, y, Mode.STDP)
    (name, pre, post, _), = [r for r in recs if r[0] == "fc1"]
    w = expected_stdp(before, model.fc1, pre, post)
    torch.testing.assert_close(model.fc1.weight.detach(), w)


def test_stdp_iteration_computes_no_conv_weight_gradient():
    model, step, x, y = setup()
    seen = []
    for w in step.stdp_weights:
        w.register_hook(lambda g: seen.append(g))
    step(x, y, Mode.STDP)
    assert seen == []
    step(x, y, Mode.STBP)
    assert len(seen) == len(step.stdp_weights)


def test_nan_loss_stops_with_a_clear_error():
    model, step, x, y = setup()
    with torch.no_grad():
        model.fc2.bias.fill_(float("inf"))  # what a diverged run's weights look like
    with pytest.raises(DivergenceError, match="loss became (nan|inf)"):
        step(x, y, Mode.STBP)


def tiny(**kw):
    return TrainConfig(dataset="digits", epochs=3, batch_size=128, seed=3, **kw)


def test_resume_gives_the_same_final_weights(tmp_path):
    full = train(tiny(output_dir=str(tmp_path / "a")))

    class Crash(Exception):
        pass

    def crash_after_two(m):
        if m.epoch == 2:
            raise Crash

    with pytest.raises(Crash):
        train(tiny(output_dir=str(tmp_path / "b")), callback=crash_after_two)
    resumed = train(
        tiny(output_dir=str(tmp_path / "b"), resume_from=str(tmp_path / "b" / "checkpoint.pt"))
    )
    a = torch.load(tmp_path / "a" / "checkpoint.pt", weights_only=False)["model"]
    b = torch.load(tmp_path / "b" / "checkpoint.pt", weights_only=False)["model"]
    for k in a:
        assert torch.equal(a[k], b[k]), k
    assert resumed.test_acc == full.test_acc
    assert [h.epoch for h in resumed.history] == [1, 2, 3]


def test_training_learns_digits_and_counts_modes():
    result = train(TrainConfig(dataset="digits", epochs=3, ratio="1:2:1"))
    assert result.val_acc > 0.6  # 10 classes: chance is 0.1
    assert result.test_acc > 0.6 and round(result.test_acc * 359, 6).is_integer()  # of 359
    total = sum(result.mode_counts.values())
    cycle = (["stbp", "stdp", "stdp_stbp", "stbp"] * total)[:total]  # 1:2:1 interleaved
    assert result.mode_counts == {m: cycle.count(m) for m in ("stdp", "stbp", "stdp_stbp")}


def test_epoch_granularity_assigns_one_mode_per_epoch():
    modes_seen = []
    result = train(tiny(ratio="1:1:1", granularity="epoch"), callback=modes_seen.append)
    per_epoch = result.mode_counts["stdp"]
    assert result.mode_counts == {"stdp": per_epoch, "stbp": per_epoch, "stdp_stbp": per_epoch}
    assert modes_seen[0].mode_counts == {"stdp": per_epoch, "stbp": 0, "stdp_stbp": 0}
