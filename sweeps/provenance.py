"""Collect a sweep's provenance (``results.provenance``) and record it in its study.

The versions and GPUs are what ``biril doctor`` already checks (``biril.doctor``'s
``version_checks`` and ``gpu_checks``), read from their ``detail``: one collector, not two.
Added here: the git state of the code the sweep runs (the checkout these packages are
imported from) and the GPU driver, which torch does not report (``nvidia-smi`` does).

A resumed sweep compares its record with the study's first one; on different code it says
so on stderr and appends its record to the study's ``resumed_on``, so the summary, ``biril
best --json`` and the report say so too.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import shutil
import socket
import subprocess
import sys
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING

from results.provenance import (
    STUDY_PROVENANCE,
    STUDY_RESUMED_ON,
    Provenance,
    code_change,
    same_code,
)

DISTRIBUTION = "biril-sweeps"
# The checkout the sweep's code is imported from (sweeps/ sits at its top).
CHECKOUT = Path(__file__).resolve().parents[1]
GIT_TIMEOUT_S = 10.0
GIT_STATE_ENV = "BIRIL_GIT_STATE"

if TYPE_CHECKING:  # the trial actors import gpu_driver, and need no Optuna for it
    import optuna


def _git(*args: str) -> subprocess.CompletedProcess | None:
    git = shutil.which("git")
    if git is None:
        return None
    try:
        done = subprocess.run(
            [git, "-C", str(CHECKOUT), *args], capture_output=True, timeout=GIT_TIMEOUT_S,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done if done.returncode == 0 else None


def git_state() -> tuple[str | None, bool | None, str | None]:
    """(commit, dirty, SHA-256 of ``git diff HEAD``) of the checkout; Nones outside git.

    Dirty means changes to tracked files; untracked files (results, scratch) do not count.
    Code shipped without its ``.git`` (``biril submit`` stages the checkout's files as a
    Ray job's working dir) carries the submitter's state in ``$BIRIL_GIT_STATE``.
    """
    head = _git("rev-parse", "HEAD")
    if head is None:
        shipped = os.environ.get(GIT_STATE_ENV)
        return tuple(json.loads(shipped)) if shipped else (None, None, None)
    diff = _git("diff", "HEAD", "--no-ext-diff", "--binary")
    if diff is None:
        return head.stdout.decode().strip(), None, None
    dirty = bool(diff.stdout)
    digest = hashlib.sha256(diff.stdout).hexdigest() if dirty else None
    return head.stdout.decode().strip(), dirty, digest


def gpu_driver() -> str | None:
    """The NVIDIA driver version (``nvidia-smi``), or None without one."""
    smi = shutil.which("nvidia-smi")
    if smi is None:
        return None
    try:
        out = subprocess.run(
            [smi, "--query-gpu=driver_version", "--format=csv,noheader"],
            capture_output=True, text=True, timeout=GIT_TIMEOUT_S, check=False,
        ).stdout
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.splitlines()[0].strip() if out.strip() else None


def collect() -> Provenance:
    """This driver's record: git state, ``biril doctor``'s versions and GPUs."""
    from biril.doctor import gpu_checks, version_checks

    checks = {c.name: c.detail for c in version_checks()}
    commit, dirty, digest = git_state()
    packages = {
        name: detail.get("version")
        for name, detail in checks.items()
        if name not in ("python", "cuda", "cudnn")
    }
    try:
        packages[DISTRIBUTION] = metadata.version(DISTRIBUTION)
    except metadata.PackageNotFoundError:
        packages[DISTRIBUTION] = None
    return Provenance(
        git_commit=commit,
        git_dirty=dirty,
        git_diff_sha256=digest,
        python=checks.get("python", {}).get("version"),
        packages=packages,
        cuda=checks.get("cuda", {}).get("version"),
        cudnn=checks.get("cudnn", {}).get("version"),
        gpus=[c.detail["name"] for c in gpu_checks()],
        hostname=socket.gethostname(),
        recorded_at=dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
    )


def record(study: optuna.Study, resumed: bool) -> Provenance:
    """Store this run's record in the study: the first, or a resume on different code."""
    now = collect()
    first = study.user_attrs.get(STUDY_PROVENANCE)
    if not resumed or first is None:
        study.set_user_attr(STUDY_PROVENANCE, now.model_dump(mode="json"))
        return now
    old = Provenance(**first)
    if not same_code(old, now):
        print(
            f"note: sweep {study.study_name} resumes on different code than it started on "
            f"({code_change(old, now)}); the summary and report say so",
            file=sys.stderr,
        )
        earlier = list(study.user_attrs.get(STUDY_RESUMED_ON) or [])
        study.set_user_attr(STUDY_RESUMED_ON, [*earlier, now.model_dump(mode="json")])
    return now
