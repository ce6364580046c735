"""Sweep specs: shipped specs load, bad ones fail with the YAML path, before any Ray."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from birilcli.main import main
from sweeps import SpecError, SweepError, load_spec, parse_spec, run_sweep, shipped_specs

REPO = Path(__file__).resolve().parents[1]
DATASETS = {
    "digits": "digits",
    "mnist": "mnist",
    "fashion_mnist": "fashion_mnist",
    "cifar10": "cifar10",
    "cifar100": "cifar100",
    "tinyimagenet": "tinyimagenet",
    "dvs128_gesture": "dvs128_gesture",
}


def write(tmp_path: Path, data: dict, name: str = "spec.yaml") -> Path:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(data))
    return path


@pytest.mark.parametrize("name", sorted(DATASETS))
def test_every_shipped_spec_loads_and_names_its_dataset(name):
    spec = load_spec(name)
    assert spec.train.dataset == DATASETS[name]
    assert spec.study_name == f"{DATASETS[name]}/{spec.name}"
    assert spec.search.num_trials >= len(spec.search.warm_start)


def test_shipped_specs_are_the_seven_datasets_and_the_energy_and_few_label_sweeps():
    assert shipped_specs() == sorted([*DATASETS, "digits_energy", "digits_labels"])


def test_paper_specs_use_the_paper_settings():
    for name in ("cifar10", "cifar100", "tinyimagenet", "dvs128_gesture"):
        spec = load_spec(name)
        assert spec.train.preset == "paper18"
        assert spec.resources.gpus_per_trial >= 1
    for name in ("mnist", "fashion_mnist"):
        assert load_spec(name).train.preset == "small"
        assert load_spec(name).resources.gpus_per_trial == 0.5
    for name in ("mnist", "cifar10", "dvs128_gesture"):
        t = load_spec(name).train
        assert (t.optimizer, t.lr, t.batch_size) == ("adam", 1e-3, 64)
    assert load_spec("cifar10").train.time_steps == 4
    assert load_spec("dvs128_gesture").train.time_steps == 16


def test_default_spec_is_digits_with_the_paper_warm_starts():
    spec = load_spec(None)
    assert spec.train.dataset == "digits"
    expected = {"1:4:1", "1:6:2", "2:6:1", "1:8:3", "3:8:1", "1:0:0", "0:1:0", "0:0:1"}
    assert set(spec.search.warm_start) == expected
    assert spec.num_trials >= 12
    assert spec.resources.gpus_per_trial == 0


def test_a_spec_file_path_loads(tmp_path):
    path = write(tmp_path, {"name": "mine", "train": {"dataset": "digits", "epochs": 3}})
    spec = load_spec(path)
    assert (spec.name, spec.train.epochs) == ("mine", 3)
    assert load_spec(str(path)).name == "mine"


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ({"search": {"confirm": {"top_k": 0}}}, "search.confirm.top_k: must be >= 1, got 0"),
        ({"search": {"samplr": "tpe"}}, "search.samplr: unknown field"),
        ({"search": {"sampler": "bayes"}}, "search.sampler: Input should be"),
        ({"train": {"dataset": "imagenet"}}, "train.dataset: unknown dataset 'imagenet'"),
        ({"train": {"epochs": "many"}}, "train.epochs: Input should be a valid integer"),
        ({"train": {"ratio": "1:8:3"}}, "train: 'ratio' cannot be set here"),
        ({"train": {"device": "cuda:1"}}, "trials use the GPU Ray assigns"),
        ({"resources": {"gpus_per_trial": 1.5}}, "resources.gpus_per_trial: more than one GPU"),
        ({"resources": {"cpus_per_trial": 0}}, "resources.cpus_per_trial: must be > 0"),
        ({"search": {"warm_start": ["1:x:3"]}}, "search.warm_start: entry 0 ('1:x:3')"),
        (
            {"search": {"bounds": {"stbp": {"min": 0.7}, "stdp": {"min": 0.5}}}},
            "search.bounds: the minimum shares sum to 1.2 > 1",
        ),
        ({"search": {"bounds": {"stdp": {"min": 0.5, "max": 0.2}}}}, "min (0.5) must be <= max"),
        (
            {"scheduler": {"grace_period": 50}, "train": {"epochs": 10}},
            "scheduler.grace_period (50) exceeds train.epochs (10)",
        ),
        ({"name": "a/b"}, "name: 'a/b' must be letters"),
        (
            {"search": {"space": "lattice", "lattice": {"total": 3, "exhaustive": True}}},
            "exceeds the 10 lattice points",
        ),
        # search.params: more dimensions over TrainConfig fields
        (
            {"search": {"params": {"stdp_lrr": {"low": 1e-3, "high": 1e-1}}}},
            "search.params.stdp_lrr: unknown TrainConfig field",
        ),
        (
            {"search": {"params": {"stdp_lr": {"low": 0.1, "high": 0.001}}}},
            "search.params.stdp_lr: empty bounds: low (0.1) must be below high (0.001)",
        ),
        (
            {"search": {"params": {"stdp_lr": {"low": 0.01, "high": 0.01}}}},
            "search.params.stdp_lr: empty bounds",
        ),
        (
            {"search": {"params": {"stdp_lr": {"low": 0, "high": 0.1, "log": True}}}},
            "search.params.stdp_lr: log: true needs low > 0",
        ),
        (
            {"search": {"params": {"stdp_until": {"low": 0.25, "high": 2}}}},
            "search.params.stdp_until.high: Input should be less than or equal to 1",
        ),
        (
            {"search": {"params": {"loss": {"choices": ["mse", "hinge"]}}}},
            "search.params.loss.choices[1]: Input should be 'mse' or 'ce' (got 'hinge')",
        ),
        (
            {"search": {"params": {"loss": {"low": 0, "high": 1}}}},
            "search.params.loss: loss is not a number; list its values as choices",
        ),
        (
            {"search": {"params": {"batch_size": {"low": 16.5, "high": 64}}}},
            "search.params.batch_size: batch_size is an integer",
        ),
        (
            {"search": {"params": {"seed": {"low": 0, "high": 9}}}},
            "search.params.seed: cannot be searched: the sweep sets each trial's seed",
        ),
        ({"search": {"params": {"stdp_lr": {"low": 0.01}}}}, "search.params.stdp_lr: needs low"),
        (
            {"search": {"confirm": {"controls": True}}, "train": {"stdp_lr": 0}},
            "search.confirm.controls: train.stdp_lr is 0, so every run is already its frozen",
        ),
    ],
)
def test_bad_specs_name_the_file_and_the_yaml_path(tmp_path, data, expected):
    path = write(tmp_path, data)
    with pytest.raises(SpecError) as err:
        load_spec(path)
    message = str(err.value)
    assert message.startswith(f"{path}: ")
    assert expected in message
    assert "\n" not in message


def test_missing_file_and_unknown_shipped_name():
    with pytest.raises(SpecError, match="spec file not found"):
        load_spec("/nonexistent/spec.yaml")
    with pytest.raises(SpecError, match="no shipped spec named 'cifar11'.*cifar10"):
        load_spec("cifar11")


def test_yaml_that_is_not_a_mapping(tmp_path):
    path = tmp_path / "list.yaml"
    path.write_text("- 1\n- 2\n")
    with pytest.raises(SpecError, match="expected a mapping"):
        load_spec(path)


def test_spec_round_trips_through_its_stored_form():
    spec = load_spec("cifar10")
    assert parse_spec(spec.to_store()) == spec


def test_bad_spec_is_rejected_before_ray_starts(tmp_path):
    import ray

    path = write(tmp_path, {"search": {"confirm": {"top_k": 0}}})
    with pytest.raises(SpecError):
        run_sweep(path, storage=str(tmp_path / "R"))
    assert not ray.is_initialized()


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        ({"storage": "s3://bucket/results"}, "--db URL"),
        ({"db": "not a url"}, "is not an SQLAlchemy URL"),
        ({"address": "http//nope"}, "expected host:port"),
        ({"name": "../x"}, "--name: name: '../x' must be letters"),
    ],
)
def test_bad_options_are_rejected_before_ray_starts(tmp_path, kwargs, expected):
    import ray

    kwargs.setdefault("storage", str(tmp_path / "R"))
    with pytest.raises(SweepError, match=expected.replace("(", r"\(").replace(".", r"\.")):
        run_sweep("digits", **kwargs)
    assert not ray.is_initialized()


def test_missing_data_is_reported_before_ray_starts(tmp_path):
    import ray

    path = write(tmp_path, {"train": {"dataset": "cifar10", "data_root": str(tmp_path / "d")}})
    with pytest.raises(SweepError, match="cifar10: data not found"):
        run_sweep(path, storage=str(tmp_path / "R"))
    assert not ray.is_initialized()


def test_cli_reports_a_bad_spec_as_one_line_and_exit_2(tmp_path, capsys):
    import ray

    path = write(tmp_path, {"search": {"confirm": {"top_k": 0}}})
    with pytest.raises(SystemExit) as exit_info:
        main(["sweep", str(path), "--storage", str(tmp_path / "R")])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1
    assert "search.confirm.top_k: must be >= 1" in err
    assert "Traceback" not in err
    assert not ray.is_initialized()


def test_cli_names_a_misspelled_searched_field_and_exits_2_before_ray(tmp_path, capsys):
    import ray

    path = write(tmp_path, {"search": {"params": {"stdp_lrr": {"low": 1e-3, "high": 0.1}}}})
    with pytest.raises(SystemExit) as exit_info:
        main(["sweep", str(path), "--storage", str(tmp_path / "R")])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert err.startswith(f"error: {path}: search.params.stdp_lrr: unknown TrainConfig field")
    assert not ray.is_initialized()


def test_searched_params_load_from_yaml_and_round_trip(tmp_path):
    path = tmp_path / "eta.yaml"
    path.write_text(
        "search:\n"
        "  params:\n"
        "    stdp_lr: {low: 1e-3, high: 1e-1, log: true}\n"
        "    batch_size: {low: 16, high: 64}\n"
        "    loss: {choices: [mse, ce]}\n"
    )
    spec = load_spec(path)
    eta = spec.search.params["stdp_lr"]
    assert (eta.low, eta.high, eta.log) == (1e-3, 1e-1, True)  # YAML's 1e-3 is a string
    assert spec.search.params["loss"].choices == ["mse", "ce"]
    assert parse_spec(spec.to_store()) == spec


def test_shipped_specs_with_a_confirmation_stage_run_the_frozen_controls():
    confirming = [name for name in shipped_specs() if load_spec(name).search.confirm]
    # digits_energy has no confirmation stage
    assert set(confirming) == {*DATASETS, "digits_labels"}
    assert all(load_spec(name).search.confirm.controls for name in confirming)
    # One frozen twin per confirmed ratio and seed, on top of the stage without them.
    c = load_spec("digits").search.confirm
    without = c.top_k * c.seeds + c.seeds + 1
    assert load_spec("digits").num_confirm_trials == without + c.top_k * (c.seeds + 1)


def test_cli_module_imports_no_heavy_package():
    code = (
        "import sys, birilcli.sweep; "
        "print(','.join(m for m in ('ray', 'optuna', 'torch', 'biril') if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == ""


def test_unquoted_ratios_in_yaml_stay_ratios(tmp_path):
    # YAML 1.1 would read 1:8:3 as the base-60 integer 1*3600 + 8*60 + 3 = 4083.
    path = tmp_path / "spec.yaml"
    path.write_text("search:\n  num_trials: 9\n  warm_start: [1:8:3, 2:6:1, 1:0:0, 0.5:0.5:0]\n")
    assert load_spec(path).search.warm_start == ["1:8:3", "2:6:1", "1:0:0", "0.5:0.5:0"]


def test_blocked_order_needs_the_lattice(tmp_path):
    path = write(tmp_path, {"train": {"order": "blocked"}})
    with pytest.raises(SpecError, match="train.order: blocked needs integer ratios"):
        load_spec(path)
    spec = parse_spec({"train": {"order": "blocked"}, "search": {"space": "lattice"}})
    assert spec.train.order == "blocked"


def test_more_warm_starts_than_trials_is_rejected(tmp_path):
    path = write(tmp_path, {"search": {"num_trials": 3}})
    with pytest.raises(SpecError, match="warm_start has 8 ratios but search.num_trials is 3"):
        load_spec(path)


def test_nsga2_sampler_for_one_or_two_objectives():
    for objective in ("accuracy", "accuracy_energy"):
        spec = parse_spec({"objective": objective, "search": {"sampler": "nsga2"}})
        assert (spec.objective, spec.search.sampler) == (objective, "nsga2")
    with pytest.raises(SpecError, match="use one of tpe, gp, random, qmc, nsga2"):
        parse_spec({"objective": "accuracy_energy", "search": {"sampler": "cmaes"}})
