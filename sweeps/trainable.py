"""The Tune function trainable: one BIRIL training run inside a trial actor.

It pins itself to what Ray gave it (CPU threads, the assigned GPU or GPU fraction),
reports after every epoch with a checkpoint, and resumes from the last checkpoint when
Tune restarts it (after a failure, or when an interrupted sweep is resumed). The final
epoch is reported once the test accuracy is known, so the last result carries it, and the
linear probe's accuracies where the spec asks for one (``train.probe``).
"""

from __future__ import annotations

import json
import logging
import shutil
import socket
import tempfile
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

import ray
import torch
from ray import tune

from biril import EpochMetrics, TrainConfig, train
from results.schema import CURVE_KEYS, PROBE_KEYS

from .internals import TUNE_STORAGE_LOGGER
from .provenance import gpu_driver

STATE_FILE = "trial_state.json"  # curve and wall time so far, kept beside checkpoint.pt


def trial_dirname(trial) -> str:
    """Trial folders named by trial id alone, so the store can point at them."""
    return f"trial_{trial.trial_id}"


def pick_device(forced: str | None, gpu_ids: list[str], gpus_per_trial: float) -> str:
    """The device this trial trains on: the GPU Ray assigned (``cuda:0``), else the CPU.

    Ray restricts ``CUDA_VISIBLE_DEVICES`` to the assigned GPU, so inside the actor
    that GPU is always ``cuda:0``. ``forced == "cpu"`` keeps the trial on the CPU
    whatever it was assigned (tests with logical GPUs, CPU-only debugging).
    """
    if forced == "cpu" or gpus_per_trial <= 0:
        return "cpu"
    if not gpu_ids:
        raise RuntimeError("the trial asked for a GPU but Ray assigned none")
    if not torch.cuda.is_available():
        raise RuntimeError(
            f"Ray assigned GPU {','.join(gpu_ids)} but CUDA is not available in the trial "
            f"process on node {ray.get_runtime_context().get_node_id()}; install a CUDA "
            "build of torch there, or set train.device: cpu in the spec"
        )
    return "cuda:0"


def pin(device: str, cpus_per_trial: float, gpus_per_trial: float) -> None:
    """Hold to the trial's share: its CPU threads and, for a GPU fraction, its memory."""
    torch.set_num_threads(max(1, int(cpus_per_trial)))
    if device.startswith("cuda") and 0 < gpus_per_trial < 1:
        torch.cuda.set_per_process_memory_fraction(gpus_per_trial, 0)


def host(device: str) -> dict[str, str | None]:
    """Where the trial runs, for the sweep's provenance: machine, GPU model and driver."""
    on_gpu = device.startswith("cuda")
    return {
        "hostname": socket.gethostname(),
        "gpu_name": torch.cuda.get_device_name(device) if on_gpu else None,
        "gpu_driver": gpu_driver() if on_gpu else None,
    }


def restore(workdir: Path) -> tuple[dict[str, Any], str | None]:
    """Copy the Tune checkpoint (if any) into ``workdir``; returns (state, resume_from)."""
    checkpoint = tune.get_checkpoint()
    if checkpoint is None:
        return {"curve": [], "seconds": 0.0, "last": None}, None
    with checkpoint.as_directory() as folder:
        shutil.copytree(folder, workdir, dirs_exist_ok=True)
    state = json.loads((workdir / STATE_FILE).read_text())
    return state, str(workdir)


def validation_size(config: TrainConfig) -> int:
    """How many validation images the trial's accuracy is measured on (the store's
    ``val_size``): counted from the dataset's files the way the trainer splits them."""
    from biril.datasets import REGISTRY, data_root
    from biril.datasets.inventory import counts

    info = REGISTRY[config.dataset]
    return counts(info, data_root(config.data_root), config.val_fraction)["n_val"]


def epoch_metrics(m: EpochMetrics) -> dict[str, Any]:
    """The per-epoch metrics Tune receives (the store's contract names them), the STDP
    diagnostics among them (``stdp``: per layer, ``results.schema.STDP_KEYS``)."""
    d = asdict(m)
    d.pop("checkpoint")
    return d


def trial_config(
    config: dict[str, Any], device: str | None, workdir: Path, resume_from: str | None
) -> TrainConfig:
    """The trainer's config of one trial: the sweep's ``train`` settings, the searched
    ``params`` and the variant's ``overrides``, and the suggested ratio's parts exactly as
    suggested, so ``TrainConfig.ratio.fractions`` equals the ``ratio`` the store records."""
    return TrainConfig(
        **{
            **config["base"]["train"],
            **config["params"],
            **config["overrides"],
            "ratio": config["ratio_parts"],
            "seed": config["seed"],
            "device": device,
            "output_dir": str(workdir),
            "resume_from": resume_from,
        }
    )


def train_trial(config: dict[str, Any]) -> None:
    """Train one ratio; ``config`` = the searcher's suggestion plus the sweep's ``base``."""
    base = config["base"]
    started = time.perf_counter()
    # One "checkpoint created" line per epoch per trial would drown the progress table.
    logging.getLogger(TUNE_STORAGE_LOGGER).setLevel(logging.WARNING)
    gpu_ids = [str(g) for g in ray.get_gpu_ids()]
    device = pick_device(base["train"].get("device"), gpu_ids, base["gpus_per_trial"])
    pin(device, base["cpus_per_trial"], base["gpus_per_trial"])
    identity = {
        "ratio": config["ratio"],
        "seed": config["seed"],
        "stage": config["stage"],
        "role": config["role"],
        "epochs_planned": base["train"]["epochs"],
        "node_id": ray.get_runtime_context().get_node_id(),
        "gpu_ids": gpu_ids,
        **host(device),
    }
    workdir = Path(tempfile.mkdtemp(prefix="biril-trial-"))
    try:
        state, resume_from = restore(workdir)
        seconds_before = state["seconds"]
        train_config = trial_config(config, device, workdir, resume_from)

        def report(metrics: dict[str, Any]) -> None:
            seconds = seconds_before + time.perf_counter() - started
            state.update(seconds=seconds, last=metrics)
            (workdir / STATE_FILE).write_text(json.dumps(state))
            result = {**metrics, **identity, "curve": state["curve"], "seconds": seconds}
            tune.report(result, checkpoint=tune.Checkpoint.from_directory(str(workdir)))

        def on_epoch(m: EpochMetrics) -> None:
            # Counted once the trainer has the data (it may have just downloaded it).
            identity.setdefault("val_size", validation_size(train_config))
            metrics = epoch_metrics(m)
            state["curve"].append({k: metrics[k] for k in CURVE_KEYS})
            if m.epoch < train_config.epochs:
                report(metrics)
            else:  # the last epoch is reported with its test accuracy, below
                state["last"] = metrics

        result = train(train_config, callback=on_epoch)
        probe = {PROBE_KEYS[pool]: acc for pool, acc in result.probe.items()}
        report({**state["last"], "test_acc": result.test_acc, **probe})
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
