"""An OLE file's directory times against the dates its SummaryInformation claims.

A compound file's directory gives the root entry (and any storage or stream) its own creation and
modification FILETIMEs, written by the storage layer when the file is saved; SummaryInformation's
`created` and `last_saved` are written by the application. Both are UTC FILETIMEs, so they agree to the
minute in a file saved once by Office (Word rounds `last_saved` down to the minute; the root entry carries
the real second). Many writers leave the times at zero (LibreOffice, POI, most converters): then there is
nothing to compare. Times before 1985 or after 2100 are writer garbage (seen: 1601, 1611, 5984) and are left out.

Calibration (../shared/corpus office and ingest: 202 OLE files, 188 with SummaryInformation, mostly Apache
POI's test files): the root is modified more than a day after `last_saved` in 30 (Excel and PowerPoint files
re-written by a tool or an Office build that kept the properties; up to 16 years later); a root or stream
*created* before `created` in 3 (a copy saved from an older file keeps its storage); the file's last write
before `last_saved` or before `created` in none. 64 files carry no directory time at all.

| finding               | effect  | innocent explanation                                                      |
|-----------------------|---------|---------------------------------------------------------------------------|
| saved_after_properties | info    | a later save by a tool that keeps the property stream (POI, a converter, a DMS, Excel re-save without property update) |
| storage_born_earlier  | info    | Save As / template: a new document inherits the older file's storage creation time |
| properties_after_storage | weakens | a writer that stores local time in the FILETIME (14 h slack covers it); otherwise the properties were edited after the container was last written |
| storage_before_created | weakens | as above; otherwise the claimed creation was moved later than the file's own last write |
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any, ClassVar

from ..model import Finding, ItemRecord
from .base import CheckContext

NAME = "oletimes"
OLDEST = datetime(1985, 1, 1, tzinfo=timezone.utc)
NEWEST = datetime(2100, 1, 1, tzinfo=timezone.utc)
LATER_SAVE = timedelta(days=1)  # below this a later root time is the same session (autosave, close)
ZONE_SLACK = timedelta(hours=14)  # writers that put local time into a FILETIME property


def filetime(value: Any) -> datetime | None:
    """An ISO 'Z' time as recorded by the OLE reader; None when unset, unparsable or implausible."""
    if not isinstance(value, str) or not value.endswith("Z"):
        return None
    try:
        dt = datetime.fromisoformat(value[:-1]).replace(tzinfo=timezone.utc)
    except ValueError:
        return None
    return dt if OLDEST <= dt < NEWEST else None


def _span(td: timedelta) -> str:
    hours = td.total_seconds() / 3600
    return f"{hours / 24:.1f} days" if hours >= 48 else f"{hours:.1f} hours"


def _finding(kind: str, summary: str, effect: str, evidence: dict[str, Any]) -> Finding:
    return Finding(NAME, summary, effect, {"finding": kind, **evidence})


class OleTimesCheck:
    name: ClassVar[str] = NAME

    def applies(self, rec: ItemRecord) -> bool:
        return isinstance(rec.metadata.get("ole"), dict) and isinstance(rec.metadata.get("summary"), dict)

    def run(self, rec: ItemRecord, ctx: CheckContext) -> list[Finding]:
        ole, summary = rec.metadata["ole"], rec.metadata["summary"]
        created, saved = filetime(summary.get("created")), filetime(summary.get("last_saved"))
        root_mod = filetime(ole.get("root_modified"))
        # the container's last write: the root, or (Word leaves it unset in some builds) the latest entry
        written = max((t for t in (root_mod, filetime(ole.get("entries_latest"))) if t), default=None)
        born = min((t for t in (filetime(ole.get("root_created")), filetime(ole.get("entries_earliest")))
                    if t), default=None)
        evidence = {"created": summary.get("created"), "last_saved": summary.get("last_saved"),
                    "root_created": ole.get("root_created"), "root_modified": ole.get("root_modified"),
                    "entries_earliest": ole.get("entries_earliest"), "entries_latest": ole.get("entries_latest")}
        out: list[Finding] = []
        if written and created and written < created - ZONE_SLACK:
            out.append(_finding(
                "storage_before_created", f"The file was last written {_span(created - written)} before the "
                f"time its properties say it was created ({_iso(written)} vs {_iso(created)}).", "weakens",
                {**evidence, "gap_seconds": int((created - written).total_seconds())}))
        elif written and saved and written < saved - ZONE_SLACK:
            out.append(_finding(
                "properties_after_storage", f"The properties claim a save {_span(saved - written)} after the "
                f"file was last written ({_iso(saved)} vs {_iso(written)}): they were edited afterwards.",
                "weakens", {**evidence, "gap_seconds": int((saved - written).total_seconds())}))
        if written and saved and written > saved + LATER_SAVE:
            out.append(_finding(
                "saved_after_properties", f"The file was written again {_span(written - saved)} after its last "
                f"recorded save ({_iso(written)} vs {_iso(saved)}) by a program that did not update the "
                "properties.", "info", {**evidence, "gap_seconds": int((written - saved).total_seconds())}))
        if born and created and born < created - ZONE_SLACK:
            out.append(_finding(
                "storage_born_earlier", f"The file's storage was created {_span(created - born)} before the "
                f"document claims to be ({_iso(born)} vs {_iso(created)}): saved from an older file.", "info",
                {**evidence, "gap_seconds": int((created - born).total_seconds())}))
        return out


def _iso(dt: datetime) -> str:
    return dt.strftime("%Y-%m-%d %H:%M:%SZ")


CHECKS = [OleTimesCheck]
