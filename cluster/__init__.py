"""Run sweeps on Ray clusters: a local multi-node cluster, job submission, cluster files.

>>> from cluster import connect, default_state_dir, start_cluster, submit_sweep
>>> here = default_state_dir()
>>> state, token, _ = start_cluster(here, workers=2)  # doctest: +SKIP
>>> job = submit_sweep(connect(state.dashboard_url, here), "digits")  # doctest: +SKIP

Modules: ``local`` (the cluster on this machine), ``state`` (its record), ``dashboard``
(a checked Jobs API connection), ``submit`` (a sweep as a Ray job), ``auth`` (Ray's token
lookup), ``procs`` (processes by PID); the commands are ``birilcli.cluster``. The launcher
and KubeRay files ship beside them (``aws.yaml``, ``gcp.yaml``, ``kuberay-rayjob.yaml``).

Attributes load lazily so that ``biril --help`` does not import pydantic or Ray.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

_EXPORTS = {
    "ClusterError": "errors",
    "Token": "auth",
    "find_token": "auth",
    "Dashboard": "dashboard",
    "connect": "dashboard",
    "LocalClusterState": "state",
    "default_state_dir": "state",
    "kill_node": "local",
    "read_state": "state",
    "start_cluster": "local",
    "stop_cluster": "local",
    "Submission": "submit",
    "submit_sweep": "submit",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'cluster' has no attribute {name!r}")
    return getattr(import_module(f".{_EXPORTS[name]}", __name__), name)
