"""PDF history: the Info dictionary against the XMP packet, and incremental revisions that changed the page text.

The PDF reader records every earlier revision's Info and page text (metadata["revision_texts"], oldest first,
the final revision last; see ingest/pdf/revtext.py). This check reads only that metadata.

| finding | effect | innocent explanations |
|---|---|---|
| a revision changed the visible text (word diff, producer of the revision) | weakens | a correction saved incrementally (Acrobat "Save", not "Save As"), a form filled in and flattened, a redaction |
| a revision added text to pages that had none | info | OCR of a scan saved as an update (Acrobat, ABBYY), a stamp or a text layer added by a workflow |
| a revision removed all the text | info | pages flattened to images, a text layer pdfium cannot read in the final file |
| a revision changed no text (signature, form fill, annotations, re-save) | none | the normal life of a PDF: nothing is reported |
| Info and XMP creation dates disagree (beyond time-zone slack) | weakens | a converter that rewrote one of them (old-format conversion, a print-to-PDF chain) |
| Info and XMP modification dates, producer or creator tool disagree | info | a tool that updates Info but not XMP (macOS Preview / Quartz PDFContext re-saves, pdftk, qpdf, older iText, incremental updates by non-XMP-aware tools) |
| Info and XMP authors disagree | info (weakens when neither is a re-saving tool's doing and dates also disagree) | an author field edited in one place only; a shared template's XMP |

Slack: dates equal up to TIME_SLACK, or differing by a whole number of quarter hours up to 14 h (a time-zone
offset written wrong, with the wrong sign, or dropped, or a local time written as UTC), agree.

Calibration (../shared/corpus/pdf, 218 readable files): 1 flagged (weakens), doc_2_3_pages.pdf, whose second
revision (Adobe Acrobat 25) replaced its pages' text "Document 1" by "Document 2": a real edit after the first
save (Acrobat's Replace Pages, saved incrementally), which is exactly what the finding reports.
"""

from __future__ import annotations

import difflib
from datetime import datetime, timedelta
from typing import Any, ClassVar

from ..ingest import sniff
from ..model import Finding, ItemRecord
from .base import CheckContext

NAME = "pdfrev"
TIME_SLACK = timedelta(minutes=2)  # writers stamp Info and XMP a moment apart
TZ_SLACK = timedelta(hours=14)  # the largest time-zone offset
MAX_DIFF_OPS = 40  # word-diff hunks kept in evidence
MAX_HUNK_CHARS = 300
MAX_DIFF_WORDS = 20_000  # words per side given to the differ (quadratic worst case)
RESAVERS = ("quartz pdfcontext", "mac os x", "macos", "preview", "pdftk", "qpdf", "itext", "ghostscript")

# Info key, XMP property, what it is
DATE_PAIRS = (("CreationDate", "xmp:CreateDate", "creation date"), ("ModDate", "xmp:ModifyDate", "modification date"))
TOOL_PAIRS = (("Producer", "pdf:Producer", "producer"), ("Creator", "xmp:CreatorTool", "creator tool"))


def parse_date(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


def dates_agree(a: datetime, b: datetime) -> bool:
    """Equal within TIME_SLACK, or apart by a time-zone shift (whole quarter hours, at most 14 h), compared
    as instants or as wall clocks (an offset dropped, or written with the wrong sign: TCPDF writes -08'00' in
    Info and +08:00 in XMP)."""
    wall = abs(a.replace(tzinfo=None) - b.replace(tzinfo=None))
    if a.tzinfo is None or b.tzinfo is None:
        return _shift(wall)
    return _shift(wall) or _shift(abs(a - b))


def _shift(diff: timedelta) -> bool:
    if diff <= TIME_SLACK:
        return True
    if diff > TZ_SLACK + TIME_SLACK:
        return False
    quarter = timedelta(minutes=15)
    rest = diff % quarter
    return min(rest, quarter - rest) <= TIME_SLACK


def _norm(value: Any) -> str:
    if isinstance(value, list):
        value = "; ".join(str(v) for v in value)
    return " ".join(str(value).split()).casefold() if value is not None else ""


def word_diff(old: str, new: str) -> list[dict[str, str]]:
    """Hunks of words that differ between two texts: {"op", "old", "new"}."""
    a, b = old.split()[:MAX_DIFF_WORDS], new.split()[:MAX_DIFF_WORDS]
    hunks: list[dict[str, str]] = []
    for op, i1, i2, j1, j2 in difflib.SequenceMatcher(None, a, b, autojunk=False).get_opcodes():
        if op == "equal":
            continue
        hunks.append({"op": op, "old": " ".join(a[i1:i2])[:MAX_HUNK_CHARS],
                      "new": " ".join(b[j1:j2])[:MAX_HUNK_CHARS]})
        if len(hunks) >= MAX_DIFF_OPS:
            break
    return hunks


class PdfRevisionCheck:
    name: ClassVar[str] = NAME

    def applies(self, rec: ItemRecord) -> bool:
        return rec.mime == sniff.PDF and not rec.error and bool(rec.metadata)

    def run(self, rec: ItemRecord, ctx: CheckContext) -> list[Finding]:
        meta = rec.metadata
        return self._info_vs_xmp(meta) + self._revisions(meta)

    # --- Info against XMP ---------------------------------------------------------------------------

    def _info_vs_xmp(self, meta: dict[str, Any]) -> list[Finding]:
        info, xmp = meta.get("info"), meta.get("xmp")
        if not isinstance(info, dict) or not isinstance(xmp, dict):
            return []
        dates = meta.get("info_dates") or {}
        producer = _norm(info.get("Producer"))
        resaver = next((r for r in RESAVERS if r in producer), None)
        differ: dict[str, dict[str, Any]] = {}
        for key, prop, what in DATE_PAIRS:
            a, b = parse_date(dates.get(key)), parse_date(xmp.get(prop))
            if a is not None and b is not None and not dates_agree(a, b):
                differ[what] = {"info": dates.get(key), "xmp": xmp.get(prop),
                                "seconds_apart": int(abs((a.replace(tzinfo=None) - b.replace(tzinfo=None))
                                                         .total_seconds()))}
        for key, prop, what in TOOL_PAIRS + (("Author", "dc:creator", "author"),):
            a, b = _norm(info.get(key)), _norm(xmp.get(prop))
            if a and b and a != b:
                differ[what] = {"info": info.get(key), "xmp": xmp.get(prop)}
        if not differ:
            return []
        strong = "creation date" in differ or ("author" in differ and "modification date" in differ)
        effect = "weakens" if strong and resaver is None else "info"
        fields = ", ".join(differ)
        summary = f"The Info dictionary and the XMP packet disagree on the {fields}."
        if resaver:
            summary += f" The producer ({info.get('Producer')}) is a tool that rewrites Info and leaves XMP as it was."
        return [Finding(NAME, summary, effect, {"fields": differ, "resaving_producer": resaver,
                                                 "revisions": meta.get("revisions")})]

    # --- incremental revisions ----------------------------------------------------------------------

    def _revisions(self, meta: dict[str, Any]) -> list[Finding]:
        revs = meta.get("revision_texts")
        if not isinstance(revs, list) or len(revs) < 2:
            return []
        found: list[Finding] = []
        readable = [r for r in revs if isinstance(r, dict) and "text_sha256" in r]
        for old, new in zip(readable, readable[1:]):
            if old["text_sha256"] == new["text_sha256"]:
                continue  # signature, form fill, annotations or a plain re-save: the page text is the same
            found.append(self._changed(old, new))
        return found

    def _changed(self, old: dict[str, Any], new: dict[str, Any]) -> Finding:
        info = new.get("info") if isinstance(new.get("info"), dict) else {}
        old_text, new_text = str(old.get("text", "")), str(new.get("text", ""))
        evidence = {
            "old_revision": old.get("revision"), "new_revision": new.get("revision"),
            "old_end": old.get("end"), "new_end": new.get("end"),
            "producer": info.get("Producer"), "creator": info.get("Creator"),
            "modified": (new.get("info_dates") or {}).get("ModDate"),
            "old_sha256": old["text_sha256"], "new_sha256": new["text_sha256"],
            "old_chars": old.get("text_chars"), "new_chars": new.get("text_chars"),
            "diff": word_diff(old_text, new_text),
            "diff_truncated": bool(old.get("text_truncated") or new.get("text_truncated")),
        }
        producer = f" by {info['Producer']}" if info.get("Producer") else ""
        if not old_text.split():
            return Finding(NAME, f"Revision {new.get('revision')} added text{producer} to pages that had none "
                                 f"(as OCR of a scan does).", "info", evidence)
        if not new_text.split():
            return Finding(NAME, f"Revision {new.get('revision')} removed all the text{producer} (as flattening "
                                 f"pages to images does, or a text layer pdfium cannot read).", "info", evidence)
        return Finding(NAME, f"Revision {new.get('revision')} changed the visible text{producer}: the document "
                             f"was edited after it was first saved.", "weakens", evidence)


CHECKS = [PdfRevisionCheck]
