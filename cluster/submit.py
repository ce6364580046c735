"""Ship a sweep spec to a Ray cluster as a Ray job, and follow it.

The job runs ``python -m biril.cli sweep SPEC --storage R --name N`` on the cluster, in a
``working_dir`` that is this project (so the cluster runs the code you have here), minus
results, virtualenvs, data and caches. Inside the job ``RAY_ADDRESS`` points at the
cluster, so the sweep's trials spread over all its nodes.

Results must land where every node can write and the driver can read: an object-store URI
or a shared filesystem. A node-local path is refused on a remote cluster, and accepted
when every node runs on this machine (the local multi-node cluster shares this disk).
"""

from __future__ import annotations

import asyncio
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

from results.layout import is_uri, results_root

from .dashboard import Dashboard
from .errors import ClusterError

if TYPE_CHECKING:
    from collections.abc import Iterator

    from sweeps.spec import SweepSpec

# Never shipped to the cluster: outputs, environments, data, caches (gitignore syntax).
EXCLUDES = [
    ".git",
    ".venv",
    "venv",
    "*.egg-info",
    "__pycache__",
    ".pytest_cache",
    ".ruff_cache",
    ".mypy_cache",
    "biril-results",
    "runs",
    "data",
    ".gl",
    ".whl",
    "build",
    "dist",
]
STAGED_SPEC_DIR = "_biril_job"


def this_machine_ips() -> set[str]:
    """Addresses that mean "this machine", including the one Ray gives nodes started here."""
    from ray._private.services import get_node_ip_address

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


@contextmanager
def working_dir(spec_file: Path, storage: str) -> Iterator[tuple[Path, str, list[str]]]:
    """The job's ``working_dir``, the spec file's path inside it, and the upload excludes.

    A shipped spec needs only the project itself. Any other spec file is added to a
    filtered copy of the project, under ``_biril_job/`` (even one inside the checkout: it
    may sit in a folder that is never shipped, like ``biril-results/``). From an installed copy
    (no checkout) only the spec travels, and the cluster's own installation runs it.
    A results root inside the project is never shipped.
    """
    root = project_root()
    if root is not None and spec_file.is_relative_to(root / "sweeps" / "specs"):
        yield root, spec_file.relative_to(root).as_posix(), excludes_for(root, storage)
        return
    with tempfile.TemporaryDirectory(prefix="biril-job-") as tmp:
        staged = Path(tmp) / "job"
        if root is not None:
            skip = None if is_uri(storage) else Path(storage)
            shutil.copytree(root, staged, ignore=_copy_filter(skip))
        (staged / STAGED_SPEC_DIR).mkdir(parents=True)
        shutil.copy2(spec_file, staged / STAGED_SPEC_DIR / spec_file.name)
        yield staged, f"{STAGED_SPEC_DIR}/{spec_file.name}", list(EXCLUDES)


def _copy_filter(skip: Path | None) -> Callable[[str, list[str]], set[str]]:
    """``copytree``'s ignore: the ``EXCLUDES`` patterns and the folder ``skip``."""
    patterns = shutil.ignore_patterns(*EXCLUDES)

    def ignore(folder: str, names: list[str]) -> set[str]:
        return set(patterns(folder, names)) | {n for n in names if Path(folder, n) == skip}

    return ignore


def excludes_for(wd: Path, storage: str) -> list[str]:
    """``EXCLUDES``, plus the results root when it lies inside the shipped folder."""
    if is_uri(storage) or not Path(storage).is_relative_to(wd):
        return list(EXCLUDES)
    return [*EXCLUDES, "/" + Path(storage).relative_to(wd).as_posix()]


def entrypoint(spec_file: str, storage: str, name: str | None, db: str | None) -> str:
    """The shell command the job runs: the sweep CLI of the shipped project."""
    cmd = ["python", "-m", "biril.cli", "sweep", spec_file, "--storage", storage]
    if name:
        cmd += ["--name", name]
    if db:
        cmd += ["--db", db]
    return shlex.join(cmd)


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
    with working_dir(spec_file, storage) as (wd, shipped_spec, excludes):
        command = entrypoint(shipped_spec, storage, name, db)
        job_id = dashboard.jobs.submit_job(
            entrypoint=command,
            submission_id=job_id_for(spec),
            runtime_env={
                "working_dir": str(wd),
                "excludes": excludes,
                "env_vars": {"PYTHONUNBUFFERED": "1"},
            },
            metadata={"biril_study": spec.study_name, "biril_storage": storage},
        )
    return Submission(job_id, dashboard.url, spec.study_name, storage, command)


def follow_logs(dashboard: Dashboard, job_id: str, write: Callable[[str], None]) -> str:
    """Stream the job's log to ``write`` until the job ends; return its final status."""

    async def tail() -> None:
        async for chunk in dashboard.jobs.tail_job_logs(job_id):
            write(chunk)

    asyncio.run(tail())
    return str(dashboard.jobs.get_job_status(job_id).value)
