"""Checkpoints lose nothing and run nothing: a planted pickle never executes, an existing
checkpoint is replaced only when asked, and a run resumes only the run it came from.

Every refusal is checked to come before the data is loaded (``load_dataset`` fails the
test if it is reached), and to leave the old checkpoint's bytes as they were.
"""

from __future__ import annotations

import hashlib
import shutil

import pytest
import torch

import biril.trainer
from biril import CheckpointError, TrainConfig, train
from biril.checkpoint import load_checkpoint
from biril.models import build_model


def tiny(**kw) -> TrainConfig:
    """A one-epoch digits run on a fifth of the training digits: seconds, not minutes."""
    fields = {"dataset": "digits", "epochs": 1, "batch_size": 256, "time_steps": 1,
              "val_fraction": 0.8, "device": "cpu"}
    return TrainConfig(**{**fields, **kw})


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    """A real one-epoch run's folder (digits, small preset)."""
    out = tmp_path_factory.mktemp("finished") / "run"
    train(tiny(output_dir=str(out)))
    return out


@pytest.fixture
def run_copy(finished_run, tmp_path):
    out = tmp_path / "run"
    shutil.copytree(finished_run, out)
    return out


@pytest.fixture
def no_data(monkeypatch):
    """Reaching the data is a test failure: every check must come first."""

    def refuse(*args, **kwargs):
        raise AssertionError("the data was loaded before the checkpoint checks")

    monkeypatch.setattr(biril.trainer, "load_dataset", refuse)


def md5(path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


class Payload:
    """A pickled object whose loading creates a file: proof that loading ran code."""

    def __init__(self, marker) -> None:
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def test_a_checkpoint_holding_code_is_refused_before_it_runs(tmp_path, no_data):
    out = tmp_path / "run"
    out.mkdir()
    marker = tmp_path / "payload-ran"
    torch.save({"model": Payload(marker), "epoch": 1}, out / "checkpoint.pt")
    with pytest.raises(CheckpointError, match="holds a Python object .*open.* nothing in it ran"):
        train(tiny(output_dir=str(out), resume_from=str(out)))
    assert not marker.exists()


def test_a_checkpoint_is_plain_data_that_loads_without_an_allow_list(finished_run):
    state = load_checkpoint(finished_run)
    assert state["epoch"] == 1 and state["config"]["dataset"] == "digits"
    assert [h["epoch"] for h in state["history"]] == [1]
    model = build_model("small", 1, 10, time_steps=1)
    model.load_state_dict(state["model"])  # the saved weights are the network's, whole


def test_an_existing_checkpoint_is_not_replaced_unasked(run_copy, no_data):
    before = md5(run_copy / "checkpoint.pt")
    with pytest.raises(CheckpointError, match="already holds a checkpoint: pass --resume"):
        train(tiny(output_dir=str(run_copy)))
    other = run_copy.parent / "other" / "checkpoint.pt"  # resuming one run into another
    shutil.copytree(run_copy, other.parent)
    with pytest.raises(CheckpointError, match="already holds a checkpoint"):
        train(tiny(output_dir=str(run_copy), resume_from=str(other)))
    assert md5(run_copy / "checkpoint.pt") == before


def test_overwrite_replaces_it(run_copy, monkeypatch):
    before = md5(run_copy / "checkpoint.pt")
    result = train(tiny(output_dir=str(run_copy), overwrite=True, seed=7))
    assert result.epochs == 1
    assert md5(run_copy / "checkpoint.pt") != before
    assert load_checkpoint(run_copy)["config"]["seed"] == 7


def test_resume_with_nothing_to_resume_is_an_error(tmp_path, no_data):
    with pytest.raises(CheckpointError, match="no checkpoint at .*checkpoint.pt to resume"):
        train(tiny(output_dir=str(tmp_path / "new"), resume_from=str(tmp_path / "new")))


def test_resume_and_overwrite_together_is_an_error(run_copy, no_data):
    with pytest.raises(CheckpointError, match="pass one of them"):
        train(tiny(output_dir=str(run_copy), resume_from=str(run_copy), overwrite=True))


@pytest.mark.parametrize("where", ["a-file", "a-file/below", "/proc/biril-test"])
def test_an_unwritable_output_dir_fails_before_any_work(tmp_path, no_data, where):
    (tmp_path / "a-file").write_text("not a folder")
    folder = where if where.startswith("/") else str(tmp_path / where)
    with pytest.raises(CheckpointError, match=f"--output-dir {folder}"):
        train(tiny(output_dir=folder))


@pytest.mark.parametrize(
    "change,named",
    [
        ({"preset": "mnist"}, "preset=small, but this run has preset=mnist"),
        ({"preset": "paper18"}, "preset=small, but this run has preset=paper18"),
        ({"time_steps": 2}, "time_steps=1, but this run has time_steps=2"),
        ({"stdp_linear": True, "optimizer": "sgd"}, "stdp_linear=False, optimizer=adam"),
        ({"dataset": "mnist"}, "dataset=digits"),
    ],
)
def test_resume_into_another_network_names_the_fields(run_copy, no_data, change, named):
    before = md5(run_copy / "checkpoint.pt")
    config = tiny(output_dir=str(run_copy), resume_from=str(run_copy)).model_copy(update=change)
    with pytest.raises(CheckpointError, match=named):
        train(config)
    assert md5(run_copy / "checkpoint.pt") == before


def test_resume_accepts_the_datasets_defaults_spelled_out(run_copy):
    # The run used the dataset's preset (None -> small); naming it changes nothing.
    resumed = train(
        tiny(output_dir=str(run_copy), resume_from=str(run_copy), preset="small", epochs=2)
    )
    assert [h.epoch for h in resumed.history] == [1, 2]


def test_corrupt_and_foreign_files_are_named(run_copy, no_data):
    ckpt = run_copy / "checkpoint.pt"
    data = ckpt.read_bytes()
    ckpt.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match=f"{ckpt} is truncated or corrupt"):
        train(tiny(output_dir=str(run_copy), resume_from=str(run_copy)))
    torch.save({"weights": torch.zeros(3)}, ckpt)
    with pytest.raises(CheckpointError, match="not a checkpoint of biril train .*lacks model"):
        train(tiny(output_dir=str(run_copy), resume_from=str(run_copy)))


def test_weights_that_do_not_fit_are_one_error(run_copy):
    ckpt = run_copy / "checkpoint.pt"
    state = load_checkpoint(ckpt)
    state["model"] = build_model("paper18", 1, 10, time_steps=1).state_dict()
    torch.save(state, ckpt)
    with pytest.raises(CheckpointError, match=f"{ckpt} does not fit this network"):
        train(tiny(output_dir=str(run_copy), resume_from=str(ckpt), epochs=2))
