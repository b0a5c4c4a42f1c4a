"""One item (headers or metadata, body, attachments, provenance, findings, DKIM), its bytes, thread and sender.

Items are addressed by id only: nothing in a request names a file."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, HTTPException
from starlette.requests import Request
from starlette.responses import Response

from ..store import CaseStore
from . import body
from .security import BODY_CSP
from .view import render, store_of

router = APIRouter()

_ID = re.compile(r"^[0-9A-Za-z_-]{1,64}$")


def _item(store: CaseStore, item_id: str) -> dict[str, Any]:
    rec = store.item(item_id) if _ID.match(item_id) else None
    if rec is None:
        raise HTTPException(404, "no such item")
    return rec


def _item_bytes(store: CaseStore, rec: dict[str, Any]) -> bytes | None:
    """The exact bytes: kept with the item (emails), else cut from the enclosing email's MIME part."""
    if not rec.get("sha256"):
        return None
    data = store.raw(rec["sha256"])
    if data is not None:
        return data
    parent = store.item(rec["parent"]) if rec.get("parent") else None
    if parent and parent.get("sha256"):
        raw = store.raw(parent["sha256"])
        if raw is not None:
            return body.find_part(body.parse(raw, parent.get("mime")), rec["sha256"])
    return None


def _html(store: CaseStore, rec: dict[str, Any]) -> tuple[str, list[body.Blocked]] | None:
    if rec["kind"] not in ("email", "attachment") or not rec.get("sha256"):
        return None
    raw = store.raw(rec["sha256"])
    if raw is None:
        return None
    html = body.html_body(body.parse(raw, rec.get("mime")))
    return body.sanitise(html) if html is not None else None


def _signatures(findings: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per DKIM signature, from the dkim findings that carry a verification status."""
    return [f["evidence"] for f in findings if f["check"] == "dkim" and "status" in f["evidence"]]


def _near_copies(store: CaseStore, rec: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    for f in rec["findings"]:
        if f["check"] != "neardup":
            continue
        ev = f["evidence"]
        other = ev.get("b") if ev.get("a") == rec.get("sha256") else ev.get("a")
        if isinstance(other, str) and other != rec.get("sha256"):
            for loc in store.locations(other)[:5]:
                out.append({**loc, "similarity": ev.get("similarity"), "summary": f["summary"]})
    return out


def _changes(evidence: dict[str, Any]) -> list[tuple[str, str]]:
    """Word changes a finding lists ({a, b} or {parent, quoted}), for a small diff table."""
    rows = []
    for c in evidence.get("changes") or []:
        if isinstance(c, dict):
            old = c.get("b", c.get("parent"))
            new = c.get("a", c.get("quoted"))
            rows.append((str(old), str(new)))
    return rows[:50]


@router.get("/item/{item_id}")
def item(request: Request, item_id: str) -> Response:
    store = store_of(request)
    rec = _item(store, item_id)
    html = _html(store, rec)
    copies = [loc for loc in store.locations(rec["sha256"]) if loc["id"] != rec["id"]] if rec.get("sha256") else []
    headers = (rec.get("metadata") or {}).get("headers") if rec["kind"] == "email" else None
    metadata = {k: v for k, v in (rec.get("metadata") or {}).items() if k != "headers"}
    return render(request, "item.html", rec=rec, ancestors=store.ancestors(item_id), children=store.children(item_id),
                  copies=copies, near=_near_copies(store, rec), signatures=_signatures(rec["findings"]),
                  headers=headers, metadata=metadata, has_html=html is not None,
                  blocked=body.blocked_hosts(html[1]) if html else [], changes=_changes,
                  has_bytes=bool(rec.get("sha256")) and (rec["kind"] in ("email", "attachment")))


@router.get("/item/{item_id}/body")
def item_body(request: Request, item_id: str) -> Response:
    """The sanitised HTML body, for the sandboxed iframe only: its own CSP makes it an opaque, script-less origin."""
    store = store_of(request)
    html = _html(store, _item(store, item_id))
    if html is None:
        raise HTTPException(404, "this item has no HTML body")
    page = ("<!doctype html><meta charset=utf-8><style>body{font:14px/1.45 sans-serif;margin:8px;color:#111}"
            "img{max-width:100%}</style>" + html[0])
    return Response(page, media_type="text/html; charset=utf-8", headers={"Content-Security-Policy": BODY_CSP})


def _download_name(path: str) -> str:
    name = path.rsplit("/", 1)[-1] or "item"
    ascii_name = re.sub(r"[^A-Za-z0-9._-]", "_", name)[:120] or "item"
    return f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(name[:200], safe='')}"


@router.get("/item/{item_id}/raw")
def item_raw(request: Request, item_id: str) -> Response:
    """The exact bytes, always as a download: never rendered, never sniffed."""
    store = store_of(request)
    rec = _item(store, item_id)
    data = _item_bytes(store, rec)
    if data is None:
        raise HTTPException(404, "the case keeps no bytes for this item (only emails and their attachments)")
    return Response(data, media_type="application/octet-stream",
                    headers={"Content-Disposition": _download_name(rec["path"]), "X-Content-Type-Options": "nosniff"})


@router.get("/item/{item_id}/thread")
def thread(request: Request, item_id: str) -> Response:
    store = store_of(request)
    rec = _item(store, item_id)
    return render(request, "thread.html", rec=rec, messages=store.thread_of(item_id))


@router.get("/sender/{addr}")
def sender(request: Request, addr: str, page: int = 1) -> Response:
    store = store_of(request)
    page = max(1, min(page, 10_000))
    total, items = store.items_by_sender(addr.lower()[:320], limit=50, offset=(page - 1) * 50)
    return render(request, "sender.html", addr=addr, total=total, items=items, page=page,
                  pages=max(1, -(-total // 50)))
