"""Run sweeps on Ray clusters: a local multi-node cluster, job submission, cluster files.

>>> from cluster import connect, default_state_dir, start_cluster, submit_sweep
>>> here = default_state_dir()
>>> state, token, _ = start_cluster(here, workers=2)  # doctest: +SKIP
>>> job = submit_sweep(connect(state.dashboard_url, here), "digits")  # doctest: +SKIP

Modules: ``local`` (the cluster on this machine), ``state`` (its record), ``dashboard``
(a checked Jobs API connection), ``submit`` (a sweep as a Ray job), ``auth`` (Ray's token
lookup), ``procs`` (processes by PID); the commands are ``birilcli.cluster``. The launcher
and KubeRay files ship beside them (``aws.yaml``, ``gcp.yaml``, ``kuberay-rayjob.yaml``).

Attributes load lazily (``lazy_loader``) so that ``biril --help`` does not import pydantic or Ray.
"""

import lazy_loader

__getattr__, __dir__, __all__ = lazy_loader.attach(
    __name__,
    submod_attrs={
        "errors": ["ClusterError"],
        "auth": ["Token", "find_token"],
        "dashboard": ["Dashboard", "connect"],
        "state": ["LocalClusterState", "default_state_dir", "read_state"],
        "local": ["kill_node", "start_cluster", "stop_cluster"],
        "submit": ["Submission", "submit_sweep"],
    },
)
