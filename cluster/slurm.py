"""``biril cluster slurm``: an ``sbatch`` script that runs a sweep on N nodes × G GPUs.

Most university GPU clusters schedule with SLURM. The script follows Ray's documented SLURM
recipe (https://docs.ray.io/en/latest/cluster/vms/user-guides/community/slurm.html): one
task per node, the Ray head started with ``srun`` on the allocation's first node, a worker
on each of the others, all ``--block`` in the background. Then it waits until every node has
joined, runs ``biril doctor --address`` (every node checked, versions compared with the
driver's) and the sweep, whose driver runs on the first node. On exit, however it ends, it
stops the nodes it started by the PIDs of their ``srun`` steps, nothing else.

Site-specific knobs are environment variables read when the job runs: ``BIRIL_RAY_PORT``
and ``BIRIL_DASHBOARD_PORT`` (defaults 6379 and 8265), ``BIRIL_RAY_START_ARGS`` (more
``ray start`` options for every node, e.g. ports or ``--temp-dir``), ``BIRIL_NODE_TIMEOUT``
(seconds to wait for the nodes, default 300). A database URL is never written into the
script (it may hold a password): the sweep reads ``$BIRIL_DB`` from the job's environment,
which ``sbatch`` passes on from the shell that submits it. Ray's token authentication is on, as for
``biril cluster up``: the token is ``$RAY_AUTH_TOKEN`` or ``~/.ray/auth_token`` (generated
there on first use, which a shared home carries to every node).
"""

from __future__ import annotations

import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from .errors import ClusterError

TIME_FORMAT = "HH:MM:SS or D-HH:MM:SS"


@dataclass(frozen=True)
class SlurmJob:
    """What the allocation holds and which sweep it runs."""

    spec: str
    nodes: int = 1
    gpus_per_node: int = 0
    cpus_per_node: int = 8
    time: str = "04:00:00"
    partition: str | None = None
    account: str | None = None
    storage: str | None = None
    overrides: tuple[str, ...] = ()
    dataset: str | None = None
    python: str = field(default_factory=lambda: sys.executable)

    def check(self) -> None:
        """Bad numbers fail here, before a script is written or submitted."""
        if self.nodes < 1:
            raise ClusterError(f"--nodes must be at least 1, got {self.nodes}")
        if self.gpus_per_node < 0 or self.cpus_per_node < 1:
            raise ClusterError("--gpus-per-node must be >= 0 and --cpus-per-node >= 1")
        parts = self.time.replace("-", ":").split(":")
        if not (2 <= len(parts) <= 4 and all(p.isdigit() for p in parts)):
            raise ClusterError(f"--time {self.time!r}: expected {TIME_FORMAT}")


def _directives(job: SlurmJob, name: str) -> list[str]:
    lines = [
        f"#SBATCH --job-name={name}",
        f"#SBATCH --nodes={job.nodes}",
        "#SBATCH --exclusive",
        "#SBATCH --ntasks-per-node=1",
        f"#SBATCH --cpus-per-task={job.cpus_per_node}",
        f"#SBATCH --time={job.time}",
        "#SBATCH --output=%x-%j.log",
    ]
    if job.gpus_per_node:
        lines.append(f"#SBATCH --gpus-per-task={job.gpus_per_node}")
    if job.partition:
        lines.append(f"#SBATCH --partition={job.partition}")
    if job.account:
        lines.append(f"#SBATCH --account={job.account}")
    return lines


def sbatch_script(job: SlurmJob, name: str) -> str:
    """The batch script's text (see the module docstring for what it does)."""
    job.check()
    q = shlex.quote
    sweep = ["sweep", job.spec, "--address", '"$ip_head"']
    doctor = ["doctor", "--address", '"http://$head_ip:$dashboard_port"']
    if job.storage:
        sweep += ["--storage", q(job.storage)]
        doctor += ["--storage", q(job.storage)]
    if job.dataset:
        doctor += ["--dataset", q(job.dataset)]
    for assignment in job.overrides:
        sweep += ["--set", q(assignment)]
    node = f"--num-cpus {job.cpus_per_node} --num-gpus {job.gpus_per_node}"
    body = f"""\
set -euo pipefail
# Written by `biril cluster slurm`: Ray's SLURM recipe, then `biril doctor` and the sweep.
PYTHON=${{BIRIL_PYTHON:-{q(job.python)}}}
export PATH="$(dirname "$PYTHON"):$PATH"  # Ray jobs' `python` is this one too
RAY=("$PYTHON" -m ray.scripts.scripts)
BIRIL=("$PYTHON" -m birilcli)
port=${{BIRIL_RAY_PORT:-6379}}
dashboard_port=${{BIRIL_DASHBOARD_PORT:-8265}}
read -r -a extra <<< "${{BIRIL_RAY_START_ARGS:-}}"
export RAY_AUTH_MODE=token
if [ -z "${{RAY_AUTH_TOKEN:-}}" ]; then "${{RAY[@]}}" get-auth-token --generate > /dev/null; fi

mapfile -t nodes < <(scontrol show hostnames "$SLURM_JOB_NODELIST")
head_node=${{nodes[0]}}
head_ip=$(srun --nodes=1 --ntasks=1 -w "$head_node" hostname --ip-address | awk '{{print $1}}')
ip_head=$head_ip:$port
echo "ray head: $head_node ($ip_head), ${{#nodes[@]}} node(s)"

pids=()
stop_nodes() {{  # the srun steps this script started, by PID: each stops its Ray node
  for pid in "${{pids[@]}}"; do kill -TERM "$pid" 2> /dev/null || true; done
  for pid in "${{pids[@]}}"; do wait "$pid" 2> /dev/null || true; done
}}
trap stop_nodes EXIT

srun --nodes=1 --ntasks=1 -w "$head_node" "${{RAY[@]}}" start --head --block \\
  --node-ip-address="$head_ip" --port="$port" --dashboard-host=0.0.0.0 \\
  --dashboard-port="$dashboard_port" {node} --disable-usage-stats "${{extra[@]}}" &
pids+=($!)
sleep 5
for node in "${{nodes[@]:1}}"; do
  srun --nodes=1 --ntasks=1 -w "$node" "${{RAY[@]}}" start --block --address="$ip_head" \\
    {node} --disable-usage-stats "${{extra[@]}}" &
  pids+=($!)
  sleep 2
done

# Wait until every node has joined (Ray's recipe sleeps; this asks Ray).
"$PYTHON" - "$ip_head" "${{#nodes[@]}}" "${{BIRIL_NODE_TIMEOUT:-300}}" << 'EOF'
import sys, time
import ray
address, want, timeout = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
deadline = time.monotonic() + timeout
while True:
    try:
        ray.init(address=address, log_to_driver=False)
        break
    except ConnectionError:
        if time.monotonic() > deadline:
            sys.exit(f"the Ray head at {{address}} did not answer within {{timeout:g}} s")
        time.sleep(2)
while (alive := sum(n["Alive"] for n in ray.nodes())) < want:
    if time.monotonic() > deadline:
        sys.exit(f"{{alive}} of {{want}} Ray nodes joined within {{timeout:g}} s")
    time.sleep(2)
print(f"{{alive}} Ray node(s) up")
ray.shutdown()
EOF

"${{BIRIL[@]}}" {" ".join(doctor)}
"${{BIRIL[@]}}" {" ".join(sweep)}
"""
    return "\n".join(["#!/bin/bash", *_directives(job, name), "", body])


def write_script(job: SlurmJob, output: Path, name: str) -> Path:
    """Write the script to a new file (an existing one is never replaced)."""
    text = sbatch_script(job, name)
    if output.exists():
        raise ClusterError(f"--output {output} exists; name a new file (nothing is overwritten)")
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(text)
    output.chmod(0o755)
    return output


def submit(script: Path) -> str:
    """``sbatch SCRIPT``; its answer (``Submitted batch job N``), or why it cannot."""
    sbatch = shutil.which("sbatch")
    if sbatch is None:
        raise ClusterError(
            f"sbatch is not on PATH here: the script is written to {script}; copy it to the "
            f"cluster's login node and run `sbatch {script.name}` there"
        )
    done = subprocess.run([sbatch, str(script)], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise ClusterError(f"sbatch {script} failed: {done.stderr.strip() or done.stdout}")
    return done.stdout.strip()
