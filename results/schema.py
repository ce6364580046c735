"""What a sweep writes into the store, named once: study and trial attributes, metric keys.

``sweeps`` writes every name here and ``analysis`` reads them; a name used on one side
only is a bug. Optuna holds each trial's objective values (validation accuracy first, then
energy for a two-objective sweep); everything else a trial knows is a user attribute.
"""

from __future__ import annotations

# The study's user attributes (set when a sweep starts).
STUDY_ATTRS = {
    "dataset": "dataset name",
    "sweep": "sweep name (the study is named <dataset>/<sweep>)",
    "spec": "the whole sweep spec as JSON (a resumed sweep must match it)",
    "results_dir": "the sweep's Ray Tune experiment folder",
}

# Per-sample validation energy of a trial's last reported epoch (``biril.energy``).
ENERGY_KEYS = (
    "energy_pj_per_sample",
    "sops_per_sample",
    "macs_per_sample",
    "ann_energy_pj_per_sample",
)
# One entry of a trial's ``curve`` per epoch; epochs from checkpoints that predate the
# energy keys lack them.
CURVE_ENERGY_KEYS = ("energy_pj_per_sample", "sops_per_sample")
# Per STDP-updated layer and epoch (``biril.diagnostics``): the mean relative change
# ``‖ΔW‖/‖W‖`` of the epoch's STDP steps and of its gradient steps, the mean |cosine| over
# pairs of the layer's output filters, and the cosine of the weights with their initial value.
# A curve entry's ``stdp`` is ``{layer name: {key: value}}``; epochs from checkpoints that
# predate it lack it.
STDP_KEYS = ("stdp_step", "grad_step", "filter_cos", "init_cos")
CURVE_STDP = "stdp"
CURVE_KEYS = (
    "epoch",
    "val_acc",
    "val_loss",
    "train_loss",
    "train_acc",
    "epoch_seconds",
    "samples_per_s",
    *CURVE_ENERGY_KEYS,
    CURVE_STDP,
)

# The linear probe of the last block after training (``TrainConfig.probe``, ``biril.probe``):
# validation accuracy of a logistic regression on its time-averaged spike rates, pooled
# globally (``gap``, what the paper's head sees) or on a 4x4 grid (``pool4``). It measures
# the features apart from how fast the head learned on them. Attribute per pooling:
PROBE_POOLS = ("gap", "pool4")
PROBE_KEYS = {pool: f"probe_{pool}" for pool in PROBE_POOLS}

# Every trial's user attributes.
TRIAL_ATTRS = {
    "dataset": "dataset name",
    "sweep": "sweep name",
    "trial_id": "Ray Tune's trial id",
    "trial_dir": "the trial's Tune folder",
    "stage": "search | confirm",
    "role": "why it ran: search | confirm (a top ratio, more seeds) | stbp_baseline | "
    "stdp_control (a confirmed ratio's frozen twin)",
    "seed": "training seed",
    "ratio": "[stdp, stbp, stdp_stbp] shares summing to 1",
    "params": "the searched TrainConfig fields (spec search.params) and their values ({} for none)",
    "overrides": "TrainConfig fields a confirmation variant changes ({} for none)",
    "confirms": "confirmation runs: the search trial whose ratio it re-runs (None: fixed ratio)",
    "epochs_planned": "epochs the trial was to train",
    "epochs_completed": "epochs it trained",
    "full_run": "it trained every planned epoch and was tested",
    "val_acc": "validation accuracy at its last epoch",
    "val_size": "number of validation images that accuracy was measured on",
    "test_acc": "test accuracy (full runs only)",
    "probe_gap": "linear-probe validation accuracy on the last block's globally pooled "
    "spike rates (full runs of a spec with train.probe: true only)",
    "probe_pool4": "the same on its 4x4-pooled spike rates",
    "curve": f"per-epoch metrics: a list of {{{', '.join(CURVE_KEYS)}}}",
    "spike_rates": "mean firing rate per spiking layer, last epoch",
    "seconds": "training wall time, over restarts",
    "node_id": "Ray node it ran on",
    "gpu_ids": "GPUs Ray assigned it",
    "checkpoint": "its last checkpoint folder",
    **{key: "per validation sample, last epoch" for key in ENERGY_KEYS},
}
# What a finished trial must carry to be placed on the simplex and judged.
REQUIRED_TRIAL_ATTRS = ("ratio", "seed", "stage", "full_run", "epochs_completed")

STAGES = ("search", "confirm")
# A confirmation trial's role: a top ratio re-run with another seed, pure STBP run with the
# same seeds as the top ratios so "does it beat STBP?" rests on seeds both sides, or a top
# ratio's frozen control: the same config and seeds with ``CONTROL_OVERRIDES``.
ROLE_SEARCH, ROLE_CONFIRM, ROLE_STBP_BASELINE = "search", "confirm", "stbp_baseline"
ROLE_CONTROL = "stdp_control"
# The frozen control: the same schedule with conv weights untouched in STDP iterations.
CONTROL_OVERRIDES = {"stdp_lr": 0}

# The study's objectives: validation accuracy first, always.
VAL_ACC = "val_acc"
ENERGY = "energy_pj_per_sample"
OBJECTIVES = {"accuracy": (VAL_ACC,), "accuracy_energy": (VAL_ACC, ENERGY)}
