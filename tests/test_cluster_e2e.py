"""End to end on a real multi-node Ray cluster on this machine (slow: minutes).

``biril cluster up --workers 2`` starts a head and two worker nodes (one CPU each, the
head none), ``biril submit`` ships tiny digits sweeps to it through the Jobs API, and the
results are read back from the store the sweep wrote: the Optuna database (one study per
sweep, node ids per trial) and the Tune trial folders. A worker node is then killed by PID
in the middle of a sweep. ``biril cluster down`` must leave none of the started processes.

Run: ``pytest tests/test_cluster_e2e.py -m slow -s`` (``-s`` shows the fault figures).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import optuna
import pytest
import yaml

from cluster import procs
from cluster.local import kill_node
from cluster.state import read_state

pytestmark = pytest.mark.slow

BIRIL = [sys.executable, "-m", "birilcli"]
JOB_TIMEOUT_S = 900


def biril(*args: str, env: dict[str, str], check: bool = True) -> subprocess.CompletedProcess:
    out = subprocess.run(
        [*BIRIL, *args], env=env, capture_output=True, text=True, timeout=JOB_TIMEOUT_S
    )
    if check and out.returncode != 0:
        raise AssertionError(
            f"biril {' '.join(args)} exited {out.returncode}:\n{out.stdout}\n{out.stderr}"
        )
    return out


def write_spec(folder: Path, name: str, epochs: int, trials: int, max_failures: int) -> Path:
    """A tiny digits sweep: one CPU per trial, two at a time, every trial runs all epochs."""
    spec = {
        "name": name,
        "train": {"dataset": "digits", "epochs": epochs},
        "search": {"num_trials": trials, "warm_start": ["1:8:3", "1:6:2"]},
        "scheduler": {"type": "none"},
        "resources": {"cpus_per_trial": 1, "gpus_per_trial": 0, "max_concurrent": 2},
        "failure": {"max_failures": max_failures},
    }
    path = folder / f"{name}.yaml"
    path.write_text(yaml.safe_dump(spec))
    return path


def study(storage: Path, name: str) -> optuna.Study:
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    return optuna.load_study(study_name=f"digits/{name}", storage=f"sqlite:///{storage}/biril.db")


def job_id(submit_output: str) -> str:
    return re.search(r"^job (\S+) submitted", submit_output, re.M).group(1)


class Cluster:
    """The cluster under test: its environment, record, and every process seen running."""

    def __init__(self, env: dict[str, str], state_dir: Path):
        self.env = env
        self.state_dir = state_dir
        self.seen: dict[int, int] = {}

    def snapshot(self) -> None:
        state = read_state(self.state_dir)
        if state is not None:
            self.seen.update(procs.process_tree([n.pid for n in state.running()]))

    def node_ids(self) -> dict[str, str]:
        out = biril("cluster", "status", "--json", env=self.env)
        return {row["label"]: row["node_id"] for row in json.loads(out.stdout)}

    def job_status(self, job: str) -> str:
        return biril("jobs", "status", job, env=self.env).stdout.split()[1].rstrip(":")


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    base = tmp_path_factory.mktemp("cluster")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RAY_", "BIRIL_"))}
    env["BIRIL_CLUSTER_DIR"] = str(base / "state")
    env["RAY_AUTH_TOKEN_PATH"] = str(base / "token")  # `up` generates the token here
    c = Cluster(env, base / "state")
    up = biril("cluster", "up", "--workers", "2", env=env)
    assert "token from $RAY_AUTH_TOKEN_PATH" in up.stdout
    c.snapshot()
    yield c
    if read_state(c.state_dir) is not None:  # a test failed before the `down` test
        biril("cluster", "down", env=env, check=False)


def test_cluster_has_a_head_and_two_labelled_workers(cluster):
    rows = json.loads(biril("cluster", "status", "--json", env=cluster.env).stdout)
    by_label = {r["label"]: r for r in rows}
    assert set(by_label) == {"head", "worker-0", "worker-1"}
    assert {r["state"] for r in rows} == {"ALIVE"}
    assert by_label["head"]["cpus"] == 0
    assert by_label["worker-0"]["cpus"] == by_label["worker-1"]["cpus"] == 1
    state = read_state(cluster.state_dir)
    assert {n.label: n.pid for n in state.nodes} == {k: r["pid"] for k, r in by_label.items()}


def test_wrong_token_is_refused_by_the_real_cluster(cluster):
    env = {**cluster.env, "RAY_AUTH_TOKEN": "not-the-token"}
    out = biril("jobs", "list", env=env, check=False)
    assert out.returncode == 2
    (line,) = out.stderr.strip().splitlines()
    assert line.startswith("error: ") and "rejected the token from $RAY_AUTH_TOKEN" in line


def test_sweep_spreads_over_both_workers_and_resumes(cluster, tmp_path):
    spec = write_spec(tmp_path, "tiny", epochs=1, trials=4, max_failures=1)
    storage = tmp_path / "results"
    args = ["submit", str(spec), "--storage", str(storage), "--name", "e2e", "--wait"]
    out = biril(*args, env=cluster.env)
    job = job_id(out.stdout)
    assert f"job {job} SUCCEEDED" in out.stdout
    assert cluster.job_status(job) == "SUCCEEDED"
    cluster.snapshot()

    nodes = cluster.node_ids()
    trials = study(storage, "e2e").trials
    assert len(trials) == 4
    assert all(t.state == optuna.trial.TrialState.COMPLETE for t in trials)
    ran_on = {t.user_attrs["node_id"] for t in trials}
    assert ran_on <= {nodes["worker-0"], nodes["worker-1"]}
    assert len(ran_on) == 2, "trials should spread over both worker nodes"
    for t in trials:
        assert t.value * 144 == pytest.approx(round(t.value * 144))  # of 144 validation digits
        result = Path(t.user_attrs["trial_dir"]) / "result.json"
        last = json.loads(result.read_text().splitlines()[-1])
        assert last["val_acc"] == pytest.approx(t.value)

    # The same sweep again: it resumes the finished study instead of starting over.
    again = biril(*args, env=cluster.env)
    assert "SUCCEEDED" in again.stdout
    after = study(storage, "e2e").trials
    assert [(t.number, t.value) for t in after] == [(t.number, t.value) for t in trials]


def test_worker_killed_mid_sweep_loses_no_trial(cluster, tmp_path):
    spec = write_spec(tmp_path, "fault", epochs=4, trials=4, max_failures=3)
    storage = tmp_path / "results"
    job = job_id(biril("submit", str(spec), "--storage", str(storage), env=cluster.env).stdout)
    nodes = cluster.node_ids()
    started = time.monotonic()

    # Wait until a trial has finished and a later one is early in its training on worker-1
    # (epoch 1 or 2 of 4 reported: its actor is busy and has epochs left to lose).
    victims: dict[str, int] = {}
    finished: dict[int, tuple[float, str]] = {}
    while not victims or not finished:
        assert time.monotonic() - started < JOB_TIMEOUT_S, "no moment to kill a worker"
        assert cluster.job_status(job) in ("PENDING", "RUNNING"), "sweep ended too early"
        time.sleep(1.0)
        cluster.snapshot()
        if not (storage / "biril.db").exists():
            continue
        try:
            done = [t for t in study(storage, "fault").trials if t.state.name == "COMPLETE"]
        except KeyError:  # the study does not exist yet
            continue
        finished = {t.number: (t.value, t.user_attrs["node_id"]) for t in done}
        victims = {}
        for result in (storage / "digits" / "fault").glob("*/result.json"):
            lines = result.read_text().splitlines()
            last = json.loads(lines[-1]) if lines else {}
            if last.get("node_id") == nodes["worker-1"] and 1 <= last.get("epoch", 0) <= 2:
                victims[result.parent.name] = last["epoch"]
    killed_at = time.monotonic()
    killed = kill_node(cluster.state_dir, "worker-1")

    while cluster.job_status(job) in ("PENDING", "RUNNING"):
        assert time.monotonic() - killed_at < JOB_TIMEOUT_S
        time.sleep(2.0)
    ended_at = time.monotonic()
    assert cluster.job_status(job) == "SUCCEEDED"

    trials = study(storage, "fault").trials
    assert len(trials) == 4
    assert all(t.state == optuna.trial.TrialState.COMPLETE for t in trials)
    now = {t.number: (t.value, t.user_attrs["node_id"]) for t in trials}
    assert {n: now[n] for n in finished} == finished, "a finished trial changed or vanished"
    for folder, epoch_at_kill in victims.items():
        trial_dir = storage / "digits" / "fault" / folder
        lines = (trial_dir / "result.json").read_text().splitlines()
        epochs = [json.loads(line) for line in lines]
        assert (trial_dir / "error.txt").is_file(), "Tune should record the lost actor"
        ran_on = [r["node_id"] for r in epochs]
        moved = ran_on.index(nodes["worker-0"])
        assert moved >= epoch_at_kill
        assert set(ran_on[:moved]) == {nodes["worker-1"]}
        assert set(ran_on[moved:]) == {nodes["worker-0"]}
        before, after = [r["epoch"] for r in epochs[:moved]], [r["epoch"] for r in epochs[moved:]]
        assert before == list(range(1, moved + 1))
        # Resumed from its last acknowledged checkpoint, not restarted: Tune logs a result,
        # then asks the actor for that epoch's checkpoint, so a kill in between costs that
        # one epoch again ([1, 2, 2, 3, 4]); every earlier epoch is kept.
        assert after == list(range(after[0], 5)), "resumed, then trained to the end"
        assert after[0] in (moved, moved + 1), "resumed from its newest acknowledged checkpoint"
    print(
        f"\nfault drill: killed worker-1 ({len(killed)} processes) "
        f"{killed_at - started:.0f} s into the sweep with {len(finished)} trial(s) finished "
        f"and {len(victims)} mid-training there (at epochs {sorted(victims.values())}); "
        f"the sweep succeeded {ended_at - killed_at:.0f} s later, the lost trials resumed "
        f"from their checkpoints on worker-0, all {len(trials)} trials COMPLETE"
    )


def test_down_leaves_no_process_it_started(cluster):
    cluster.snapshot()
    out = biril("cluster", "down", env=cluster.env)
    assert "none left running" in out.stdout
    alive = [pid for pid, ticks in cluster.seen.items() if procs.is_running(pid, ticks)]
    assert alive == []
    assert read_state(cluster.state_dir) is None
