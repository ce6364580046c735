"""``biril.profile``: per-kernel rows, per-call figures, kinds that add up."""

import pytest
import torch

from biril.profile import STDP_SCOPE, kind_of, profile_calls, stdp_scope


@pytest.mark.parametrize(
    "name,kind",
    [
        ("aten::convolution_backward", "convolution"),
        ("aten::mkldnn_convolution", "convolution"),
        ("sm90_xmma_wgrad_implicit_gemm_bf16", "convolution"),
        ("aten::addmm", "matmul"),
        ("aten::native_batch_norm_backward", "batch_norm"),
        ("aten::topk", "ranking (topk/sort)"),
        ("aten::_foreach_mul_", "optimizer"),
        ("aten::copy_", "copy/layout"),
        ("aten::sigmoid_backward", "element-wise/other"),
    ],
)
def test_kind_of_names(name, kind):
    assert kind_of(name) == kind


def test_rows_are_per_call_and_shares_add_up():
    a, b = torch.randn(64, 64), torch.randn(64, 64)

    def two_matmuls_and_a_topk():
        (a @ b @ b).topk(3)

    prof = profile_calls(two_matmuls_and_a_topk, torch.device("cpu"), calls=4)
    rows = {r["name"]: r for r in prof["kernels"]}
    assert rows["aten::mm"]["calls"] == 2  # per call of the function, not per profile
    assert rows["aten::topk"]["calls"] == 1
    assert sum(r["share"] for r in prof["kernels"]) == pytest.approx(1.0)
    assert sum(prof["kinds_ms"].values()) == pytest.approx(prof["total_ms"])
    assert prof["kinds_ms"]["matmul"] >= rows["aten::mm"]["self_ms"]
    assert prof["clock"] == "self CPU time"


def test_operators_in_a_labelled_scope_count_for_the_scope():
    a = torch.randn(64, 64)
    weight = torch.nn.Parameter(torch.randn(64))
    optimizer = torch.optim.SGD([weight], lr=0.1)

    def update():
        (a @ a).topk(3)

    def step():
        stdp_scope(update)()
        (a @ a).sum()  # outside every scope: a matmul and a reduction
        weight.grad = torch.ones(64)
        optimizer.step()

    prof = profile_calls(step, torch.device("cpu"), calls=2)
    kinds = prof["kinds_ms"]
    assert {"STDP update", "optimizer", "matmul", "reduction"} <= set(kinds)
    assert "ranking (topk/sort)" not in kinds  # the only topk ran inside the STDP scope
    names = {r["name"] for r in prof["kernels"]}
    assert "aten::topk" in names and STDP_SCOPE in names
