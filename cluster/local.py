"""A real multi-node Ray cluster on this machine: one head and N worker nodes.

Each node is its own ``ray start --block`` process in its own session, with its own CPUs,
GPUs and a ``biril-node`` label, so Ray schedules across them exactly as across machines,
and killing one node's processes is a real node failure. What was started — PIDs with their
kernel start times, ports, log files — is recorded in ``<state dir>/cluster.json``, and
``stop_cluster`` stops exactly those processes and their descendants, by PID.

Isolation from other Ray users on the machine: every port is chosen free rather than Ray's
defaults, and the nodes use their own Ray temp dir, so a plain ``ray.init()`` elsewhere
neither finds this cluster nor collides with it.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from . import procs
from .auth import AUTH_MODE_ENV, Token, ensure_token
from .dashboard import Dashboard, connect
from .errors import ClusterError

STATE_DIR_ENV = "BIRIL_CLUSTER_DIR"
STATE_FILE = "cluster.json"
NODE_LABEL = "biril-node"
# Each node's object store is a slice of this machine's /dev/shm; trials pass results
# through storage, not objects, so a small store leaves the memory to training.
OBJECT_STORE_BYTES = 512 * 1024**2
NODE_START_TIMEOUT_S = 180.0
STOP_GRACE_S = 20.0


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


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as s:
        s.bind(("", 0))
        return s.getsockname()[1]


def visible_gpus() -> list[str]:
    """GPU ids this machine lets us use: ``$CUDA_VISIBLE_DEVICES``, else ``nvidia-smi -L``."""
    env = os.environ.get("CUDA_VISIBLE_DEVICES")
    if env is not None:
        return [g for g in env.split(",") if g.strip()]
    smi = shutil.which("nvidia-smi")
    if smi is None:
        return []
    out = subprocess.run([smi, "-L"], capture_output=True, text=True, check=False).stdout
    return [str(i) for i, line in enumerate(out.splitlines()) if line.startswith("GPU ")]


def split_gpus(gpus: list[str], workers: int, per_worker: int) -> list[str | None]:
    """Disjoint GPU sets per worker when there are enough, as on separate machines.

    With fewer GPUs than ``workers * per_worker`` every worker sees all of them (None: the
    inherited ``CUDA_VISIBLE_DEVICES``), and Ray's per-node GPU counts oversubscribe them.
    """
    if per_worker == 0 or len(gpus) < workers * per_worker:
        return [None] * workers
    return [",".join(gpus[i * per_worker : (i + 1) * per_worker]) for i in range(workers)]


def _port_args() -> list[str]:
    """Every per-node port chosen free: two raylets on one machine cannot share Ray's defaults."""
    args = []
    for flag in (
        "--node-manager-port",
        "--object-manager-port",
        "--metrics-export-port",
        "--dashboard-agent-grpc-port",
        "--dashboard-agent-listen-port",
        "--runtime-env-agent-port",
    ):
        args += [flag, str(free_port())]
    # 0/0: worker processes bind any free port instead of sharing Ray's 10002-19999 pool.
    return args + ["--min-worker-port", "0", "--max-worker-port", "0"]


def node_env(cuda_visible_devices: str | None) -> dict[str, str]:
    """The environment of a node: token auth on, and this Python's ``bin`` first on PATH.

    Job entrypoints run through the node's shell, so ``python`` there must be the Python
    that has this project installed, as after activating its virtualenv.
    """
    env = dict(os.environ)
    env[AUTH_MODE_ENV] = "token"
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    env.pop("RAY_ADDRESS", None)
    if cuda_visible_devices is not None:
        env["CUDA_VISIBLE_DEVICES"] = cuda_visible_devices
    return env


def _start_node(
    args: list[str], role: str, label: str, cpus: int, gpus: int, cuda: str | None, logs: Path
) -> NodeRecord:
    log = logs / f"{label}.log"
    cmd = [sys.executable, "-m", "ray.scripts.scripts", "start", "--block", *args]
    cmd += ["--num-cpus", str(cpus), "--num-gpus", str(gpus)]
    cmd += ["--labels", f"{NODE_LABEL}={label}", "--disable-usage-stats"]
    cmd += ["--object-store-memory", str(OBJECT_STORE_BYTES), *_port_args()]
    with open(log, "w") as out:
        p = subprocess.Popen(
            cmd,
            env=node_env(cuda),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    ticks = procs.start_ticks(p.pid)
    if ticks is None:
        raise ClusterError(f"the {label} node exited at once; see {log}")
    return NodeRecord(
        role=role,
        label=label,
        pid=p.pid,
        start_ticks=ticks,
        cpus=cpus,
        gpus=gpus,
        cuda_visible_devices=cuda,
        log=str(log),
    )


def _wait_for_nodes(
    url: str, state_dir: Path, node: NodeRecord, count: int, deadline: float
) -> Dashboard:
    """Block until the dashboard answers and lists ``count`` alive nodes."""
    dashboard: Dashboard | None = None
    last = "no answer yet"
    while time.monotonic() < deadline:
        if not procs.is_running(node.pid, node.start_ticks):
            raise ClusterError(f"the {node.label} node stopped while starting; see {node.log}")
        try:
            dashboard = dashboard or connect(url, state_dir)
            alive = len(dashboard.alive_nodes())
            if alive >= count:
                return dashboard
            last = f"{alive} of {count} nodes alive"
        except ClusterError as e:  # the dashboard is still starting
            last = str(e)
        time.sleep(1.0)
    raise ClusterError(
        f"the {node.label} node did not join within {NODE_START_TIMEOUT_S:g} s ({last}); "
        f"see {node.log}"
    )


def start_cluster(
    state_dir: Path,
    workers: int,
    cpus_per_worker: int = 1,
    gpus_per_worker: int = 0,
    head_cpus: int = 0,
    dashboard_port: int | None = None,
) -> tuple[LocalClusterState, Token, bool]:
    """Start a head and ``workers`` worker nodes; return the record, token, token-is-new.

    Nodes start one after another, each once the previous one has joined: two raylets
    starting at the same moment on one machine race for the same socket names.
    On any failure everything started so far is stopped again.
    """
    if workers < 1:
        raise ClusterError(f"--workers must be at least 1, got {workers}")
    existing = read_state(state_dir)
    if existing is not None and existing.running():
        raise ClusterError(
            f"a local cluster is already up ({existing.dashboard_url}); "
            "stop it first with `biril cluster down`"
        )
    if existing is not None:
        stop_cluster(state_dir)
    state_dir.mkdir(parents=True, exist_ok=True)
    logs = state_dir / "logs"
    shutil.rmtree(logs, ignore_errors=True)
    logs.mkdir()
    token, generated = ensure_token()
    gpu_sets = split_gpus(visible_gpus(), workers, gpus_per_worker)

    gcs_port = free_port()
    dash_port = dashboard_port or free_port()
    # A short path: Ray's Unix socket paths under it must stay within 107 bytes. Each node
    # gets its own Ray temp dir below it, as on separate machines: nodes sharing one would
    # share one runtime_env cache, and a worker node releasing a job's working_dir would
    # delete it from under the job's driver on the head.
    temp_dir = tempfile.mkdtemp(prefix="biril-ray-", dir="/tmp")
    url = f"http://127.0.0.1:{dash_port}"
    state = LocalClusterState(
        gcs_address="",
        dashboard_url=url,
        ray_temp_dir=temp_dir,
        token_source=token.source,
        started_at=datetime.now(timezone.utc).isoformat(timespec="seconds"),
    )
    try:
        head_args = ["--head", "--port", str(gcs_port), "--temp-dir", f"{temp_dir}/head"]
        head_args += ["--dashboard-host", "127.0.0.1", "--dashboard-port", str(dash_port)]
        head_args += ["--include-dashboard", "true", "--ray-client-server-port", str(free_port())]
        head = _start_node(head_args, "head", "head", head_cpus, 0, None, logs)
        state.nodes.append(head)
        write_state(state_dir, state)
        deadline = time.monotonic() + NODE_START_TIMEOUT_S
        dashboard = _wait_for_nodes(url, state_dir, head, 1, deadline)
        head_ip = dashboard.alive_nodes()[0]["node_ip"]
        state.gcs_address = f"{head_ip}:{gcs_port}"
        write_state(state_dir, state)
        for i in range(workers):
            args = ["--address", state.gcs_address, "--temp-dir", f"{temp_dir}/w{i}"]
            label = f"worker-{i}"
            node = _start_node(
                args, "worker", label, cpus_per_worker, gpus_per_worker, gpu_sets[i], logs
            )
            state.nodes.append(node)
            write_state(state_dir, state)
            deadline = time.monotonic() + NODE_START_TIMEOUT_S
            _wait_for_nodes(url, state_dir, node, i + 2, deadline)
    except BaseException:
        stop_cluster(state_dir)
        raise
    return state, token, generated


def stop_cluster(state_dir: Path) -> tuple[LocalClusterState | None, list[int]]:
    """Stop every process the record names, and their descendants; return record and PIDs.

    Workers get SIGTERM first, then the head (``ray start --block`` shuts its node down
    cleanly on SIGTERM); whatever is still running after a grace period gets SIGKILL.
    Raises if any of those processes survives.
    """
    state = read_state(state_dir)
    if state is None:
        return None, []
    tree = procs.process_tree([n.pid for n in state.running()])
    for node in sorted(state.nodes, key=lambda n: n.role == "head"):
        procs.signal_if_same(node.pid, node.start_ticks, signal.SIGTERM)
    left = procs.wait_gone(tree, STOP_GRACE_S)
    for pid, ticks in left.items():
        procs.signal_if_same(pid, ticks, signal.SIGKILL)
    left = procs.wait_gone(left, 10.0)
    if left:
        raise ClusterError(
            f"processes {sorted(left)} of the local cluster survived SIGKILL; "
            f"the record stays in {state_path(state_dir)}"
        )
    state_path(state_dir).unlink()
    temp = Path(state.ray_temp_dir)
    if temp.parent == Path("/tmp") and temp.name.startswith("biril-ray-"):  # ours alone
        shutil.rmtree(temp, ignore_errors=True)
    return state, sorted(tree)


def kill_node(state_dir: Path, label: str) -> list[int]:
    """SIGKILL one node's processes, as a machine failure would; return their PIDs.

    For fault-tolerance drills: the node is gone without a chance to say goodbye, and the
    cluster has to notice by itself.
    """
    state = read_state(state_dir)
    node = next((n for n in state.nodes if n.label == label), None) if state else None
    if node is None or not procs.is_running(node.pid, node.start_ticks):
        raise ClusterError(f"no running node {label!r} in the local cluster record")
    tree = procs.process_tree([node.pid])
    for pid, ticks in tree.items():
        procs.signal_if_same(pid, ticks, signal.SIGKILL)
    left = procs.wait_gone(tree, 10.0)
    if left:
        raise ClusterError(f"processes {sorted(left)} of node {label} survived SIGKILL")
    return sorted(tree)


def _label(node: dict) -> str:
    return node.get("labels", {}).get(NODE_LABEL, "")


def describe_nodes(state: LocalClusterState | None, dashboard: Dashboard) -> list[dict]:
    """One row per node: label, id, address, state, resources, and our PID when we started it."""
    by_label = {n.label: n for n in state.nodes} if state else {}
    rows = []
    for n in sorted(dashboard.nodes(), key=lambda n: (not n["is_head_node"], _label(n))):
        record = by_label.get(_label(n))
        total = n.get("resources_total", {})
        rows.append(
            {
                "label": _label(n) or ("head" if n["is_head_node"] else ""),
                "node_id": n["node_id"],
                "ip": n["node_ip"],
                "state": n["state"],
                "cpus": total.get("CPU", 0.0),
                "gpus": total.get("GPU", 0.0),
                "pid": record.pid if record else None,
            }
        )
    return rows
