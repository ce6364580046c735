"""``biril cluster up|down|status``, ``biril submit``, ``biril jobs list|status|logs|stop``.

Only click, the standard library and a constant of the results contract load at import
time, so ``biril --help`` stays fast; Ray loads inside the commands. Every failure the user
can fix raises ``ClusterError``, which ``biril`` prints as one line ``error: …`` on stderr
with exit status 2; a job that ends in anything but SUCCEEDED makes ``submit --wait`` exit
with status 1.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click

from results.database import DB_ENV

ADDRESS_HELP = (
    "Ray dashboard / Jobs API, http://HOST:PORT (default: $RAY_API_SERVER_ADDRESS, "
    "else the local cluster from `biril cluster up`)"
)


def _one_line(e: BaseException) -> str:
    text = str(e).strip() or type(e).__name__
    return text.splitlines()[0]


def _state_dir() -> Path:
    from cluster.state import default_state_dir

    return default_state_dir()


def _connect(address: str | None) -> Any:
    import logging

    from cluster.dashboard import connect

    # Ray's client logs every packaging step at INFO; the commands say what matters.
    logging.getLogger("ray").setLevel(logging.WARNING)
    return connect(address, _state_dir())


address_option = click.option("--address", default=None, metavar="URL", help=ADDRESS_HELP)


# ----------------------------------------------------------------------------- cluster


@click.group("cluster")
def cluster_group() -> None:
    """A real multi-node Ray cluster on this machine (head + worker nodes).

    What it starts is recorded in $BIRIL_CLUSTER_DIR (default ~/.biril/cluster).
    """


@cluster_group.command("up")
@click.option("--workers", default=2, show_default=True, type=click.IntRange(min=1))
@click.option("--cpus-per-worker", default=1, show_default=True, type=click.IntRange(min=1))
@click.option("--gpus-per-worker", default=0, show_default=True, type=click.IntRange(min=0))
@click.option(
    "--head-cpus",
    default=0,
    show_default=True,
    type=click.IntRange(min=0),
    help="CPUs the head offers to trials (0 keeps trials on the workers)",
)
@click.option("--dashboard-port", default=None, type=int, help="default: a free port")
def up_command(
    workers: int,
    cpus_per_worker: int,
    gpus_per_worker: int,
    head_cpus: int,
    dashboard_port: int | None,
) -> None:
    """Start a Ray head and WORKERS worker nodes here, with token authentication on."""
    from cluster.auth import AUTH_MODE_ENV
    from cluster.local import start_cluster
    from cluster.state import state_path

    state_dir = _state_dir()
    state, token, generated = start_cluster(
        state_dir, workers, cpus_per_worker, gpus_per_worker, head_cpus, dashboard_port
    )
    url = state.dashboard_url
    made = " (generated now)" if generated else ""
    gpu_note = ""
    worker_gpus = [n.cuda_visible_devices for n in state.nodes if n.role == "worker"]
    if gpus_per_worker and None in worker_gpus:
        gpu_note = "  (fewer GPUs than workers x GPUs: the workers share them)"
    click.echo(
        f"local Ray cluster up: head ({head_cpus} CPUs) + {workers} workers "
        f"({cpus_per_worker} CPU, {gpus_per_worker} GPU each){gpu_note}\n"
        f"  dashboard / Jobs API  {url}\n"
        f"  GCS address           {state.gcs_address}\n"
        f"  authentication        token from {token.source}{made}; send it as "
        f"'Authorization: Bearer <token>' (biril does); for Ray's own CLI/SDK also "
        f"export {AUTH_MODE_ENV}=token\n"
        f"  submit a sweep        biril submit digits --address {url}\n"
        f"  nodes                 biril cluster status\n"
        f"  stop it               biril cluster down\n"
        f"  record                {state_path(state_dir)}"
    )


@cluster_group.command("down")
def down_command() -> None:
    """Stop exactly the processes `biril cluster up` started (by PID), and check they are gone."""
    from cluster.local import stop_cluster

    state, pids = stop_cluster(_state_dir())
    if state is None:
        click.echo(f"no local cluster recorded in {_state_dir()}; nothing to stop")
        return
    click.echo(
        f"stopped the local cluster at {state.dashboard_url}: {len(state.nodes)} nodes, "
        f"{len(pids)} processes, none left running"
    )


@cluster_group.command("status")
@address_option
@click.option("--json", "as_json", is_flag=True, help="print the nodes as JSON")
def status_command(address: str | None, as_json: bool) -> None:
    """Show the cluster's nodes and resources (the local cluster unless --address)."""
    from cluster.local import describe_nodes
    from cluster.state import read_state

    state = None if address else read_state(_state_dir())
    rows = describe_nodes(state, _connect(address))
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    click.echo(f"{'node':<10} {'node id':<14} {'ip':<16} {'state':<6} {'CPU':>5} {'GPU':>5}  pid")
    for r in rows:
        pid = "" if r["pid"] is None else str(r["pid"])
        click.echo(
            f"{r['label']:<10} {r['node_id'][:12]:<14} {r['ip']:<16} {r['state']:<6} "
            f"{r['cpus']:>5g} {r['gpus']:>5g}  {pid}"
        )
    alive = [r for r in rows if r["state"] == "ALIVE"]
    click.echo(
        f"{len(alive)} alive nodes: {sum(r['cpus'] for r in alive):g} CPUs, "
        f"{sum(r['gpus'] for r in alive):g} GPUs"
    )


# ----------------------------------------------------------------------------- submit


def _follow(dashboard: Any, job_id: str) -> str:
    """Print the job's log as it grows; Ctrl-C stops following, not the job."""
    from cluster.submit import follow_logs

    try:
        return follow_logs(dashboard, job_id, lambda s: click.echo(s, nl=False))
    except KeyboardInterrupt:
        click.echo(f"\nstopped following; the job runs on (biril jobs stop {job_id})", err=True)
        sys.exit(130)


def _wait_for(dashboard: Any, job_id: str) -> None:
    status = _follow(dashboard, job_id)
    if status != "SUCCEEDED":
        info = dashboard.jobs.get_job_info(job_id)
        click.echo(f"error: job {job_id} ended {status}: {_one_line(info.message or '')}", err=True)
        sys.exit(1)
    click.echo(f"job {job_id} SUCCEEDED")


@click.command("submit")
@click.argument("spec")
@address_option
@click.option(
    "--storage",
    default=None,
    metavar="URI",
    help="results root every node can reach (default: $BIRIL_RESULTS, else ./biril-results)",
)
@click.option("--name", default=None, help="sweep name (default: the spec's)")
@click.option(
    "--db",
    default=None,
    metavar="URL",
    envvar=DB_ENV,
    help=f"Optuna database URL (needed for URIs; default: ${DB_ENV}); the job gets it as "
    f"${DB_ENV}, never on its command line",
)
@click.option(
    "--db-env",
    default=None,
    metavar="VAR",
    help="read the database URL from the environment variable VAR (keeps a password off "
    "your command line too)",
)
@click.option(
    "--shared-storage",
    is_flag=True,
    help="--storage is a shared filesystem path mounted on every node",
)
@click.option("--wait", is_flag=True, help="follow the log; exit non-zero unless it succeeds")
def submit_command(
    spec: str,
    address: str | None,
    storage: str | None,
    name: str | None,
    db: str | None,
    db_env: str | None,
    shared_storage: bool,
    wait: bool,
) -> None:
    """Run the sweep SPEC (a shipped spec name or a YAML file) as a job on a Ray cluster.

    Submitting the same sweep again (same storage and name) resumes it.
    """
    from cluster.submit import database_url, load_sweep, submit_sweep

    sweep, spec_file = load_sweep(spec, name)
    db = database_url(db, db_env)
    dashboard = _connect(address)
    sub = submit_sweep(dashboard, sweep, spec_file, storage, db, shared_storage, name)
    click.echo(
        f"job {sub.job_id} submitted to {sub.dashboard_url}\n"
        f"  sweep {sub.study}, results in {sub.storage}\n"
        f"  follow it: biril jobs logs {sub.job_id} --follow --address {sub.dashboard_url}"
    )
    if wait:
        _wait_for(dashboard, sub.job_id)


# ----------------------------------------------------------------------------- jobs


@click.group("jobs")
def jobs_group() -> None:
    """Jobs on a Ray cluster: list, status, logs, stop."""


@jobs_group.command("list")
@address_option
def jobs_list(address: str | None) -> None:
    """Every job the cluster knows, oldest first."""
    dashboard = _connect(address)
    jobs = sorted(dashboard.jobs.list_jobs(), key=lambda j: j.start_time or 0)
    click.echo(f"{'job id':<44} {'status':<10} sweep / entrypoint")
    for j in jobs:
        what = (j.metadata or {}).get("biril_study") or j.entrypoint
        click.echo(f"{j.submission_id or j.job_id or '':<44} {j.status.value:<10} {what}")


@jobs_group.command("status")
@click.argument("job_id")
@address_option
def jobs_status(job_id: str, address: str | None) -> None:
    """A job's status and, when it ended, why."""
    info = _connect(address).jobs.get_job_info(job_id)
    line = f"{job_id} {info.status.value}"
    if info.message:
        line += f": {_one_line(info.message)}"
    click.echo(line)


@jobs_group.command("logs")
@click.argument("job_id")
@address_option
@click.option("--follow", "-f", is_flag=True, help="keep printing until the job ends")
def jobs_logs(job_id: str, address: str | None, follow: bool) -> None:
    """A job's log (the sweep's output)."""
    dashboard = _connect(address)
    if follow:
        _follow(dashboard, job_id)
    else:
        click.echo(dashboard.jobs.get_job_logs(job_id), nl=False)


@jobs_group.command("stop")
@click.argument("job_id")
@address_option
def jobs_stop(job_id: str, address: str | None) -> None:
    """Ask the cluster to stop a job (its sweep resumes when submitted again)."""
    stopped = _connect(address).jobs.stop_job(job_id)
    click.echo(f"{job_id}: stop requested" if stopped else f"{job_id}: already finished")
