"""Fast checks of the cluster commands: failures in seconds with one line, token lookup as Ray
does it, the storage rule, the shipped working_dir, and process handling by PID.

No Ray cluster starts here; ``test_cluster_e2e.py`` (slow) runs the real one.
"""

from __future__ import annotations

import functools
import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
import zipfile
from http.server import BaseHTTPRequestHandler, SimpleHTTPRequestHandler, ThreadingHTTPServer
from importlib import metadata
from pathlib import Path

import pytest
from click.testing import CliRunner

from cluster import procs
from cluster.auth import find_token
from cluster.cli import cluster_group, jobs_group, submit_command
from cluster.errors import ClusterError
from cluster.local import free_port, split_gpus
from cluster.submit import (
    EXCLUDES,
    entrypoint,
    excludes_for,
    is_uri,
    resolve_storage,
    working_dir,
)

ROOT = Path(__file__).resolve().parent.parent
GOOD_TOKEN = "0123456789abcdef" * 4


def run_cli(command, args: list[str], env: dict[str, str] | None = None):
    return CliRunner().invoke(command, args, env=env, catch_exceptions=False)


def one_error_line(result) -> str:
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    return lines[0]


@pytest.fixture
def no_local_cluster(tmp_path, monkeypatch):
    """No recorded local cluster and no address or token from the environment."""
    monkeypatch.setenv("BIRIL_CLUSTER_DIR", str(tmp_path / "cluster-state"))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    for var in ("RAY_API_SERVER_ADDRESS", "RAY_AUTH_TOKEN", "RAY_AUTH_TOKEN_PATH", "RAY_ADDRESS"):
        monkeypatch.delenv(var, raising=False)


class FakeDashboard(BaseHTTPRequestHandler):
    """Answers like a Ray dashboard with token auth: 401 without a token, 403 for a wrong one
    (Ray's ``get_token_auth_middleware``), the authentication mode without any."""

    def do_GET(self):  # noqa: N802 (http.server's name)
        if self.path == "/api/authentication_mode":
            return self._send(200, {"authentication_mode": "token"})
        header = self.headers.get("Authorization", "")
        if not header:
            return self._send(401, "Unauthorized: Missing authentication token")
        if header != f"Bearer {GOOD_TOKEN}":
            return self._send(403, "Forbidden: Invalid authentication token")
        return self._send(200, {"ray_version": metadata.version("ray"), "version": "4"})

    def _send(self, status: int, body) -> None:
        data = (json.dumps(body) if isinstance(body, dict) else body).encode()
        self.send_response(status)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def fake_dashboard():
    server = ThreadingHTTPServer(("127.0.0.1", 0), FakeDashboard)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


# ----------------------------------------------------------------------------- failing fast


def test_unreachable_address_fails_with_one_line(no_local_cluster):
    address = f"http://127.0.0.1:{free_port()}"
    line = one_error_line(run_cli(jobs_group, ["list", "--address", address]))
    assert "cannot reach a Ray dashboard" in line and address in line


class QuietFileServer(SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:
        pass


def test_a_web_server_that_is_not_ray_is_named_as_such(no_local_cluster, tmp_path):
    handler = functools.partial(QuietFileServer, directory=str(tmp_path))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        address = f"http://127.0.0.1:{server.server_address[1]}"
        line = one_error_line(run_cli(jobs_group, ["list", "--address", address]))
    finally:
        server.shutdown()
    assert "is not a Ray" in line and "answered 404" in line


def test_missing_address_says_how_to_give_one(no_local_cluster):
    line = one_error_line(run_cli(jobs_group, ["list"]))
    assert "--address" in line and "biril cluster up" in line


def test_ray_client_address_is_refused(no_local_cluster):
    line = one_error_line(run_cli(cluster_group, ["status", "--address", "ray://host:10001"]))
    assert "http://HOST:8265" in line


def test_wrong_token_fails_with_one_line(no_local_cluster, fake_dashboard):
    env = {"RAY_AUTH_TOKEN": "not-the-token"}
    line = one_error_line(run_cli(jobs_group, ["list", "--address", fake_dashboard], env))
    assert "rejected the token from $RAY_AUTH_TOKEN" in line


def test_missing_token_fails_with_one_line(no_local_cluster, fake_dashboard):
    line = one_error_line(run_cli(jobs_group, ["list", "--address", fake_dashboard]))
    assert "requires a token and none was found" in line
    assert "RAY_AUTH_TOKEN_PATH" in line and "~/.ray/auth_token" in line


def test_nonexistent_spec_fails_before_contacting_a_cluster(no_local_cluster, tmp_path):
    missing = tmp_path / "no-such-spec.yaml"
    address = f"http://127.0.0.1:{free_port()}"  # nobody listens: it must not get that far
    line = one_error_line(run_cli(submit_command, [str(missing), "--address", address]))
    assert str(missing) in line and "not found" in line


def test_unknown_spec_name_lists_the_shipped_ones(no_local_cluster):
    line = one_error_line(run_cli(submit_command, ["no_such_dataset", "--address", "x:1"]))
    assert "digits" in line


def test_down_without_a_cluster_is_a_no_op(no_local_cluster):
    result = run_cli(cluster_group, ["down"])
    assert result.exit_code == 0
    assert "nothing to stop" in result.output


# ----------------------------------------------------------------------------- token lookup


def rays_token(env: dict[str, str]) -> str:
    """The token Ray's own loader (C++ ``AuthenticationTokenLoader``) reads in ``env``."""
    code = (
        "from ray._raylet import AuthenticationTokenLoader as L\n"
        "print(L.instance().get_raw_token(ignore_auth_mode=True), end='')"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    )
    return out.stdout


@pytest.mark.parametrize("case", ["env-over-path", "path-over-default", "default-file"])
def test_token_lookup_matches_rays_loader(tmp_path, monkeypatch, case):
    home = tmp_path / "home"
    (home / ".ray").mkdir(parents=True)
    (home / ".ray" / "auth_token").write_text("from-default-file\n")
    token_file = tmp_path / "token"
    token_file.write_text("from-token-path\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAY_AUTH")}
    env["HOME"] = str(home)
    if case in ("env-over-path", "path-over-default"):
        env["RAY_AUTH_TOKEN_PATH"] = str(token_file)
    if case == "env-over-path":
        env["RAY_AUTH_TOKEN"] = "from-env"
    expected = {
        "env-over-path": "from-env",
        "path-over-default": "from-token-path",
        "default-file": "from-default-file",
    }[case]
    monkeypatch.setenv("HOME", str(home))  # where Path.home() looks for ~/.ray/auth_token
    assert find_token(env).value == expected
    assert rays_token(env) == expected


def test_unreadable_token_path_is_an_error_not_a_fallback(tmp_path):
    with pytest.raises(ClusterError, match="RAY_AUTH_TOKEN_PATH"):
        find_token({"RAY_AUTH_TOKEN_PATH": str(tmp_path / "missing")})


# ----------------------------------------------------------------------------- storage rule


REMOTE = [{"node_ip": "203.0.113.7"}, {"node_ip": "203.0.113.8"}]
HERE = [{"node_ip": "127.0.0.1"}, {"node_ip": "127.0.0.1"}]


def test_local_path_on_a_remote_cluster_is_refused_with_the_fix(tmp_path):
    with pytest.raises(ClusterError) as e:
        resolve_storage(str(tmp_path / "r"), None, REMOTE, shared=False)
    message = str(e.value)
    assert "203.0.113.7" in message and "s3://" in message and "--shared-storage" in message
    assert "\n" not in message


def test_local_path_is_fine_when_all_nodes_are_here_or_it_is_shared(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert resolve_storage("r", None, HERE, shared=False) == str(tmp_path / "r")
    assert resolve_storage("r", None, REMOTE, shared=True) == str(tmp_path / "r")


def test_default_storage_follows_the_results_contract(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("BIRIL_RESULTS", raising=False)
    assert resolve_storage(None, None, HERE, False) == str(tmp_path / "biril-results")
    monkeypatch.setenv("BIRIL_RESULTS", str(tmp_path / "elsewhere"))
    assert resolve_storage(None, None, HERE, False) == str(tmp_path / "elsewhere")


def test_object_store_uri_needs_a_database_url():
    assert is_uri("s3://bucket/biril") and is_uri("gs://b/x") and not is_uri("file:///x")
    with pytest.raises(ClusterError, match="--db"):
        resolve_storage("s3://bucket/biril", None, REMOTE, shared=False)
    db = "postgresql+psycopg2://u@h/biril"
    assert resolve_storage("s3://bucket/biril", db, REMOTE, shared=False) == "s3://bucket/biril"


# ----------------------------------------------------------------------------- shipped code


def packaged_names(wd: Path, excludes: list[str], out_dir: Path) -> set[str]:
    """The files Ray's own packager puts in the job's working_dir zip."""
    from ray._private.runtime_env.packaging import create_package

    out = out_dir / "pkg.zip"
    create_package(str(wd), out, include_gitignore=True, excludes=excludes)
    with zipfile.ZipFile(out) as z:
        return set(z.namelist())


def test_results_inside_the_project_are_not_shipped(tmp_path):
    assert excludes_for(ROOT, "/elsewhere/results") == EXCLUDES
    assert excludes_for(ROOT, "s3://bucket/biril") == EXCLUDES
    excludes = excludes_for(ROOT, str(ROOT / "cluster"))  # pretend results live there
    assert excludes == [*EXCLUDES, "/cluster"]
    names = packaged_names(ROOT, excludes, tmp_path)
    assert "biril/__init__.py" in names
    assert not any(n.startswith(("cluster/", ".venv/", ".git/")) for n in names)


def test_shipped_spec_ships_the_project_itself():
    spec = ROOT / "sweeps" / "specs" / "digits.yaml"
    with working_dir(spec, "/elsewhere/results") as (wd, shipped, excludes):
        assert wd == ROOT
        assert shipped == "sweeps/specs/digits.yaml"
        assert excludes == EXCLUDES


def test_spec_elsewhere_ships_a_filtered_copy_with_the_spec(tmp_path):
    spec = tmp_path / "mine.yaml"
    spec.write_text("name: mine\n")
    results_inside = ROOT / "cluster"  # a results root inside the project is left behind
    with working_dir(spec, str(results_inside)) as (wd, shipped, excludes):
        assert (wd / shipped).read_text() == "name: mine\n"
        names = packaged_names(wd, excludes, tmp_path)
    assert "_biril_job/mine.yaml" in names
    assert "biril/__init__.py" in names and "sweeps/spec.py" in names
    assert not any(n.startswith(("cluster/", ".venv/", ".git/", "biril-results/")) for n in names)
    assert not any("__pycache__" in n for n in names)


def test_entrypoint_runs_the_sweep_cli():
    cmd = entrypoint("sweeps/specs/digits.yaml", "/r w", None, "sqlite:////r/x.db")
    assert cmd == (
        "python -m biril.cli sweep sweeps/specs/digits.yaml --storage '/r w' --db sqlite:////r/x.db"
    )


# ----------------------------------------------------------------------------- GPUs, PIDs


def test_gpus_split_disjointly_only_when_there_are_enough():
    assert split_gpus(["0", "1", "2", "3"], 2, 2) == ["0,1", "2,3"]
    assert split_gpus(["0"], 2, 1) == [None, None]
    assert split_gpus(["0", "1"], 2, 0) == [None, None]


@pytest.fixture
def process_family():
    """A shell in its own session with two children, as ``ray start`` has its daemons."""
    script = "sleep 60 & sleep 60 & wait"
    p = subprocess.Popen(["bash", "-c", script], start_new_session=True)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        children = subprocess.run(
            ["ps", "-o", "pid=", "--ppid", str(p.pid)], capture_output=True, text=True
        ).stdout.split()
        if len(children) == 2:
            break
        time.sleep(0.05)
    yield p, {int(c) for c in children}
    if p.poll() is None:
        os.killpg(p.pid, signal.SIGKILL)
        p.wait()


def test_process_tree_finds_the_children_ps_reports(process_family):
    p, children = process_family
    tree = procs.process_tree([p.pid])
    assert set(tree) == {p.pid} | children


def test_a_reused_pid_is_never_signalled(process_family):
    p, _ = process_family
    ticks = procs.start_ticks(p.pid)
    procs.signal_if_same(p.pid, ticks + 1, signal.SIGKILL)  # a different process's start time
    time.sleep(0.2)
    assert p.poll() is None
    tree = procs.process_tree([p.pid])
    for pid, t in tree.items():
        procs.signal_if_same(pid, t, signal.SIGKILL)
    assert procs.wait_gone(tree, 10) == {}


def test_stdlib_only_at_import_time():
    code = textwrap.dedent(
        """
        import sys
        import cluster.cli
        heavy = [m for m in ("ray", "pydantic", "torch", "requests") if m in sys.modules]
        print(",".join(heavy))
        """
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""
