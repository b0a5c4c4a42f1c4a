"""Header consistency: the Received chain, the Date header, and dates after the leak.

Unsigned mail needs these most. Every finding carries the numbers so a reader can re-check them.
Innocent explanations (docs/verdicts.md): server clocks drift by minutes, mail sits in queues for hours, and a
client may write Date when the message is composed rather than sent.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from email.utils import parsedate_to_datetime
from typing import ClassVar

from ..model import Finding, ItemRecord
from .base import CheckContext

HOP_SLACK = timedelta(minutes=15)  # clock drift between servers
QUEUE_SLACK = timedelta(days=2)  # a first hop this long after Date is unusual (queues, offline clients)
DATE_AHEAD_SLACK = timedelta(hours=1)  # a Date this far after the first server saw it cannot be the send time


def hop_time(received: str) -> datetime | None:
    """The timestamp a Received header ends with (after its last ';')."""
    if ";" not in received:
        return None
    try:
        dt = parsedate_to_datetime(received.rsplit(";", 1)[1].strip())
    except (TypeError, ValueError, IndexError):
        return None
    return dt if dt is not None and dt.tzinfo is not None else None


def _iso(dt: datetime) -> str:
    return dt.isoformat()


class HeaderCheck:
    name: ClassVar[str] = "headers"

    def applies(self, rec: ItemRecord) -> bool:
        return rec.kind == "email" and rec.email is not None and not rec.error

    def run(self, rec: ItemRecord, ctx: CheckContext) -> list[Finding]:
        found: list[Finding] = []
        date = _parse_iso(rec.email.date if rec.email else None)
        raw_hops = [str(v) for v in rec.metadata.get("received", [])]
        hops = [(i, hop_time(v)) for i, v in enumerate(raw_hops)]
        timed = [(i, t) for i, t in hops if t is not None]
        found += self._order(timed, raw_hops)
        if timed and date is not None:
            first_i, first = timed[-1]  # the lowest Received header is the first hop
            if first - date > QUEUE_SLACK:
                found.append(Finding(
                    "headers", f"The first server received this message {_span(first - date)} after its Date.",
                    "weakens", {"date": _iso(date), "first_hop": _iso(first), "hop_index": first_i,
                                "delay_seconds": int((first - date).total_seconds())}))
            if date - first > DATE_AHEAD_SLACK:
                found.append(Finding(
                    "headers", f"The Date header is {_span(date - first)} later than the first server saw the "
                               f"message.",
                    "weakens", {"date": _iso(date), "first_hop": _iso(first), "hop_index": first_i,
                                "ahead_seconds": int((date - first).total_seconds())}))
        if ctx.leaked_at is not None:
            found += self._after_leak(date, timed, ctx.leaked_at)
        return found

    def _order(self, timed: list[tuple[int, datetime]], raw: list[str]) -> list[Finding]:
        """Each hop is added on top: read bottom-up, times must not go back beyond clock drift."""
        out = []
        chain = list(reversed(timed))
        for (i_prev, t_prev), (i_next, t_next) in zip(chain, chain[1:]):
            if t_prev - t_next > HOP_SLACK:
                out.append(Finding(
                    "headers", f"Received hops are out of order: a later hop is stamped {_span(t_prev - t_next)} "
                               f"before the one it follows.",
                    "weakens", {"earlier_hop": {"index": i_prev, "time": _iso(t_prev), "header": raw[i_prev][:300]},
                                "later_hop": {"index": i_next, "time": _iso(t_next), "header": raw[i_next][:300]},
                                "backwards_seconds": int((t_prev - t_next).total_seconds())}))
        return out

    def _after_leak(self, date: datetime | None, timed: list[tuple[int, datetime]],
                    leaked_at: datetime) -> list[Finding]:
        late_hops = [(i, t) for i, t in timed if t > leaked_at]
        evidence = {"leaked_at": _iso(leaked_at), "date": _iso(date) if date else None,
                    "late_hops": [{"index": i, "time": _iso(t)} for i, t in late_hops]}
        if late_hops:
            return [Finding("headers", "Servers stamped this message after the dump was published, which is "
                                       "impossible for a message in it.", "contradicts", evidence)]
        if date is not None and date > leaked_at:
            if timed:  # the servers saw it before: a sender's clock set wrong can write such a Date
                return [Finding("headers", "The Date header is after the dump was published, though every "
                                           "server stamp is before it.", "weakens", evidence)]
            return [Finding("headers", "The Date header is after the dump was published, which is impossible "
                                       "for a message in it.", "contradicts", evidence)]
        return []


def _parse_iso(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        dt = datetime.fromisoformat(value)
    except ValueError:
        return None
    return dt if dt.tzinfo else dt.replace(tzinfo=timezone.utc)


def _span(delta: timedelta) -> str:
    secs = int(delta.total_seconds())
    if secs >= 2 * 86400:
        return f"{secs // 86400} days"
    if secs >= 2 * 3600:
        return f"{secs // 3600} hours"
    return f"{max(secs // 60, 1)} minutes"


CHECKS = [HeaderCheck]
