"""A run's checkpoint: written atomically, read without running code, never replaced
unasked, and resumed only into the run it came from.

A checkpoint is plain data: the model's and optimizers' state dicts, the epoch, the
per-epoch history as dicts, and the run's ``TrainConfig`` as ``model_dump()``. Tensors,
numbers, strings, lists and dicts are all that ``torch.load(weights_only=True)`` accepts
without an allow-list, so none is needed, and a file holding anything else (a pickled
object whose loading would run code) is refused before any of it runs.

Everything here is checked before a run loads data or trains, so a mistake costs a
second, not an epoch.
"""

from __future__ import annotations

import contextlib
import os
import pickle
import re
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch

from results.errors import UserError

from .bounded_input import clip
from .config import TrainConfig
from .datasets import REGISTRY
from .folder_lock import FolderBusy, FolderLock, ensure_writable

CHECKPOINT_NAME = "checkpoint.pt"
# The lock a training run holds on its output folder while it runs (biril.folder_lock).
LOCK_NAME = ".biril-train.lock"
CHECKPOINT_KEYS = ("model", "step", "epoch", "history", "config")
# The fields that fix the network, the data it sees and its optimizer's state: a
# checkpoint only continues a run whose values are the same.
FIXED_FIELDS = (
    "dataset",
    "preset",
    "time_steps",
    "v_threshold",
    "reset",
    "alpha",
    "stdp_linear",
    "head_pool",
    "val_fraction",
    "split_seed",
    "train_subset",
    "labeled",
    "optimizer",
)
_UNSAFE_GLOBAL = re.compile(r"Unsupported global: GLOBAL (\S+)")


class CheckpointError(UserError, RuntimeError):
    """A checkpoint or output folder the run cannot use; the message names the file and fix."""


def checkpoint_file(path: str | Path) -> Path:
    """The checkpoint a run folder holds, or ``path`` itself when it names a file."""
    p = Path(path)
    return p / CHECKPOINT_NAME if p.is_dir() else p


def save_checkpoint(path: Path, state: dict) -> None:
    """Write atomically: a crash mid-write never leaves a truncated checkpoint behind.

    The temporary file's name is unique to this write, so no two writers share one.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    # O_EXCL: a name no other writer holds; mode 0o666 less the umask, as open() gives.
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        with os.fdopen(fd, "wb") as f:
            torch.save(state, f)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


@contextlib.contextmanager
def own_output_dir(config: TrainConfig) -> Iterator[None]:
    """Hold the run's output folder (an OS lock, see ``biril.folder_lock``) while it runs.

    Taken before the folder is looked at, so two runs into one folder cannot both find
    "no checkpoint yet"; the second is refused at once, naming the first.
    """
    if not config.output_dir:
        yield
        return
    folder = Path(config.output_dir)
    check_output_dir(folder)
    try:
        lock = FolderLock(folder / LOCK_NAME, "biril train")
        lock.acquire()
    except FolderBusy as e:
        raise CheckpointError(
            f"{e}: wait for that run to end (or stop it), or choose another --output-dir"
        ) from None
    try:
        yield
    finally:
        lock.release()


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    """The checkpoint at ``path`` (a file or a run folder), read as plain data only."""
    p = checkpoint_file(path)
    if not p.is_file():
        raise CheckpointError(
            f"no checkpoint at {p} to resume: drop --resume to start a new run, or point "
            "--output-dir at the run to continue"
        )
    try:
        state = torch.load(p, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        unsafe = _UNSAFE_GLOBAL.search(str(e))
        if unsafe:
            raise CheckpointError(
                f"{p} holds a Python object ({unsafe.group(1)}) that no checkpoint contains; "
                "it was refused unread, nothing in it ran. Delete it, or use another "
                "--output-dir"
            ) from None
        raise CheckpointError(f"{p} is not a file torch.save wrote: delete it") from None
    except (RuntimeError, EOFError, ValueError, OSError) as e:
        raise CheckpointError(
            f"{p} is truncated or corrupt ({_reason(e)}): delete it, or pass --overwrite "
            "to start the run over"
        ) from None
    missing = [k for k in CHECKPOINT_KEYS if not isinstance(state, dict) or k not in state]
    if missing:
        raise CheckpointError(
            f"{p} is not a checkpoint of biril train (it lacks {', '.join(missing)}); delete "
            "it, or pass --overwrite to start the run over"
        )
    return state


def prepare_checkpoint(config: TrainConfig) -> dict[str, Any] | None:
    """Check the run's checkpoints before any work; the state to resume from, if any.

    The output folder must be a writable folder; a checkpoint already in it is replaced
    only by the run it came from (``resume_from``) or when ``overwrite`` says so; the
    checkpoint resumed from must be readable and from a run with the same ``FIXED_FIELDS``.
    """
    if config.resume_from and config.overwrite:
        raise CheckpointError(
            "--resume continues the checkpoint and --overwrite replaces it: pass one of them"
        )
    if config.output_dir:
        folder = Path(config.output_dir)
        check_output_dir(folder)
        check_is_file(folder / CHECKPOINT_NAME)
        check_no_overwrite(folder / CHECKPOINT_NAME, config)
    if not config.resume_from:
        return None
    state = load_checkpoint(config.resume_from)
    check_fits(state["config"], config, checkpoint_file(config.resume_from))
    return state


def check_output_dir(folder: Path) -> None:
    """A folder the checkpoints can be written to (created if new), else why not."""
    try:
        if folder.exists() and not folder.is_dir():
            raise CheckpointError(
                f"--output-dir {clip(folder)} is a file, not a folder: choose another "
                "--output-dir"
            )
        ensure_writable(folder)
    except OSError as e:
        raise CheckpointError(
            f"--output-dir {clip(folder)}: cannot write there ({e.strerror or e}); choose a "
            "folder you can write to, with a shorter path if it is too long"
        ) from None


def check_is_file(target: Path) -> None:
    """A checkpoint path that is a folder (or a device, a pipe) can never be written."""
    if target.exists() and not target.is_file():
        raise CheckpointError(
            f"{clip(target)} is a folder, not a checkpoint, so the run could not save there: "
            "move it away, or choose another --output-dir"
        )


def check_no_overwrite(target: Path, config: TrainConfig) -> None:
    """Refuse to replace a checkpoint the run neither resumes nor was told to overwrite."""
    if not target.exists() or config.overwrite:
        return
    if config.resume_from and checkpoint_file(config.resume_from).resolve() == target.resolve():
        return
    raise CheckpointError(
        f"{target} already holds a checkpoint: pass --resume to continue that run, "
        "--overwrite to replace it, or another --output-dir"
    )


def fixed_fields(fields: dict[str, Any]) -> dict[str, Any]:
    """``FIXED_FIELDS`` of a config dict, the dataset's defaults filled in for ``None``."""
    values = {f: fields.get(f, TrainConfig.model_fields[f].default) for f in FIXED_FIELDS}
    info = REGISTRY.get(values["dataset"])
    if info is not None:
        values["preset"] = values["preset"] or info.preset
        values["time_steps"] = values["time_steps"] or info.time_steps
    return values


def check_fits(recorded: dict[str, Any], config: TrainConfig, path: Path) -> None:
    """Refuse to continue a checkpoint in a run with another network, data or optimizer."""
    before, now = fixed_fields(recorded), fixed_fields(config.model_dump())
    changed = [f for f in FIXED_FIELDS if before[f] != now[f]]
    if changed:
        was = ", ".join(f"{f}={before[f]}" for f in changed)
        asked = ", ".join(f"{f}={now[f]}" for f in changed)
        raise CheckpointError(
            f"{path} was trained with {was}, but this run has {asked}: resume with the "
            "same values, or drop --resume and pass --overwrite to start over"
        )


def load_states(state: dict[str, Any], model: torch.nn.Module, step: Any, path: str) -> None:
    """Load the checkpoint's model and optimizer states; one line if they do not fit."""
    try:
        model.load_state_dict(state["model"])
        step.load_state_dict(state["step"])
    except (RuntimeError, KeyError, ValueError) as e:
        raise CheckpointError(
            f"{checkpoint_file(path)} does not fit this network ({_reason(e)}); resume "
            "with the settings it was trained with, or pass --overwrite to start over"
        ) from None


def _reason(e: BaseException) -> str:
    """torch's message cut to its point: the first line that is not a heading, one sentence."""
    lines = [line.strip() for line in str(e).splitlines() if line.strip()]
    point = next((line for line in lines if not line.endswith(":")), type(e).__name__)
    return point.split(". ")[0]
