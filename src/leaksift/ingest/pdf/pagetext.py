"""Page text through pdfium, shared by the reader and the recovery of earlier revisions."""

from __future__ import annotations

from typing import Any

import pypdfium2 as pdfium

# What pdfium raises on broken pages: each ends that page's text, never the item.
PDFIUM_ERRORS = (pdfium.PdfiumError, AssertionError, ValueError, IndexError, OSError, RuntimeError)


def page_text(doc: Any, index: int) -> str:
    page = doc[index]
    try:
        textpage = page.get_textpage()
        try:
            return textpage.get_text_range().replace("\r\n", "\n").replace("\r", "\n")
        finally:
            textpage.close()
    finally:
        page.close()
