"""A fresh sweep on a real local Ray (2 CPUs, 2 logical GPUs): provenance and compute
filled in, `--set` overrides stored, TensorBoard event files and an MLflow file store read
back; and `gpus_per_trial: 2` refused before any trial holds a GPU.

Ray is started once for the module and stopped through its API at the end.
"""

from __future__ import annotations

import importlib
import importlib.util
import subprocess
from pathlib import Path

import optuna
import pytest
import ray
import yaml

from sweeps import SpecError, run_sweep

pytestmark = pytest.mark.ray
REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def ray_cluster():
    ray.init(address="local", num_cpus=2, num_gpus=2, include_dashboard=False)
    yield
    ray.shutdown()


def tiny_spec(tmp_path: Path, **extra) -> Path:
    data = {
        "name": "lab",
        "train": {"dataset": "digits", "epochs": 1, "device": "cpu"},
        "search": {"warm_start": ["1:8:3", "0:1:0"], "num_trials": 2},
        "scheduler": {"type": "none"},
        "resources": {"cpus_per_trial": 1, "max_concurrent": 2},
        "failure": {"max_failures": 0},
        **extra,
    }
    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def test_fresh_sweep_records_provenance_compute_overrides_and_trackers(ray_cluster, tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    mlflow = None if importlib.util.find_spec("mlflow") is None else importlib.import_module(
        "mlflow")
    spec = tiny_spec(tmp_path, logging={"mlflow": {}} if mlflow else {})
    root = tmp_path / "R"
    summary = run_sweep(spec, storage=str(root), progress=False,
                        overrides=["train.epochs=2", "train.batch_size=128"])
    study = optuna.load_study(study_name="digits/lab", storage=f"sqlite:///{root}/biril.db")
    assert study.user_attrs["spec"]["train"]["epochs"] == 2  # the --set is in the stored spec
    assert study.user_attrs["spec"]["train"]["batch_size"] == 128

    head = subprocess.run(["git", "-C", str(REPO), "rev-parse", "HEAD"], capture_output=True,
                          text=True, check=True).stdout.strip()
    provenance, compute = summary.provenance, summary.compute
    assert provenance.git_commit == head and provenance.packages["ray"] == ray.__version__
    assert [h.trials for h in provenance.hosts] == [2] and provenance.hosts[0].gpu is None
    seconds = [t.user_attrs["seconds"] for t in study.trials]
    assert compute.total.trials == 2 and compute.slots == 2
    assert compute.total.cpu_hours == pytest.approx(sum(seconds) / 3600)  # 1 CPU per trial
    assert compute.total.gpu_hours == 0 and 0 < compute.utilization <= 1

    for trial in study.trials:  # TensorBoard: the epoch's scalars at steps 1 and 2
        events = EventAccumulator(trial.user_attrs["trial_dir"]).Reload()
        tags = events.Tags()["scalars"]
        assert not events.Tags()["histograms"]  # no list drawn as a histogram any more
        val = [(e.step, e.value) for e in events.Scalars("ray/tune/val_acc")]
        curve = trial.user_attrs["curve"]
        assert val == [(c["epoch"], pytest.approx(c["val_acc"])) for c in curve]
        assert "ray/tune/ratio/stbp" in tags and "ray/tune/train_loss" in tags

    if mlflow is None:
        pytest.skip("mlflow is not installed (pip install 'biril-sweeps[mlflow]')")
    client = mlflow.tracking.MlflowClient(tracking_uri=f"sqlite:///{root}/digits/lab/mlflow.db")
    experiment = client.get_experiment_by_name("digits/lab")
    runs = client.search_runs([experiment.experiment_id])
    assert len(runs) == 2  # one MLflow run per trial
    for run in runs:
        history = client.get_metric_history(run.info.run_id, "val_acc")
        assert [m.step for m in history] == [1, 2]


def test_two_gpus_per_trial_are_refused_before_a_trial_holds_them(ray_cluster, tmp_path):
    assert ray.cluster_resources()["GPU"] == 2  # two logical GPUs are there to be reserved
    spec = tiny_spec(tmp_path, resources={"cpus_per_trial": 1, "gpus_per_trial": 2})
    with pytest.raises(SpecError, match="resources.gpus_per_trial: 2 GPUs per trial: a trial "
                                        "trains on one GPU"):
        run_sweep(spec, storage=str(tmp_path / "R"), progress=False)
    assert not (tmp_path / "R").exists()  # refused before the store, before any trial
