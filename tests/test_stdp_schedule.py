"""When STDP acts (stdp_until, layer-wise), the few-label regime, subsets, probe, head pool."""

import collections

import numpy as np
import torch

from biril import TrainConfig
from biril.datasets import load_dataset
from biril.datasets.subset import stratified_indices
from biril.loader import DeviceLoader
from biril.models import build_model
from biril.probe import block_rates, fit_probe, probe
from biril.schedule import Mode
from biril.trainer import Batches, BIRILStep, run_epoch

T = 3


def setup(total, **kw):
    torch.manual_seed(0)
    model = build_model("small", 1, 10, time_steps=T)
    config = TrainConfig(optimizer="sgd", momentum=0.0, lr=0.05, stdp_lr=0.02, **kw)
    x = torch.randn(8, 1, 8, 8)
    y = torch.arange(8) % 10
    return model, BIRILStep(model, config, total_steps=total), x, y


def convs(step):
    return [w.detach().clone() for w in step.stdp_weights]


def moved(step, before):
    return [not torch.equal(a.detach(), b) for a, b in zip(step.stdp_weights, before, strict=True)]


def test_stdp_acts_for_the_first_stdp_until_of_training_then_the_convs_hold_still():
    model, step, x, y = setup(total=4, stdp_until=0.5)
    for _ in range(2):  # steps 0 and 1 of 4: inside the STDP phase
        before = convs(step)
        step(x, y, Mode.STDP)
        assert all(moved(step, before))
    before, head = convs(step), model.fc2.weight.detach().clone()
    step(x, y, Mode.STDP)  # step 2 of 4: STDP is over, the head still learns
    assert not any(moved(step, before))
    assert not torch.equal(model.fc2.weight.detach(), head)


def test_after_the_stdp_phase_a_stdp_stbp_step_is_a_plain_stbp_step():
    model, step, x, y = setup(total=2, stdp_until=0.5)
    step(x, y, Mode.STBP)
    twin = build_model("small", 1, 10, time_steps=T)
    twin.load_state_dict(model.state_dict())
    twin_step = BIRILStep(twin, step.config, total_steps=2)
    twin_step.load_state_dict(step.state_dict())
    step(x, y, Mode.STDP_STBP)
    twin_step(x, y, Mode.STBP)
    for a, b in zip(model.parameters(), twin.parameters(), strict=True):
        torch.testing.assert_close(a, b)


def test_layerwise_stdp_teaches_one_layer_at_a_time_stem_first():
    model, step, x, y = setup(total=12, stdp_until=1.0, stdp_layerwise=True)
    n = len(step.stdp_weights)  # 6 layers over 12 steps: two steps each
    for k in range(12):
        before = convs(step)
        step(x, y, Mode.STDP)
        assert moved(step, before) == [i == k * n // 12 for i in range(n)]


def test_an_unsupervised_step_moves_only_the_convs_and_by_stdp():
    model, step, x, y = setup(total=10)
    params = {n: p.detach().clone() for n, p in model.named_parameters()}
    conv_names = {n + ".weight" for n, m in model.named_modules() if m in model.stdp_layers()}
    step(x, y, Mode.STDP, supervised=False)
    for name, p in model.named_parameters():
        assert torch.equal(p.detach(), params[name]) != (name in conv_names), name


def test_stratified_subset_keeps_each_class_share_and_grows_by_inclusion():
    y = torch.tensor([0] * 50 + [1] * 30 + [2] * 20)[torch.randperm(100)]
    idx = stratified_indices(y, 10, seed=1)
    assert collections.Counter(y[idx].tolist()) == {0: 5, 1: 3, 2: 2}
    assert len(set(idx.tolist())) == 10
    big = stratified_indices(y, 20, seed=1)
    assert set(idx.tolist()) <= set(big.tolist())
    assert not torch.equal(idx, stratified_indices(y, 10, seed=2))


def test_few_label_gradient_steps_see_only_the_labelled_images():
    config = TrainConfig(dataset="digits", labeled=50, batch_size=32, ratio="1:1:0")
    splits = load_dataset("digits", val_fraction=0.1)
    batches = Batches.build(config, splits, torch.device("cpu"))
    labelled = {tuple(v.tolist()) for v in batches.labeled.x.flatten(1)}
    assert len(labelled) == 50
    seen = []

    class Step:
        def in_stdp_phase(self):
            return True

        def __call__(self, x, y, mode, supervised):
            raw = (x * batches.train.std + batches.train.mean) * batches.train.scale
            rows = {tuple(v.tolist()) for v in raw.round().to(torch.uint8).flatten(1)}
            seen.append((mode, supervised, rows <= labelled))
            return 0.0, 0

    schedule = [Mode.STDP, Mode.STBP] * len(batches.train)
    run_epoch(Step(), batches, schedule, 0, config, None)
    assert {(m, s) for m, s, _ in seen} == {(Mode.STDP, False), (Mode.STBP, True)}
    assert all(inside == sup for _, sup, inside in seen)


def test_head_pool_keeps_a_grid_before_the_head():
    model = build_model("small", 1, 10, time_steps=T, head_pool=4)
    assert model.fc1.in_features == 64 * 16
    out, _ = model(torch.randn(2, 1, 8, 8))
    assert out.shape == (T, 2, 10)


def test_probe_reads_the_last_blocks_time_averaged_rates():
    splits = load_dataset("digits", val_fraction=0.1)
    torch.manual_seed(0)
    model = build_model("small", 1, 10, time_steps=T)
    loader = DeviceLoader(splits, "val", 64, torch.device("cpu"))
    feats = block_rates(model, loader)
    model.eval()
    x = next(iter(loader.batches()))[0][:5]
    with torch.no_grad():  # the forward written out to the last block
        h = model.stem_sn(model.stem_bn(model.stem_conv(x)).unsqueeze(0).expand(T, -1, -1, -1,
                                                                                 -1))
        for block in model.blocks:
            h = block(h, None)
    rates = h.mean(0)
    np.testing.assert_allclose(feats["gap"][:5], rates.mean((2, 3)).numpy(), atol=1e-6)
    np.testing.assert_allclose(
        feats["pool4"][:5],
        rates.unflatten(2, (4, -1)).unflatten(4, (4, -1)).mean((3, 5)).flatten(1).numpy(),
        atol=1e-6,
    )


def test_probe_of_a_random_network_reads_digits_far_above_chance_and_shuffled_labels_at_it():
    splits = load_dataset("digits", val_fraction=0.2)
    torch.manual_seed(0)
    model = build_model("small", 1, 10, time_steps=T)
    cpu = torch.device("cpu")
    train, val = DeviceLoader(splits, "train", 256, cpu), DeviceLoader(splits, "val", 256, cpu)
    for m in model.modules():  # BatchNorm's statistics of this data, as training sets them
        if isinstance(m, torch.nn.BatchNorm2d):
            m.momentum = None
    with torch.no_grad():
        for x, _ in train.batches():
            model(x)
    acc = probe(model, train, val)
    assert acc["pool4"] > 0.85 and acc["gap"] > 0.3
    tr, va = block_rates(model, train), block_rates(model, val)
    shuffled = np.random.default_rng(0).permutation(train.y.numpy())
    assert fit_probe(tr["pool4"], shuffled, va["pool4"], val.y.numpy()) < 0.3
