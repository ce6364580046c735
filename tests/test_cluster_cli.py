"""Fast checks of the cluster commands: failures in seconds with one line, token lookup as Ray
does it, the storage rule, the shipped working_dir, and process handling by PID.

No Ray cluster starts here; ``test_cluster_e2e.py`` (slow) runs the real one.
"""

from __future__ import annotations

import functools
import json
import os
import shutil
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

from birilcli.main import cli
from cluster import procs
from cluster.auth import find_token
from cluster.errors import ClusterError
from cluster.local import free_port, split_gpus
from cluster.submit import (
    SHIPPED_FILES,
    SHIPPED_PACKAGES,
    database_url,
    is_uri,
    resolve_storage,
    submit_sweep,
    working_dir,
)

ROOT = Path(__file__).resolve().parent.parent
GOOD_TOKEN = "0123456789abcdef" * 4


def run_cli(args: list[str], env: dict[str, str] | None = None):
    """``biril ARGS`` in-process, its user errors reported as the real command reports them."""
    return CliRunner().invoke(cli, args, env=env, catch_exceptions=False)


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
    line = one_error_line(run_cli(["jobs", "list", "--address", address]))
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
        line = one_error_line(run_cli(["jobs", "list", "--address", address]))
    finally:
        server.shutdown()
    assert "is not a Ray" in line and "answered 404" in line


def test_missing_address_says_how_to_give_one(no_local_cluster):
    line = one_error_line(run_cli(["jobs", "list"]))
    assert "--address" in line and "biril cluster up" in line


def test_ray_client_address_is_refused(no_local_cluster):
    line = one_error_line(run_cli(["cluster", "status", "--address", "ray://host:10001"]))
    assert "http://HOST:8265" in line


def test_wrong_token_fails_with_one_line(no_local_cluster, fake_dashboard):
    env = {"RAY_AUTH_TOKEN": "not-the-token"}
    line = one_error_line(run_cli(["jobs", "list", "--address", fake_dashboard], env))
    assert "rejected the token from $RAY_AUTH_TOKEN" in line


def test_missing_token_fails_with_one_line(no_local_cluster, fake_dashboard):
    line = one_error_line(run_cli(["jobs", "list", "--address", fake_dashboard]))
    assert "requires a token and none was found" in line
    assert "RAY_AUTH_TOKEN_PATH" in line and "~/.ray/auth_token" in line


def test_nonexistent_spec_fails_before_contacting_a_cluster(no_local_cluster, tmp_path):
    missing = tmp_path / "no-such-spec.yaml"
    address = f"http://127.0.0.1:{free_port()}"  # nobody listens: it must not get that far
    line = one_error_line(run_cli(["submit", str(missing), "--address", address]))
    assert str(missing) in line and "not found" in line


def test_unknown_spec_name_lists_the_shipped_ones(no_local_cluster):
    line = one_error_line(run_cli(["submit", "no_such_dataset", "--address", "x:1"]))
    assert "digits" in line


def test_down_without_a_cluster_is_a_no_op(no_local_cluster):
    result = run_cli(["cluster", "down"])
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


def packaged_names(wd: Path, out_dir: Path) -> set[str]:
    """The files Ray's own packager puts in the job's working_dir zip."""
    from ray._private.runtime_env.packaging import create_package

    out = out_dir / "pkg.zip"
    create_package(str(wd), out, include_gitignore=True)
    with zipfile.ZipFile(out) as z:
        return {n for n in z.namelist() if not n.endswith("/")}


def tracked_code() -> set[str]:
    """What the job needs: the packages' tracked code and YAML, the project file, the README."""
    listed = subprocess.run(
        ["git", "ls-files", *SHIPPED_PACKAGES, *SHIPPED_FILES],
        cwd=ROOT, capture_output=True, text=True, check=True,
    ).stdout.split()
    return {f for f in listed if f.endswith((".py", ".yaml", ".toml", ".md"))}


SECRETS = [
    ".env", "id_rsa", ".netrc", ".aws/credentials", "auth_token", ".ssh/id_ed25519",
    "biril/.env", "sweeps/id_rsa", "cluster/auth_token", "analysis/.aws/config.yaml",
]
LEFTOVERS = [
    "biril-results/digits/biril.db", "data/cifar-10-batches-py/data_batch_1", ".venv/lib/x.py",
    "dist/biril-0.1-py3-none-any.whl", "results/x.gl", "notes/scratch.py", "cluster/Dockerfile",
]


@pytest.fixture
def planted_checkout(tmp_path, monkeypatch):
    """A copy of this checkout's code with secrets, results and data planted in and beside it."""
    if not (ROOT / ".git").exists():
        pytest.skip("needs a git checkout to list the tracked code")
    root = tmp_path / "checkout"
    for name in tracked_code():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / name, root / name)
    for name in SECRETS + LEFTOVERS:
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(f"SECRET-{name}\n")
    monkeypatch.setattr("cluster.submit.project_root", lambda: root)
    return root


def test_job_package_is_the_code_alone_never_a_planted_secret(planted_checkout, tmp_path):
    spec = planted_checkout / "sweeps" / "specs" / "digits.yaml"
    with working_dir(spec) as (wd, shipped):
        names = packaged_names(wd, tmp_path)
    assert shipped == "sweeps/specs/digits.yaml"
    assert names == tracked_code()
    assert not set(SECRETS + LEFTOVERS) & names


def test_spec_elsewhere_travels_beside_the_code(planted_checkout, tmp_path):
    spec = tmp_path / "mine.yaml"
    spec.write_text("name: mine\n")
    with working_dir(spec) as (wd, shipped):
        assert (wd / shipped).read_text() == "name: mine\n"
        names = packaged_names(wd, tmp_path)
    assert names == tracked_code() | {"_biril_job/mine.yaml"}


class RecordingJobs:
    """Stands in for Ray's Jobs client: records what would be submitted."""

    def __init__(self) -> None:
        self.submitted: dict = {}

    def submit_job(self, **kwargs) -> str:
        self.submitted = kwargs
        return kwargs["submission_id"]


class LocalDashboard:
    url = "http://127.0.0.1:8265"

    def __init__(self) -> None:
        self.jobs = RecordingJobs()

    def alive_nodes(self):
        return HERE


def test_database_url_reaches_the_job_only_through_its_environment(tmp_path, monkeypatch):
    from cluster.submit import load_sweep

    url = "postgresql+psycopg2://biril:s3cret-Pw@db.example:5432/biril"
    monkeypatch.setenv("MY_DB", url)
    db = database_url(None, "MY_DB")
    dashboard = LocalDashboard()
    sweep, spec_file = load_sweep("digits")
    sub = submit_sweep(dashboard, sweep, spec_file, str(tmp_path / "r"), db, name="n1")
    job = dashboard.jobs.submitted
    assert job["runtime_env"]["env_vars"]["BIRIL_DB"] == url
    assert "s3cret-Pw" not in job["entrypoint"] and "s3cret-Pw" not in sub.entrypoint
    assert "s3cret-Pw" not in json.dumps(job["metadata"])
    assert job["entrypoint"] == (
        f"python -m birilcli sweep sweeps/specs/digits.yaml --storage {tmp_path / 'r'} "
        "--name n1"
    )


def test_sweep_reads_the_database_url_the_job_was_given(monkeypatch):
    from birilcli.sweep import sweep_command as command

    db = next(p for p in command.params if p.name == "db")
    monkeypatch.setenv("BIRIL_DB", "sqlite:////r/x.db")
    ctx = command.make_context("sweep", [])
    assert ctx.params["db"] == "sqlite:////r/x.db" and db.envvar == "BIRIL_DB"


def test_database_options_are_checked_before_contacting_a_cluster(no_local_cluster):
    address = f"http://127.0.0.1:{free_port()}"  # nobody listens: it must not get that far
    line = one_error_line(run_cli(["submit", "digits", "--db", "not a url", "--address", address]))
    assert "--db is not an SQLAlchemy URL" in line and "not a url" not in line
    line = one_error_line(run_cli(["submit", "digits", "--db-env", "NO_SUCH_VAR_X", "--address",
                                   address]))
    assert "--db-env NO_SUCH_VAR_X" in line and "export NO_SUCH_VAR_X=URL" in line


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
        import birilcli.cluster
        heavy = [m for m in ("ray", "pydantic", "torch", "requests") if m in sys.modules]
        print(",".join(heavy))
        """
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""
