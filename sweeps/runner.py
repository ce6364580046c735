"""``run_sweep``: validate, start (or join) Ray, run or resume the Tune experiment, summarize.

Everything that can be checked without Ray — the spec, the results root, the database
URL, the cluster address, the data on disk — is checked first, so a mistake costs a
second rather than a cluster start. Running the same command after an interruption
resumes the sweep (``Tuner.restore``); ``fresh=True`` deletes the old study and Tune
folder and starts over; a finished sweep re-run with a larger budget grows (``sweeps.grow``).
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import sys
import threading
import time
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import optuna

from biril.folder_lock import FolderBusy, FolderLock, describe_holder
from results.compute import STUDY_SLOTS
from results.database import display_url
from results.errors import StoreError
from results.store import open_storage

from . import budget
from .confirm import Confirmation
from .grow import Growth, changes, growth
from .lease import StudyLease
from .overrides import apply_overrides
from .packing import Packing, PackingError, resolve_packing
from .provenance import record as record_provenance
from .spec import SWEEP_OWNED, SweepError, SweepSpec, load_spec, parse_spec
from .store import SweepLocation, find_study, finished_trials, remove_experiment, resolve_store
from .summary import SweepSummary, summarize
from .trackers import check_installed

ADDRESS_PATTERN = re.compile(r"^(auto|local|ray://[^\s/:]+(:\d+)?|[^\s/:]+:\d+)$")
TUNE_ENV = {
    # Tune's own TensorBoard logger would log the per-epoch curve (a list) and the GPU ids;
    # the spec's trackers (sweeps.trackers) log the numbers alone.
    "TUNE_DISABLE_AUTO_CALLBACK_LOGGERS": "1",
    # One snapshot per checkpoint is what makes resuming exact; not worth a warning.
    "TUNE_WARN_EXCESSIVE_EXPERIMENT_CHECKPOINT_SYNC_THRESHOLD_S": "0",
    # Ctrl-C is caught by ``stop_on_interrupt`` (which hands it on to Tune as SIGUSR1).
    "TUNE_DISABLE_SIGINT_HANDLER": "1",
}


class SweepInterrupted(Exception):
    """Ctrl-C stopped the sweep; its state is saved and the same command resumes it."""

    def __init__(self, summary: SweepSummary) -> None:
        self.summary = summary
        super().__init__(
            f"interrupted: {summary.n_completed} full runs of sweep {summary.study} are saved; "
            "run the same command again to resume it"
        )


def check_address(address: str | None) -> str | None:
    if address is not None and not ADDRESS_PATTERN.match(address):
        raise SweepError(
            f"--address {address!r}: expected host:port, ray://host:port, 'auto' or 'local'"
        )
    return address


def check_data(spec: SweepSpec) -> None:
    """Fail before Ray starts when the dataset is not on this machine's disk."""
    from biril.datasets import REGISTRY, data_root

    train = spec.train
    info = REGISTRY[train.dataset]
    root = data_root(train.data_root)
    missing = [] if train.download else info.missing(root)
    if missing:
        raise SweepError(
            f"{train.dataset}: data not found (missing {missing[0]}). Expected layout under "
            f"{root}: {info.layout}. Put it there, point train.data_root or BIRIL_DATA at it, "
            "or set train.download: true"
        )


def prepare_study(store: SweepLocation, spec: SweepSpec, storage, fresh: bool) -> bool:
    """Clear or check the old study and Tune folder; True when the sweep resumes."""
    from ray.tune import Tuner

    existing = find_study(storage, store.study_name)
    restorable = not fresh and Tuner.can_restore(store.results_dir)
    if fresh or not restorable:
        if existing is not None and not fresh and finished_trials(existing):
            raise SweepError(
                f"study {store.study_name} in {display_url(store.db_url)} has finished trials "
                f"but there is no Tune experiment to resume at {store.results_dir}: pass --fresh "
                "to start over, or --name for a new sweep"
            )
        if existing is not None:
            optuna.delete_study(study_name=store.study_name, storage=storage)
        remove_experiment(store)
        return False
    if existing is None:
        raise SweepError(
            f"{store.results_dir} holds a Tune experiment but {display_url(store.db_url)} has "
            f"no study {store.study_name} (another --db?): pass --fresh to start over"
        )
    if changes(existing.user_attrs.get("spec"), spec):
        raise SweepError(
            f"the spec of sweep {store.study_name} changed since it started: pass --fresh to "
            "start over with the new spec, or --name for a new sweep"
        )
    return True


@contextlib.contextmanager
def own_sweep(store: SweepLocation) -> Iterator[StudyLease]:
    """Hold the sweep's Tune folder (a folder lock, local roots) and its study (a lease in
    the database) for the whole run; a second driver is refused, naming this one."""
    with contextlib.ExitStack() as stack:
        if store.is_local:
            lock = FolderLock(
                Path(store.dataset_dir) / f".{store.sweep}.lock", f"biril sweep {store.sweep}"
            )
            try:
                stack.enter_context(lock)
            except FolderBusy as e:
                raise SweepError(
                    f"sweep {store.study_name} in {store.results_dir} is being run by "
                    f"{describe_holder(e.holder)}: wait for it to finish (`biril best` and "
                    "`biril report` can read it meanwhile), or pass --name for another sweep"
                ) from None
        yield stack.enter_context(StudyLease(store.db_url, store.study_name))


@contextlib.contextmanager
def stop_on_interrupt() -> Iterator[list[bool]]:
    """The first Ctrl-C asks Tune to stop and save (SIGUSR1); a second one kills as usual.

    Yields a one-item list that becomes ``[True]`` once Ctrl-C was pressed.
    """
    pressed = [False]
    if threading.current_thread() is threading.main_thread():
        previous = signal.getsignal(signal.SIGINT)

        def on_sigint(sig, frame) -> None:
            signal.signal(signal.SIGINT, previous)
            if signal.getsignal(signal.SIGUSR1) in (signal.SIG_DFL, None):
                raise KeyboardInterrupt  # Tune is not running yet: stop right here
            pressed[0] = True
            print("stopping: saving the sweep's state (Ctrl-C again to kill)", file=sys.stderr)
            signal.raise_signal(signal.SIGUSR1)

        signal.signal(signal.SIGINT, on_sigint)
        try:
            yield pressed
        finally:
            signal.signal(signal.SIGINT, previous)
    else:
        yield pressed


def start_ray(address: str | None, log_to_driver: bool) -> bool:
    """Join the running Ray, the given cluster, ``$RAY_ADDRESS``, or start a local one.

    Returns whether this call connected (so the sweep must disconnect at the end).
    """
    import ray

    if ray.is_initialized():
        return False
    kwargs: dict[str, Any] = {"log_to_driver": log_to_driver}
    if address is None and not os.environ.get("RAY_ADDRESS"):
        address = "local"  # never attach to some other cluster found on this machine
        kwargs["include_dashboard"] = False
    ray.init(address=address, **kwargs)
    return True


def concurrency(spec: SweepSpec, gpus_per_trial: float) -> int:
    """Trials at once: the spec's limit, else as many as the cluster's resources hold."""
    import ray

    if spec.resources.max_concurrent:
        return spec.resources.max_concurrent
    res = ray.cluster_resources()
    fits = [res.get("CPU", 1) / spec.resources.cpus_per_trial]
    if gpus_per_trial > 0:
        fits.append(res.get("GPU", 0) / gpus_per_trial)
    return max(1, int(min(fits) + 1e-9))


def gpus_per_trial(spec: SweepSpec, packing: Packing | None) -> float:
    """The spec's GPUs per trial, or the measured packing's where the spec says ``auto``."""
    return packing.gpus_per_trial if packing is not None else spec.resources.gpus_per_trial


def plan_packing(spec: SweepSpec, study, address: str | None) -> Packing | None:
    """``gpus_per_trial: auto``: the packing recorded when the sweep started, else a probe.

    A resumed sweep keeps the packing it started with. The probe measures this machine's
    GPU, so a sweep sent to a cluster (``--address``, ``$RAY_ADDRESS``) is refused: the
    cluster's GPUs may differ.
    """
    if spec.resources.gpus_per_trial != "auto":
        return None
    if study is not None and "packing" in study.user_attrs:
        return Packing.model_validate(study.user_attrs["packing"])
    if address is not None or os.environ.get("RAY_ADDRESS"):
        raise PackingError(
            "resources.gpus_per_trial: auto probes this machine's GPU, not a cluster's: "
            "give a number (e.g. 0.25), or run the sweep on the GPU machine itself"
        )
    packing = resolve_packing(
        spec.train.model_dump(mode="json", exclude=set(SWEEP_OWNED)),
        os.cpu_count() or 1,
        spec.resources.cpus_per_trial,
        lambda: steps_per_epoch(spec),
    )
    print(f"resources.gpus_per_trial: auto -> {packing.gpus_per_trial:g} "
          f"({packing.reason})", file=sys.stderr)
    return packing


def steps_per_epoch(spec: SweepSpec) -> int:
    """Training steps in one epoch of the spec's dataset (the trainer's split of it)."""
    from biril.datasets import REGISTRY, data_root
    from biril.datasets.inventory import counts

    train = spec.train
    n = counts(REGISTRY[train.dataset], data_root(train.data_root), train.val_fraction)
    return -(-n["n_train"] // train.batch_size)


def param_space(spec: SweepSpec, gpus_per_trial: float) -> dict:
    """What every trial shares: the trainer settings and its resources."""
    train = spec.train.model_dump(mode="json", exclude={"ratio", "output_dir", "resume_from"})
    if train["data_root"] is not None:
        # Trials run in other working folders (Tune moves them): pin relative paths here.
        train["data_root"] = str(Path(train["data_root"]).expanduser().resolve())
    return {
        "base": {
            "train": train,
            "cpus_per_trial": spec.resources.cpus_per_trial,
            "gpus_per_trial": gpus_per_trial,
        }
    }


def build_tuner(
    spec: SweepSpec,
    store: SweepLocation,
    storage,
    resume: bool,
    callbacks: list,
    packing: Packing | None = None,
):
    from ray import tune
    from ray.tune.schedulers import FIFOScheduler

    from . import internals
    from .budget import BudgetStopper
    from .scheduler import OrderedASHA
    from .searcher import RatioSearch, stage_of
    from .space import warm_start_params
    from .trainable import train_trial, trial_dirname

    gpus = gpus_per_trial(spec, packing)
    trainable = tune.with_resources(
        train_trial, {"cpu": spec.resources.cpus_per_trial, "gpu": gpus}
    )
    if resume:
        tuner = tune.Tuner.restore(
            store.results_dir, trainable, resume_errored=True, param_space=param_space(spec, gpus)
        )
        # The run config comes back from the pickle; the progress display is this run's,
        # and so is its time budget.
        internals.set_run_config(tuner, callbacks=callbacks, stop=BudgetStopper())
        return tuner

    slots = concurrency(spec, gpus)
    warm, skipped = warm_start_params(spec)
    if skipped:
        left_out = ", ".join(skipped)
        print(f"warm start: left out {left_out} (outside the search space)", file=sys.stderr)
    # A grown sweep's study holds its first search trials: the warm starts asked first.
    before = find_study(storage, store.study_name)
    searched = [
        t for t in (before.get_trials(deepcopy=False) if before else [])
        if t.state != optuna.trial.TrialState.WAITING and stage_of(t) == "search"
    ]
    searcher = RatioSearch(spec, storage, store.results_dir, warm[len(searched):])
    study = optuna.load_study(study_name=store.study_name, storage=storage)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        # optuna-dashboard and plots name the objectives instead of "Objective 0".
        study.set_metric_names(spec.metrics)
    for key, value in {
        "dataset": spec.dataset,
        "sweep": spec.name,
        "spec": spec.to_store(),
        "results_dir": store.results_dir,
        STUDY_SLOTS: slots,
        **({"packing": packing.model_dump(mode="json")} if packing else {}),
    }.items():
        study.set_user_attr(key, value)

    if spec.scheduler.type == "asha":
        scheduler = OrderedASHA(
            grace_period=spec.scheduler.grace_period,
            reduction_factor=spec.scheduler.reduction_factor,
            max_t=spec.train.epochs,
        )
        scheduler.preload(searched)
    else:
        scheduler = FIFOScheduler()
    return tune.Tuner(
        trainable,
        param_space=param_space(spec, gpus),
        tune_config=tune.TuneConfig(
            search_alg=searcher,
            scheduler=scheduler,
            num_samples=spec.num_trials,
            max_concurrent_trials=slots,
            reuse_actors=spec.resources.reuse_actors,
            trial_dirname_creator=trial_dirname,
        ),
        run_config=tune.RunConfig(
            name=spec.name,
            storage_path=store.dataset_dir,
            failure_config=tune.FailureConfig(max_failures=spec.failure.max_failures),
            checkpoint_config=tune.CheckpointConfig(num_to_keep=spec.checkpoint.num_to_keep),
            callbacks=callbacks,
            stop=BudgetStopper(),
            verbose=0,
        ),
    )


@contextlib.contextmanager
def tune_env() -> Iterator[None]:
    """Tune's settings for this sweep, set for its run only (Tune reads them from the env)."""
    old = {k: os.environ.get(k) for k in TUNE_ENV}
    os.environ.update(TUNE_ENV)
    try:
        yield
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def run_sweep(
    spec: SweepSpec | str | Path | None = None,
    *,
    storage: str | None = None,
    db: str | None = None,
    name: str | None = None,
    address: str | None = None,
    fresh: bool = False,
    progress: bool = True,
    overrides: Sequence[str] = (),
    db_flag: str = "--db",
) -> SweepSummary:
    """Run (or resume) a ratio sweep and return its summary.

    ``spec``: a ``SweepSpec``, a YAML path, a shipped spec name, or None (digits).
    ``storage``: results root (path or URI); ``db``: Optuna database URL; ``name``:
    sweep name (overrides the spec's); ``address``: Ray cluster to use (else
    ``$RAY_ADDRESS``, else an embedded local Ray, shut down at the end); ``overrides``:
    ``PATH=VALUE`` changes to the spec (``sweeps.overrides``), recorded in its study. ``db_flag``:
    how messages name where ``db`` came from (``$BIRIL_DB``).

    The driver holds the sweep (``own_sweep``) from before it reads the study to the end;
    Ctrl-C stops it with its state saved and raises ``SweepInterrupted``.
    """
    started = time.perf_counter()
    if not isinstance(spec, SweepSpec):
        spec = load_spec(spec)
    spec = apply_overrides(spec, overrides)
    if name is not None:
        spec = parse_spec({**spec.to_store(), "name": name}, source="--name")
    check_address(address)
    check_installed(spec.logging)
    store = resolve_store(spec, storage, db, db_flag)
    if address is None and not os.environ.get("RAY_ADDRESS"):
        check_data(spec)
    try:
        storage_obj = open_storage(store.store, create=True, db_flag=db_flag)
    except StoreError as e:
        raise SweepError(str(e)) from None
    try:
        with own_sweep(store) as lease:
            grown = None if fresh else growth(find_study(storage_obj, store.study_name), spec)
            resume = False if grown else prepare_study(store, spec, storage_obj, fresh)
            # A resumed or grown sweep keeps the packing it started with.
            packing = plan_packing(
                spec, find_study(storage_obj, store.study_name) if resume or grown else None,
                address,
            )
            interrupted = fit(spec, store, storage_obj, resume, address, progress, packing)
            if lease.lost:
                print(
                    f"warning: another driver took over sweep {store.study_name} while this one "
                    "was cut off from the database; check its trials",
                    file=sys.stderr,
                )
        summary = _summary(spec, store, storage_obj, started, grown)
    finally:
        budget.start(None)  # the clock is this run's; none is left for a later one
    if interrupted:
        raise SweepInterrupted(summary)
    return summary


def fit(
    spec: SweepSpec, store: SweepLocation, storage, resume: bool, address, progress: bool,
    packing: Packing | None,
) -> bool:
    """Start (or join) Ray and run the Tune experiment; True if Ctrl-C stopped it."""
    import logging

    import ray
    from ray.tune.logger import CSVLoggerCallback, JsonLoggerCallback

    from .progress import ProgressTable
    from .tracker_loggers import tracker_callbacks

    table = ProgressTable(f"sweep {store.study_name}", spec.num_trials, spec.train.epochs)
    callbacks = [JsonLoggerCallback(), CSVLoggerCallback(), *([table] if progress else [])]
    callbacks += tracker_callbacks(spec.logging, store.study_name, store.results_dir)
    started_ray = start_ray(address, log_to_driver=progress)
    # Tune's own "resume with Tuner.restore(...)" is wrong advice here: the same command is.
    tune_log = logging.getLogger("ray.tune.tune")
    level = tune_log.level
    budget.start(spec.stop.seconds)
    try:
        with tune_env(), stop_on_interrupt() as pressed:
            tune_log.setLevel(logging.ERROR)
            tuner = build_tuner(spec, store, storage, resume, callbacks, packing)
            record_provenance(
                optuna.load_study(study_name=store.study_name, storage=storage), resume
            )
            tuner.fit()
    finally:
        tune_log.setLevel(level)
        table.close()
        if started_ray:
            ray.shutdown()
    return pressed[0]


def _summary(
    spec: SweepSpec, store: SweepLocation, storage_obj, started: float, grown: Growth | None
) -> SweepSummary:
    study = optuna.load_study(study_name=store.study_name, storage=storage_obj)
    return summarize(
        study,
        storage_url=display_url(store.db_url),
        results_dir=store.results_dir,
        expected_search=spec.search.num_trials,
        confirmation=Confirmation.of(spec),
        wall_seconds=time.perf_counter() - started,
        grown=grown,
        stopped_on_budget=budget.spent(),
    )
