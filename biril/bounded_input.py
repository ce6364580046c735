"""Reading a user's YAML file with bounded cost, and quoting user input in messages briefly.

A config or spec file is a few hundred bytes. A mistyped path (``/dev/zero``,
``/dev/urandom``, a FIFO, a 2 GB log) or a hostile file (a YAML "billion laughs" alias
bomb, whose few lines expand to 10^9 values) must fail in a second with one line, not
read until memory runs out. So: only regular files, at most ``MAX_FILE_BYTES`` read, at
most ``MAX_ALIASES`` aliases, at most ``MAX_NODES`` values once aliases are expanded.
Paths in messages are cut to ``QUOTE_CHARS`` characters (``clip``); values are quoted
through ``results.errors.quote``.
"""

from __future__ import annotations

import os
import stat
from typing import Any

import yaml

MAX_FILE_BYTES = 1_000_000
# Real configs use none; a few anchors for shared blocks are fine.
MAX_ALIASES = 100
# Values (mappings, lists and scalars) after aliases are expanded: far above any spec.
MAX_NODES = 100_000
QUOTE_CHARS = 200



class InputTooLarge(ValueError):
    """A file or value past the bounds above; the message says which bound."""


def clip(text: Any, limit: int = QUOTE_CHARS) -> str:
    """``str(text)`` cut to ``limit`` characters (with ``…[N more]``), for messages."""
    s = str(text)
    return s if len(s) <= limit else f"{s[:limit]}…[{len(s) - limit} more]"


def read_text(path: str | os.PathLike, limit: int = MAX_FILE_BYTES) -> str:
    """The text of a regular file of at most ``limit`` bytes; ``InputTooLarge`` otherwise.

    Opened non-blocking so a FIFO cannot hang the open; at most ``limit + 1`` bytes read.
    Raises ``OSError`` (missing, unreadable) and ``UnicodeDecodeError`` (binary) as usual.
    """
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    with os.fdopen(fd, "rb") as f:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            kind = "a folder" if stat.S_ISDIR(mode) else "not a regular file"
            raise InputTooLarge(f"{kind}; pass a YAML file")
        data = f.read(limit + 1)
    if len(data) > limit:
        raise InputTooLarge(f"larger than {limit // 1_000_000} MB; a config is a few KB")
    return data.decode("utf-8")


class BoundedLoader(yaml.SafeLoader):
    """PyYAML's safe loader, refusing a document with more than ``MAX_ALIASES`` aliases."""

    def compose_node(self, parent, index):
        if self.check_event(yaml.AliasEvent):
            self.alias_count = getattr(self, "alias_count", 0) + 1
            if self.alias_count > MAX_ALIASES:
                raise yaml.composer.ComposerError(
                    None, None, f"more than {MAX_ALIASES} aliases (*name)",
                    self.peek_event().start_mark,
                )
        return super().compose_node(parent, index)


def load_yaml(text: str, loader: type[yaml.SafeLoader]) -> Any:
    """``yaml.load`` with ``loader`` bounded as ``BoundedLoader``, expansion bounded too.

    ``loader`` must derive from ``BoundedLoader``. Raises ``yaml.YAMLError`` or
    ``InputTooLarge``.
    """
    if not issubclass(loader, BoundedLoader):
        raise TypeError(f"{loader.__name__} must derive from BoundedLoader")
    try:
        data = yaml.load(text, Loader=loader)
        check_expanded_size(data)
    except RecursionError:
        raise InputTooLarge("nested too deeply") from None
    return data


def check_expanded_size(data: Any, limit: int = MAX_NODES) -> None:
    """Refuse data whose aliases expand past ``limit`` values (or refer to themselves).

    Sizes are counted once per shared object (memo by ``id``), so a bomb is measured in
    time proportional to its text, not to its expansion.
    """
    sizes: dict[int, int] = {}
    open_ids: set[int] = set()

    def size(node: Any) -> int:
        if not isinstance(node, (dict, list)):
            return 1
        key = id(node)
        if key in sizes:
            return sizes[key]
        if key in open_ids:
            raise InputTooLarge("an alias refers to itself")
        open_ids.add(key)
        children = [*node.keys(), *node.values()] if isinstance(node, dict) else node
        total = 1
        for child in children:
            total += size(child)
            if total > limit:
                raise InputTooLarge(f"aliases expand to more than {limit:,} values")
        open_ids.discard(key)
        sizes[key] = total
        return total

    size(data)
