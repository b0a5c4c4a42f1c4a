"""What every case store backend shares: column lists, parameter rows for writes, row-to-dict for reads."""

from __future__ import annotations

import json
import zlib
from datetime import datetime, timezone
from typing import Any, Callable, Mapping

from ..model import Finding, ItemRecord

BLOB_COLUMNS = ("sha256", "size", "mime", "best_item", "complete", "text", "metadata", "raw",
                "from_display", "from_addr", "to_addrs", "cc_addrs", "date", "date_utc", "date_raw",
                "subject", "message_id", "in_reply_to", "refs", "minhash")
ITEM_COLUMNS = ("id", "path", "parent", "source", "depth", "kind", "mime", "sha256", "size", "transforms",
                "location", "error_reason", "error", "is_container", "children_expected",
                "children_emitted", "children_failed", "verdict")
# A filter on items `i` for the reads of document checks: emails' metadata is their headers.
AND_NOT_EMAIL = "AND i.kind <> 'email' "
# The metadata of items `i` that are not emails (NULL for emails): what reads of document identity need.
NON_EMAIL_METADATA = "CASE WHEN i.kind = 'email' THEN NULL ELSE b.metadata END"
# Columns holding JSON text, decoded when an item is read back.
JSON_COLUMNS = ("transforms", "location", "metadata", "to_addrs", "cc_addrs", "refs")


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def dumps(value: Any) -> str | None:
    if value is None:
        return None
    return json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)


def utc(iso: str | None) -> str | None:
    if not iso:
        return None
    try:
        dt = datetime.fromisoformat(iso)
    except ValueError:
        return None
    if dt.tzinfo is None:
        return None
    return dt.astimezone(timezone.utc).isoformat()


def pack(rec: ItemRecord) -> ItemRecord:
    """Make the store's rows for a finished record where it was read (in parallel), so that the one writer of a
    scan only inserts them. What the rows hold then travels only inside them (raw compressed): the record keeps
    what the writer counts (id, kind, size, depth, error)."""
    blob = blob_params(rec) if rec.sha256 is not None else None
    rec.packed = (blob, item_params(rec), [finding_params(rec.id, f) for f in rec.findings])
    rec.raw = rec.text = rec.email = None
    rec.metadata, rec.findings, rec.transforms = {}, [], []
    return rec


def blob_params(rec: ItemRecord) -> tuple:
    """The blobs row of a record with content, in BLOB_COLUMNS order (raw bytes compressed)."""
    if rec.packed is not None and rec.packed[0] is not None:
        return rec.packed[0]
    meta = {k: v for k, v in rec.metadata.items() if k != "container"}
    em = rec.email
    raw = zlib.compress(rec.raw, 6) if rec.raw is not None else None
    return (
        rec.sha256, rec.size, rec.mime, rec.id, 0 if rec.error else 1, rec.text, dumps(meta), raw,
        em.from_ if em else None, em.from_addr if em else None,
        dumps(em.to) if em else None, dumps(em.cc) if em else None,
        em.date if em else None, utc(em.date) if em else None, em.date_raw if em else None,
        em.subject if em else None, em.message_id if em else None, em.in_reply_to if em else None,
        dumps(em.references) if em else None, rec.minhash,
    )


def item_params(rec: ItemRecord) -> tuple:
    """The items row of a record (its location in the dump), in ITEM_COLUMNS order."""
    if rec.packed is not None:
        return rec.packed[1]
    return (
        rec.id, rec.path, rec.parent, rec.source, rec.depth, rec.kind, rec.mime, rec.sha256, rec.size,
        dumps(rec.transforms), dumps(rec.metadata.get("container")), rec.error_reason, rec.error,
        int(rec.is_container), rec.children_expected, rec.children_emitted, rec.children_failed, rec.verdict,
    )


def finding_params(item_id: str, f: Finding) -> tuple:
    return (item_id, f.check, f.summary, f.effect, dumps(f.evidence))


def finding_rows(rec: ItemRecord) -> list[tuple]:
    """The findings rows of a record, as packed or made now."""
    if rec.packed is not None:
        return rec.packed[2]
    return [finding_params(rec.id, f) for f in rec.findings]


def finding_dict(row: Mapping[str, Any]) -> dict[str, Any]:
    """A findings row (check_name, summary, effect, evidence) as items carry it."""
    return {"check": row["check_name"], "summary": row["summary"], "effect": row["effect"],
            "evidence": json.loads(row["evidence"]) if row["evidence"] else {}}


def item_dict(row: Mapping[str, Any], findings: list[dict[str, Any]]) -> dict[str, Any]:
    """An item row joined with its blob, JSON decoded, with its findings."""
    d = dict(row)
    for key in JSON_COLUMNS:
        if d.get(key) is not None:
            d[key] = json.loads(d[key])
    d["is_container"] = bool(d["is_container"])
    d["findings"] = findings
    return d


def thread_links(row: Mapping[str, Any]) -> set[str]:
    """The Message-IDs a blobs row links to: its own, its In-Reply-To and its References."""
    return {x for x in (row["message_id"], row["in_reply_to"], *json.loads(row["refs"] or "[]")) if x}


def grow_thread(ids: set[str], fetch: Callable[[set[str]], list[Mapping[str, Any]]], cap: int) -> set[str]:
    """The Message-IDs of a whole thread, from some of them: a few rounds of `fetch` (the blobs rows naming any
    of `ids`); a cap keeps a hostile web of links bounded."""
    for _ in range(6):
        if not ids or len(ids) > cap:
            break
        grown = set(ids)
        for r in fetch(ids):
            grown |= thread_links(r)
        if grown == ids:
            break
        ids = grown
    return set(sorted(ids)[:cap])


def like_escape(text: str) -> str:
    """Text matched literally by LIKE ... ESCAPE '\\' (the default escape of PostgreSQL)."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def like_prefix(text: str) -> str:
    return like_escape(text) + "%"
