"""The case store interface: everything after ingest reads and writes through it.

SQLite is the default backend; a PostgreSQL backend comes later behind the same methods.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterator, Protocol

from ..model import Finding, ItemRecord


@dataclass
class SourceState:
    path: str
    size: int
    mtime_ns: int
    status: str  # "done" or "crashed"


@dataclass
class SearchHit:
    id: str
    path: str
    kind: str
    verdict: str
    subject: str | None
    snippet: str


@dataclass
class Summary:
    items: int = 0
    by_kind: dict[str, int] = field(default_factory=dict)
    by_verdict: dict[str, int] = field(default_factory=dict)
    errors_by_reason: dict[str, int] = field(default_factory=dict)
    containers: int = 0
    unique_blobs: int = 0
    bytes: int = 0
    mismatched_containers: list[dict[str, Any]] = field(default_factory=list)


class CaseStore(Protocol):
    # --- scan bookkeeping
    def set_meta(self, key: str, value: str) -> None: ...
    def get_meta(self, key: str) -> str | None: ...
    def add_key_file(self, path: str, content: bytes) -> None: ...
    def key_files(self) -> list[dict[str, Any]]: ...
    def begin_scan(self, dump: str, options: dict[str, Any]) -> int: ...
    def end_scan(self, scan_id: int, stats: dict[str, Any]) -> None: ...
    def sources(self) -> dict[str, SourceState]: ...
    def source_state(self, path: str) -> SourceState | None: ...
    def has_items(self, source: str) -> bool: ...
    def clear_source(self, path: str) -> None: ...

    # --- writing (one writer per case)
    def write_items(self, records: list[ItemRecord], done: list[SourceState] | None = None) -> None: ...
    def add_findings(self, item_id: str, findings: list[Finding], verdict: str) -> None: ...
    def collect_garbage(self) -> None: ...

    # --- reading
    def item(self, item_id: str) -> dict[str, Any] | None: ...
    def children(self, item_id: str) -> list[dict[str, Any]]: ...
    def locations(self, sha256: str) -> list[dict[str, Any]]: ...
    def iter_items(self) -> Iterator[dict[str, Any]]: ...
    def search(self, query: str, kind: str | None = None, verdict: str | None = None,
               limit: int = 50, offset: int = 0) -> list[SearchHit]: ...
    def summary(self) -> Summary: ...
    def close(self) -> None: ...
