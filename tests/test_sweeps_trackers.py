"""Trackers without Ray: what reaches them, and a tracker asked for but not installed."""

from __future__ import annotations

import importlib.util

import pytest
import yaml

from sweeps import SweepError, run_sweep
from sweeps.trackers import scalars


def test_scalars_keep_numbers_and_name_the_ratio_shares():
    result = {
        "val_acc": 0.9, "epoch": 2, "done": False, "trial_id": "abc", "gpu_ids": ["0"],
        "ratio": [0.25, 0.5, 0.25], "curve": [{"epoch": 1}, {"epoch": 2}],
        "stdp": {"stem": {"stdp_step": 0.01, "name": "x"}}, "hostname": "n1",
    }
    assert scalars(result) == {
        "val_acc": 0.9, "epoch": 2, "done": False,
        "ratio": {"stdp": 0.25, "stbp": 0.5, "stdp_stbp": 0.25},
        "stdp": {"stem": {"stdp_step": 0.01}},
    }


@pytest.mark.skipif(importlib.util.find_spec("wandb") is not None, reason="wandb installed")
def test_a_tracker_asked_for_and_absent_is_refused_before_ray(tmp_path):
    import ray

    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump({"logging": {"wandb": {"project": "p"}}}))
    with pytest.raises(SweepError, match=r"logging.wandb: the wandb package is not installed; "
                                         r"pip install 'biril-sweeps\[wandb\]'"):
        run_sweep(path, storage=str(tmp_path / "R"))
    assert not ray.is_initialized()
