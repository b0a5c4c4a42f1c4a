"""Bounds on metadata values taken from documents (a hostile file may hold megabytes in a title)."""

from __future__ import annotations

from typing import Any

MAX_META = 200  # entries kept in one metadata mapping or list
MAX_VALUE = 4096  # characters kept of one metadata value


def cap(value: str) -> str:
    return value[:MAX_VALUE]


def add_multi(table: dict[str, Any], key: str, value: str) -> None:
    """A mapping where a repeated key collects its values in a list."""
    if key in table:
        if not isinstance(table[key], list):
            table[key] = [table[key]]
        if len(table[key]) < MAX_META:
            table[key].append(cap(value))
    elif len(table) < MAX_META:
        table[key] = cap(value)
