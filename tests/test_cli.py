"""The command line: bad input is one line and exit 2; --json is one parseable object."""

import json
import subprocess
import sys

import pytest

BAD = [
    (["--ratio", "0:0:0"], "--ratio"),
    (["--ratio", "-1:2:3"], "--ratio"),
    (["--ratio", "1:2"], "--ratio"),
    (["--ratio", "a:b:c"], "--ratio"),
    (["--dataset", "nope"], "--dataset"),
    (["--epochs", "0"], "--epochs"),
    (["--time-steps", "0"], "--time-steps"),
    (["--epochs", "x"], "--epochs"),
    (["--device", "tpu"], "--device"),
    (["--config", "/nonexistent.yaml"], "--config"),
]


def biril(*args, timeout=300):
    return subprocess.run(
        [sys.executable, "-m", "biril.cli", *args], capture_output=True, text=True, timeout=timeout
    )


@pytest.mark.parametrize("args,field", BAD)
def test_bad_train_input_is_one_line_exit_2(args, field):
    r = biril("train", *args)
    assert r.returncode == 2
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, r.stderr
    assert lines[0].startswith("error: ") and field in lines[0]
    assert "Traceback" not in r.stderr
    assert r.stdout == ""


def test_yaml_config_with_unknown_field_names_it(tmp_path):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("dataset: digits\nepoch: 3\n")
    r = biril("train", "--config", str(cfg))
    assert r.returncode == 2
    assert "epoch: unknown field" in r.stderr


def test_train_json_reports_a_real_run(tmp_path):
    r = biril(
        "train", "--ratio", "1:2:1", "--epochs", "1", "--batch-size", "128",
        "--output-dir", str(tmp_path / "run"), "--json",
    )
    assert r.returncode == 0, r.stderr
    result = json.loads(r.stdout)
    assert 0.0 <= result["val_acc"] <= 1.0 and 0.0 <= result["test_acc"] <= 1.0
    assert result["epochs"] == 1
    assert result["seconds"] > 0
    # ceil(1293 training digits / 128) = 11 steps of the 1:2:1 cycle STBP, STDP, STDP-STBP, STBP
    assert result["mode_counts"] == {"stdp": 3, "stbp": 5, "stdp_stbp": 3}
    assert (tmp_path / "run" / "checkpoint.pt").exists()
    assert "test accuracy" in r.stderr  # the human summary goes to stderr


def test_resume_continues_from_checkpoint(tmp_path):
    out = str(tmp_path / "run")
    first = biril("train", "--epochs", "1", "--batch-size", "256", "--output-dir", out, "--json")
    assert first.returncode == 0, first.stderr
    again = biril(
        "train", "--epochs", "2", "--batch-size", "256", "--output-dir", out, "--resume", "--json"
    )
    assert again.returncode == 0, again.stderr
    assert "epoch   1/2" not in again.stderr  # epoch 1 came from the checkpoint
    assert "epoch   2/2" in again.stderr


def test_datasets_lists_bundled_digits_and_missing_others(tmp_path):
    from sklearn.datasets import load_digits

    r = biril("datasets", "--data-root", str(tmp_path), "--json")
    assert r.returncode == 0, r.stderr
    rows = {row["name"]: row for row in json.loads(r.stdout)}
    n = len(load_digits().target)  # 1797
    n_test = round(n * 0.2)
    n_val = round((n - n_test) * 0.1)
    digits = rows["digits"]
    assert digits["status"] == "found"
    counts = (digits["n_train"], digits["n_val"], digits["n_test"])
    assert counts == (n - n_test - n_val, n_val, n_test)
    assert rows["mnist"]["status"] == "missing" and rows["cifar10"]["status"] == "missing"
