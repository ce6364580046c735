"""``gpus_per_trial: auto``: the spec field, the choice from probe figures, the probe itself."""

import pytest

from sweeps import runner
from sweeps.packing import (
    Packing,
    PackingError,
    ProbePoint,
    choose_packing,
    probe_trials,
    resolve_packing,
)
from sweeps.spec import SpecError, parse_spec


def fake_probe(steps_per_s: dict[int, float | None], asked: list[int]):
    """A probe from a table: trials -> steps per second of all of them (None: out of memory)."""

    def probe(k: int) -> ProbePoint:
        asked.append(k)
        if steps_per_s[k] is None:
            return ProbePoint(trials=k, fits=False, reason="out of memory")
        return ProbePoint(trials=k, fits=True, step_s=k / steps_per_s[k],
                          steps_per_s=steps_per_s[k])

    return probe


def test_doubling_stops_when_the_gain_is_small_and_the_fastest_packing_wins():
    asked = []
    # 1 -> 2 -> 4 pay (x1.8, x1.67); 8 adds 3%: stop there, and 8 is still the most.
    p = choose_packing(fake_probe({1: 10.0, 2: 18.0, 4: 30.0, 8: 31.0}, asked), 32)
    assert asked == [1, 2, 4, 8]
    assert (p.trials_per_gpu, p.gpus_per_trial) == (8, 0.125)
    assert "8 gained less than 5%" in p.reason


def test_a_slower_packing_is_not_chosen():
    asked = []
    p = choose_packing(fake_probe({1: 10.0, 2: 19.0, 4: 15.0}, asked), 32)
    assert asked == [1, 2, 4]
    assert p.trials_per_gpu == 2 and p.gpus_per_trial == 0.5
    assert [pt.trials for pt in p.probe] == [1, 2, 4]


def test_out_of_memory_stops_the_doubling():
    asked = []
    p = choose_packing(fake_probe({1: 10.0, 2: 19.0, 4: 36.0, 8: None}, asked), 32)
    assert asked == [1, 2, 4, 8]
    assert p.trials_per_gpu == 4 and "8 did not fit (out of memory)" in p.reason


def test_the_cpus_cap_the_trials_per_gpu():
    asked = []
    p = choose_packing(fake_probe({1: 10.0, 2: 19.0, 4: 36.0}, asked), max_trials=3)
    assert asked == [1, 2]
    assert p.trials_per_gpu == 2 and "no more than 3 allowed" in p.reason


def test_one_trial_that_does_not_fit_is_an_error_saying_what_to_do():
    with pytest.raises(PackingError, match="lower train.batch_size"):
        choose_packing(fake_probe({1: None}, []), 32)


def test_the_spec_takes_auto_or_a_number_and_names_the_field_otherwise():
    assert parse_spec({"resources": {"gpus_per_trial": "auto"}}).resources.gpus_per_trial == "auto"
    assert parse_spec({"resources": {"gpus_per_trial": 0.25}}).resources.gpus_per_trial == 0.25
    with pytest.raises(SpecError, match=r"resources.gpus_per_trial: expected a number .* 'auto'"):
        parse_spec({"resources": {"gpus_per_trial": "automatic"}})
    with pytest.raises(SpecError, match="resources.gpus_per_trial: expected a number"):
        parse_spec({"resources": {"gpus_per_trial": -1}})


def test_without_cuda_auto_means_no_gpu_and_says_so(monkeypatch, capsys):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    p = resolve_packing({}, cpus=2, cpus_per_trial=1, steps_per_epoch=lambda: pytest.fail())
    assert p.gpus_per_trial == 0 and p.probe == []
    assert "no CUDA device" in p.reason
    spec = parse_spec({"resources": {"gpus_per_trial": "auto"}})
    assert runner.plan_packing(spec, None, None).gpus_per_trial == 0
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["resources.gpus_per_trial: auto -> 0 (no CUDA device on this machine: "
                   "auto means 0 GPUs, trials run on the CPU)"]


def test_a_resumed_sweep_keeps_its_packing_and_a_cluster_is_refused(monkeypatch):
    spec = parse_spec({"resources": {"gpus_per_trial": "auto"}})
    recorded = Packing(gpus_per_trial=0.25, trials_per_gpu=4, reason="measured")

    class Study:
        user_attrs = {"packing": recorded.model_dump(mode="json")}

    monkeypatch.setattr(runner, "resolve_packing", lambda *a: pytest.fail("probed again"))
    assert runner.plan_packing(spec, Study(), None) == recorded
    with pytest.raises(PackingError, match="not a cluster's"):
        runner.plan_packing(spec, None, "ray://head:10001")
    fixed = parse_spec({"resources": {"gpus_per_trial": 0.5}})
    assert runner.plan_packing(fixed, None, "ray://head:10001") is None


def test_the_summary_reports_the_packing_recorded_in_the_study():
    import optuna

    from sweeps.summary import summarize

    study = optuna.create_study(study_name="digits/packed")
    packing = Packing(gpus_per_trial=0.25, trials_per_gpu=4, reason="4 trials per GPU: most")
    study.set_user_attr("packing", packing.model_dump(mode="json"))
    s = summarize(study, storage_url="mem", results_dir="r", expected_search=1, wall_seconds=1)
    assert s.packing == packing
    assert "packing      gpus_per_trial 0.25: 4 trials per GPU: most" in s.render()


def test_the_probe_runs_trials_side_by_side_on_the_cpu():
    # Two real probe processes of a digits trial, released together; on the CPU (no memory).
    train = {"dataset": "digits", "batch_size": 8, "time_steps": 2}
    point = probe_trials(train, 2, steps_per_epoch=20, device="cpu")
    assert point.fits and point.trials == 2 and point.peak_mb is None
    assert point.trial_epochs_per_gpu_hour == pytest.approx(point.steps_per_s * 3600 / 20)


def test_a_probe_whose_trials_die_does_not_fit_and_says_why():
    # Each trial fails before warm-up (a batch of 1 is refused by TrainConfig).
    point = probe_trials({"dataset": "digits", "batch_size": 1}, 2, None, device="cpu")
    assert not point.fits and point.trials == 2
    assert "batch_size" in point.reason
