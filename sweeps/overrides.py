"""``--set PATH=VALUE``: change fields of a sweep spec from the command line.

Changing one field of a shipped sweep should not mean copying its YAML:
``biril sweep digits --set train.epochs=5 --set search.num_trials=30``. A path is dotted
into the spec (``search.params.stdp_lr.high``); the value is read as YAML with the spec
file's loader (so ``1:8:3`` stays a ratio and ``[1, 2]`` is a list). The result is validated
exactly like the file, with errors naming the ``--set`` path, and is the spec the study
stores, so a resumed sweep must be given the same ``--set``s.

Example::

    spec = apply_overrides(load_spec("digits"), ["train.epochs=5"])
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import Any

import yaml

from biril.config import RatioYAMLLoader

from .spec import SpecError, SweepSpec, parse_spec

FLAG = "--set"


def parse_assignment(text: str) -> tuple[list[str], Any]:
    """``a.b.c=value`` as (["a", "b", "c"], the value read as YAML)."""
    path, eq, raw = text.partition("=")
    keys = path.strip().split(".")
    if not eq or not all(k.strip() for k in keys):
        raise SpecError(f"{FLAG} {text!r}: expected PATH=VALUE with a dotted path, e.g. "
                        "train.epochs=5")
    try:
        value = yaml.load(raw, Loader=RatioYAMLLoader) if raw.strip() else None
    except yaml.YAMLError as e:
        problem = " ".join(str(e).split())
        raise SpecError(f"{FLAG} {path}: the value is not valid YAML ({problem})") from None
    return [k.strip() for k in keys], value


def set_path(data: dict[str, Any], keys: list[str], value: Any, text: str) -> None:
    """Put ``value`` at ``keys`` in ``data``, creating mappings along the way."""
    node = data
    for depth, key in enumerate(keys[:-1]):
        child = node.get(key)
        if child is None:
            child = node[key] = {}
        if not isinstance(child, dict):
            where = ".".join(keys[: depth + 1])
            raise SpecError(f"{FLAG} {text}: {where} is {child!r}, not a mapping of fields")
        node = child
    node[keys[-1]] = value


def apply_overrides(spec: SweepSpec, assignments: Sequence[str]) -> SweepSpec:
    """The spec with each ``PATH=VALUE`` applied in order, validated like the file."""
    if not assignments:
        return spec
    data = copy.deepcopy(spec.to_store())
    for text in assignments:
        keys, value = parse_assignment(text)
        set_path(data, keys, value, text)
    return parse_spec(data, source=f"{FLAG} {' '.join(assignments)}")
