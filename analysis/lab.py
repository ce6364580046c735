"""A sweep's provenance and compute, read from the store: what ``biril best --json`` and the
report's header show, by the same functions as ``biril sweep``'s summary
(``results.provenance.provenance_view``, ``results.compute.study_compute``).

Example::

    record = lab_record("biril-results", "digits/sweep")
    record["compute"]["total"]["gpu_hours"], record["provenance"]["git_commit"]
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from analysis.tables import (
    STUDY_ATTRS,
    OpenStore,
    StoredTrial,
    StudyRef,
    find_studies,
    open_store,
    read_trials,
)
from results.compute import COMPUTE_ATTRS, STUDY_SLOTS, Compute, study_compute
from results.provenance import (
    STUDY_PROVENANCE,
    STUDY_RESUMED_ON,
    TRIAL_HOST_KEYS,
    ProvenanceView,
    provenance_view,
)

# The study attributes the record reads.
RECORD_STUDY_ATTRS = (STUDY_PROVENANCE, STUDY_RESUMED_ON, STUDY_SLOTS, "spec")
# The trial attributes the record and the timeline read.
TIMELINE_ATTRS = (*COMPUTE_ATTRS, *TRIAL_HOST_KEYS, "node_id", "gpu_ids")


def study_attrs(store: OpenStore, study: StudyRef) -> dict[str, Any]:
    """The study attributes the record needs (the stored spec among them)."""
    query = sa.select(STUDY_ATTRS.c.key, STUDY_ATTRS.c.value_json).where(
        STUDY_ATTRS.c.study_id == study.study_id, STUDY_ATTRS.c.key.in_(RECORD_STUDY_ATTRS)
    )
    with store.engine.connect() as connection:
        return {key: json.loads(value) for key, value in connection.execute(query)}


def study_lab(store: OpenStore, study: StudyRef) -> tuple[ProvenanceView | None, Compute | None]:
    """(provenance, compute) of one study; None where it predates recording them."""
    attrs = study_attrs(store, study)
    trials = read_trials(store, [study], keys=TIMELINE_ATTRS)[study.name]
    return provenance_view(attrs, trials), study_compute(attrs, trials)


def lab_record(storage: str | os.PathLike | None, study_name: str) -> dict[str, Any]:
    """``{"provenance": …, "compute": …}`` of the study named ``study_name``, JSON-ready."""
    with open_store(storage) as store:
        study = next(s for s in find_studies(store) if s.name == study_name)
        provenance, compute = study_lab(store, study)
    return {
        "provenance": None if provenance is None else provenance.model_dump(mode="json"),
        "compute": None if compute is None else compute.model_dump(mode="json"),
    }


@dataclass
class LabRecord:
    """One sweep's provenance, compute and the trials its timeline draws."""

    study: StudyRef
    provenance: ProvenanceView | None
    compute: Compute | None
    trials: list[StoredTrial]


def lab_records(storage: str | os.PathLike | None, dataset: str | None) -> list[LabRecord]:
    """Every sweep's record (of ``dataset``, or all), in the store's study order."""
    with open_store(storage) as store:
        studies = find_studies(store, dataset=dataset)
        trials = read_trials(store, studies, keys=TIMELINE_ATTRS)
        records = []
        for study in studies:
            attrs = study_attrs(store, study)
            ours = trials[study.name]
            records.append(LabRecord(study, provenance_view(attrs, ours),
                                     study_compute(attrs, ours), ours))
    return records


HEADER = ["sweep", "code", "versions", "ran on", "trials", "by stage", "GPU-h",
          "CPU-h", "wall (h)", "slots busy"]


def header_rows(records: list[LabRecord]) -> list[list[str]]:
    """The report header's table: a row per sweep (``—`` where it predates the record)."""
    rows = []
    for r in records:
        p, c = r.provenance, r.compute
        code = "—" if p is None else p.code_text()
        if p is not None and p.code_changed:
            code += "; resumed on different code"
        versions = "—" if p is None else p.versions_text()
        hosts = "—" if p is None else "; ".join(
            f"{h.hostname or '?'} {h.gpu or 'CPU'} ×{h.trials}" for h in p.hosts) or "—"
        if c is None:
            rows.append([r.study.name, code, versions, hosts, "—", "—", "—", "—", "—", "—"])
            continue
        unit = "GPU-h" if c.total.gpu_hours else "CPU-h"  # what the sweep used, by stage
        by_stage = ", ".join(
            f"{name} {cost.gpu_hours if c.total.gpu_hours else cost.cpu_hours:.4g}"
            for name, cost in c.stages.items()
        ) + f" {unit}"
        rows.append([
            r.study.name, code, versions, hosts, str(c.total.trials), by_stage or "—",
            f"{c.total.gpu_hours:.4g}", f"{c.total.cpu_hours:.4g}",
            "—" if c.wall_hours is None else f"{c.wall_hours:.4g}",
            "—" if c.utilization is None else f"{100 * c.utilization:.0f}% of {c.slots}",
        ])
    return rows
