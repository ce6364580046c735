"""Provenance: which code, packages and hardware produced a sweep's results.

Six months after a sweep nobody remembers which commit drew a surface. A sweep therefore
records, once per study (``sweeps.provenance`` collects it, from what ``biril doctor``
already checks), the code's git commit with a dirty flag and a hash of its uncommitted diff,
Python and the package versions, torch's CUDA and cuDNN, and the driver machine's GPUs. What
can differ between the trials of one sweep (the node, its GPU model and driver) is a trial
attribute, summarized here per host. A sweep resumed on other code keeps its first record
and adds the new one to ``resumed_on``, so the readers can say so.

This module is the contract (the shapes and the comparison); it collects nothing.

Example::

    view = provenance_view(study.user_attrs, study.trials)
    view.code_changed, view.commit, [h.gpu for h in view.hosts]
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from typing import Any

from pydantic import BaseModel, Field

# The study attributes: the record of the run that started the sweep, and those of resumes
# that ran on different code (``same_code`` false), oldest first.
STUDY_PROVENANCE = "provenance"
STUDY_RESUMED_ON = "resumed_on"
# The trial attributes that may differ between the trials of one sweep.
TRIAL_HOST_KEYS = ("hostname", "gpu_name", "gpu_driver")
# What makes two records the same code: the commit, the uncommitted diff, the versions.
CODE_KEYS = ("git_commit", "git_diff_sha256", "packages")


class Provenance(BaseModel):
    """One driver run's record: the code, its packages, the driver machine."""

    git_commit: str | None = None
    # Uncommitted changes to tracked files; None when the code is not a git checkout.
    git_dirty: bool | None = None
    # SHA-256 of ``git diff HEAD`` (None when clean): two dirty runs on one commit are the
    # same code only when their diffs hash alike.
    git_diff_sha256: str | None = None
    python: str | None = None
    # Distribution -> version (torch with its build tag), as ``biril doctor`` reads them.
    packages: dict[str, str | None] = Field(default_factory=dict)
    cuda: str | None = None
    cudnn: int | None = None
    # GPU models visible to the driver (a cluster's head may have none: see the hosts).
    gpus: list[str] = Field(default_factory=list)
    hostname: str | None = None
    recorded_at: str | None = None

    def code(self) -> dict[str, Any]:
        return {key: getattr(self, key) for key in CODE_KEYS}

    def code_text(self) -> str:
        """``commit 1a2b3c4d5e (dirty, diff 9f8e7d6c)``, or that it was no git checkout."""
        if self.git_commit is None:
            return "code not a git checkout"
        dirty = f" (dirty, diff {self.git_diff_sha256[:8]})" if self.git_diff_sha256 else ""
        return f"commit {self.git_commit[:10]}{dirty}"

    def versions_text(self) -> str:
        """``python 3.11.7 · torch 2.6.0+cu124 · ray 2.60.0 · optuna 4.3.0 · CUDA 12.4 · …``."""
        parts = [f"python {self.python}"]
        parts += [f"{name} {self.packages[name]}" for name in ("torch", "ray", "optuna")
                  if self.packages.get(name)]
        parts.append(f"CUDA {self.cuda}" if self.cuda else "no CUDA")
        if self.cudnn:
            parts.append(f"cuDNN {self.cudnn}")
        return " · ".join(parts)

    def describe(self) -> str:
        """The code and the versions in one line."""
        return f"{self.code_text()} · {self.versions_text()}"


def same_code(a: Provenance, b: Provenance) -> bool:
    """Whether two records name the same code: commit, uncommitted diff and versions."""
    return a.code() == b.code()


def code_change(old: Provenance, new: Provenance) -> str:
    """What differs between two records' code, in words (empty when nothing does)."""
    changes = []
    if old.git_commit != new.git_commit:
        changes.append(f"commit {str(old.git_commit)[:10]} -> {str(new.git_commit)[:10]}")
    elif old.git_diff_sha256 != new.git_diff_sha256:
        changes.append("uncommitted changes differ")
    for name in sorted(set(old.packages) | set(new.packages)):
        if old.packages.get(name) != new.packages.get(name):
            changes.append(f"{name} {old.packages.get(name)} -> {new.packages.get(name)}")
    return ", ".join(changes)


class Host(BaseModel):
    """One machine (and GPU model) the sweep's trials ran on, and how many trials it ran."""

    hostname: str | None
    gpu: str | None
    driver: str | None
    trials: int


class ProvenanceView(Provenance):
    """A sweep's provenance as the readers show it: the first record, the hosts of its
    trials, and the records of resumes on different code."""

    hosts: list[Host] = Field(default_factory=list)
    resumed_on: list[Provenance] = Field(default_factory=list)

    @property
    def code_changed(self) -> bool:
        return bool(self.resumed_on)

    def describe_lines(self) -> list[str]:
        lines = [self.describe()]
        lines += [
            f"{h.trials} trial{'s' if h.trials != 1 else ''} on {h.hostname or '?'}: "
            + (f"{h.gpu}, driver {h.driver or '?'}" if h.gpu else "CPU")
            for h in self.hosts
        ]
        lines += [f"RESUMED ON DIFFERENT CODE: {code_change(self, r)}" for r in self.resumed_on]
        return lines


def provenance_view(study_attrs: dict[str, Any], trials: Iterable[Any]) -> ProvenanceView | None:
    """The study's record with its trials' hosts (None for a sweep that predates records).

    ``trials`` are read by duck typing (``user_attrs``), Optuna's or the store reader's.
    """
    first = study_attrs.get(STUDY_PROVENANCE)
    if first is None:
        return None
    hosts = Counter(
        tuple(t.user_attrs.get(key) for key in TRIAL_HOST_KEYS)
        for t in trials
        if t.user_attrs.get("hostname") is not None
    )
    return ProvenanceView(
        **first,
        hosts=[
            Host(hostname=name, gpu=gpu, driver=driver, trials=n)
            for (name, gpu, driver), n in sorted(hosts.items(), key=lambda kv: str(kv[0]))
        ],
        resumed_on=[Provenance(**r) for r in study_attrs.get(STUDY_RESUMED_ON) or []],
    )
