"""``biril doctor --smoke``'s sweep case: four trials packed onto one device, all at once.

On CUDA, a private Ray with one GPU runs four digits trials at ``gpus_per_trial: 0.25``;
on the CPU, four trials at ``cpus_per_trial: 0.5`` share two CPU slots. What it proves is
read back from each trial's own Tune results, not assumed: four distinct trial processes,
each assigned the same GPU by Ray (``ray.get_gpu_ids()`` inside the trial), and training
intervals that all overlap, i.e. the four shares were in use at the same moment.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path

import torch

from biril.doctor import Check
from biril.smoke import Profile

TRIALS = 4
# Per device type: epochs long enough that the four trials' training overlaps the
# seconds their processes take to start, and the private Ray's slots.
PLANS = {
    "cuda": {"epochs": 20, "cpus_per_trial": 1.0, "gpus_per_trial": 0.25, "cpus": 4, "gpus": 1},
    "cpu": {"epochs": 1, "cpus_per_trial": 0.5, "gpus_per_trial": 0.0, "cpus": 2, "gpus": 0},
}
TIMESTAMP_RESOLUTION_S = 1.0  # Tune's ``timestamp`` is whole seconds


def sweep_case(device: torch.device, profile: Profile) -> Check:
    """Run the packed sweep and check from the trials' results that it really packed."""
    import ray

    from .bench import stdout_to_stderr
    from .runner import run_sweep
    from .spec import parse_spec

    if ray.is_initialized():
        raise RuntimeError("Ray is already running in this process; the smoke needs its own")
    plan = PLANS[device.type]
    spec = parse_spec(
        {
            "name": "smoke",
            "train": {
                "dataset": "digits",
                "epochs": plan["epochs"],
                "device": None if device.type == "cuda" else "cpu",
            },
            "search": {
                "num_trials": TRIALS,
                "warm_start": ["1:8:3", "1:6:2", "2:6:1", "0:1:0"],
                "sampler": "random",
            },
            "scheduler": {"type": "none"},
            "resources": {
                "cpus_per_trial": plan["cpus_per_trial"],
                "gpus_per_trial": plan["gpus_per_trial"],
                "max_concurrent": TRIALS,
                "reuse_actors": False,
            },
        },
        source="biril doctor --smoke",
    )
    root = tempfile.mkdtemp(prefix="biril-smoke-sweep-")
    ray.init(
        address="local",
        num_cpus=plan["cpus"],
        num_gpus=plan["gpus"],
        include_dashboard=False,
        log_to_driver=False,
    )
    try:
        with stdout_to_stderr():  # Tune's banner would land in --json's stdout
            summary = run_sweep(spec, storage=root, progress=False)
        trials = [last_result(p) for p in Path(summary.results_dir).glob("trial_*/result.json")]
    finally:
        ray.shutdown()
        shutil.rmtree(root, ignore_errors=True)
    return packing_check(trials, plan, summary.wall_seconds)


def last_result(path: Path) -> dict:
    lines = path.read_text().splitlines()
    return json.loads(lines[-1]) if lines else {}


def packing_check(trials: list[dict], plan: dict, wall_s: float) -> Check:
    """Were all trials done, each in its own process on its share, all at the same time?"""
    done = [t for t in trials if t.get("epoch") == plan["epochs"] and "test_acc" in t]
    starts = [t["timestamp"] - t["time_total_s"] for t in done]
    ends = [t["timestamp"] for t in done]
    together = min(ends) - max(starts) if done else 0.0
    gpu_ids = [t.get("gpu_ids", []) for t in done]
    on_gpu = plan["gpus"] == 0 or all(ids and ids == gpu_ids[0] for ids in gpu_ids)
    processes = len({t.get("pid") for t in done})
    problems = []
    if len(done) < TRIALS:
        problems.append(f"only {len(done)} of {TRIALS} trials finished")
    if processes < len(done):
        problems.append(f"{len(done)} trials ran in {processes} processes")
    if not on_gpu:
        problems.append(f"GPU ids seen inside the trials: {gpu_ids}")
    if together <= TIMESTAMP_RESOLUTION_S:
        problems.append(f"the trials never all ran at once (overlap {together:.1f} s)")
    share = (
        f"{plan['gpus_per_trial']:g} GPU each, GPU ids {gpu_ids[0] if gpu_ids else '?'}"
        if plan["gpus"]
        else f"{plan['cpus_per_trial']:g} CPU each on {plan['cpus']} CPU slots"
    )
    accuracy = [round(t["val_acc"], 3) for t in done]
    return Check(
        "",
        not problems,
        "; ".join(problems)
        if problems
        else f"{len(done)} trials at once ({share}), all running together for {together:.0f} s; "
        f"sweep {wall_s:.0f} s; val acc {accuracy}",
        required=True,
        detail={
            "trials": len(done),
            "processes": processes,
            "gpu_ids": gpu_ids,
            "all_running_s": together,
            "trial_s": [t["time_total_s"] for t in done],
            "val_acc": accuracy,
            "sweep_wall_s": wall_s,
            **{k: plan[k] for k in ("cpus_per_trial", "gpus_per_trial", "epochs")},
        },
    )
