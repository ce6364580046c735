"""`biril cluster slurm`: the sbatch script, `--submit`, and the script's body run for real on
this machine as a one-node allocation (SLURM's environment set, `srun` and `scontrol` as
thin stand-ins that run the command on this host), against the local Ray it starts.

The job stops its own Ray node by the PID of its `srun` step; the test then checks that no
process of that node (found by its own temp dir) is left.
"""

from __future__ import annotations

import os
import secrets
import socket
import stat
import subprocess
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from birilcli.main import cli
from cluster.local import free_port

SRUN = """#!/bin/bash
# srun stand-in: drop srun's options (and -w HOST), run the command here.
while [ $# -gt 0 ]; do
  case "$1" in
    -w) shift 2 ;;
    --*) shift ;;
    *) break ;;
  esac
done
exec "$@"
"""
SCONTROL = """#!/bin/bash
[ "$1 $2" = "show hostnames" ] && hostname
"""


def executable(path: Path, text: str) -> None:
    path.write_text(text)
    path.chmod(path.stat().st_mode | stat.S_IXUSR)


def write(tmp_path: Path, *args: str) -> tuple[str, Path]:
    out = tmp_path / "job.sbatch"
    result = CliRunner().invoke(cli, ["cluster", "slurm", *args, "-o", str(out)])
    assert result.exit_code == 0, result.output
    return result.output, out


def test_script_has_the_allocation_and_the_recipe(tmp_path):
    _, out = write(tmp_path, "digits", "--nodes", "3", "--gpus-per-node", "4",
                   "--cpus-per-node", "16", "--partition", "gpu", "--set", "train.epochs=5")
    text = out.read_text()
    for line in ("#SBATCH --nodes=3", "#SBATCH --ntasks-per-node=1",
                 "#SBATCH --cpus-per-task=16", "#SBATCH --gpus-per-task=4",
                 "#SBATCH --partition=gpu"):
        assert line in text.splitlines()
    assert text.count("--num-cpus 16 --num-gpus 4") == 2  # head and workers
    doctor = text.index('doctor --address "http://$head_ip:$dashboard_port"')
    assert doctor < text.index("sweep digits --address \"$ip_head\" --set train.epochs=5")
    assert subprocess.run(["bash", "-n", str(out)], check=False).returncode == 0


def test_bad_input_fails_before_a_script_and_nothing_is_overwritten(tmp_path):
    runner = CliRunner()
    bad = runner.invoke(cli, ["cluster", "slurm", "digits", "--set", "train.epochs=0",
                              "-o", str(tmp_path / "a.sbatch")])
    assert bad.exit_code == 2 and "train.epochs: must be >= 1" in bad.stderr
    bad = runner.invoke(cli, ["cluster", "slurm", "digits", "--time", "4h",
                              "-o", str(tmp_path / "a.sbatch")])
    assert bad.exit_code == 2 and "--time '4h': expected HH:MM:SS" in bad.stderr
    assert not (tmp_path / "a.sbatch").exists()
    _, out = write(tmp_path, "digits")
    again = runner.invoke(cli, ["cluster", "slurm", "digits", "-o", str(out)])
    assert again.exit_code == 2 and "exists; name a new file" in again.stderr


def test_submit_calls_sbatch_when_there_is_one(tmp_path, monkeypatch):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    monkeypatch.setenv("PATH", f"{bin_dir}:{os.environ['PATH']}")
    out = tmp_path / "job.sbatch"
    missing = CliRunner().invoke(cli, ["cluster", "slurm", "digits", "-o", str(out), "--submit"])
    assert missing.exit_code == 2 and "sbatch is not on PATH here" in missing.stderr
    executable(bin_dir / "sbatch", f'#!/bin/bash\necho "$@" > {tmp_path}/args\n'
                                   'echo "Submitted batch job 4242"\n')
    out.unlink()
    done = CliRunner().invoke(cli, ["cluster", "slurm", "digits", "-o", str(out), "--submit"])
    assert done.exit_code == 0 and "Submitted batch job 4242" in done.output
    assert (tmp_path / "args").read_text().strip() == str(out)


def leftovers(marker: str) -> list[int]:
    """PIDs whose command line names ``marker`` (our Ray node's own temp dir)."""
    found = []
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                if marker.encode() in (proc / "cmdline").read_bytes():
                    found.append(int(proc.name))
            except OSError:
                continue
    return found


@pytest.mark.slow
@pytest.mark.ray
def test_the_scripts_body_runs_a_sweep_on_a_one_node_allocation(tmp_path):
    spec = tmp_path / "spec.yaml"
    spec.write_text(yaml.safe_dump({
        "name": "slurm", "train": {"dataset": "digits", "epochs": 1, "device": "cpu"},
        "search": {"warm_start": ["0:1:0"], "num_trials": 1}, "scheduler": {"type": "none"},
        "resources": {"cpus_per_trial": 1}, "failure": {"max_failures": 0},
    }))
    results = tmp_path / "results"
    _, script = write(tmp_path, str(spec), "--cpus-per-node", "2", "--storage", str(results))
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    executable(bin_dir / "srun", SRUN)
    executable(bin_dir / "scontrol", SCONTROL)
    temp_dir = f"/tmp/biril-slurm-{secrets.token_hex(4)}"
    ports = " ".join(f"{flag} {free_port()}" for flag in (
        "--ray-client-server-port", "--node-manager-port", "--object-manager-port",
        "--metrics-export-port", "--dashboard-agent-grpc-port", "--dashboard-agent-listen-port",
        "--runtime-env-agent-port"))
    env = {
        **os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}",
        "SLURM_JOB_ID": "4242", "SLURM_JOB_NODELIST": socket.gethostname(),
        "SLURM_JOB_NUM_NODES": "1", "SLURM_NNODES": "1", "SLURM_CPUS_PER_TASK": "2",
        "BIRIL_RAY_PORT": str(free_port()), "BIRIL_DASHBOARD_PORT": str(free_port()),
        "BIRIL_RAY_START_ARGS": f"--temp-dir {temp_dir} {ports} --min-worker-port 0 "
                                "--max-worker-port 0 --object-store-memory 300000000",
        "RAY_AUTH_TOKEN": secrets.token_hex(32),  # this job's own, not ~/.ray's
    }
    env.pop("RAY_ADDRESS", None)
    try:
        done = subprocess.run(["bash", str(script)], env=env, cwd=tmp_path, capture_output=True,
                              text=True, timeout=900, check=False)
        output = done.stdout + done.stderr
        assert done.returncode == 0, output[-3000:]
        assert "1 Ray node(s) up" in output
        assert "1 nodes, 0 with failing checks" in output  # biril doctor --address
        assert "sweep digits/slurm finished" in output
        assert (results / "biril.db").is_file()
        assert leftovers(temp_dir) == []  # the job stopped its node
    finally:
        for pid in leftovers(temp_dir):  # only if the job failed to stop its own node
            os.kill(pid, 9)
