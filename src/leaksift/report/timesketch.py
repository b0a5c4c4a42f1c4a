"""The case as a Timesketch timeline: one CSV row per dated event (docs/export.md, "Timesketch timeline").

Timesketch imports a CSV whose header names at least `message`, `datetime` (ISO 8601 with its offset) and
`timestamp_desc` (what kind of time it is); `timestamp` (microseconds since 1970 UTC) is optional and kept here,
and every other column becomes a searchable field. Events come from what the readers recorded: an email's Date
and each Received hop, a document's created / modified / printed dates from each property set that carries
them, each revision of a PDF saved incrementally, and EXIF times. Items are streamed from the store; a date that
cannot be read is skipped and counted, never guessed.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from typing import Any, Iterable, Iterator, TextIO

from ..checks.docdates import parse_date
from ..checks.headers import hop_time

COLUMNS = ("message", "datetime", "timestamp", "timestamp_desc", "item_id", "path", "kind", "verdict", "sender",
           "subject", "sha256", "date_source", "date_as_written", "date_has_offset")

_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)

# (metadata section, field, what the date means, where it comes from): the document dates each format records.
DOCUMENT_DATES = (
    ("core", "created", "Document created", "OOXML core created"),
    ("core", "modified", "Document modified", "OOXML core modified"),
    ("core", "lastPrinted", "Document printed", "OOXML core lastPrinted"),
    ("meta", "meta:creation-date", "Document created", "ODF meta:creation-date"),
    ("meta", "dc:date", "Document modified", "ODF dc:date"),
    ("meta", "meta:print-date", "Document printed", "ODF meta:print-date"),
    ("summary", "created", "Document created", "OLE SummaryInformation created"),
    ("summary", "last_saved", "Document modified", "OLE SummaryInformation last_saved"),
    ("summary", "last_printed", "Document printed", "OLE SummaryInformation last_printed"),
    ("info_dates", "CreationDate", "Document created", "PDF Info CreationDate"),
    ("info_dates", "ModDate", "Document modified", "PDF Info ModDate"),
    ("xmp", "xmp:CreateDate", "Document created", "XMP xmp:CreateDate"),
    ("xmp", "xmp:ModifyDate", "Document modified", "XMP xmp:ModifyDate"),
)
EXIF_DATES = (
    ("exif", "DateTimeOriginal", "Photo taken", "EXIF DateTimeOriginal"),
    ("exif", "DateTimeDigitized", "Photo digitized", "EXIF DateTimeDigitized"),
    ("ifd0", "DateTime", "Photo file modified", "EXIF DateTime"),
)


@dataclass
class Event:
    when: datetime  # aware
    desc: str  # timestamp_desc
    source: str  # which field of the item said so
    written: str  # the value as the item wrote it
    has_offset: bool
    detail: str = ""  # more words for the message


@dataclass
class TimelineStats:
    items: int = 0
    events: int = 0
    skipped: int = 0  # dates present but unreadable
    skipped_by_source: dict[str, int] = field(default_factory=dict)


def microseconds(when: datetime) -> int:
    """Microseconds since 1970-01-01 UTC, exactly (no float rounding)."""
    delta = when - _EPOCH
    return (delta.days * 86400 + delta.seconds) * 1_000_000 + delta.microseconds


def _section(meta: dict[str, Any], key: str) -> dict[str, Any]:
    value = meta.get(key)
    return value if isinstance(value, dict) else {}


class _Collector:
    """The events of one item, and the dates it could not read."""

    def __init__(self, stats: TimelineStats) -> None:
        self.events: list[Event] = []
        self.stats = stats

    def skip(self, source: str) -> None:
        self.stats.skipped += 1
        self.stats.skipped_by_source[source] = self.stats.skipped_by_source.get(source, 0) + 1

    def add(self, value: Any, desc: str, source: str, detail: str = "") -> None:
        """A document-style date (ISO 8601, EXIF or PDF form); without an offset it is read as UTC and said so."""
        if value in (None, ""):
            return
        parsed = parse_date(value)
        if parsed is None:
            self.skip(source)
            return
        when, zoned = parsed
        self.events.append(Event(when, desc, source, str(value), zoned, detail))

    def add_aware(self, when: datetime | None, written: str, desc: str, source: str, detail: str = "") -> None:
        if when is None or when.tzinfo is None:
            self.skip(source)
            return
        self.events.append(Event(when, desc, source, written, True, detail))


def item_events(d: dict[str, Any], stats: TimelineStats) -> list[Event]:
    """The dated events of one item as the store returns it (iter_items)."""
    meta = d.get("metadata") or {}
    c = _Collector(stats)
    if d.get("kind") == "email":
        _email_events(d, meta, c)
    for section, key, desc, source in DOCUMENT_DATES:
        sec = _section(meta, section) if section != "meta" or meta.get("format") == "odf" else {}
        c.add(sec.get(key), desc, source)
    exif = _section(meta, "exif")
    for section, key, desc, source in EXIF_DATES:
        c.add(_section(exif, section).get(key), desc, source)
    _pdf_revisions(meta, c)
    return c.events


def _email_events(d: dict[str, Any], meta: dict[str, Any], c: _Collector) -> None:
    date, raw = d.get("date"), d.get("date_raw")
    if date:
        try:
            when: datetime | None = datetime.fromisoformat(date)
        except ValueError:
            when = None
        c.add_aware(when, raw or date, "Email sent", "Date header")
    elif raw:
        c.add_aware(_rfc2822(raw), raw, "Email sent", "Date header")
    hops = meta.get("received")
    if isinstance(hops, list):
        # Received fields are prepended: the bottom one is the first server, numbered hop 1.
        for n, value in enumerate(reversed(hops), start=1):
            if not isinstance(value, str):
                continue
            stamp = value.rsplit(";", 1)[1].strip() if ";" in value else ""
            by = _by_host(value)
            c.add_aware(hop_time(value), stamp, "Email received", f"Received header (hop {n})",
                        f"hop {n}" + (f", by {by}" if by else ""))


def _rfc2822(value: str) -> datetime | None:
    try:
        return parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None


def _by_host(received: str) -> str:
    words = received.replace("\t", " ").split()
    for i, w in enumerate(words[:-1]):
        if w.lower() == "by":
            return words[i + 1].strip(";")[:100]
    return ""


def _pdf_revisions(meta: dict[str, Any], c: _Collector) -> None:
    """Each incremental revision's save time (its Info ModDate), when a PDF has more than one."""
    revs = meta.get("revision_texts")
    if not isinstance(revs, list) or len(revs) < 2:
        return
    for rev in revs:
        if not isinstance(rev, dict):
            continue
        dates = _section(rev, "info_dates")
        n = rev.get("revision")
        label = f"revision {n}" if isinstance(n, int) else "revision"
        c.add(dates.get("ModDate") or dates.get("CreationDate"), "PDF revision saved",
              f"PDF {label} Info ModDate", label)


def _clean(value: Any) -> str:
    """A cell: text from the dump, without NULs (csv cannot carry them) and capped."""
    if value is None:
        return ""
    return str(value).replace("\x00", "")[:2000]


def _message(d: dict[str, Any], e: Event) -> str:
    if d.get("kind") == "email":
        what = f"{e.desc}" + (f" ({e.detail})" if e.detail else "")
        return f"{what}: {d.get('subject') or '(no subject)'} — from {d.get('from_display') or '?'}"
    return f"{e.desc}" + (f" ({e.detail})" if e.detail else "") + f" [{e.source}]: {d.get('path')}"


def rows(items: Iterable[dict[str, Any]], stats: TimelineStats) -> Iterator[list[str]]:
    """The timeline rows, item by item (items in store order, events in time order within an item)."""
    for d in items:
        stats.items += 1
        for e in sorted(item_events(d, stats), key=lambda e: e.when):
            stats.events += 1
            utc = e.when.astimezone(timezone.utc)
            row = {"message": _message(d, e), "datetime": utc.isoformat(), "timestamp": str(microseconds(utc)),
                   "timestamp_desc": e.desc, "item_id": d.get("id"), "path": d.get("path"), "kind": d.get("kind"),
                   "verdict": d.get("verdict"), "sender": d.get("from_display") or d.get("from_addr"),
                   "subject": d.get("subject"), "sha256": d.get("sha256"), "date_source": e.source,
                   "date_as_written": e.written, "date_has_offset": "true" if e.has_offset else "false"}
            yield [_clean(row[col]) for col in COLUMNS]


def write_timesketch(items: Iterable[dict[str, Any]], out: TextIO) -> TimelineStats:
    """Write the timeline CSV; nothing is held beyond one item's events."""
    stats = TimelineStats()
    writer = csv.writer(out)
    writer.writerow(COLUMNS)
    for row in rows(items, stats):
        writer.writerow(row)
    return stats
