"""The PDF reader: revisions with our own bounded parser, structure with pikepdf, text with pdfium.

qpdf and pdfium are native code: every call into them is guarded, and nothing is ever written
(no save, no repair on disk).
"""

from __future__ import annotations

import io
from typing import Any, Iterator

import pikepdf
import pypdfium2 as pdfium

from .. import sniff
from ..base import CORRUPT, ENCRYPTED, TRUNCATED, Blob, BytesBlob, Child, Context, IngestError
from .pagetext import PDFIUM_ERRORS, page_text
from .objects import PIKE_ERRORS
from .revisions import follow_chain, header_version, read_at
from .revtext import read_revision_texts
from .structure import MAX_WARNINGS, read_structure, read_warnings



# --- text with pdfium -------------------------------------------------------------------------------

def extract_text(source: Any, ctx: Context, meta: dict[str, Any]) -> None:
    """Page text with pdfium, page by page, stopping at the page and character caps."""
    limits = ctx.limits
    doc = pdfium.PdfDocument(source)
    try:
        n = len(doc)
        if "pages" not in meta:
            meta["pages"] = n
        elif meta["pages"] != n:
            meta["pages_pdfium"] = n
        parts: list[str] = []
        total = 0
        errors: list[dict[str, Any]] = []
        for i in range(min(n, limits.max_pdf_text_pages)):
            if total >= limits.max_text_chars:
                meta["text_truncated"] = True
                break
            try:
                text = page_text(doc, i)
            except PDFIUM_ERRORS as e:
                if len(errors) < MAX_WARNINGS:
                    errors.append({"page": i + 1, "error": f"{type(e).__name__}: {e}"[:300]})
                continue
            parts.append(text)
            total += len(text) + 1
        if n > limits.max_pdf_text_pages:
            meta["text_truncated"] = True
        if errors:
            meta["text_errors"] = errors
        text = "\n".join(parts).strip()
        if text:
            ctx.out.add_text(text, limits.max_text_chars)
    finally:
        doc.close()


# --- the reader -------------------------------------------------------------------------------------

def _pike_source(blob: Blob) -> Any:
    if blob.path is not None:
        return str(blob.path)
    if isinstance(blob, BytesBlob):
        return io.BytesIO(blob.data)
    return blob.open()


def _pdfium_source(blob: Blob) -> Any:
    if blob.path is not None:
        return str(blob.path)
    if isinstance(blob, BytesBlob):
        return blob.data
    return blob.open()


class PdfReader:
    name = "pdf"
    mimes = frozenset({sniff.PDF})
    container = False

    def read(self, blob: Blob, ctx: Context) -> Iterator[Child]:
        meta = ctx.out.metadata
        with blob.open() as f:
            version = header_version(read_at(f, 0, 1024))
            if version:
                meta["header_version"] = version
            meta.update(follow_chain(f, blob.size))
        structure_error = self._structure(blob, ctx, meta)
        try:
            extract_text(_pdfium_source(blob), ctx, meta)
        except PDFIUM_ERRORS as e:
            meta["text_error"] = f"{type(e).__name__}: {e}"[:500]
            if structure_error:
                reason = TRUNCATED if "startxref" not in meta else CORRUPT
                raise IngestError(reason, f"qpdf: {structure_error}; pdfium: {e}"[:1000]) from None
        read_revision_texts(blob, ctx, meta)
        yield from ()

    def _structure(self, blob: Blob, ctx: Context, meta: dict[str, Any]) -> str | None:
        """Fill what pikepdf knows; returns why it could not open the file, if it could not."""
        source = _pike_source(blob)
        try:
            with pikepdf.open(source, inherit_page_attributes=False) as pdf:
                read_structure(pdf, meta, ctx)
                read_warnings(pdf, meta)
        except pikepdf.PasswordError:
            meta["encrypted"] = True
            meta["needs_password"] = True
            raise IngestError(ENCRYPTED, "the PDF needs a user password") from None
        except PIKE_ERRORS as e:
            meta["structure_error"] = f"{type(e).__name__}: {e}"[:500]
            return meta["structure_error"]
        finally:
            if isinstance(source, io.IOBase):
                source.close()
        return None
