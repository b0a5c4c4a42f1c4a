"""The page text and Info of every earlier revision of an incrementally updated PDF.

The bytes of revision k are the file cut at that revision's end (`xref_sections[k].end`, found by following the
xref chain in revisions.py): each prefix is a complete PDF as it stood before the later updates were appended.
Each prefix is opened from memory with pdfium (text) and pikepdf (its trailer's Info), never written anywhere.

metadata["revision_texts"]: one record per revision, oldest first, the final revision included (its text is the
item's own text):
    {"revision": 1-based index, "end": byte offset, "pages": int, "info": {...}, "info_dates": {...},
     "text": first REV_TEXT_CHARS characters, "text_chars": length of the text read, "text_sha256": digest of
     the whitespace-normalized text read (up to the text caps), "text_truncated": bool, "error": why not read}
metadata["revision_texts_skipped"]: why earlier revisions were not read (file too big, too many revisions).
"""

from __future__ import annotations

import hashlib
import io
from typing import Any, BinaryIO

import pikepdf
import pypdfium2 as pdfium

from ..base import Blob, Context
from .pagetext import PDFIUM_ERRORS, page_text
from .objects import PIKE_ERRORS, read_info

MAX_REVISIONS = 8  # earlier revisions read, the most recent ones (those the final text diffs against)
MAX_FILE_BYTES = 200 * 1024 * 1024  # larger files keep their revision chain but no revision text
REV_TEXT_CHARS = 20_000  # characters of each revision's text kept in metadata



def normalized(text: str) -> str:
    """Text with runs of white space folded: layout differences between revisions are not edits."""
    return " ".join(text.split())


def digest(text: str) -> str:
    return hashlib.sha256(normalized(text).encode("utf-8", "surrogatepass")).hexdigest()


def read_revision_texts(blob: Blob, ctx: Context, meta: dict[str, Any]) -> None:
    """Fill meta["revision_texts"] for a file with more than one revision (call after the final text)."""
    sections = meta.get("xref_sections")
    if not isinstance(sections, list) or len(sections) < 2:
        return
    if blob.size > MAX_FILE_BYTES:
        meta["revision_texts_skipped"] = f"file of {blob.size} bytes, over {MAX_FILE_BYTES}: revisions not read"
        return
    earlier = list(enumerate(sections[:-1], start=1))
    if len(earlier) > MAX_REVISIONS:
        meta["revision_texts_skipped"] = (f"{len(earlier)} earlier revisions: only the last {MAX_REVISIONS} "
                                          f"were read")
        earlier = earlier[-MAX_REVISIONS:]
    records: list[dict[str, Any]] = []
    with blob.open() as f:
        for number, sec in earlier:
            records.append(_earlier(f, number, sec.get("end"), ctx))
    records.append(_final(len(sections), sections[-1].get("end"), ctx, meta))
    meta["revision_texts"] = records


def _earlier(f: BinaryIO, number: int, end: Any, ctx: Context) -> dict[str, Any]:
    rec: dict[str, Any] = {"revision": number, "end": end}
    if not isinstance(end, int) or end <= 0:
        rec["error"] = "the revision's end (%%EOF) was not found"
        return rec
    f.seek(0)
    data = f.read(end)
    _info(data, rec)
    try:
        text, pages, truncated = _text(data, ctx)
    except PDFIUM_ERRORS as e:
        rec["error"] = f"pdfium: {type(e).__name__}: {e}"[:300]
        return rec
    _fill_text(rec, text, truncated)
    rec["pages"] = pages
    return rec


def _final(number: int, end: Any, ctx: Context, meta: dict[str, Any]) -> dict[str, Any]:
    rec: dict[str, Any] = {"revision": number, "end": end, "pages": meta.get("pages_pdfium", meta.get("pages"))}
    for key in ("info", "info_dates"):
        if key in meta:
            rec[key] = meta[key]
    if "text_error" in meta:
        rec["error"] = meta["text_error"]
        return rec
    _fill_text(rec, ctx.out.text or "", bool(meta.get("text_truncated")))
    return rec


def _fill_text(rec: dict[str, Any], text: str, truncated: bool) -> None:
    rec["text"] = text[:REV_TEXT_CHARS]
    rec["text_chars"] = len(text)
    rec["text_sha256"] = digest(text)
    rec["text_truncated"] = truncated or len(text) > REV_TEXT_CHARS


def _info(data: bytes, rec: dict[str, Any]) -> None:
    """The Info dictionary the revision's own trailer points to."""
    try:
        with pikepdf.open(io.BytesIO(data), inherit_page_attributes=False) as pdf:
            info = pdf.trailer.get("/Info")
            if isinstance(info, pikepdf.Dictionary):
                values, dates = read_info(info)
                rec["info"] = values
                if dates:
                    rec["info_dates"] = dates
    except pikepdf.PasswordError:
        rec["info_error"] = "needs a password"
    except PIKE_ERRORS as e:
        rec["info_error"] = f"{type(e).__name__}: {e}"[:300]


def _text(data: bytes, ctx: Context) -> tuple[str, int, bool]:
    """Page text of one revision, with the same page and character caps as the item's own text."""
    limits = ctx.limits
    doc = pdfium.PdfDocument(data)
    try:
        n = len(doc)
        parts: list[str] = []
        total = 0
        truncated = n > limits.max_pdf_text_pages
        for i in range(min(n, limits.max_pdf_text_pages)):
            if total >= limits.max_text_chars:
                truncated = True
                break
            try:
                text = page_text(doc, i)
            except PDFIUM_ERRORS:
                continue
            parts.append(text)
            total += len(text) + 1
        return "\n".join(parts).strip()[:limits.max_text_chars], n, truncated
    finally:
        doc.close()


