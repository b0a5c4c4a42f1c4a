"""Readers: plain text, CSV, HTML, XML/SVG, JSON, RTF, iCalendar and vCard.

Text formats have no size structure, so every reader reads a bounded prefix (or streams with a cap):
a 2 GB log file must cost a few megabytes. XML goes through defusedxml only. HTML and RTF are turned
into text by the shared converters in support/.
"""

from __future__ import annotations

import codecs
import csv
import io
import json
import re
import xml.sax
from typing import Any, BinaryIO, Iterator
from xml.sax.handler import ContentHandler, property_lexical_handler

import defusedxml
from defusedxml.expatreader import DefusedExpatParser

from . import sniff
from .base import XML_ENTITIES, Blob, Child, Context, IngestError
from .support.html import visible_text
from .support.meta import MAX_META, MAX_VALUE, add_multi, cap
from .support.rtf import RtfText

MAX_COMMENTS = 20
MAX_CSV_ROWS = 1_000_000  # rows counted before we stop and say so
MAX_CSV_BYTES = 256 * 1024 * 1024  # bytes streamed while counting rows
CSV_SAMPLE = 16 * 1024  # characters given to the dialect sniffer
RTF_SCAN_BYTES = 32 * 1024 * 1024  # RTF streamed for text (pictures can be most of a file)
CHUNK = 1024 * 1024

BOMS = ((codecs.BOM_UTF32_LE, "utf-32"), (codecs.BOM_UTF32_BE, "utf-32"), (codecs.BOM_UTF8, "utf-8-sig"),
        (codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16"))
_META_CHARSET = re.compile(rb"""<meta[^>]{0,500}?charset\s*=\s*["']?\s*([A-Za-z0-9_.:-]{1,40})""", re.I)
_XML_DECL = re.compile(rb"""^\s*<\?xml[^>]{0,200}?encoding\s*=\s*["']([A-Za-z0-9_.:-]{1,40})["']""")


# --- charsets and bounded reads ---------------------------------------------------------------------

def prefix_bytes(ctx: Context) -> int:
    """How many bytes of a text file we read: enough for max_text_chars in any encoding."""
    return ctx.limits.max_text_chars * 4


def read_prefix(blob: Blob, ctx: Context) -> tuple[bytes, bool]:
    """The first bytes of the blob (bounded), and whether the rest was left unread."""
    n = prefix_bytes(ctx)
    with blob.open() as f:
        data = f.read(n)
    return data, blob.size > len(data)


def _codec(name: str) -> str | None:
    try:
        return codecs.lookup(name).name
    except LookupError:
        return None


def detect_charset(data: bytes, complete: bool, html: bool = False) -> str:
    """BOM, then strict UTF-8, then an HTML meta charset, then cp1252 (decoded with replacement)."""
    for bom, name in BOMS:
        if data.startswith(bom):
            return name
    try:
        codecs.getincrementaldecoder("utf-8")().decode(data, final=complete)
        return "utf-8"
    except UnicodeDecodeError:
        pass
    if html:
        m = _META_CHARSET.search(data[:8192])
        if m:
            name = _codec(m.group(1).decode("ascii"))
            if name and name not in ("utf-16", "utf-32", "utf-8"):
                return name
    return "cp1252"


def decode(data: bytes, charset: str, complete: bool) -> str:
    """Bytes to text; a character cut by the prefix end is dropped, bad bytes become U+FFFD."""
    return codecs.getincrementaldecoder(charset)(errors="replace").decode(data, final=complete)


def decoded_prefix(blob: Blob, ctx: Context, html: bool = False) -> tuple[str, str, bool]:
    """(text, charset, truncated) of the blob's bounded prefix, with `charset` recorded."""
    data, truncated = read_prefix(blob, ctx)
    charset = detect_charset(data, not truncated, html)
    text = decode(data, charset, not truncated)
    ctx.out.metadata["charset"] = charset
    if truncated or len(text) > ctx.limits.max_text_chars:
        ctx.out.metadata["text_truncated"] = True
    return text, charset, truncated


class LimitedReader(io.RawIOBase):
    """At most `limit` bytes of a stream; `hit` tells whether the limit cut it."""

    def __init__(self, f: BinaryIO, limit: int) -> None:
        self._f = f
        self._left = limit
        self.hit = False

    def readable(self) -> bool:
        return True

    def readinto(self, b: Any) -> int:
        if self._left <= 0:
            self.hit = bool(self._f.read(1))
            return 0
        data = self._f.read(min(len(b), self._left))
        b[:len(data)] = data
        self._left -= len(data)
        return len(data)


# --- plain text, JSON, calendar, vCard --------------------------------------------------------------

class PlainTextReader:
    name = "text"
    mimes = frozenset({sniff.TEXT, sniff.JSON, "text/calendar", "text/vcard"})
    container = False

    def read(self, blob: Blob, ctx: Context) -> Iterator[Child]:
        text, _, truncated = decoded_prefix(blob, ctx)
        meta = ctx.out.metadata
        if not truncated and ctx.name.lower().endswith(".json") and text.lstrip()[:1] in ("{", "["):
            meta.update(json_summary(text))
        head = text.lstrip()[:32].upper()
        if head.startswith(("BEGIN:VCALENDAR", "BEGIN:VCARD")):
            meta.update(content_lines(text))
        ctx.out.add_text(text, ctx.limits.max_text_chars)
        yield from ()


def json_summary(text: str) -> dict[str, Any]:
    """Whether the document is valid JSON, and the names of its top-level keys."""
    try:
        value = json.loads(text)
    except (ValueError, RecursionError) as e:
        return {"json_valid": False, "json_error": str(e)[:300]}
    out: dict[str, Any] = {"json_valid": True, "json_type": type(value).__name__}
    if isinstance(value, dict):
        out["json_keys"] = [str(k)[:200] for k in list(value)[:MAX_META]]
    elif isinstance(value, list):
        out["json_items"] = len(value)
    return out


def content_lines(text: str) -> dict[str, Any]:
    """Components and properties of an iCalendar or vCard file (RFC 5545 / 6350 content lines)."""
    components: dict[str, int] = {}
    props: dict[str, Any] = {}
    for line in _logical_lines(text):
        if ":" not in line:
            continue
        head, value = line.split(":", 1)
        name, _, params = head.partition(";")
        name = name.strip().upper()
        if not re.fullmatch(r"[A-Z0-9-]{1,64}(\.[A-Z0-9-]{1,64})?", name):
            continue
        if name == "BEGIN":
            components[value.strip().upper()] = components.get(value.strip().upper(), 0) + 1
        elif name != "END":
            if "QUOTED-PRINTABLE" in params.upper():
                value = _quoted_printable(value, params)
            add_multi(props, name, value)
    return {"components": components, "properties": props}


def _logical_lines(text: str) -> Iterator[str]:
    """Unfolded content lines; a quoted-printable value (vCard 2.1) also continues after a soft '='."""
    lines = re.sub(r"\r?\n[ \t]", "", text).splitlines()
    i = 0
    while i < len(lines):
        line = lines[i]
        i += 1
        if "QUOTED-PRINTABLE" in line.split(":", 1)[0].upper():
            while line.endswith("=") and i < len(lines):
                line = line[:-1] + lines[i]
                i += 1
        yield line


def _quoted_printable(value: str, params: str) -> str:
    import quopri
    m = re.search(r"CHARSET=([A-Za-z0-9_-]+)", params, re.I)
    charset = _codec(m.group(1)) if m else None
    return quopri.decodestring(value.encode("latin-1", "replace")).decode(charset or "utf-8", "replace")


# --- CSV --------------------------------------------------------------------------------------------

class CsvReader:
    name = "csv"
    mimes = frozenset({sniff.CSV})
    container = False

    def read(self, blob: Blob, ctx: Context) -> Iterator[Child]:
        text, charset, _ = decoded_prefix(blob, ctx)
        meta = ctx.out.metadata
        dialect = sniff_dialect(text[:CSV_SAMPLE], ctx.name)
        meta["delimiter"] = dialect.delimiter
        meta["quotechar"] = dialect.quotechar
        header = _first_row(text[:CSV_SAMPLE * 4], dialect)
        if header is not None:
            meta["header"] = [cap(h) for h in header[:MAX_META]]
            meta["columns"] = len(header)
        try:
            meta["has_header"] = csv.Sniffer().has_header(text[:CSV_SAMPLE])
        except (csv.Error, ValueError, ZeroDivisionError):
            pass
        meta.update(count_rows(blob, charset, dialect))
        ctx.out.add_text(text, ctx.limits.max_text_chars)
        yield from ()


def sniff_dialect(sample: str, name: str) -> type[csv.Dialect] | csv.Dialect:
    cut = sample.rfind("\n")
    if cut > 0:
        sample = sample[:cut]  # complete lines only
    try:
        return csv.Sniffer().sniff(sample, delimiters=",;\t|")
    except csv.Error:
        return csv.excel_tab if name.lower().endswith(".tsv") else csv.excel


def _first_row(text: str, dialect: Any) -> list[str] | None:
    try:
        return next(csv.reader(io.StringIO(text), dialect), None)
    except csv.Error:
        return None


def count_rows(blob: Blob, charset: str, dialect: Any) -> dict[str, Any]:
    """Rows counted while streaming the whole file (capped), and the widest row."""
    out: dict[str, Any] = {}
    rows = widest = 0
    with blob.open() as f:
        limited = LimitedReader(f, MAX_CSV_BYTES)
        stream = io.TextIOWrapper(io.BufferedReader(limited, CHUNK), encoding=charset, errors="replace",
                                  newline="")
        try:
            for row in csv.reader(stream, dialect):
                rows += 1
                widest = max(widest, len(row))
                if rows >= MAX_CSV_ROWS:
                    out["rows_capped"] = True
                    break
        except csv.Error as e:
            out["csv_error"] = f"row {rows + 1}: {e}"[:300]
        if limited.hit:
            out["rows_capped"] = True
    out["rows"] = rows
    out["columns_max"] = widest
    return out


# --- HTML -------------------------------------------------------------------------------------------

class HtmlReader:
    name = "html"
    mimes = frozenset({sniff.HTML})
    container = False

    def read(self, blob: Blob, ctx: Context) -> Iterator[Child]:
        text, _, _ = decoded_prefix(blob, ctx, html=True)
        parser = visible_text(text, ctx.limits.max_text_chars)
        meta = ctx.out.metadata
        title = parser.title_text()
        if title:
            meta["title"] = cap(title)
        if parser.meta:
            meta["meta"] = parser.meta
        visible = parser.text()
        if visible:
            ctx.out.add_text(visible, ctx.limits.max_text_chars)
        yield from ()


# --- XML and SVG ------------------------------------------------------------------------------------

class XmlText(ContentHandler):
    """SAX handler: text in document order, root element, element count, comments, doctype."""

    def __init__(self, limit: int) -> None:
        super().__init__()
        self.limit = limit
        self.size = 0
        self.parts: list[str] = []
        self.root: str | None = None
        self.elements = 0
        self.comments: list[str] = []
        self.doctype: dict[str, str | None] | None = None
        self.scripts = 0
        self.hidden = 0  # depth inside script/style, whose text is not shown
        self.in_title = 0
        self.title: list[str] = []

    def startElement(self, name: str, attrs: Any) -> None:  # noqa: N802 - SAX API
        self.elements += 1
        if self.root is None:
            self.root = name
        local = name.rsplit(":", 1)[-1]
        if local == "script":
            self.scripts += 1
        if local in ("script", "style"):
            self.hidden += 1
        if local == "title" and not self.title:
            self.in_title += 1
        self._emit("\n")

    def endElement(self, name: str) -> None:  # noqa: N802 - SAX API
        local = name.rsplit(":", 1)[-1]
        if local == "title" and self.in_title:
            self.in_title -= 1
        if local in ("script", "style") and self.hidden:
            self.hidden -= 1

    def characters(self, content: str) -> None:
        if self.hidden:
            return
        if self.in_title and sum(map(len, self.title)) < MAX_VALUE:
            self.title.append(content)
        self._emit(content)

    def _emit(self, s: str) -> None:
        if self.size < self.limit:
            s = s[:self.limit - self.size]
            self.parts.append(s)
            self.size += len(s)

    # lexical handler
    def comment(self, content: str) -> None:
        if len(self.comments) < MAX_COMMENTS:
            self.comments.append(cap(content.strip()))

    def startDTD(self, name: str, public_id: str | None, system_id: str | None) -> None:  # noqa: N802
        self.doctype = {"name": name, "public_id": public_id, "system_id": system_id}

    def endDTD(self) -> None:  # noqa: N802
        pass

    def startCDATA(self) -> None:  # noqa: N802
        pass

    def endCDATA(self) -> None:  # noqa: N802
        pass

    def text(self) -> str:
        lines = (ln.strip() for ln in "".join(self.parts).splitlines())
        return "\n".join(ln for ln in lines if ln)


class XmlReader:
    name = "xml"
    mimes = frozenset({sniff.XML, "image/svg+xml"})
    container = False

    def read(self, blob: Blob, ctx: Context) -> Iterator[Child]:
        meta = ctx.out.metadata
        head = blob.head(4096)
        declared = _XML_DECL.match(head)
        if declared:
            meta["xml_encoding"] = declared.group(1).decode("ascii")
        bom = next((name for bom, name in BOMS if head.startswith(bom)), None)
        meta["charset"] = bom or (_codec(meta["xml_encoding"]) if declared else None) or "utf-8"
        handler = XmlText(ctx.limits.max_text_chars)
        error = parse_xml_stream(blob, handler, prefix_bytes(ctx), meta)
        meta["xml_root"] = handler.root
        meta["xml_elements"] = handler.elements
        if handler.comments:
            meta["comments"] = handler.comments
        if handler.doctype:
            meta["doctype"] = handler.doctype
        if handler.scripts:
            meta["scripts"] = handler.scripts
        title = " ".join("".join(handler.title).split())
        if title:
            meta["title"] = cap(title)
        text = handler.text()
        if error and not text:  # not well-formed: keep the words anyway
            text, _, _ = decoded_prefix(blob, ctx)
            text = re.sub(r"<[^>]{0,2000}>", " ", text)
        if text:
            ctx.out.add_text(text, ctx.limits.max_text_chars)
        yield from ()


def parse_xml_stream(blob: Blob, handler: XmlText, limit: int, meta: dict[str, Any]) -> str | None:
    """Feed at most `limit` bytes to a defused SAX parser; returns the parse error, if any."""
    # Entity declarations stay forbidden (billion laughs); with them gone, the only external reference
    # left is a DOCTYPE's DTD (every Illustrator SVG has one), which the stdlib skips without fetching.
    parser = DefusedExpatParser(forbid_entities=True, forbid_external=False)
    parser.setFeature(xml.sax.handler.feature_external_ges, False)
    parser.setContentHandler(handler)
    try:
        parser.setProperty(property_lexical_handler, handler)
    except (xml.sax.SAXNotRecognizedException, xml.sax.SAXNotSupportedException):
        pass
    read = 0
    try:
        with blob.open() as f:
            while read < limit:
                chunk = f.read(min(CHUNK, limit - read))
                if not chunk:
                    break
                read += len(chunk)
                parser.feed(chunk)
            if read >= limit and f.read(1):
                meta["text_truncated"] = True
                return None  # a cut document cannot be closed cleanly; what we read stands
        parser.close()
    except defusedxml.DefusedXmlException as e:
        raise IngestError(XML_ENTITIES, f"{type(e).__name__}: {e}"[:500]) from None
    except xml.sax.SAXParseException as e:
        meta["xml_error"] = str(e)[:500]
        return meta["xml_error"]
    return None


# --- RTF --------------------------------------------------------------------------------------------

class RtfReader:
    name = "rtf"
    mimes = frozenset({sniff.RTF})
    container = False

    def read(self, blob: Blob, ctx: Context) -> Iterator[Child]:
        machine = RtfText(ctx.limits.max_text_chars)
        meta = ctx.out.metadata
        carry = b""
        scanned = 0
        with blob.open() as f:
            while True:
                chunk = f.read(CHUNK)
                scanned += len(chunk)
                final = not chunk
                buf = carry + chunk
                used = machine.feed(buf, final)
                carry = buf[used:]
                if final:
                    break
                if machine.full or scanned >= RTF_SCAN_BYTES:
                    if scanned < blob.size:
                        meta["text_truncated"] = True
                    break
        meta["charset"] = machine.codepage
        info = machine.info()
        if "generator" in info:
            meta["generator"] = info.pop("generator")
        if info:
            meta["info"] = info
        if machine.userprops:
            meta["userprops"] = {name.strip(): value for name, value in machine.userprops}
        text = machine.text()
        if text:
            ctx.out.add_text(text, ctx.limits.max_text_chars)
        yield from ()


READERS: list[type] = [PlainTextReader, CsvReader, HtmlReader, XmlReader, RtfReader]
