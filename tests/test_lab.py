"""Provenance and compute: a hand-made store read by `biril best --json`, the report's
header and the sweep summary, each checked against a hand computation; the collector's git
state against a real git repository; a resume on other code recorded."""

from __future__ import annotations

import datetime as dt
import json
import subprocess

import optuna
import pytest
from click.testing import CliRunner

from birilcli.main import cli
from results.provenance import Provenance
from sweeps import provenance as collector
from sweeps.summary import summarize

optuna.logging.set_verbosity(optuna.logging.WARNING)
T0 = dt.datetime(2026, 1, 5, 10, 0, 0)
COMMIT, NEW_COMMIT = "1f2e3d4c5b6a" + "0" * 28, "9" * 40
FIRST = {
    "git_commit": COMMIT, "git_dirty": True, "git_diff_sha256": "ab" * 32, "python": "3.11.7",
    "packages": {"torch": "2.6.0+cu124", "ray": "2.60.0", "optuna": "4.3.0"},
    "cuda": "12.4", "cudnn": 90100, "gpus": [], "hostname": "login1",
    "recorded_at": "2026-01-05T09:59:00+00:00",
}
# (role, stage, ratio, hours trained, start, end in minutes after T0): two slots.
TRIALS = [
    ("search", "search", [0.1, 0.6, 0.3], 1.0, 0, 60),
    ("search", "search", [0.2, 0.5, 0.3], 0.5, 0, 30),
    ("confirm", "confirm", [0.1, 0.6, 0.3], 0.5, 60, 90),
    ("stbp_baseline", "confirm", [0.0, 1.0, 0.0], 0.25, 60, 75),
    ("stdp_control", "confirm", [0.1, 0.6, 0.3], 0.25, 90, 105),
]
GPUS, CPUS, SLOTS = 0.5, 4.0, 2
# By hand: trial-hours 1.5 / 0.5 / 0.25 / 0.25, times 0.5 GPU and 4 CPUs each.
GPU_HOURS = {"search": 0.75, "confirmation": 0.25, "stbp_baseline": 0.125,
             "frozen_controls": 0.125}
TOTAL_GPU_H, TOTAL_CPU_H = 1.25, 10.0
WALL_H = 1.75  # 10:00 to 11:45
UTILIZATION = 2.5 / (SLOTS * WALL_H)


@pytest.fixture()
def lab_store(tmp_path):
    root = tmp_path / "results"
    root.mkdir()
    url = f"sqlite:///{root / 'biril.db'}"
    study = optuna.create_study(storage=url, study_name="digits/lab", direction="maximize")
    for key, value in {
        "dataset": "digits", "sweep": "lab", "results_dir": "/r/digits/lab", "slots": SLOTS,
        "spec": {"name": "lab", "resources": {"gpus_per_trial": GPUS, "cpus_per_trial": CPUS}},
        "provenance": FIRST,
        "resumed_on": [{**FIRST, "git_commit": NEW_COMMIT, "git_dirty": False,
                        "git_diff_sha256": None}],
    }.items():
        study.set_user_attr(key, value)
    for number, (role, stage, ratio, hours, start, end) in enumerate(TRIALS):
        study.add_trial(optuna.trial.FrozenTrial(
            number=number, trial_id=number, state=optuna.trial.TrialState.COMPLETE,
            value=0.9 - 0.01 * number, values=None,
            datetime_start=T0 + dt.timedelta(minutes=start),
            datetime_complete=T0 + dt.timedelta(minutes=end),
            params={}, distributions={}, system_attrs={}, intermediate_values={},
            user_attrs={
                "dataset": "digits", "sweep": "lab", "stage": stage, "role": role,
                "ratio": ratio, "seed": number, "epochs_planned": 2, "epochs_completed": 2,
                "full_run": True, "val_acc": 0.9 - 0.01 * number, "test_acc": 0.88,
                "seconds": hours * 3600, "trial_id": f"t{number}", "node_id": "n" * 12,
                "gpu_ids": ["0"], "hostname": "gpu-node-1", "gpu_name": "NVIDIA H100",
                "gpu_driver": "550.54",
                "curve": [{"epoch": e, "val_acc": 0.8, "val_loss": 0.5, "train_loss": 0.5,
                           "train_acc": 0.8, "epoch_seconds": 1.0, "samples_per_s": 9.0}
                          for e in (1, 2)],
                **({"overrides": {"stdp_lr": 0}} if role == "stdp_control" else {}),
            },
        ))
    return str(root), url


def test_best_json_report_header_and_summary_agree_with_the_hand_computation(lab_store, tmp_path):
    root, url = lab_store
    result = CliRunner().invoke(cli, ["best", "--dataset", "digits", "--storage", root, "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    compute, provenance = data["compute"], data["provenance"]
    assert {k: v["gpu_hours"] for k, v in compute["stages"].items()} == pytest.approx(GPU_HOURS)
    assert compute["total"]["gpu_hours"] == pytest.approx(TOTAL_GPU_H)
    assert compute["total"]["cpu_hours"] == pytest.approx(TOTAL_CPU_H)
    assert compute["total"]["trials"] == len(TRIALS)
    assert compute["wall_hours"] == pytest.approx(WALL_H)
    assert compute["utilization"] == pytest.approx(UTILIZATION)
    assert provenance["git_commit"] == COMMIT and provenance["git_dirty"] is True
    assert provenance["hosts"] == [{"hostname": "gpu-node-1", "gpu": "NVIDIA H100",
                                    "driver": "550.54", "trials": len(TRIALS)}]
    assert provenance["resumed_on"][0]["git_commit"] == NEW_COMMIT

    out = tmp_path / "report.html"
    result = CliRunner().invoke(cli, ["report", "--storage", root, "-o", str(out)])
    assert result.exit_code == 0, result.output
    page = out.read_text()
    header = page[page.index("id=provenance"):page.index("<ul>")]
    expected_cells = [
        "digits/lab", f"commit {COMMIT[:10]} (dirty, diff abababab); resumed on different code",
        "gpu-node-1 NVIDIA H100 ×5", str(len(TRIALS)),
        "search 0.75, confirmation 0.25, stbp_baseline 0.125, frozen_controls 0.125 GPU-h",
        "1.25", "10", "1.75", f"{100 * UTILIZATION:.0f}% of {SLOTS}",
    ]
    for cell in expected_cells:
        assert f"<td>{cell}</td>" in header, cell
    assert "Timeline of digits/lab" in page and "frozen controls" in page

    study = optuna.load_study(study_name="digits/lab", storage=url)
    summary = summarize(study, storage_url=url, results_dir="/r", expected_search=2,
                        wall_seconds=1.0)
    assert summary.compute.model_dump(mode="json") == compute
    assert summary.provenance.model_dump(mode="json") == provenance
    text = summary.render()
    assert "compute      1.25 GPU-h, 10 CPU-h (search 0.75, confirmation 0.25" in text
    assert f"RESUMED ON DIFFERENT CODE: commit {COMMIT[:10]} -> {NEW_COMMIT[:10]}" in text


def git(repo, *args) -> str:
    return subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True,
                          check=True).stdout.strip()


def test_git_state_reads_commit_dirty_flag_and_diff_hash(tmp_path, monkeypatch):
    repo = tmp_path / "code"
    repo.mkdir()
    git(repo, "init", "-q")
    (repo / "a.py").write_text("x = 1\n")
    git(repo, "add", "a.py")
    git(repo, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "one")
    monkeypatch.setattr(collector, "CHECKOUT", repo)
    assert collector.git_state() == (git(repo, "rev-parse", "HEAD"), False, None)
    (repo / "untracked.txt").write_text("results\n")  # untracked files do not make it dirty
    assert collector.git_state()[1] is False
    (repo / "a.py").write_text("x = 2\n")
    commit, dirty, first = collector.git_state()
    (repo / "a.py").write_text("x = 3\n")
    assert dirty is True and first is not None and collector.git_state()[2] != first
    monkeypatch.setattr(collector, "CHECKOUT", tmp_path)  # no checkout: nothing claimed
    assert collector.git_state() == (None, None, None)


def test_collect_reuses_the_doctors_versions(monkeypatch):
    from importlib import metadata

    record = collector.collect()
    assert record.packages["optuna"] == metadata.version("optuna")
    assert record.packages["torch"].startswith(metadata.version("torch").split("+")[0])
    assert record.python and record.hostname


def test_a_resume_on_other_code_is_recorded_and_said(monkeypatch, capsys):
    study = optuna.create_study()
    first, later = Provenance(**FIRST), Provenance(**{**FIRST, "git_commit": NEW_COMMIT})
    monkeypatch.setattr(collector, "collect", lambda: first)
    collector.record(study, resumed=False)
    collector.record(study, resumed=True)  # same code: nothing added
    assert "resumed_on" not in study.user_attrs and capsys.readouterr().err == ""
    monkeypatch.setattr(collector, "collect", lambda: later)
    collector.record(study, resumed=True)
    assert study.user_attrs["provenance"]["git_commit"] == COMMIT
    assert [r["git_commit"] for r in study.user_attrs["resumed_on"]] == [NEW_COMMIT]
    assert f"commit {COMMIT[:10]} -> {NEW_COMMIT[:10]}" in capsys.readouterr().err


def test_shipped_code_carries_the_submitters_git_state(tmp_path, monkeypatch):
    from cluster.submit import runtime_env

    here = collector.git_state()
    env = runtime_env(tmp_path, None)["env_vars"]
    monkeypatch.setattr(collector, "CHECKOUT", tmp_path)  # the job's staged copy: no .git
    monkeypatch.setenv(collector.GIT_STATE_ENV, env[collector.GIT_STATE_ENV])
    assert collector.git_state() == here
