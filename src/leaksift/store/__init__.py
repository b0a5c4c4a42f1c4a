"""Case database backends behind one interface (store.base.CaseStore)."""

from __future__ import annotations

from pathlib import Path

from .base import CaseStore
from .sqlite import SQLiteStore


def is_postgres_url(url: str | Path) -> bool:
    return str(url).startswith(("postgresql://", "postgres://"))


def open_store(url: str | Path) -> CaseStore:
    """Open a case by its --db value: a postgresql:// URL (PostgreSQL), else a file path (SQLite)."""
    text = str(url)
    if is_postgres_url(text):
        try:
            from .postgres import PostgresStore  # psycopg is an optional dependency (extra "postgres")
        except ImportError as e:  # pragma: no cover - depends on the install
            raise RuntimeError("a postgresql:// case needs psycopg: pip install 'leaksift[postgres]'") from e
        return PostgresStore(text)
    return SQLiteStore(Path(text.removeprefix("sqlite:///")))


__all__ = ["CaseStore", "SQLiteStore", "is_postgres_url", "open_store"]
