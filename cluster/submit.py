"""Ship a sweep spec to a Ray cluster as a Ray job, and follow it.

The job runs ``python -m birilcli sweep SPEC --storage R --name N`` on the cluster, in a
``working_dir`` staged from this project's code (so the cluster runs the code you have
here): an allow-list of the packages, ``pyproject.toml``, the README and the spec, so no
secret, result or data file in the checkout can travel. The database URL reaches the job
as ``$BIRIL_DB`` in its runtime environment, never on its command line, which the
dashboard shows to anyone who can read it. Inside the job ``RAY_ADDRESS`` points at the
cluster, so the sweep's trials spread over all its nodes.

Results must land where every node can write and the driver can read: an object-store URI
or a shared filesystem. A node-local path is refused on a remote cluster, and accepted
when every node runs on this machine (the local multi-node cluster shares this disk).
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import shlex
import shutil
import socket
import tempfile
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from results.database import DB_ENV, check_db_url
from results.layout import is_uri, results_root

from .dashboard import Dashboard, jobs_api_failures
from .errors import ClusterError

if TYPE_CHECKING:
    from collections.abc import Iterator

    from sweeps.spec import SweepSpec

# All a job needs from a source checkout; nothing else is ever copied into its working_dir.
SHIPPED_PACKAGES = ("birilcli", "biril", "sweeps", "cluster", "analysis", "results")
SHIPPED_SUFFIXES = (".py", ".yaml")  # the packages' code and their package data
SHIPPED_FILES = ("pyproject.toml", "README.md")
STAGED_SPEC_DIR = "_biril_job"


def this_machine_ips() -> set[str]:
    """Addresses that mean "this machine", including the one Ray gives nodes started here."""
    from ray.util import get_node_ip_address

    ips = {"127.0.0.1", "::1", "localhost", get_node_ip_address()}
    try:
        ips.update(socket.gethostbyname_ex(socket.gethostname())[2])
    except OSError:
        pass
    return ips


def all_nodes_here(nodes: list[dict[str, Any]]) -> bool:
    """True if every alive node of the cluster runs on this machine (so shares its disk)."""
    ips = this_machine_ips()
    return all(n["node_ip"] in ips for n in nodes)


def resolve_storage(
    storage: str | None, db: str | None, nodes: list[dict[str, Any]], shared: bool
) -> str:
    """The results root to hand the job: a URI as is, a local path made absolute.

    Raises ``ClusterError`` for a node-local path on a cluster with nodes elsewhere (unless
    ``shared`` says the path is a shared filesystem mounted on every node), and for a URI
    without ``--db`` (SQLite needs a filesystem).
    """
    storage = results_root(storage)
    if is_uri(storage):
        if not db:
            raise ClusterError(
                f"--storage {storage} is an object-store URI, so the Optuna database needs "
                "its own home: pass --db URL (e.g. postgresql+psycopg2://user@host/biril)"
            )
        return storage
    path = Path(storage)
    if not shared and not all_nodes_here(nodes):
        elsewhere = sorted({n["node_ip"] for n in nodes} - this_machine_ips())
        raise ClusterError(
            f"--storage {path} is a path on this machine, but the cluster has nodes on "
            f"{', '.join(elsewhere)} that cannot write there; use an object-store URI "
            "(--storage s3://BUCKET/biril or gs://BUCKET/biril, with --db URL) or a shared "
            "filesystem path mounted on every node (and add --shared-storage)"
        )
    return str(path)


def project_root() -> Path | None:
    """The source checkout this package runs from, or None for an installed copy."""
    root = Path(__file__).resolve().parent.parent
    pyproject = root / "pyproject.toml"
    if pyproject.is_file() and 'name = "biril-sweeps"' in pyproject.read_text():
        return root
    return None


def database_url(db: str | None, db_env: str | None) -> str | None:
    """The Optuna database URL from ``--db`` or the variable ``--db-env`` names, checked here."""
    if db and db_env:
        raise ClusterError("--db and --db-env both name the database: pass one of them")
    if db_env:
        db = os.environ.get(db_env)
        if not db:
            raise ClusterError(
                f"--db-env {db_env}: no such variable is set here; export {db_env}=URL first"
            )
    if db:
        check_db_url(db, f"--db-env {db_env}" if db_env else "--db")
    return db


@contextmanager
def working_dir(spec_file: Path) -> Iterator[tuple[Path, str]]:
    """The job's ``working_dir``, staged from an allow-list, and the spec's path inside it.

    From a source checkout: the packages' ``.py`` and ``.yaml`` files, ``pyproject.toml``
    and the README. Anything else there (results, data, environments, and secrets such as
    ``.env``, SSH keys, ``.netrc``, cloud credentials or tokens) stays behind whatever it is
    called, because nothing off the list is copied. A spec that is not a shipped one goes
    under ``_biril_job/``. From an installed copy (no checkout) only the spec travels, and
    the cluster's own installation runs it.
    """
    root = project_root()
    with tempfile.TemporaryDirectory(prefix="biril-job-") as tmp:
        staged = Path(tmp) / "job"
        staged.mkdir()
        if root is not None:
            stage_project(root, staged)
            if spec_file.is_relative_to(root / "sweeps" / "specs"):
                yield staged, spec_file.relative_to(root).as_posix()
                return
        (staged / STAGED_SPEC_DIR).mkdir()
        shutil.copy2(spec_file, staged / STAGED_SPEC_DIR / spec_file.name)
        yield staged, f"{STAGED_SPEC_DIR}/{spec_file.name}"


def stage_project(root: Path, staged: Path) -> None:
    """Copy the allow-listed files of the checkout ``root`` into ``staged``."""
    for name in SHIPPED_FILES:
        if (root / name).is_file():
            shutil.copy2(root / name, staged / name)
    for package in SHIPPED_PACKAGES:
        for path in sorted((root / package).rglob("*")):
            relative = path.relative_to(root)
            hidden = any(part.startswith(".") or part == "__pycache__" for part in relative.parts)
            plain = path.is_file() and not path.is_symlink()
            if path.suffix in SHIPPED_SUFFIXES and plain and not hidden:
                (staged / relative).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(path, staged / relative)


def entrypoint(spec_file: str, storage: str, name: str | None) -> str:
    """The shell command the job runs: the sweep CLI of the shipped project.

    No database URL: the job's ``$BIRIL_DB`` holds it (``runtime_env``).
    """
    cmd = ["python", "-m", "birilcli", "sweep", spec_file, "--storage", storage]
    if name:
        cmd += ["--name", name]
    return shlex.join(cmd)


def runtime_env(wd: Path, db: str | None) -> dict[str, Any]:
    """The job's ``working_dir`` and environment; the database URL travels only here."""
    from sweeps.provenance import GIT_STATE_ENV, git_state

    env = {"PYTHONUNBUFFERED": "1", **({DB_ENV: db} if db else {})}
    # The staged code has no .git: the sweep's provenance gets this checkout's state.
    env[GIT_STATE_ENV] = json.dumps(git_state())
    return {"working_dir": str(wd), "env_vars": env}


def job_id_for(spec: SweepSpec) -> str:
    """A readable, unique submission id: ``biril-<dataset>-<sweep>-<UTC time>``."""
    stamp = datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S-%f")[:-3]
    slug = re.sub(r"[^A-Za-z0-9_-]", "-", f"{spec.dataset}-{spec.name}")
    return f"biril-{slug}-{stamp}"


@dataclass(frozen=True)
class Submission:
    """What was submitted, for the user and for tests."""

    job_id: str
    dashboard_url: str
    study: str
    storage: str
    entrypoint: str


def load_sweep(spec_arg: str, name: str | None = None) -> tuple[SweepSpec, Path]:
    """Validate the spec (and ``name``) here, in a second, before anything reaches a cluster.

    Returns the spec and its file: a YAML path or a shipped name like ``digits``.
    """
    from sweeps.spec import SpecError, load_spec, spec_path

    overrides = {"name": name} if name else {}
    try:
        return load_spec(spec_arg, **overrides), spec_path(spec_arg).resolve()
    except SpecError as e:
        raise ClusterError(str(e)) from None


def submit_sweep(
    dashboard: Dashboard,
    spec: SweepSpec,
    spec_file: Path,
    storage: str | None = None,
    db: str | None = None,
    shared_storage: bool = False,
    name: str | None = None,
) -> Submission:
    """Check the storage against the cluster's nodes and submit the sweep as a Ray job.

    ``spec`` is the validated spec (``load_sweep``), ``name`` the user's override of its name.
    """
    storage = resolve_storage(storage, db, dashboard.alive_nodes(), shared_storage)
    with working_dir(spec_file) as (wd, shipped_spec):
        command = entrypoint(shipped_spec, storage, name)
        job_id = dashboard.jobs.submit_job(
            entrypoint=command,
            submission_id=job_id_for(spec),
            runtime_env=runtime_env(wd, db),
            metadata={"biril_study": spec.study_name, "biril_storage": storage},
        )
    return Submission(job_id, dashboard.url, spec.study_name, storage, command)


def follow_logs(dashboard: Dashboard, job_id: str, write: Callable[[str], None]) -> str:
    """Stream the job's log to ``write`` until the job ends; return its final status."""

    async def tail() -> None:
        async for chunk in dashboard.jobs.tail_job_logs(job_id):
            write(chunk)

    with jobs_api_failures(dashboard.url):  # the log stream fails while it is read
        asyncio.run(tail())
    return str(dashboard.jobs.get_job_status(job_id).value)
