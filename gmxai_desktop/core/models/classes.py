"""Class-name files: upstream GestaltMatcher ``lookup_table.txt`` or one name per line.

The upstream table is a header line ``index_id to disorder_id`` followed by one line holding a
Python list literal of disorder ids, whose positions are the class indices. It is parsed with
:func:`ast.literal_eval`, which accepts literals only: a class file can never run code.
"""

from __future__ import annotations

import ast
from pathlib import Path

from ..base.errors import CheckpointError

UPSTREAM_HEADER = "index_id to disorder_id"
_MAX_BYTES = 20_000_000


def read_class_names(path: str | Path) -> list[str]:
    """Class names in class-index order, as strings (upstream disorder ids become e.g. ``"2"``)."""
    p = Path(path)
    name = p.name
    if not p.is_file():
        raise CheckpointError(f"class-name file {name} not found")
    if p.stat().st_size > _MAX_BYTES:
        raise CheckpointError(f"{name} is too large to be a class-name file")
    raw = p.read_bytes()
    if b"\x00" in raw:
        raise CheckpointError(
            f"{name} is not a text file; expected class names, one per line, or a lookup_table.txt"
        )
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise CheckpointError(f"{name} is not UTF-8 text; save it as UTF-8") from None
    lines = [line.strip() for line in text.splitlines()]
    lines = [line for line in lines if line]
    if not lines:
        raise CheckpointError(f"class-name file {name} is empty")

    body = lines
    if lines[0].lower() == UPSTREAM_HEADER:
        body = lines[1:]
        if not body:
            raise CheckpointError(f"{name}: the lookup table has a header but no list of disorder ids")
    if body[0].startswith(("[", "(")):
        return _parse_list(" ".join(body), name)
    if body is not lines:
        raise CheckpointError(
            f"{name}: after the header {UPSTREAM_HEADER!r} a Python list of ids was expected"
        )
    return body


def _parse_list(text: str, name: str) -> list[str]:
    try:
        value = ast.literal_eval(text)
    except (ValueError, SyntaxError, MemoryError, RecursionError):
        raise CheckpointError(
            f"{name}: the list of disorder ids cannot be read (expected e.g. [2, 14, 35])"
        ) from None
    if not isinstance(value, (list, tuple)) or not value:
        raise CheckpointError(f"{name}: expected a non-empty list of disorder ids")
    out: list[str] = []
    for item in value:
        if isinstance(item, bool) or not isinstance(item, (int, str)):
            raise CheckpointError(f"{name}: list entries must be ids (numbers or text), found {item!r}")
        out.append(str(item).strip())
    return out


def default_class_names(n: int) -> list[str]:
    return [f"class {i}" for i in range(n)]


def check_count(names: list[str], num_classes: int, source: str) -> None:
    if len(names) != num_classes:
        raise CheckpointError(
            f"{source} lists {len(names)} class{'es' if len(names) != 1 else ''} but the model has "
            f"{num_classes} outputs; use the class file that belongs to this checkpoint"
        )
