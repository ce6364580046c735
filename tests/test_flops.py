"""``biril.flops``: the FLOP count against a hand computation, and the peak table."""

import pytest
import torch

from biril import flops
from biril.flops import achieved, count_flops, device_peak, step_precision


def test_one_conv_forward_is_two_flops_per_multiply_add_by_hand():
    # Conv 3->8, 3x3, padding 1, on a batch of 2 at 16x16: every one of the
    # 2·8·16·16 outputs sums 3·3·3 products, each a multiply and an add.
    conv = torch.nn.Conv2d(3, 8, 3, padding=1, bias=False)
    x = torch.randn(2, 3, 16, 16)
    by_hand = 2 * (2 * 8 * 16 * 16) * (3 * 3 * 3)
    assert by_hand == 221_184
    assert count_flops(lambda: conv(x)) == by_hand


def test_conv_backward_adds_the_input_and_the_weight_gradient_each_as_dear_as_forward():
    conv = torch.nn.Conv2d(3, 8, 3, padding=1, bias=False)
    x = torch.randn(2, 3, 16, 16, requires_grad=True)
    by_hand = 3 * 2 * (2 * 8 * 16 * 16) * (3 * 3 * 3)
    assert count_flops(lambda: conv(x).sum().backward()) == by_hand


def test_achieved_tflops_and_share_by_hand():
    # 3.4 TFLOP in 38.8 ms is 87.6 TFLOP/s; on a 494 TFLOP/s peak that is 17.7%.
    r = achieved(3_400_000_000_000, 0.0388, 494.0)
    assert r["tflop_per_s"] == pytest.approx(87.63, abs=0.01)
    assert r["share_of_peak"] == pytest.approx(0.1774, abs=1e-4)
    assert achieved(10**12, 1.0, None)["share_of_peak"] is None


def test_cpu_peak_is_unknown_and_says_so():
    peak, what = device_peak(torch.device("cpu"), "fp32")
    assert peak is None and "peak unknown" in what


@pytest.mark.parametrize(
    "name,precision,peak",
    [
        ("NVIDIA H200", "bf16", 989.0),
        ("NVIDIA H100 80GB HBM3", "tf32", 494.0),
        ("NVIDIA H100 PCIe", "bf16", 756.0),
        ("NVIDIA A100-SXM4-80GB", "tf32", 156.0),
        ("NVIDIA GeForce GTX 1080", "bf16", None),
    ],
)
def test_gpu_peaks_come_from_the_data_sheet_table_by_name(monkeypatch, name, precision, peak):
    monkeypatch.setattr(flops.torch.cuda, "get_device_name", lambda device=None: name)
    got, what = device_peak(torch.device("cuda"), precision)
    assert got == peak
    assert (name in what) and (("data sheet" in what) == (peak is not None))


def test_precision_follows_autocast_and_tf32():
    assert step_precision(torch.device("cpu"), amp=False) == "fp32"
    assert step_precision(torch.device("cpu"), amp=True) == "bf16"
    assert step_precision(torch.device("cuda"), amp=False) == (
        "tf32" if torch.backends.cudnn.allow_tf32 else "fp32"
    )
