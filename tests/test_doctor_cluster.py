"""``biril doctor --address`` on a real multi-node Ray cluster on this machine (slow).

``biril cluster up --workers 2`` starts a head and two worker nodes; the doctor must come
back with one report per alive node, each from a task that ran on that very node, and a
node whose torch differs from the driver's must fail. ``biril cluster down`` stops it.

Run: ``pytest tests/test_doctor_cluster.py -m slow``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner

from cluster.local import read_state

pytestmark = pytest.mark.slow

BIRIL = [sys.executable, "-m", "birilcli"]


def biril(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run([*BIRIL, *args], env=env, capture_output=True, text=True, timeout=600)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    """(environment, dashboard URL, {label: node id}) of a head and two workers."""
    base = tmp_path_factory.mktemp("doctor-cluster")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RAY_", "BIRIL_"))}
    env["BIRIL_CLUSTER_DIR"] = str(base / "state")
    env["RAY_AUTH_TOKEN_PATH"] = str(base / "token")
    up = biril("cluster", "up", "--workers", "2", env=env)
    assert up.returncode == 0, up.stderr
    try:
        rows = json.loads(biril("cluster", "status", "--json", env=env).stdout)
        url = read_state(Path(env["BIRIL_CLUSTER_DIR"])).dashboard_url
        yield env, url, {r["label"]: r["node_id"] for r in rows}
    finally:
        down = biril("cluster", "down", env=env)
        assert "none left running" in down.stdout, down.stderr


def test_every_node_reports_from_a_task_pinned_to_it(cluster, tmp_path):
    env, url, nodes = cluster
    r = biril("doctor", "--address", url, "--json", "--storage", str(tmp_path), env=env)
    assert r.returncode == 0, r.stderr
    report = json.loads(r.stdout)
    assert {n["label"]: n["node_id"] for n in report["nodes"]} == nodes
    for node in report["nodes"]:
        assert node["ran_on"] == node["node_id"]
        checks = {c["name"]: c for c in node["checks"]}
        assert checks["torch"]["message"] == torch.__version__
        assert checks["results root"]["message"] == f"{tmp_path}: writable"
        assert "database" not in checks  # only the driver writes it
        assert "ray token" in checks and not any("= driver's" in name for name in checks)


def test_a_node_with_another_torch_than_the_driver_fails(cluster, monkeypatch):
    env, url, nodes = cluster
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    nodes_torch, real = torch.__version__, metadata.version
    # The driver claims another torch release, so every node's differs from it.
    monkeypatch.setattr(torch, "__version__", "2.11.0+driver")
    monkeypatch.setattr(metadata, "version", lambda n: "2.11.0" if n == "torch" else real(n))
    from birilcli.main import cli

    result = CliRunner().invoke(cli, ["doctor", "--address", url, "--json"])
    assert result.exit_code == 1, result.output
    report = json.loads(result.stdout)
    assert len(report["nodes"]) == len(nodes) and report["ok"] is False
    for node in report["nodes"]:
        (diff,) = [c for c in node["checks"] if c["name"].endswith("= driver's")]
        assert diff["name"] == "torch = driver's" and diff["required"] and not diff["ok"]
        assert diff["message"] == f"{nodes_torch} on this node, 2.11.0+driver here"
