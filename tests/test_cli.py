"""The command line: bad input is one line and exit 2; --json is one parseable object."""

import json
import re
import subprocess
import sys

import pytest

from biril.config import TrainConfig

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
    # Fields that had no flag before the flags were made from TrainConfig:
    (["--val-fraction", "1.5"], "--val-fraction: Input should be less than 1"),
    (["--reset", "sideways"], "--reset: Input should be 'hard' or 'soft'"),
    (["--momentum", "x"], "'--momentum': 'x' is not a valid float"),
]


def biril(*args, timeout=300):
    return subprocess.run(
        [sys.executable, "-m", "birilcli", *args], capture_output=True, text=True, timeout=timeout
    )


def error_line(r) -> str:
    """The one line a user error prints (exit 2, nothing else on stdout or stderr)."""
    assert r.returncode == 2, r.stderr
    assert r.stderr.count("\n") == 1 and r.stderr.startswith("error: "), r.stderr
    assert r.stdout == ""
    return r.stderr.strip()


@pytest.mark.parametrize("args,field", BAD)
def test_bad_train_input_is_one_line_exit_2(args, field):
    assert field in error_line(biril("train", *args))


def test_train_help_lists_every_train_config_field_with_its_description():
    r = biril("train", "--help")
    assert r.returncode == 0, r.stderr
    fields = TrainConfig.model_fields
    expected = {"--" + name.replace("_", "-") for name in fields}
    negations = {"--no-" + name.replace("_", "-") for name, f in fields.items()
                 if f.annotation is bool}
    options = set(re.findall(r"^\s+(?:-\w, )?(--[a-z0-9-]+)", r.stdout, flags=re.M))
    options |= set(re.findall(r" / (--no-[a-z0-9-]+)", r.stdout))
    assert options == expected | negations | {"--config", "--resume", "--json", "--help"}
    squeezed = "".join(r.stdout.split())  # help wraps lines anywhere
    for name, field in fields.items():
        assert field.description and "".join(field.description.split()) in squeezed, name


def test_yaml_fields_are_named_in_their_file_and_flags_as_flags(tmp_path):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("dataset: digits\nepoch: 3\nlr: -1\n")
    line = error_line(biril("train", "--config", str(cfg), "--time-steps", "0"))
    assert f"{cfg}: epoch: unknown field" in line and f"{cfg}: lr: " in line
    assert "--time-steps: " in line and "--epoch" not in line and "--lr" not in line


@pytest.mark.parametrize(
    "content,problem",
    [
        (b"epochs: [1,\n  lr: 3\n", "not valid YAML (expected ',' or ']'"),
        (bytes(range(256)) * 4, "a binary file, not YAML"),
        (b"- 1\n- 2\n", "expected a mapping of fields, got list"),
    ],
)
def test_bad_config_files_are_one_line_naming_the_file(tmp_path, content, problem):
    cfg = tmp_path / "c.yaml"
    cfg.write_bytes(content)
    assert f"--config {cfg}: {problem}" in error_line(biril("train", "--config", str(cfg)))


def test_a_planted_checkpoint_is_one_line_and_never_runs(tmp_path):
    import torch

    class Payload:
        def __reduce__(self):
            return (open, (str(tmp_path / "payload-ran"), "w"))

    (tmp_path / "run").mkdir()
    torch.save({"model": Payload()}, tmp_path / "run" / "checkpoint.pt")
    r = biril("train", "--output-dir", str(tmp_path / "run"), "--resume")
    assert "holds a Python object" in error_line(r)
    assert not (tmp_path / "payload-ran").exists()


def test_other_commands_name_the_bad_option(tmp_path):
    (tmp_path / "a-file").write_text("x")
    line = error_line(biril("datasets", "--data-root", str(tmp_path / "nowhere")))
    assert f"--data-root {tmp_path / 'nowhere'} does not exist" in line
    line = error_line(biril("datasets", "--data-root", str(tmp_path / "a-file")))
    assert "is a file, not a folder" in line
    line = error_line(biril("bench", "--device", "tpu"))
    assert line == "error: --device: device must be 'cpu', 'cuda', 'cuda:N' or 'auto', got 'tpu'"
    report = ["report", "--storage", str(tmp_path / "nowhere"), "-o"]
    line = error_line(biril(*report, str(tmp_path / "a-file" / "r.html")))
    assert "'-o' / '--output'" in line and "a-file is a file" in line
    assert "'-o' / '--output'" in error_line(biril(*report, str(tmp_path)))


def test_train_json_reports_a_real_run(tmp_path):
    r = biril(
        "train", "--ratio", "1:2:1", "--epochs", "1", "--batch-size", "128",
        "--output-dir", str(tmp_path / "run"), "--json",
    )
    assert r.returncode == 0, r.stderr
    result = json.loads(r.stdout)
    # Accuracies are counts of the 144 validation and 359 test digits, the one the log showed.
    assert result["val_acc"] * 144 == pytest.approx(round(result["val_acc"] * 144))
    assert result["test_acc"] * 359 == pytest.approx(round(result["test_acc"] * 359))
    assert f"val {result['val_acc']:.2%}" in r.stderr
    assert result["epochs"] == 1
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
