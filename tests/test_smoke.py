"""``biril doctor --smoke`` on the CPU: the GPU smoke's own code at tiny shapes.

The full run goes through the command as a GPU machine would run it (``python -m
birilcli``, ``--json`` and ``--out``), and each case's figures are checked against what
the case claims: gradients equal, accuracy rising, four trial processes at once. The
runner's promise — one failing case never stops the others — is checked with cases that
raise, overrun their guard, or lack an optional package.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import json
import math
import os
import subprocess
import sys
import time

import pytest
import torch

from biril import smoke
from biril.doctor import Check

EXPECTED = [
    "device",
    "step stdp fp32",
    "step stbp fp32",
    "step stdp_stbp fp32",
    "step stdp amp",
    "step stbp amp",
    "step stdp_stbp amp",
    "compile_neurons",
    "compact_spikes",
    "learn 2 epochs",
    "vs spikingjelly",
    "sweep 4 trials packed",
]


@pytest.mark.ray
def test_cpu_smoke_runs_every_case_and_each_holds(tmp_path):
    out = tmp_path / "smoke.json"
    r = subprocess.run(
        [sys.executable, "-m", "birilcli", "doctor", "--smoke", "--device", "cpu", "--json"]
        + ["--out", str(out)],
        capture_output=True,
        text=True,
        timeout=900,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    report = json.loads(r.stdout)
    assert json.loads(out.read_text()) == report
    cases = {c["name"]: c for c in report["cases"]}
    assert list(cases) == EXPECTED
    for i, name in enumerate(EXPECTED, 1):  # progress went to stderr as it happened
        assert f"[{i}/{len(EXPECTED)}] {name} ..." in r.stderr
    has_sj = importlib.util.find_spec("spikingjelly") is not None
    failed = {n: c["message"] for n, c in cases.items() if not c["ok"]}
    assert failed == ({} if has_sj else {"vs spikingjelly": failed.get("vs spikingjelly")})
    assert r.returncode == 0 and report["ok"]

    for mode in ("stdp", "stbp", "stdp_stbp"):
        for precision in ("fp32", "amp"):
            detail = cases[f"step {mode} {precision}"]["detail"]
            # Resident MiB of a process that imported torch: a unit slip (bytes, KiB, GiB)
            # lands outside. (Step times are figures, not assertions.)
            assert 100 < detail["peak_memory_mb"] < 64 * 1024
            assert len(detail["losses"]) >= 2 and all(map(math.isfinite, detail["losses"]))
    assert cases["compile_neurons"]["detail"]["loss"] == pytest.approx(
        cases["compile_neurons"]["detail"]["eager_loss"], rel=1e-3
    )
    learn = cases["learn 2 epochs"]["detail"]
    assert learn["train_acc"][1] > learn["train_acc"][0] and learn["train_acc"][1] > 0.2
    sweep = cases["sweep 4 trials packed"]["detail"]
    assert sweep["trials"] == sweep["processes"] == 4
    assert sweep["all_running_s"] > 1.0 and sweep["cpus_per_trial"] == 0.5


def test_synthetic_data_is_cifar_shaped_and_separable():
    splits = smoke.synthetic_splits(200, 32)
    assert splits.train_x.shape == (200, 3, 32, 32) and splits.train_x.dtype == torch.uint8
    assert splits.num_classes == 10 and set(splits.train_y.tolist()) == set(range(10))
    # Nearest class mean classifies the validation images: a network can learn them.
    x, y = splits.train_x.float(), splits.train_y
    means = torch.stack([x[y == c].mean(0) for c in range(10)])
    val = splits.val_x.float()
    nearest = torch.cdist(val.flatten(1), means.flatten(1)).argmin(1)
    assert (nearest == splits.val_y).float().mean() > 0.9


@pytest.fixture
def quick_guard(monkeypatch):
    """A 0.5 s guard on the CPU profile."""
    quick = dataclasses.replace(smoke.PROFILES["cpu"], guard_s=0.5)
    monkeypatch.setitem(smoke.PROFILES, "cpu", quick)


def test_a_failing_case_never_stops_the_others(quick_guard):
    def raises(device, profile):
        raise ValueError("broken on purpose")

    def hangs(device, profile):
        time.sleep(30)

    def fine(device, profile):
        return Check("", True, "fine", required=True)

    seen = []
    report = smoke.run_cases(
        {"raises": raises, "hangs": hangs, "fine": fine},
        torch.device("cpu"),
        on_case=lambda r: seen.append(len(r["cases"])),
    )
    cases = {c["name"]: c for c in report["cases"]}
    assert cases["raises"]["message"] == "ValueError: broken on purpose"
    assert cases["hangs"]["message"] == "CaseTimeout: stopped after its 0.5 s guard"
    assert cases["hangs"]["detail"]["seconds"] < 5
    assert cases["fine"]["ok"] and not report["ok"]
    assert seen == [1, 2, 3]  # the report was handed out after every case


def test_missing_optional_packages_fail_their_case_only(monkeypatch):
    from sweeps.smoke import sweep_case

    # As if never installed, even where an earlier test imported them (or a submodule).
    for name in [m for m in sys.modules if m.split(".")[0] in ("ray", "spikingjelly")]:
        monkeypatch.setitem(sys.modules, name, None)
    monkeypatch.setitem(sys.modules, "ray", None)
    monkeypatch.setitem(sys.modules, "spikingjelly", None)
    report = smoke.run_cases(
        {
            "sweep": sweep_case,
            "vs spikingjelly": smoke.spikingjelly_case,
            "device": smoke.device_case,
        },
        torch.device("cpu"),
    )
    cases = {c["name"]: c for c in report["cases"]}
    assert not cases["sweep"]["ok"] and "ray" in cases["sweep"]["message"]
    sj = cases["vs spikingjelly"]
    assert not sj["ok"] and not sj["required"] and "pip install" in sj["fix"]
    assert cases["device"]["ok"]
