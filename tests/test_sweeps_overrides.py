"""`biril sweep SPEC --set PATH=VALUE`: dotted paths into the spec, validated like the file,
errors naming the path, before any Ray."""

from __future__ import annotations

import pytest

from birilcli.main import main
from sweeps import SpecError, load_spec
from sweeps.overrides import apply_overrides


def test_overrides_change_the_named_fields_and_nothing_else():
    base = load_spec("digits")
    spec = apply_overrides(base, ["train.epochs=5", "search.num_trials=30",
                                  "search.warm_start=[1:8:3, 0:1:0]", "scheduler.type=none"])
    assert spec.train.epochs == 5 and spec.search.num_trials == 30
    assert spec.search.warm_start == ["1:8:3", "0:1:0"]  # ratios, not YAML sexagesimals
    assert spec.scheduler.type == "none"
    expected = base.to_store()
    expected["train"]["epochs"] = 5
    expected["search"].update(num_trials=30, warm_start=["1:8:3", "0:1:0"])
    expected["scheduler"]["type"] = "none"
    assert spec.to_store() == expected  # what the study stores
    nested = apply_overrides(base, ["search.params.stdp_lr.low=0.001",
                                    "search.params.stdp_lr.high=0.1"])
    assert (nested.search.params["stdp_lr"].low, nested.search.params["stdp_lr"].high) == (
        0.001, 0.1)


@pytest.mark.parametrize(
    ("assignment", "expected"),
    [
        ("train.epochss=5", "--set train.epochss=5: train.epochss: unknown field"),
        ("train.epochs=0", "train.epochs: must be >= 1, got 0"),
        ("train.epochs", "--set 'train.epochs': expected PATH=VALUE"),
        ("train..epochs=3", "expected PATH=VALUE with a dotted path"),
        ("train.epochs.x=1", "--set train.epochs.x=1: train.epochs is 8, not a mapping"),
        ("train.ratio=1:8:3", "train: 'ratio' cannot be set here"),
        ("resources.gpus_per_trial=2", "the others would be reserved and sit idle"),
        ("search.num_trials=[1", "--set search.num_trials: the value is not valid YAML"),
    ],
)
def test_bad_overrides_name_the_path(assignment, expected):
    with pytest.raises(SpecError) as err:
        apply_overrides(load_spec("digits"), [assignment])
    assert expected in str(err.value)


def test_cli_set_error_is_one_line_exit_2_before_ray(tmp_path, capsys):
    import ray

    with pytest.raises(SystemExit) as exit_info:
        main(["sweep", "digits", "--storage", str(tmp_path / "R"), "--set", "train.epochs=-1"])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("error: --set train.epochs=-1: train.epochs: must be >= 1")
    assert err.count("\n") == 1 and not ray.is_initialized()
