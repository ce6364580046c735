"""``biril.profile``: per-kernel rows, per-call figures, kinds that add up."""

from types import SimpleNamespace

import pytest
import torch

from biril.profile import STDP_SCOPE, kind_of, profile_calls, stdp_scope, tally


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


def test_cuda_kernels_count_with_the_operator_and_scope_that_launched_them():
    # Host events as torch's profiler links them: each CPU operator carries the kernels it
    # launched (name, microseconds); a device event itself is skipped (counted via its op).
    def event(name, parent=None, kernels=(), device="CPU"):
        return SimpleNamespace(
            name=name, cpu_parent=parent, is_async=False, self_cpu_time_total=1.0,
            device_type=SimpleNamespace(name=device),
            kernels=[SimpleNamespace(name=k, duration=us) for k, us in kernels],
        )

    scope = event(STDP_SCOPE)
    events = [
        event("aten::cudnn_convolution", kernels=[("sm90_xmma_fprop", 600.0)]),
        event("aten::cudnn_convolution", kernels=[("sm90_xmma_fprop", 400.0)]),
        scope,
        event("aten::topk", parent=scope, kernels=[("radixSortKVInPlace", 200.0)]),
        event("aten::mul", kernels=[("vectorized_elementwise_kernel", 100.0)]),
        event("sm90_xmma_fprop", device="CUDA"),
    ]
    prof = tally(events, cuda=True, calls=2)
    rows = {r["name"]: r for r in prof["kernels"]}
    assert rows["sm90_xmma_fprop"]["calls"] == 1  # two launches over two calls
    assert rows["sm90_xmma_fprop"]["self_ms"] == 0.5  # (600 + 400) µs over two calls
    assert prof["kinds_ms"] == {"convolution": 0.5, "STDP update": 0.1,
                                "element-wise/other": 0.05}
    assert prof["total_ms"] == 0.65 and prof["clock"] == "CUDA kernel time"
