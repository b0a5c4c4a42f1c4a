"""The contract of a check: read an item (or the whole case) and emit findings.

Item checks run in the worker processes, right after ingest, on each ItemRecord (emails carry their raw bytes
and what their container did to them). Case checks run once the whole dump is in the store, where they need
context across items (threads, baselines, copies).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import ClassVar, Protocol

from ..keys import KeyStore
from ..model import Finding, ItemRecord


@dataclass
class CheckContext:
    keys: KeyStore = field(default_factory=KeyStore)
    leaked_at: datetime | None = None  # when the dump was published (--leaked-at)


class ItemCheck(Protocol):
    name: ClassVar[str]

    def applies(self, rec: ItemRecord) -> bool: ...

    def run(self, rec: ItemRecord, ctx: CheckContext) -> list[Finding]: ...
