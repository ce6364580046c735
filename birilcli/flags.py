"""``biril train``'s flags, made from ``TrainConfig``'s fields: a new field is one edit.

Each field becomes ``--field-name`` with the field's description as its help; a boolean is
a ``--x/--no-x`` pair. Every flag defaults to None (not given), so a ``--config`` file and
the model's defaults fill what the command line leaves out, and pydantic alone validates:
a bad value reads the same from a flag, a YAML file or Python.
"""

from __future__ import annotations

import types
import typing
from collections.abc import Callable

import click
from pydantic import BaseModel
from pydantic.fields import FieldInfo

# A field's Python type -> the click type that parses its flag (others: text, for pydantic).
CLICK_TYPES = {int: click.INT, float: click.FLOAT}


def flag_name(field: str) -> str:
    """``time_steps`` → ``--time-steps``: the field as the user types it."""
    return f"--{field.replace('_', '-')}"


def _bare(annotation: object) -> object:
    """``int | None`` → ``int``: the type a given flag's value has."""
    if isinstance(annotation, types.UnionType) or typing.get_origin(annotation) is typing.Union:
        (inner,) = [a for a in typing.get_args(annotation) if a is not type(None)]
        return inner
    return annotation


def _help(info: FieldInfo) -> str:
    choices = typing.get_args(_bare(info.annotation))
    text = info.description or ""
    if typing.get_origin(_bare(info.annotation)) is typing.Literal:
        text += f" One of: {', '.join(map(str, choices))}."
    if info.default is not None and not isinstance(info.default, bool):
        text += f" [default: {info.default}]"
    return text


def field_option(name: str, info: FieldInfo) -> Callable:
    """The click option of one model field (unset: None, so nothing overrides)."""
    kind = _bare(info.annotation)
    flag = flag_name(name)
    if kind is bool:
        state = "on" if info.default else "off"
        return click.option(
            f"{flag}/--no-{flag[2:]}", name, default=None, help=f"{_help(info)} [default: {state}]"
        )
    return click.option(flag, name, type=CLICK_TYPES.get(kind), default=None, help=_help(info))


def model_options(model: type[BaseModel]) -> Callable:
    """A decorator adding one option per field of ``model``, in the fields' order."""

    def decorate(command: Callable) -> Callable:
        for name, info in reversed(model.model_fields.items()):
            command = field_option(name, info)(command)
        return command

    return decorate
