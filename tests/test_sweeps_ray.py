"""Sweeps on a real local Ray (2 CPUs, 2 logical GPUs), tiny digits specs.

Ray is started once for the module and stopped by the API at its end; the resume test's
driver subprocess joins this same Ray, and is killed by its PID only.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from itertools import combinations
from pathlib import Path

import optuna
import pytest
import ray
import yaml
from optuna.storages import BaseStorage
from optuna.trial import TrialState

from biril import Ratio
from results.errors import StoreError
from results.ranking import label
from results.schema import STDP_KEYS, TRIAL_ATTRS
from results.store import locate, open_storage
from sweeps import budget as sweep_budget
from sweeps import parse_spec, run_sweep

pytestmark = pytest.mark.ray
REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def ray_cluster():
    ray.init(address="local", num_cpus=2, num_gpus=2, include_dashboard=False)
    yield ray.get_runtime_context().gcs_address
    ray.shutdown()


def spec(name: str, warm: list[str], **sections) -> dict:
    data = {
        "name": name,
        "train": {"dataset": "digits", "epochs": 1, "device": "cpu"},
        "search": {"warm_start": warm, "num_trials": len(warm)},
        "scheduler": {"type": "none"},
        "resources": {"cpus_per_trial": 1},
        "failure": {"max_failures": 0},
    }
    for key, value in sections.items():
        data[key] = {**data.get(key, {}), **value}
    return data


def trials(storage: Path | BaseStorage, study: str) -> list[optuna.trial.FrozenTrial]:
    if isinstance(storage, Path):
        storage = f"sqlite:///{storage}/biril.db"
    s = optuna.load_study(study_name=study, storage=storage)
    return [t for t in s.trials if t.state != TrialState.WAITING]


def interval(trial_dir: str) -> tuple[float, float]:
    """(start, end) wall time of a trial, from Tune's own result log."""
    rows = [json.loads(line) for line in Path(trial_dir, "result.json").read_text().splitlines()]
    return rows[0]["timestamp"] - rows[0]["time_this_iter_s"], rows[-1]["timestamp"]


def overlapping_pairs(ts) -> list[tuple]:
    spans = {t.number: interval(t.user_attrs["trial_dir"]) for t in ts}
    return [
        (a, b)
        for a, b in combinations(ts, 2)
        if spans[a.number][0] < spans[b.number][1] and spans[b.number][0] < spans[a.number][1]
    ]


def test_one_gpu_per_trial_gives_each_running_trial_its_own_device(ray_cluster, tmp_path):
    data = spec("gpu1", ["1:8:3", "0:1:0"], resources={"gpus_per_trial": 1})
    summary = run_sweep(parse_spec(data), storage=str(tmp_path), progress=False)
    assert (summary.n_trials, summary.n_completed) == (2, 2)
    ts = trials(tmp_path, "digits/gpu1")
    for t in ts:
        assert t.state == TrialState.COMPLETE
        assert len(t.user_attrs["gpu_ids"]) == 1 and t.user_attrs["gpu_ids"][0] in {"0", "1"}
        assert t.user_attrs["node_id"] == ray.get_runtime_context().get_node_id()
    pairs = overlapping_pairs(ts)
    assert pairs, "the two trials should have run at the same time"
    for a, b in pairs:
        assert a.user_attrs["gpu_ids"] != b.user_attrs["gpu_ids"]


def test_half_a_gpu_per_trial_packs_two_running_trials_on_one_device(ray_cluster, tmp_path):
    warm = ["1:8:3", "0:1:0", "1:6:2", "2:6:1"]
    data = spec("gpu05", warm, resources={"cpus_per_trial": 0.5, "gpus_per_trial": 0.5})
    summary = run_sweep(parse_spec(data), storage=str(tmp_path), progress=False)
    assert summary.n_completed == 4
    ts = trials(tmp_path, "digits/gpu05")
    assert all(len(t.user_attrs["gpu_ids"]) == 1 for t in ts)
    shared = [
        (a, b)
        for a, b in overlapping_pairs(ts)
        if a.user_attrs["gpu_ids"] == b.user_attrs["gpu_ids"]
    ]
    assert shared, "two trials at 0.5 GPU should have shared one device at the same time"


def test_diverging_trials_fail_alone_and_the_sweep_finishes(ray_cluster, tmp_path):
    # SGD at lr 1000 makes the loss non-finite within the first epoch: DivergenceError.
    data = spec("diverge", ["1:8:3", "0:1:0"], train={"optimizer": "sgd", "lr": 1000.0})
    data["search"]["num_trials"] = 3
    summary = run_sweep(parse_spec(data), storage=str(tmp_path), progress=False)
    assert (summary.n_trials, summary.n_failed, summary.complete) == (3, 3, True)
    assert summary.best is None
    ts = trials(tmp_path, "digits/diverge")
    assert [t.state for t in ts] == [TrialState.FAIL] * 3
    for t in ts:
        assert t.user_attrs["full_run"] is False and t.user_attrs["epochs_completed"] == 0
        assert t.user_attrs["stage"] == "search" and len(t.user_attrs["ratio"]) == 3
    errors = list(tmp_path.glob("digits/diverge/trial_*/error.txt"))
    assert len(errors) == 3
    assert all("DivergenceError" in p.read_text() for p in errors)


@pytest.mark.slow
def test_asha_cuts_search_trials_at_the_grace_period_and_never_a_confirmation(
    ray_cluster, tmp_path
):
    # The best-known ratios first, pure STDP last: by the time it reaches epoch 1, the
    # median it must beat is set by better trials, so ASHA (factor 2) cuts it there.
    warm = ["0:1:0", "1:8:3", "1:6:2", "1:0:0"]
    data = spec("asha", warm, train={"epochs": 2})
    data["scheduler"] = {"type": "asha", "grace_period": 1, "reduction_factor": 2}
    data["search"]["confirm"] = {"top_k": 2, "seeds": 1}
    summary = run_sweep(parse_spec(data), storage=str(tmp_path), progress=False)
    ts = trials(tmp_path, "digits/asha")
    assert all(t.state == TrialState.COMPLETE for t in ts)
    stopped = [t for t in ts if not t.user_attrs["full_run"]]
    assert stopped, "ASHA stopped no trial"
    assert all(t.user_attrs["epochs_completed"] == 1 for t in stopped)  # at the grace period
    assert all(t.user_attrs["stage"] == "search" for t in stopped)
    confirm = [t for t in ts if t.user_attrs["stage"] == "confirm"]
    assert len(confirm) == 2
    assert all(t.user_attrs["full_run"] and t.user_attrs["epochs_completed"] == 2 for t in confirm)
    assert summary.n_stopped == len(stopped)


def run_driver(args: list[str], address: str) -> subprocess.Popen:
    code = "import sys; from birilcli.main import main; main(['sweep', *sys.argv[1:]])"
    env = {**os.environ, "RAY_ADDRESS": address, "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen(
        [sys.executable, "-c", code, *args],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_for_complete(storage: Path, study: str, n: int, proc: subprocess.Popen) -> None:
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.stderr.read()
        try:  # read-only, as `biril results` would: the driver alone creates the database
            rdb = open_storage(locate(storage))
            done = [t for t in trials(rdb, study) if t.state == TrialState.COMPLETE]
        except (StoreError, KeyError):  # the database or the study is not created yet
            done = []
        if len(done) >= n:
            return
        time.sleep(1)
    raise AssertionError("no trial finished in time")


@pytest.mark.slow
def test_a_killed_sweep_resumes_with_the_same_command(ray_cluster, tmp_path):
    data = spec("resume", ["1:8:3", "0:1:0"], train={"epochs": 2})
    data["search"].update(num_trials=4, confirm={"top_k": 1, "seeds": 1})
    path = tmp_path / "resume.yaml"
    path.write_text(yaml.safe_dump(data))
    args = [str(path), "--storage", str(tmp_path / "R"), "--json"]

    first = run_driver(args, ray_cluster)
    wait_for_complete(tmp_path / "R", "digits/resume", 1, first)
    os.kill(first.pid, signal.SIGKILL)
    first.wait()
    # What finished before the kill must survive the resume as it was, not be run again.
    finished = {
        t.number: (t.user_attrs["trial_id"], t.values, t.datetime_complete)
        for t in trials(tmp_path / "R", "digits/resume")
        if t.state == TrialState.COMPLETE
    }
    assert finished

    second = run_driver(args, ray_cluster)
    out, err = second.communicate(timeout=900)
    assert second.returncode == 0, err
    summary = json.loads(out)
    n = summary["n_trials"]
    assert (summary["n_completed"], summary["complete"]) == (n, True)

    ts = trials(tmp_path / "R", "digits/resume")
    assert len(ts) == n and all(t.state == TrialState.COMPLETE for t in ts)
    after = {t.number: (t.user_attrs["trial_id"], t.values, t.datetime_complete) for t in ts}
    assert {n: after[n] for n in finished} == finished
    assert len({t.user_attrs["trial_id"] for t in ts}) == n
    runs = [(tuple(t.user_attrs["ratio"]), t.user_attrs["seed"]) for t in ts]
    assert len(set(runs)) == n, runs
    search = [t for t in ts if t.user_attrs["stage"] == "search"]
    assert len(search) == 4
    for warm in ("1:8:3", "0:1:0"):
        want = Ratio.parse(warm).fractions
        hits = [t for t in search if t.user_attrs["ratio"] == pytest.approx(list(want))]
        assert len(hits) == 1, warm
    # The top ratio and pure STBP on seed 1 (one run if pure STBP is the top ratio).
    confirms = [t for t in ts if t.user_attrs["stage"] == "confirm"]
    assert n == 4 + len(confirms) and {t.user_attrs["seed"] for t in confirms} == {1}
    stbp = [t for t in ts if t.user_attrs["ratio"] == [0.0, 1.0, 0.0]]
    assert sorted(t.user_attrs["seed"] for t in stbp) == [0, 1]


@pytest.mark.slow
def test_two_drivers_on_one_study_one_is_refused_and_no_trial_is_orphaned(ray_cluster, tmp_path):
    """The default run checks the refusal against a held lease (tests/test_ownership.py);
    here both drivers are real and the first one runs its sweep to the end."""
    path = tmp_path / "two.yaml"
    # One trial at a time, six of them: after the first completes the first driver still has
    # minutes to run, so the second starts while it holds the sweep (two concurrent trials of
    # one epoch finished together, and the second driver then resumed a finished sweep).
    ratios = ["1:8:3", "0:1:0", "1:0:0", "0:0:1", "1:1:1", "2:6:1"]
    path.write_text(yaml.safe_dump(
        spec("two", ratios, train={"epochs": 2}, resources={"max_concurrent": 1})
    ))
    args = [str(path), "--storage", str(tmp_path / "R"), "--json", "--report", "none"]
    first = run_driver(args, ray_cluster)
    wait_for_complete(tmp_path / "R", "digits/two", 1, first)
    second = run_driver(args, ray_cluster)
    _, err = second.communicate(timeout=300)
    assert second.returncode == 2 and err.count("\n") == 1, err
    assert f"is being run by PID {first.pid}" in err
    out, err = first.communicate(timeout=900)
    assert first.returncode == 0, err
    study = optuna.load_study(study_name="digits/two", storage=f"sqlite:///{tmp_path}/R/biril.db")
    assert [t.state for t in study.trials] == [TrialState.COMPLETE] * len(ratios)
    assert len(list((tmp_path / "R/digits/two").glob("experiment_state*"))) == 1


@pytest.mark.slow
def test_ctrl_c_stops_a_sweep_with_130_and_the_same_command_finishes_it(ray_cluster, tmp_path):
    path = tmp_path / "int.yaml"
    path.write_text(yaml.safe_dump(spec("int", ["1:8:3", "0:1:0", "1:0:0"], train={"epochs": 2},
                                        resources={"max_concurrent": 1})))
    args = [str(path), "--storage", str(tmp_path / "R"), "--json", "--report", "none"]
    first = run_driver(args, ray_cluster)
    wait_for_complete(tmp_path / "R", "digits/int", 1, first)
    first.send_signal(signal.SIGINT)
    out, err = first.communicate(timeout=300)
    assert first.returncode == 130 and out == "", err
    assert err.strip().splitlines()[-1].endswith("run the same command again to resume it")
    assert "Tuner.restore" not in err
    second = run_driver(args, ray_cluster)
    out, err = second.communicate(timeout=900)
    assert second.returncode == 0, err
    assert json.loads(out)["complete"] is True


# 57-105 s on 2 shared cores (7 trials, before controls and stdp_lr joined); the hand-made
# stores of tests/test_answer.py and tests/test_stdp_effect.py check the same by default.
@pytest.mark.slow
def test_a_real_sweep_gives_one_answer_in_summary_best_api_and_report(ray_cluster, tmp_path):
    from click.testing import CliRunner

    import analysis
    from birilcli.report import best_command

    # No pure STBP in the search: the confirmed ratio has an STDP share, hence a frozen twin.
    data = spec("answer", ["1:8:3", "1:6:2", "0:0:1"], resources={"max_concurrent": 2})
    data["search"]["confirm"] = {"top_k": 1, "seeds": 2, "controls": True}
    data["search"]["params"] = {"stdp_lr": {"low": 1e-3, "high": 1e-1, "log": True}}
    summary = run_sweep(parse_spec(data), storage=str(tmp_path), progress=False)
    assert summary.complete
    best = summary.best
    # Pure STBP ran on the confirmed ratio's seeds: 3 seeds on each side.
    assert best.n_seeds == 3 and best.val_size == 144
    assert best.ratio_int == "0:1:0" or best.vs_stbp.n_seeds == 3

    assert analysis.best_ratio("digits", storage=str(tmp_path)) == best
    out = CliRunner().invoke(
        best_command, ["--dataset", "digits", "--storage", str(tmp_path), "--json"]
    )
    assert out.exit_code == 0, out.output
    answer = json.loads(out.output)
    # With the sweep's provenance and compute, the same as its summary's.
    assert answer.pop("provenance") == summary.provenance.model_dump(mode="json")
    assert answer.pop("compute") == summary.compute.model_dump(mode="json")
    assert answer == best.model_dump(mode="json")
    page = analysis.write_report(str(tmp_path), output=tmp_path / "r.html").read_text()
    low, high = best.ci
    assert (
        f"<b>Best ratio {label(best.ratio_int, best.params)}</b> "
        f"({', '.join(f'{x:.3f}' for x in best.ratio)}): "
        f"val acc {best.val_acc:.4f} [{low:.4f}, {high:.4f}] over "
        f"3 seeds on 144 validation images"
    ) in page
    ts = trials(tmp_path, "digits/answer")
    roles = {"search", "confirm", "stbp_baseline", "stdp_control"}
    assert {t.user_attrs["role"] for t in ts} <= roles
    stbp = [t for t in ts if t.user_attrs["role"] == "stbp_baseline"]
    assert sorted(t.user_attrs["seed"] for t in stbp) == [0, 1, 2]
    for t in ts:  # the results contract names every attribute a trial writes
        assert set(t.user_attrs) <= set(TRIAL_ATTRS), set(t.user_attrs) - set(TRIAL_ATTRS)
        assert t.user_attrs["val_size"] == 144
        # The STDP diagnostics of every epoch, per STDP layer, in the curve and Tune's log.
        (epoch,) = t.user_attrs["curve"]
        logged = json.loads(Path(t.user_attrs["trial_dir"], "result.json").read_text())
        for layers in (epoch["stdp"], logged["stdp"]):
            assert "stem_conv" in layers and all(set(v) == set(STDP_KEYS) for v in layers.values())

    # stdp_lr searched with the ratio: each search trial drew its own, within the bounds;
    # confirmation runs (controls too) take the confirmed trial's.
    search = [t for t in ts if t.user_attrs["role"] == "search"]
    etas = [t.user_attrs["params"]["stdp_lr"] for t in search]
    assert len(set(etas)) == 3 and all(1e-3 <= eta <= 1e-1 for eta in etas)
    (top,) = {t.user_attrs["confirms"] for t in ts if t.user_attrs["role"] == "confirm"}
    source = next(t for t in ts if t.number == top)
    controls = [t for t in ts if t.user_attrs["role"] == "stdp_control"]
    assert sorted(t.user_attrs["seed"] for t in controls) == [0, 1, 2]
    for t in controls:
        assert t.user_attrs["overrides"] == {"stdp_lr": 0}
        assert t.user_attrs["params"] == source.user_attrs["params"]
        assert t.user_attrs["ratio"] == source.user_attrs["ratio"]
        assert t.user_attrs["curve"][-1]["stdp"]["stem_conv"]["stdp_step"] == 0
    # The rule's best is the confirmed ratio (3 seeds) or pure STBP; only the first has a twin.
    confirmed = best.params == source.user_attrs["params"]
    assert (best.stdp_effect is not None and best.stdp_effect.n == 3) == confirmed
    assert json.loads(out.output)["stdp_effect"] == (
        best.stdp_effect and best.stdp_effect.model_dump(mode="json")
    )


def test_a_finished_sweep_grows_by_its_new_trials_alone(ray_cluster, tmp_path):
    data = spec("grow", ["1:8:3", "0:1:0"])
    run_sweep(parse_spec(data), storage=str(tmp_path), progress=False)
    first = {
        t.number: (t.user_attrs["trial_id"], t.values, t.datetime_complete)
        for t in trials(tmp_path, "digits/grow")
    }
    assert sorted(first) == [0, 1]

    data["search"]["num_trials"] = 4
    summary = run_sweep(parse_spec(data), storage=str(tmp_path), progress=False)
    ts = trials(tmp_path, "digits/grow")
    after = {t.number: (t.user_attrs["trial_id"], t.values, t.datetime_complete) for t in ts}
    assert {n: after[n] for n in first} == first  # the first two untouched
    assert sorted(after) == [0, 1, 2, 3] and all(t.state == TrialState.COMPLETE for t in ts)
    assert all(t.user_attrs["stage"] == "search" for t in ts)
    assert (summary.n_added, summary.n_trials, summary.complete) == (2, 4, True)
    assert summary.grown == "search.num_trials 2 → 4"
    assert "grown        2 new trials (search.num_trials 2 → 4)" in summary.render()


def test_a_spent_time_budget_ends_the_sweep_at_an_epoch_boundary(ray_cluster, tmp_path,
                                                                monkeypatch):
    # The budget runs out during the first trial's first epoch. The clock is replaced by
    # that event (a 1 s budget raced Tune's start-up: under load it was spent before any
    # trial began). That trial stops at its report, checkpointed; no other trial starts.
    reported: list[str] = []
    monkeypatch.setattr(sweep_budget, "spent", lambda: bool(reported))
    monkeypatch.setattr(sweep_budget.BudgetStopper, "__call__",
                        lambda self, trial_id, result: reported.append(trial_id) or True)
    data = spec("budget", ["1:8:3", "0:1:0", "1:6:2"], train={"epochs": 3},
                resources={"max_concurrent": 1}, stop={"time_budget": "1h"})
    summary = run_sweep(parse_spec(data), storage=str(tmp_path), progress=False)
    ts = trials(tmp_path, "digits/budget")
    assert len(ts) == 1 and ts[0].state == TrialState.COMPLETE
    assert ts[0].user_attrs["epochs_completed"] == 1 and not ts[0].user_attrs["full_run"]
    assert Path(ts[0].user_attrs["checkpoint"]).is_dir()
    assert summary.stopped_on_budget and not summary.complete
    assert "STOPPED ON BUDGET" in summary.render()


@pytest.mark.slow
def test_a_racing_confirmation_runs_round_by_round_to_a_complete_sweep(ray_cluster, tmp_path):
    data = spec("race", ["1:8:3", "1:6:2", "0:0:1"], resources={"max_concurrent": 2})
    data["search"]["confirm"] = {"top_k": 2, "seeds": 2, "scheme": "racing"}
    summary = run_sweep(parse_spec(data), storage=str(tmp_path), progress=False)
    assert summary.complete
    ts = trials(tmp_path, "digits/race")
    confirms = [t for t in ts if t.user_attrs.get("role") == "confirm"]
    # Round 1 gives seed 1 to both top ratios; round 2 seed 2 to those still in the race.
    seeds = sorted(t.user_attrs["seed"] for t in confirms)
    assert seeds[:2] == [1, 1] and set(seeds) <= {1, 2} and len(confirms) <= 4
    first_round_end = max(t.datetime_complete for t in confirms if t.user_attrs["seed"] == 1)
    assert all(t.datetime_start >= first_round_end for t in confirms if t.user_attrs["seed"] == 2)
    stbp = sorted(t.user_attrs["seed"] for t in ts if t.user_attrs.get("role") == "stbp_baseline")
    assert stbp == sorted({0, *seeds})
