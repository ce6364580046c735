"""The record of the local cluster ``biril cluster up`` started: which processes, where.

``<state dir>/cluster.json`` lists every node process (PID with its kernel start time,
ports, log file), so ``down`` stops exactly those, and ``dashboard`` finds the local
cluster's address without importing the module that starts it.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from . import procs
from .errors import ClusterError

STATE_DIR_ENV = "BIRIL_CLUSTER_DIR"
STATE_FILE = "cluster.json"


def default_state_dir() -> Path:
    """``$BIRIL_CLUSTER_DIR``, else ``~/.biril/cluster``."""
    return Path(os.environ.get(STATE_DIR_ENV) or Path.home() / ".biril" / "cluster")


class NodeRecord(BaseModel):
    """One ``ray start`` process this package started."""

    model_config = ConfigDict(extra="forbid")

    role: Literal["head", "worker"]
    label: str
    pid: int
    start_ticks: int
    cpus: int
    gpus: int
    cuda_visible_devices: str | None = None
    log: str


class LocalClusterState(BaseModel):
    """What ``biril cluster up`` started; ``down`` reads it to stop exactly that."""

    model_config = ConfigDict(extra="forbid")

    gcs_address: str
    dashboard_url: str
    ray_temp_dir: str
    token_source: str
    started_at: str
    nodes: list[NodeRecord] = Field(default_factory=list)

    def running(self) -> list[NodeRecord]:
        return [n for n in self.nodes if procs.is_running(n.pid, n.start_ticks)]


def state_path(state_dir: Path) -> Path:
    return state_dir / STATE_FILE


def read_state(state_dir: Path) -> LocalClusterState | None:
    """The recorded local cluster, or None if none was started from ``state_dir``."""
    path = state_path(state_dir)
    if not path.is_file():
        return None
    try:
        return LocalClusterState.model_validate_json(path.read_bytes())
    except ValidationError as e:
        problem = e.errors()[0]
        where = ".".join(str(p) for p in problem["loc"])
        raise ClusterError(
            f"{path} is not a record of `biril cluster up` ({where + ': ' if where else ''}"
            f"{problem['msg']}): stop any Ray processes it started by hand, then delete it, "
            f"or set {STATE_DIR_ENV} to another folder"
        ) from None


def write_state(state_dir: Path, state: LocalClusterState) -> None:
    """Write the record atomically, so a crash mid-write never loses the PIDs."""
    path = state_path(state_dir)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(state.model_dump_json(indent=2))
    tmp.replace(path)
