"""Case database backends behind one interface (store.base.CaseStore)."""

from __future__ import annotations

from pathlib import Path

from .base import CaseStore
from .sqlite import SQLiteStore


def open_store(url: str | Path) -> CaseStore:
    """Open a case by its --db value: a file path (SQLite)."""
    text = str(url)
    if text.startswith(("postgresql://", "postgres://")):
        raise NotImplementedError("the PostgreSQL case store is not built yet")
    return SQLiteStore(Path(text.removeprefix("sqlite:///")))


__all__ = ["CaseStore", "SQLiteStore", "open_store"]
