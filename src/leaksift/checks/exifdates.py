"""A photo's own dates against the message that carries it.

A picture attached to an email cannot have been taken after the email was sent. EXIF dates carry no time zone
(OffsetTimeOriginal, where present, is used), so 14 hours of slack cover any zone. Effect: contradicts when the
camera date is later than the message's Date by more than the slack and a day; innocent explanations are a camera
clock set wrong (common: set once, never adjusted) — hence weakens, not contradicts, when the gap is under 30 days.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import ClassVar, Iterator

from ..model import Finding
from ..store.base import CaseStore
from .base import CheckContext
from .docdates import parse_date

ZONE_SLACK = timedelta(hours=14)
CLOCK_SLACK = timedelta(days=30)  # beyond this a wrong camera clock no longer explains it well


def _taken(meta: dict) -> tuple[datetime, str] | None:
    exif = meta.get("exif") if isinstance(meta.get("exif"), dict) else {}
    sub = exif.get("exif") if isinstance(exif.get("exif"), dict) else {}
    raw = sub.get("DateTimeOriginal") or sub.get("DateTimeDigitized")
    parsed = parse_date(raw) if raw else None
    if not parsed:
        return None
    when, zoned = parsed
    offset = sub.get("OffsetTimeOriginal")
    if not zoned and isinstance(offset, str) and len(offset) == 6 and offset[0] in "+-":
        sign = 1 if offset[0] == "+" else -1
        delta = timedelta(hours=int(offset[1:3]), minutes=int(offset[4:6]))
        when = (when.replace(tzinfo=None) - sign * delta).replace(tzinfo=timezone.utc)
    return when, str(raw)


class ExifDatesCheck:
    name: ClassVar[str] = "exifdates"
    reads_verdicts: ClassVar[bool] = False  # item-phase data only: may run beside the other case checks

    def run(self, store: CaseStore, ctx: CheckContext) -> Iterator[tuple[str, Finding]]:
        for img in store.items_with_metadata("exif", emails=False):
            taken = _taken(img["metadata"])
            if taken is None or not img.get("parent"):
                continue
            parent = store.item(img["parent"])
            if not parent or parent["kind"] != "email" or not parent.get("date"):
                continue
            try:
                sent = datetime.fromisoformat(parent["date"])
            except ValueError:
                continue
            gap = taken[0] - sent
            if gap <= ZONE_SLACK:
                continue
            effect = "contradicts" if gap > CLOCK_SLACK else "weakens"
            yield img["id"], Finding(
                "exifdates", f"The photo says it was taken {gap.days} days after the message carrying it was sent"
                             f" (taken {taken[1]}, message dated {parent['date']}).",
                effect, {"taken": taken[1], "taken_utc": taken[0].isoformat(), "message": parent["id"],
                         "message_date": parent["date"], "gap_seconds": int(gap.total_seconds())})


CHECKS = [ExifDatesCheck]
