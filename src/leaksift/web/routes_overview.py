"""The overview: counts by verdict and kind, the timeline, top senders and signing domains, what was flagged."""

from __future__ import annotations

from itertools import islice
from typing import Any, Iterable

from fastapi import APIRouter
from markupsafe import Markup
from starlette.requests import Request
from starlette.responses import Response

from ..report import charts
from .view import render, store_of

router = APIRouter()

MAX_FLAGGED = 100


def _flagged(items: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """Tampered then suspicious items, each with the finding that weighs most against it."""
    out = []
    for it in islice(items, MAX_FLAGGED):
        against = [f for f in it["findings"] if f["effect"] in ("contradicts", "weakens")]
        against.sort(key=lambda f: f["effect"] == "weakens")
        out.append({**it, "reason": against[0]["summary"] if against else ""})
    return out


@router.get("/")
def overview(request: Request) -> Response:
    store = store_of(request)
    # charts.timeline escapes every label it writes, so its SVG can go into the page as markup.
    timeline = Markup(charts.timeline(charts.pivot(store.messages_per_day(), "day")))
    return render(request, "overview.html", summary=store.summary(), timeline=timeline,
                  senders=store.top_senders(10), domains=store.dkim_domain_rates()[:10],
                  flagged=_flagged(store.items_by_verdict(("tampered", "suspicious"))),
                  dump=store.get_meta("dump_root"), leaked_at=store.get_meta("leaked_at"))
