"""Search: plain words plus filters, paged and sortable, every state in the query string so it can be shared."""

from __future__ import annotations

import re

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from ..model import KINDS, VERDICTS
from .view import render, store_of

router = APIRouter()

PAGE = 25
# Past this many matches the page says "more than 1000": counting them all costs, and no one pages that far.
COUNT_CAP = 1000
SORTS = {"relevance": "relevance", "date": "oldest first", "-date": "newest first", "path": "path"}
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def _choice(value: str | None, allowed: tuple[str, ...] | dict[str, str]) -> str | None:
    return value if value in allowed else None


def _date(value: str | None) -> str | None:
    return value if value and _DATE.match(value) else None


@router.get("/search")
def search(request: Request, q: str = "", kind: str | None = None, verdict: str | None = None,
           sender: str | None = None, domain: str | None = None, date_from: str | None = None,
           date_to: str | None = None, folder: str | None = None, sort: str = "relevance",
           page: int = 1) -> Response:
    params = {"q": q.strip()[:500], "kind": _choice(kind, KINDS), "verdict": _choice(verdict, VERDICTS),
              "sender": (sender or "").strip()[:320] or None, "domain": (domain or "").strip()[:255] or None,
              "date_from": _date(date_from), "date_to": _date(date_to), "folder": (folder or "").strip()[:1000] or None,
              "sort": _choice(sort, SORTS) or "relevance"}
    page = max(1, min(page, 10_000))
    store = store_of(request)
    total, hits = store.search_page(
        params["q"], kind=params["kind"], verdict=params["verdict"], sender=params["sender"],
        domain=params["domain"], date_from=params["date_from"], date_to=params["date_to"], folder=params["folder"],
        sort=params["sort"], limit=PAGE, offset=(page - 1) * PAGE, count_cap=COUNT_CAP)
    many = total > COUNT_CAP
    pages = max(1, -(-min(total, COUNT_CAP) // PAGE), page + 1 if many and len(hits) == PAGE else page)
    return render(request, "search.html", params=params, hits=hits, total=total, many=many, cap=COUNT_CAP,
                  page=page, pages=pages,
                  kinds=KINDS, verdicts=VERDICTS, sorts=SORTS, first=(page - 1) * PAGE + 1)
