"""The export contract (docs/export.md): one object per item per location, stable keys."""

from __future__ import annotations

import csv
import json
from typing import Any, Iterable, TextIO

EXPORT_VERSION = 1

CSV_COLUMNS = ("id", "path", "kind", "mime", "sha256", "size", "parent", "source", "depth", "message_id",
               "from", "to", "cc", "date", "subject", "in_reply_to", "verdict", "findings", "error",
               "error_reason", "transforms", "children_expected", "children_emitted", "children_failed",
               "children_lost", "copies")


def export_record(d: dict[str, Any], with_text: bool = False) -> dict[str, Any]:
    """The exported form of one item as the store returns it."""
    container = None
    if d["is_container"]:
        expected = d["children_expected"]
        emitted, failed = d["children_emitted"] or 0, d["children_failed"] or 0
        lost = max(0, expected - emitted - failed) if expected is not None else None
        container = {"expected": expected, "emitted": emitted, "failed": failed, "lost": lost,
                     "complete": lost == 0}
    out: dict[str, Any] = {
        "id": d["id"],
        "path": d["path"],
        "kind": d["kind"],
        "mime": d["mime"],
        "sha256": d["sha256"],
        "size": d["size"],
        "parent": d["parent"],
        "source": d["source"],
        "depth": d["depth"],
        "message_id": d.get("message_id"),
        "from": d.get("from_display"),
        "from_addr": d.get("from_addr"),
        "to": d.get("to_addrs"),
        "cc": d.get("cc_addrs"),
        "date": d.get("date"),
        "date_utc": d.get("date_utc"),
        "subject": d.get("subject"),
        "in_reply_to": d.get("in_reply_to"),
        "references": d.get("refs"),
        "verdict": d["verdict"],
        "findings": d["findings"],
        "error": d["error"],
        "error_reason": d["error_reason"],
        "transforms": d.get("transforms") or [],
        "container": container,
        "copies": d.get("copies") or (1 if d["sha256"] else 0),
        "location": d.get("location"),
        "metadata": d.get("metadata") or {},
    }
    if with_text:
        out["text"] = d.get("text")
    return out


def write_jsonl(items: Iterable[dict[str, Any]], out: TextIO, with_text: bool = False) -> int:
    n = 0
    for d in items:
        out.write(json.dumps(export_record(d, with_text), ensure_ascii=False, sort_keys=False) + "\n")
        n += 1
    return n


def _cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, (list, dict)):
        return json.dumps(value, ensure_ascii=False)
    return value


def write_csv(items: Iterable[dict[str, Any]], out: TextIO) -> int:
    writer = csv.writer(out)
    writer.writerow(CSV_COLUMNS)
    n = 0
    for d in items:
        rec = export_record(d)
        c = rec["container"] or {}
        row = dict(rec, children_expected=c.get("expected"), children_emitted=c.get("emitted"),
                   children_failed=c.get("failed"), children_lost=c.get("lost"))
        writer.writerow([_cell(row.get(col)) for col in CSV_COLUMNS])
        n += 1
    return n
