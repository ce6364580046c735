"""Checked before any work: folders that cannot hold a checkpoint, names too long for the
filesystem, databases that cannot be written, files that would be replaced unasked.

Each case is a fresh ``biril`` process printing one line, exit 2, and leaving no trace.
"""

from __future__ import annotations

import os
import subprocess
import sys

import optuna
import pytest
import yaml
from test_cli import biril, error_line


def test_a_folder_named_checkpoint_pt_is_refused_before_training(tmp_path):
    out = tmp_path / "k"
    (out / "checkpoint.pt").mkdir(parents=True)
    for extra in ([], ["--resume"]):
        line = error_line(biril("train", "--epochs", "1", "--output-dir", str(out), *extra))
        assert f"{out / 'checkpoint.pt'} is a folder, not a checkpoint" in line
        assert "pass --resume" not in line
    assert sorted(p.name for p in out.iterdir()) == [".biril-train.lock", "checkpoint.pt"]


@pytest.mark.parametrize("command", ["train", "sweep"])
def test_names_too_long_for_the_filesystem_are_one_short_line(tmp_path, command):
    long = "n" * 5000
    if command == "train":
        r = biril("train", "--epochs", "1", "--output-dir", str(tmp_path / long))
    else:
        r = biril("sweep", "--storage", str(tmp_path / "R"), "--name", long)
    line = error_line(r)
    assert len(line) < 500
    assert "--output-dir" in line if command == "train" else "at most 100" in line


def test_a_database_url_from_the_environment_is_named_as_such(tmp_path):
    env = {**os.environ, "BIRIL_DB": "junk"}
    r = subprocess.run(
        [sys.executable, "-m", "birilcli", "sweep", "--storage", str(tmp_path / "R")],
        capture_output=True, text=True, env=env, timeout=300,
    )
    line = error_line(r)
    assert "$BIRIL_DB is not an SQLAlchemy URL" in line and "--db" not in line


def test_a_read_only_database_is_refused_before_ray_starts(tmp_path):
    optuna.storages.RDBStorage(f"sqlite:///{tmp_path / 'rw.db'}")  # Optuna's tables, no study
    spec = tmp_path / "s.yaml"
    spec.write_text(yaml.safe_dump({
        "name": "ro", "train": {"dataset": "digits", "epochs": 1},
        "search": {"warm_start": [], "num_trials": 1}, "scheduler": {"type": "none"},
    }))
    ro = f"sqlite:///file:{tmp_path / 'rw.db'}?mode=ro&uri=true"
    line = error_line(biril("sweep", str(spec), "--db", ro, "--storage", str(tmp_path / "R")))
    assert "cannot write the sweep's lease into" in line
    assert not (tmp_path / "R" / "digits" / "ro").exists()


def test_report_refuses_to_replace_a_report_or_its_curves(tmp_path):
    page, curves = tmp_path / "notes.txt", tmp_path / "notes-curves.csv"
    store = ["report", "--storage", str(tmp_path / "nowhere")]
    for existing in (page, curves):
        existing.write_text("mine")
        line = error_line(biril(*store, "-o", str(page)))
        assert f"{existing} exists; pass --overwrite" in line
        assert existing.read_text() == "mine"
        existing.unlink()
    page.write_text("mine")
    line = error_line(biril(*store, "-o", str(page), "--overwrite"))
    assert "exists" not in line  # past the check: the missing store is what stops it now
    assert page.read_text() == "mine"


def test_mnist_files_with_no_images_are_one_line(tmp_path):
    raw = tmp_path / "MNIST" / "raw"
    raw.mkdir(parents=True)
    for split in ("train", "t10k"):
        # IDX headers: magic 0x00000803 / 0x00000801, then the dimensions, 0 images.
        (raw / f"{split}-images-idx3-ubyte").write_bytes(
            bytes([0, 0, 8, 3]) + (0).to_bytes(4, "big") + (28).to_bytes(4, "big") * 2
        )
        (raw / f"{split}-labels-idx1-ubyte").write_bytes(bytes([0, 0, 8, 1]) + bytes(4))
    line = error_line(biril("train", "--dataset", "mnist", "--data-root", str(tmp_path),
                            "--epochs", "1", "--output-dir", str(tmp_path / "run")))
    assert "train-images-idx3-ubyte" in line and "declares 0 images" in line
