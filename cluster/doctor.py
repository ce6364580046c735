"""``biril doctor``: every machine check in one list, and the same list from every node.

``machine_checks`` is what ``biril doctor`` reports for this machine: the trainer's checks
(``biril.doctor``), the results store's (``sweeps.doctor``) and the Ray token's. With
``--address`` the same function runs on every alive node of a Ray cluster: a Ray job (sent
through the dashboard, as ``biril submit`` sends sweeps, so the nodes run the code you have
here) starts one zero-CPU task per node, pinned to it by ``NodeAffinitySchedulingStrategy``,
and prints what the tasks return. Each node's Python, torch and Ray are then compared with
this machine's, the one that submits the sweep: a node that differs gets a failing check.

Only the standard library is imported here; Ray loads inside the functions that use it.
"""

from __future__ import annotations

import json
import shlex
import socket
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from biril.doctor import Check, first_line, trainer_checks

MARKER = "BIRIL-DOCTOR-NODES "
JOB_TIMEOUT_S = 300.0
# Versions that must match across a cluster: Ray refuses mixed Ray or Python versions,
# and a trial resumed on another node loads a checkpoint written by that node's torch.
MUST_MATCH = ("python", "torch", "ray")


def token_check() -> Check:
    """Whether this machine has a Ray auth token, and from where (never its value)."""
    from .auth import HOW_TO_SET, find_token
    from .errors import ClusterError

    try:
        token = find_token()
    except ClusterError as e:  # Ray itself aborts on an unreadable token file
        return Check("ray token", False, str(e), fix=HOW_TO_SET, required=True)
    if token is None:
        return Check(
            "ray token",
            False,
            "none found: a cluster with token authentication will refuse this machine "
            "(a local Ray generates its own)",
            fix=HOW_TO_SET,
        )
    return Check("ray token", True, f"found in {token.source} (value not shown)")


def machine_checks(
    data_root: str | None = None,
    dataset: str | None = None,
    storage: str | None = None,
    db: str | None = None,
    database: bool = True,
) -> list[Check]:
    """Every check of this machine: packages, GPUs, compile, data, results store, token.

    ``database=False`` leaves the database out: on a cluster only the sweep's driver
    writes it, and a ``--db`` URL may hold a password that must not travel in a job.
    """
    from sweeps.doctor import storage_checks

    store = storage_checks(storage, db, database)
    return [*trainer_checks(data_root, dataset), *store, token_check()]


def node_report(options: dict[str, Any]) -> dict[str, Any]:
    """What one node's task returns: where it ran and its checks, as JSON-ready data."""
    import ray

    return {
        "node_id": ray.get_runtime_context().get_node_id(),
        "hostname": socket.gethostname(),
        "checks": [c.to_dict() for c in machine_checks(**options)],
    }


def run_on_nodes(options: dict[str, Any], timeout: float) -> dict[str, dict[str, Any]]:
    """``node_report`` on every alive node, one task each; a node that fails says why.

    Runs as the Ray job's driver. Zero CPUs, so a node busy with trials (or a head that
    offers none) still answers; zero GPUs, which leaves the node's own GPUs visible.
    """
    import ray
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    task = ray.remote(num_cpus=0)(node_report)
    nodes = [n["NodeID"] for n in ray.nodes() if n["Alive"]]
    refs = {
        node: task.options(
            scheduling_strategy=NodeAffinitySchedulingStrategy(node, soft=False)
        ).remote(options)
        for node in nodes
    }
    deadline = time.monotonic() + timeout
    reports = {}
    for node, ref in refs.items():
        try:
            reports[node] = ray.get(ref, timeout=max(1.0, deadline - time.monotonic()))
        except ray.exceptions.GetTimeoutError:
            reports[node] = {"node_id": node, "error": f"no answer within {timeout:g} s"}
        except ray.exceptions.RayError as e:
            reports[node] = {"node_id": node, "error": first_line(e)}
    return reports


def main(argv: list[str]) -> None:
    """The Ray job's entry point: ``python -m cluster.doctor OPTIONS_JSON``."""
    import ray

    request = json.loads(argv[0])
    ray.init(log_to_driver=False)
    try:
        reports = run_on_nodes(request["options"], request["timeout"])
    finally:
        ray.shutdown()
    print(MARKER + json.dumps(reports), flush=True)


def check_cluster(
    address: str | None, options: dict[str, Any], timeout: float = JOB_TIMEOUT_S
) -> dict[str, Any]:
    """This machine's checks, and every node's with its version differences.

    Returns ``{"dashboard": url, "here": [checks], "nodes": [{label, node_id, ip,
    hostname, checks | error}]}``; raises ``ClusterError`` when the cluster cannot be asked.
    """
    import logging

    from results.layout import results_root

    from .dashboard import connect
    from .local import describe_nodes
    from .state import default_state_dir, read_state

    state_dir = default_state_dir()
    dashboard = connect(address, state_dir)
    # Ray's client logs every packaging step at INFO (once imported, which connect does);
    # the report says what matters.
    logging.getLogger("ray").setLevel(logging.WARNING)
    here = machine_checks(**options)
    # The nodes check the results root the sweep would get, resolved here as `biril submit`
    # resolves it, not one relative to the job's own folder.
    options = {**options, "storage": results_root(options.get("storage"))}
    state = None if address else read_state(state_dir)
    rows = [r for r in describe_nodes(state, dashboard) if r["state"] == "ALIVE"]
    reports = ask_nodes(dashboard, options, timeout)
    nodes = []
    for row in rows:
        report = reports.get(row["node_id"], {"error": "the job saw no such alive node"})
        node = {k: row[k] for k in ("label", "node_id", "ip")}
        if "error" in report:
            nodes.append({**node, "error": report["error"]})
            continue
        # Where the task says it ran: the node it was pinned to, or the pinning failed.
        node["ran_on"] = report["node_id"]
        checks = [Check(**c) for c in report["checks"]]
        checks += version_differences(here, checks)
        nodes.append(
            {**node, "hostname": report["hostname"], "checks": [c.to_dict() for c in checks]}
        )
    return {
        "dashboard": dashboard.url,
        "here": [c.to_dict() for c in here],
        "nodes": nodes,
    }


@contextmanager
def shipped_project() -> Iterator[dict[str, Any]]:
    """The job's runtime env: this checkout's allow-listed files, as ``biril submit`` ships
    them (an installed copy ships nothing and runs the nodes' own installation)."""
    from .submit import project_root, stage_project

    runtime_env: dict[str, Any] = {"env_vars": {"PYTHONUNBUFFERED": "1"}}
    root = project_root()
    if root is None:
        yield runtime_env
        return
    with tempfile.TemporaryDirectory(prefix="biril-doctor-") as staged:
        stage_project(root, Path(staged))
        yield {**runtime_env, "working_dir": staged}


def ask_nodes(dashboard, options: dict[str, Any], timeout: float) -> dict[str, dict[str, Any]]:
    """Submit the doctor job, wait for it, and read the nodes' reports from its log."""
    from .errors import ClusterError

    node_options = {**options, "db": None, "database": False}
    request = json.dumps({"options": node_options, "timeout": timeout})
    command = f"python -m cluster.doctor {shlex.quote(request)}"
    with shipped_project() as runtime_env:
        job = dashboard.jobs.submit_job(entrypoint=command, runtime_env=runtime_env)
    deadline = time.monotonic() + timeout + 60.0  # the job's own start-up on top
    while True:
        status = dashboard.jobs.get_job_status(job)
        if status.is_terminal():
            break
        if time.monotonic() > deadline:
            dashboard.jobs.stop_job(job)
            raise ClusterError(f"the doctor job {job} did not finish within {timeout:g} s")
        time.sleep(1.0)
    logs = dashboard.jobs.get_job_logs(job)
    line = next((x for x in logs.splitlines() if x.startswith(MARKER)), None)
    if line is None:
        last = logs.strip().splitlines()[-1] if logs.strip() else "no output"
        raise ClusterError(f"the doctor job {job} ended {status.value}: {last}")
    return json.loads(line.removeprefix(MARKER))


def version_differences(here: list[Check], node: list[Check]) -> list[Check]:
    """One failing check per ``MUST_MATCH`` version that differs from this machine's."""
    mine = {c.name: c.detail.get("version") for c in here}
    theirs = {c.name: c.detail.get("version") for c in node}
    return [
        Check(
            f"{name} = driver's",
            False,
            f"{theirs.get(name) or 'missing'} on this node, {mine.get(name) or 'missing'} here",
            fix=f"install the same {name} version on every node and the driver",
            required=True,
        )
        for name in MUST_MATCH
        if theirs.get(name) != mine.get(name)
    ]


def summary_table(report: dict[str, Any]):
    """One row per node: the versions that must match, its GPUs, and what fails there."""
    from rich.table import Table

    table = Table(title=f"cluster {report['dashboard']}")
    for col in ("node", "ip", *MUST_MATCH, "cuda", "GPUs", "failing (required)"):
        table.add_column(col)
    mine = {c["name"]: c for c in report["here"]}
    versions = [mine[n]["message"] if n in mine else "-" for n in MUST_MATCH]
    table.add_row("(here)", "", *versions, cuda_cell(mine.get("cuda")))
    for node in report["nodes"]:
        if "error" in node:
            table.add_row(node["label"], node["ip"], f"[red]{node['error']}")
            continue
        found = {c["name"]: c for c in node["checks"]}
        cells = [
            (f"[red]{found[n]['message']}" if f"{n} = driver's" in found else found[n]["message"])
            if n in found
            else "-"
            for n in MUST_MATCH
        ]
        gpus = sum(1 for name in found if name.startswith("gpu "))
        failing = [c["name"] for c in node["checks"] if c["required"] and not c["ok"]]
        table.add_row(
            node["label"] or node["node_id"][:12],
            node["ip"],
            *cells,
            cuda_cell(found.get("cuda")),
            str(gpus),
            f"[red]{', '.join(failing)}" if failing else "none",
        )
    return table


def cuda_cell(check: dict | None) -> str:
    """The CUDA version torch was built for, and whether a GPU answered."""
    if check is None:
        return "-"
    version = check["detail"].get("version") or "CPU build"
    return version if check["ok"] else f"{version}, no GPU"


if __name__ == "__main__":
    main(sys.argv[1:])
