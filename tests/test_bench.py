"""``biril bench``: options fail fast, ``--json`` is one object with the headline ratios.

No timing is asserted (the machine's load decides those); what is checked is that each
section measures what it says: the STDP comparison agrees with SpikingJelly's learner,
the memory figure grows with the batch like activations do, the sweep finishes its trials.
"""

import json
import subprocess
import sys

import pytest
import torch
from pydantic import ValidationError

from biril import bench
from biril.bench import BenchOptions, memory_in_subprocess, run_suite


def biril(*args, timeout=300):
    return subprocess.run(
        [sys.executable, "-m", "birilcli", *args], capture_output=True, text=True, timeout=timeout
    )


def test_bad_options_are_one_line_exit_2_naming_each_flag():
    r = biril("bench", "--preset", "resnet50", "--only", "everything", "--reps", "0")
    assert r.returncode == 2
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), r.stderr
    for flag, problem in (("--preset", "resnet50"), ("--only", "everything"), ("--reps", "1")):
        assert flag in lines[0] and problem in lines[0]
    assert r.stdout == ""


@pytest.mark.parametrize(
    "field,value",
    [("batch_size", 1), ("stdp_batch", 0), ("warmup", -1), ("sweep_slots", 0), ("unknown", 1)],
)
def test_options_reject_impossible_values(field, value):
    with pytest.raises(ValidationError, match=field):
        BenchOptions(**{field: value})


def test_json_is_one_object_with_the_headline_ratios():
    r = biril(
        "bench",
        "--only",
        "step",
        "--preset",
        "small",
        "--batch-size",
        "2",
        "--reps",
        "1",
        "--warmup",
        "0",
        "--json",
    )
    assert r.returncode == 0, r.stderr
    result = json.loads(r.stdout)
    assert result["stdp_speedup_vs_spikingjelly"] is None
    assert "not run" in result["stdp_speedup_vs_spikingjelly_reason"]
    assert result["sweep_efficiency"] is None and result["sweep_efficiency_reason"]
    medians = result["steps"]["small"]["median_s"]
    assert set(medians) == {"stdp", "stbp", "stdp_stbp", "spikingjelly_stbp"}


def test_medians_skip_the_warmup_interleave_and_shrug_off_an_outlier(monkeypatch):
    now = [0.0]
    monkeypatch.setitem(bench.CLOCKS, "wall", lambda: now[0])
    seconds = {"a": iter([9.0, 1.0, 100.0, 1.0]), "b": iter([9.0, 2.0, 2.0, 3.0])}
    calls = []

    def contender(name):
        def run():
            calls.append(name)
            now[0] += next(seconds[name])

        return run

    med = bench.interleaved_medians(
        {"a": contender("a"), "b": contender("b")}, reps=3, warmup=1, device=torch.device("cpu")
    )
    assert med == {"a": 1.0, "b": 2.0}  # medians of [1, 100, 1] and [2, 2, 3]
    assert calls == ["a", "b"] * 4


def test_headlines_are_the_least_favourable_presets_ratios(monkeypatch):
    # Step medians (s) per preset; headlines by hand: STDP/STBP max(3/2, 2/2) = 1.5,
    # STDP-STBP/STBP max(5/2, 7/2) = 3.5, SpikingJelly/ours min(4/2, 3/2) = 1.5.
    given = iter([
        {"stdp": 3.0, "stbp": 2.0, "stdp_stbp": 5.0, "spikingjelly_stbp": 4.0},
        {"stdp": 2.0, "stbp": 2.0, "stdp_stbp": 7.0, "spikingjelly_stbp": 3.0},
    ])
    monkeypatch.setattr(bench, "interleaved_medians", lambda contenders, *a, **k: next(given))
    # Every step "does" 3 GFLOP: the STBP steps (2 s each) run at 1.5 GFLOP/s.
    monkeypatch.setattr(bench, "count_flops", lambda fn: 3 * 10**9)
    opts = BenchOptions(presets=("small", "paper18"), sections=("step",), batch_size=2)
    result = run_suite(opts)
    assert result["stdp_over_stbp"] == 1.5 and result["stdp_stbp_over_stbp"] == 3.5
    # Without SpikingJelly the headline is missing, with its reason, rather than made up.
    with_sj = bench.spikingjelly_missing() is None
    assert result["step_speedup_vs_spikingjelly"] == (1.5 if with_sj else None)
    assert result["stbp_tflop_per_s"] == pytest.approx(1.5e-3)
    assert result["stbp_share_of_peak"] is None  # a CPU's peak is unknown
    assert "peak unknown" in result["stbp_share_of_peak_reason"]
    assert result["steps"]["paper18"]["flops"]["stdp_stbp"]["gflop"] == 3.0


def test_stdp_section_times_the_trainers_update_and_agrees_with_spikingjelly(monkeypatch):
    pytest.importorskip("spikingjelly")
    calls = []
    apply_stdp = bench.BIRILStep.apply_stdp

    def counted(self, records, norms=None):
        calls.append(len(records))
        return apply_stdp(self, records, norms)

    monkeypatch.setattr(bench.BIRILStep, "apply_stdp", counted)
    opts = BenchOptions(
        presets=("small",),
        sections=("neuron", "stdp"),
        batch_size=2,
        reps=1,
        warmup=0,
        stdp_batch=2,
        stdp_reps=2,
    )
    result = run_suite(opts)
    stdp = result["stdp"]["small"]
    # The small preset: stem, then blocks 32->32 (2 convs) and 32->64/2 (2 convs + 1x1
    # shortcut) = 6 convs, every one recorded and every one handed to SpikingJelly.
    assert stdp["layers"] == stdp["spikingjelly_layers"] == 6
    # The trainer's own update ran on all six records, once untimed and once per rep.
    assert calls == [6, 6, 6]
    assert stdp["max_rel_error_vs_spikingjelly"] < 1e-5
    assert result["stdp_speedup_vs_spikingjelly"] == stdp["speedup_vs_spikingjelly"]
    assert result["neuron"]["small"]["shape"] == [4, 2, 32, 28, 28]
    assert result["step_speedup_vs_spikingjelly"] is None


@pytest.mark.slow
def test_memory_grows_with_batch_like_activations():
    # small preset, T=4: an activation is T·B·32·28·28 floats; the step's working set
    # is many of them, so 4x the batch must cost at least ~3x the memory.
    def peak(batch_size):
        opts = BenchOptions(presets=("small",), batch_size=batch_size).model_dump()
        return memory_in_subprocess({"preset": "small", "mode": "stbp", "options": opts})

    small, large = peak(4), peak(16)
    assert small > 4 * 32 * 28 * 28 * 4 * 4 / 2**20  # more than one activation tensor
    assert large > 3 * small


@pytest.mark.slow
@pytest.mark.ray
def test_sweep_section_runs_every_trial_and_keeps_stdout_json():
    # Tune prints a banner on stdout; --json must still be exactly one object there.
    r = biril(
        "bench",
        "--only",
        "sweep",
        "--sweep-trials",
        "3",
        "--sweep-slots",
        "2",
        "--json",
        timeout=600,
    )
    assert r.returncode == 0, r.stderr
    sweep = json.loads(r.stdout)["sweep"]
    for run in (sweep["reused_actors"], sweep["fresh_actors"]):
        assert len(run["trial_seconds"]) == 3
        assert 0 < run["efficiency"] <= 1.0
        assert run["overhead_per_trial_s"] >= 0
        # No idle part is negative: trials overlapping beyond the slots, training longer
        # than its trial was held, or a clock mix-up would make one so.
        idle = run["idle_slot_s"]
        assert set(idle) == {"before_first_trial", "held_beyond_training", "no_trial_running"}
        assert min(idle.values()) > -0.5, idle
    assert sweep["sweep_efficiency"] == sweep["reused_actors"]["efficiency"]


def test_spikingjelly_is_never_imported_by_trainer_or_cli_start():
    code = (
        "import sys, biril.bench, birilcli.main, biril.trainer; "
        "print(any(m.split('.')[0] == 'spikingjelly' for m in sys.modules))"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "False"
