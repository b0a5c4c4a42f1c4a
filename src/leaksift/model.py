"""Plain data types that flow from ingest to the store and out again."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

KINDS = ("email", "document", "attachment", "archive", "other")
VERDICTS = ("verified", "consistent", "suspicious", "tampered", "unreadable")
EFFECTS = ("proves", "supports", "weakens", "contradicts", "info")


@dataclass
class EmailFields:
    """Parsed headers of one message; the raw bytes stay with the item."""

    from_: str | None = None  # the From header, decoded, as written
    from_addr: str | None = None  # the bare address, lower-cased
    to: list[str] = field(default_factory=list)
    cc: list[str] = field(default_factory=list)
    date: str | None = None  # ISO 8601 with the offset as written
    date_raw: str | None = None
    subject: str | None = None
    message_id: str | None = None
    in_reply_to: str | None = None
    references: list[str] = field(default_factory=list)


@dataclass
class Finding:
    check: str
    summary: str
    effect: str = "info"
    evidence: dict[str, Any] = field(default_factory=dict)


@dataclass
class ItemRecord:
    """One item at one location: what ingest emits and the store keeps."""

    id: str
    path: str
    parent: str | None
    source: str  # the top-level file of the dump this item came from
    depth: int
    kind: str
    mime: str
    sha256: str | None  # None when the bytes could not be read at all
    size: int | None
    text: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    email: EmailFields | None = None
    raw: bytes | None = None  # exact bytes of emails, as the container held them
    transforms: list[str] = field(default_factory=list)
    error_reason: str | None = None
    error: str | None = None
    is_container: bool = False
    children_expected: int | None = None
    children_emitted: int = 0
    children_failed: int = 0
    verdict: str = "consistent"
    findings: list[Finding] = field(default_factory=list)
    # What the near-duplicate case check needs of the text (checks/neardup.py text_signature), made in the item
    # phase where items are read in parallel: None when not made, b"" for a text too short to compare.
    minhash: bytes | None = None
    # The store's rows for it (store/rows.py pack), made in the worker so that a scan's one writer only inserts;
    # raw and text then travel inside them only.
    packed: tuple | None = None

    @property
    def children_lost(self) -> int:
        """Children a container announced that became neither an item nor an error."""
        if self.children_expected is None:
            return 0
        return max(0, self.children_expected - self.children_emitted - self.children_failed)
