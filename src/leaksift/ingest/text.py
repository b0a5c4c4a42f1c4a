"""Readers: plain text, CSV, HTML, XML/SVG, JSON, RTF, iCalendar and vCard.

Text formats have no size structure, so every reader reads a bounded prefix (or streams with a cap):
a 2 GB log file must cost a few megabytes. XML goes through defusedxml only. The XMP helpers used by
the PDF and image readers live here too: XMP is XML.
"""

from __future__ import annotations

import codecs
import csv
import io
import json
import re
import xml.sax
from html.parser import HTMLParser
from typing import Any, BinaryIO, Iterator, NamedTuple
from xml.sax.handler import ContentHandler, property_lexical_handler

import defusedxml
import defusedxml.ElementTree as DET
from defusedxml.expatreader import DefusedExpatParser

from . import sniff
from .base import XML_ENTITIES, Blob, Child, Context, IngestError

MAX_META = 200  # entries kept in one metadata mapping
MAX_VALUE = 4096  # characters kept of one metadata value
MAX_COMMENTS = 20
MAX_CSV_ROWS = 1_000_000  # rows counted before we stop and say so
MAX_CSV_BYTES = 256 * 1024 * 1024  # bytes streamed while counting rows
CSV_SAMPLE = 16 * 1024  # characters given to the dialect sniffer
RTF_SCAN_BYTES = 32 * 1024 * 1024  # RTF streamed for text (pictures can be most of a file)
RTF_MAX_GROUPS = 1000  # group nesting tracked; deeper groups share their parent's state
CHUNK = 1024 * 1024
HTML_FEED = 4 * 1024 * 1024  # characters given to html.parser at once

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


def _cap(value: str) -> str:
    return value[:MAX_VALUE]


def _add_multi(table: dict[str, Any], key: str, value: str) -> None:
    """A mapping where a repeated key collects its values in a list."""
    if key in table:
        if not isinstance(table[key], list):
            table[key] = [table[key]]
        if len(table[key]) < MAX_META:
            table[key].append(_cap(value))
    elif len(table) < MAX_META:
        table[key] = _cap(value)


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
            _add_multi(props, name, value)
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
            meta["header"] = [_cap(h) for h in header[:MAX_META]]
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

_BLOCK = frozenset({"p", "div", "br", "li", "tr", "h1", "h2", "h3", "h4", "h5", "h6", "table", "section",
                    "article", "header", "footer", "blockquote", "pre", "hr", "dd", "dt", "ul", "ol",
                    "form", "title", "address", "figcaption", "main", "nav", "aside"})
_CELLS = frozenset({"td", "th"})
_STRAY_LT = re.compile(r"<(?![A-Za-z/!?])")
LT = "\ufdd0"  # a Unicode noncharacter: never meaningful in a document


class VisibleText(HTMLParser):
    """Collects the text a browser shows (no script/style), the title and the meta tags."""

    def __init__(self, limit: int) -> None:
        super().__init__(convert_charrefs=True)
        self.limit = limit
        self.size = 0
        self.parts: list[str] = []
        self.skip = 0
        self.in_title = False
        self.title: list[str] = []
        self.meta: dict[str, Any] = {}

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("script", "style", "template"):
            self.skip += 1
        elif tag == "title":
            self.in_title = True
        elif tag == "meta":
            self._meta(dict(attrs))
        elif tag == "html":
            lang = dict(attrs).get("lang")
            if lang:
                self.meta.setdefault("html:lang", _cap(lang))
        if tag in _BLOCK:
            self._emit("\n")
        elif tag in _CELLS:
            self._emit("\t")

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "meta":
            self._meta(dict(attrs))
        elif tag in _BLOCK:
            self._emit("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style", "template"):
            self.skip = max(0, self.skip - 1)
        elif tag == "title":
            self.in_title = False
        if tag in _BLOCK:
            self._emit("\n")

    def handle_data(self, data: str) -> None:
        if self.skip:
            return
        if self.in_title:
            if sum(map(len, self.title)) < MAX_VALUE:
                self.title.append(data)
            return
        self._emit(data)

    def _emit(self, s: str) -> None:
        if self.size < self.limit:
            s = s[:self.limit - self.size]
            self.parts.append(s)
            self.size += len(s)

    def _meta(self, attrs: dict[str, str | None]) -> None:
        attrs = {k: v.replace(LT, "<") if v else v for k, v in attrs.items()}
        if attrs.get("charset"):
            _add_multi(self.meta, "charset", attrs["charset"] or "")
        key = attrs.get("name") or attrs.get("property") or attrs.get("http-equiv") or attrs.get("itemprop")
        if key and attrs.get("content") is not None:
            _add_multi(self.meta, key.strip().lower(), attrs["content"] or "")

    def text(self) -> str:
        raw = "".join(self.parts).replace(LT, "<")
        # collapse spaces but keep the tabs that separate table cells
        lines = (re.sub(r" ?\t[ \t]*", "\t", re.sub(r"[ \r\f\v\u00a0]+", " ", ln)).strip()
                 for ln in raw.split("\n"))
        return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()


class HtmlReader:
    name = "html"
    mimes = frozenset({sniff.HTML})
    container = False

    def read(self, blob: Blob, ctx: Context) -> Iterator[Child]:
        text, _, _ = decoded_prefix(blob, ctx, html=True)
        parser = VisibleText(ctx.limits.max_text_chars)
        # Large feeds: html.parser rescans an unclosed tag on every feed, so small ones go quadratic.
        # A '<' that opens no tag is text, but html.parser hands it over one character at a time:
        # stand a noncharacter in for it (and put the '<' back in what we keep).
        text = _STRAY_LT.sub(LT, text.replace(LT, "\ufffd"))
        for i in range(0, len(text), HTML_FEED):
            parser.feed(text[i:i + HTML_FEED])
            if parser.size >= ctx.limits.max_text_chars:
                break
        parser.close()
        meta = ctx.out.metadata
        title = " ".join("".join(parser.title).replace(LT, "<").split())
        if title:
            meta["title"] = _cap(title)
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
            self.comments.append(_cap(content.strip()))

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
            meta["title"] = _cap(title)
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


# --- XMP (used by the PDF and image readers) --------------------------------------------------------

RDF = "http://www.w3.org/1999/02/22-rdf-syntax-ns#"
XML_NS = "http://www.w3.org/XML/1998/namespace"
XMP_PREFIXES = {
    "adobe:ns:meta/": "x", RDF: "rdf", "http://purl.org/dc/elements/1.1/": "dc",
    "http://ns.adobe.com/xap/1.0/": "xmp", "http://ns.adobe.com/xap/1.0/mm/": "xmpMM",
    "http://ns.adobe.com/xap/1.0/rights/": "xmpRights", "http://ns.adobe.com/pdf/1.3/": "pdf",
    "http://ns.adobe.com/photoshop/1.0/": "photoshop", "http://ns.adobe.com/exif/1.0/": "exif",
    "http://ns.adobe.com/tiff/1.0/": "tiff", "http://ns.adobe.com/camera-raw-settings/1.0/": "crs",
    "http://ns.adobe.com/exif/1.0/aux/": "aux", "http://www.aiim.org/pdfa/ns/id/": "pdfaid",
    "http://www.aiim.org/pdfua/ns/id/": "pdfuaid", "http://ns.adobe.com/pdfx/1.3/": "pdfx",
    "http://ns.adobe.com/xap/1.0/sType/ResourceEvent#": "stEvt",
    "http://ns.adobe.com/xap/1.0/sType/ResourceRef#": "stRef",
    "http://iptc.org/std/Iptc4xmpCore/1.0/xmlns/": "Iptc4xmpCore",
    "http://iptc.org/std/Iptc4xmpExt/2008-02-29/": "Iptc4xmpExt",
    "http://ns.adobe.com/xap/1.0/t/pg/": "xmpTPg", "http://ns.adobe.com/xap/1.0/g/": "xmpG",
    "http://www.aiim.org/pdfa/ns/extension/": "pdfaExtension",
    "http://www.aiim.org/pdfa/ns/schema#": "pdfaSchema", "http://www.aiim.org/pdfa/ns/property#": "pdfaProperty",
    "http://ns.adobe.com/illustrator/1.0/": "illustrator", "http://ns.microsoft.com/photo/1.0/": "MicrosoftPhoto",
    "http://ns.google.com/photos/1.0/camera/": "GCamera", "http://www.npes.org/pdfx/ns/id/": "pdfxid",
    "http://prismstandard.org/namespaces/basic/3.0/": "prism",
}
MAX_XMP_DEPTH = 8


def qualified_name(clark: str, prefixes: dict[str, str] | None = None) -> str:
    """{uri}local -> prefix:local with the document's own prefix or a well-known one; else unchanged."""
    if not clark.startswith("{"):
        return clark
    uri, _, local = clark[1:].partition("}")
    prefix = (prefixes or {}).get(uri) or XMP_PREFIXES.get(uri)
    return f"{prefix}:{local}" if prefix else clark


def xmp_properties(packet: bytes) -> tuple[dict[str, Any], str | None]:
    """Every property of an XMP packet as {prefix:name: value}, parsed with defusedxml; and any error."""
    props, _, error = xmp_parse(packet)
    return props, error


def xmp_parse(packet: bytes) -> tuple[dict[str, Any], dict[str, str], str | None]:
    """Properties, the packet's own namespace prefixes (uri -> prefix), and the parse error if any."""
    start = packet.find(b"<")
    end = packet.rfind(b">")
    if start < 0 or end < start:
        return {}, {}, "no XML in the XMP packet"
    prefixes: dict[str, str] = {}
    root = None
    try:
        for event, item in DET.iterparse(io.BytesIO(packet[start:end + 1]), events=("start-ns", "end")):
            if event == "start-ns":
                prefixes.setdefault(item[1], item[0])
            else:
                root = item
    except defusedxml.DefusedXmlException as e:
        return {}, prefixes, f"{type(e).__name__}: {e}"[:300]
    except (DET.ParseError, ValueError, UnicodeError) as e:
        return {}, prefixes, f"{type(e).__name__}: {e}"[:300]
    if root is None:
        return {}, prefixes, "empty XMP packet"
    props: dict[str, Any] = {}
    rdfs = [root] if root.tag == f"{{{RDF}}}RDF" else list(root.iter(f"{{{RDF}}}RDF"))
    for rdf in rdfs:
        for desc in rdf:
            if desc.tag != f"{{{RDF}}}Description":
                continue
            for key, value in _resource(desc, prefixes, 0).items():
                props.setdefault(key, value)
            if len(props) >= MAX_META * 4:
                return props, prefixes, "XMP packet has too many properties; cut"
    return props, prefixes, None


def _resource(node: Any, prefixes: dict[str, str], depth: int) -> dict[str, Any]:
    """The properties of an rdf:Description or a parseType=Resource node: attributes, then children."""
    out: dict[str, Any] = {}
    for key, value in node.attrib.items():
        if not key.startswith((f"{{{RDF}}}", f"{{{XML_NS}}}")):
            out[qualified_name(key, prefixes)] = _cap(value)
    for child in node:
        if child.tag == f"{{{RDF}}}Description":  # a typed-node struct
            out.update(_resource(child, prefixes, depth + 1))
            continue
        if isinstance(child.tag, str):
            out[qualified_name(child.tag, prefixes)] = _xmp_value(child, prefixes, depth + 1)
    return out


def _xmp_value(node: Any, prefixes: dict[str, str], depth: int) -> Any:
    if depth > MAX_XMP_DEPTH:
        return "<nested>"
    resource = node.get(f"{{{RDF}}}resource")
    if resource is not None:
        return _cap(resource)
    if node.get(f"{{{RDF}}}parseType") == "Resource":
        return _resource(node, prefixes, depth)
    children = [c for c in node if isinstance(c.tag, str)]
    if not children:
        extra = {k: v for k, v in node.attrib.items() if not k.startswith((f"{{{RDF}}}", f"{{{XML_NS}}}"))}
        if extra:
            return _resource(node, prefixes, depth)
        return _cap(node.text or "")
    first = children[0]
    kind = first.tag.rsplit("}", 1)[-1] if first.tag.startswith(f"{{{RDF}}}") else None
    if kind in ("Seq", "Bag", "Alt"):
        items = [_xmp_value(li, prefixes, depth + 1) for li in first if isinstance(li.tag, str)][:MAX_META]
        if kind == "Alt":
            langs = [li.get(f"{{{XML_NS}}}lang") for li in first if isinstance(li.tag, str)]
            if "x-default" in langs:
                return items[langs.index("x-default")]
            return items[0] if items else ""
        return items
    if first.tag == f"{{{RDF}}}Description":
        return _resource(first, prefixes, depth)
    return _resource(node, prefixes, depth)


# --- RTF --------------------------------------------------------------------------------------------

_RTF_TOKEN = re.compile(
    rb"\\([a-zA-Z]{1,32})(-?\d{1,10})? ?"  # control word with optional parameter
    rb"|\\'([0-9a-fA-F]{2})"  # a byte in the document's code page
    rb"|\\([^a-zA-Z'])"  # control symbol
    rb"|([{}])"
    rb"|([^\\{}\r\n]+)"  # plain text
    rb"|[\r\n]+", re.S)
_RTF_SKIP = frozenset({
    "fonttbl", "colortbl", "stylesheet", "pict", "object", "objdata", "listtable", "listoverridetable",
    "revtbl", "rsidtbl", "xmlnstbl", "themedata", "colorschememapping", "datastore", "latentstyles",
    "fldinst", "filetbl", "mmathPr", "pgdsctbl", "listpicture", "protusertbl", "bkmkstart", "bkmkend",
    "shpinst", "nonshppict", "blipuid", "panose", "falt", "wgrffmtfilter", "pnseclvl", "listtext",
    "pntext", "defchp", "defpap", "passwordhash", "xe", "tc", "template", "docvar"})
_RTF_INFO_TEXT = frozenset({"title", "subject", "author", "manager", "company", "operator", "category",
                            "keywords", "comment", "doccomm", "hlinkbase", "generator"})
_RTF_TIMES = frozenset({"creatim", "revtim", "printim", "buptim"})
_RTF_INFO_NUMBERS = frozenset({"version", "vern", "edmins", "nofpages", "nofwords", "nofchars",
                               "nofcharsws", "id"})
_RTF_CHARS = {"par": "\n", "line": "\n", "sect": "\n", "page": "\n", "row": "\n", "tab": "\t", "cell": "\t",
              "emdash": "\u2014", "endash": "\u2013", "bullet": "\u2022", "lquote": "\u2018",
              "rquote": "\u2019", "ldblquote": "\u201c", "rdblquote": "\u201d", "emspace": " ", "enspace": " "}
_RTF_SYMBOLS = {b"~": "\u00a0", b"_": "\u2011", b"-": "", b"\\": "\\", b"{": "{", b"}": "}", b"\n": "\n",
                b"\r": "\n", b"\t": "\t"}
_RTF_CHARSETS = {"ansi": "cp1252", "mac": "mac_roman", "pc": "cp437", "pca": "cp850"}
# every control word the state machine acts on; the others are formatting and are dropped at once
_RTF_ACTIVE = (_RTF_SKIP | _RTF_INFO_TEXT | _RTF_TIMES | _RTF_INFO_NUMBERS | set(_RTF_CHARS) | set(_RTF_CHARSETS)
               | {"bin", "info", "userprops", "propname", "staticval", "ansicpg", "uc", "u"})


class RtfState(NamedTuple):
    """The part of the parser state that a `{` saves and the matching `}` restores (immutable, so a
    group opening only pushes a reference)."""

    skip: bool = False
    dest: str | None = None
    uc: int = 1
    in_info: bool = False


class RtfText:
    """A flat state machine over RTF tokens (no recursion): document text and the \\info group."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.state = RtfState()
        self.stack: list[RtfState] = []
        self.overflow = 0  # groups deeper than RTF_MAX_GROUPS, sharing their parent's state
        self.codepage = "cp1252"
        self.parts: list[str] = []
        self.size = 0
        self.hexbuf = bytearray()
        self.pending_skip = 0  # fallback characters still to drop after a \uN
        self.high: str | None = None  # a high surrogate waiting for its pair
        self.ignorable = False  # the last token was \*
        self.info_text: dict[str, list[str]] = {}
        self.times: dict[str, dict[str, int]] = {}
        self.time_raw: dict[str, str] = {}
        self.numbers: dict[str, int] = {}
        self.userprops: list[list[str]] = []  # [name, value] of \\userprops (custom properties)
        self.bin_skip = 0

    @property
    def full(self) -> bool:
        return self.size >= self.limit and not self.state.in_info

    def feed(self, buf: bytes, final: bool) -> int:
        """Consume tokens of buf; returns how many bytes were used (the rest waits for more data)."""
        pos = 0
        n = len(buf)
        while pos < n:
            if self.bin_skip:
                step = min(self.bin_skip, n - pos)
                self.bin_skip -= step
                pos += step
                continue
            c = buf[pos]
            if c == 0x7B or c == 0x7D:  # braces are most tokens of a nested document: no regex for them
                if self.hexbuf:
                    self._flush_hex()
                self._brace(c == 0x7B)
                pos += 1
                continue
            m = _RTF_TOKEN.match(buf, pos)
            if m is None:
                if not final and n - pos < 64:
                    return pos  # a backslash at the very end: wait for the next chunk
                pos += 1
                continue
            if not final and m.end() >= n and m.lastindex in (1, 2, 3, 4):
                return pos  # a control word may continue in the next chunk
            self._token(m)
            pos = m.end()
        return pos

    def _token(self, m: re.Match[bytes]) -> None:
        kind = m.lastindex
        if kind != 3 and self.hexbuf:
            self._flush_hex()
        if kind == 1 or kind == 2:
            word = m.group(1).decode("ascii")
            if word in _RTF_ACTIVE or self.ignorable or self.pending_skip or self.state.dest in _RTF_TIMES:
                param = m.group(2)
                self._control(word, int(param) if param is not None else None, m.group(0))
            return  # formatting (bold, fonts, spacing ...): nothing to keep
        word, param, hexbyte, symbol, brace, text = m.groups()
        if hexbyte is not None:
            if self.pending_skip:
                self.pending_skip -= 1
            else:
                self.hexbuf.append(int(hexbyte, 16))
        elif symbol is not None:
            self._symbol(symbol)
        elif brace is not None:
            self._brace(brace == b"{")
        elif text is not None:
            self._text(text.decode(self.codepage, "replace"))

    def _brace(self, opening: bool) -> None:
        self.ignorable = False
        self.pending_skip = 0
        if opening:
            if len(self.stack) >= RTF_MAX_GROUPS:
                self.overflow += 1
            else:
                self.stack.append(self.state)
        elif self.overflow:
            self.overflow -= 1
        elif self.stack:
            self.state = self.stack.pop()

    def _symbol(self, symbol: bytes) -> None:
        if symbol == b"*":
            self.ignorable = True
            return
        if self.pending_skip:
            self.pending_skip -= 1
            return
        self._text(_RTF_SYMBOLS.get(symbol, ""))

    def _control(self, word: str, param: int | None, raw: bytes) -> None:
        st = self.state
        ignorable, self.ignorable = self.ignorable, False
        if self.pending_skip:
            self.pending_skip -= 1
            return
        if word == "bin":
            self.bin_skip = max(0, param or 0)
        elif word == "info":
            self.state = st._replace(in_info=True, dest="info")
        elif word in _RTF_INFO_TEXT and (st.in_info or word == "generator"):
            self.state = st._replace(dest=word)
        elif word in _RTF_TIMES and st.in_info:
            self.state = st._replace(dest=word)
            self.times.setdefault(word, {})
        elif st.dest in _RTF_TIMES and word in ("yr", "mo", "dy", "hr", "min", "sec") and param is not None:
            self.times[st.dest][word] = param
            self.time_raw[st.dest] = self.time_raw.get(st.dest, "") + raw.decode("ascii").strip()
        elif st.in_info and word in _RTF_INFO_NUMBERS and param is not None:
            self.numbers[word] = param
        elif word in ("userprops", "propname", "staticval"):
            self.state = st._replace(dest=word)
        elif word in _RTF_SKIP or ignorable:
            self.state = st._replace(skip=True)
        elif word == "ansicpg" and param:
            self.codepage = _codec(f"cp{param}") or self.codepage
        elif word in _RTF_CHARSETS and not self.stack:
            self.codepage = _RTF_CHARSETS[word]
        elif word == "uc" and param is not None:
            self.state = st._replace(uc=max(0, min(param, 10)))
        elif word == "u" and param is not None:
            self._unicode(param)
            self.pending_skip = st.uc
        elif word in _RTF_CHARS:
            self._text(_RTF_CHARS[word])

    def _unicode(self, code: int) -> None:
        if code < 0:
            code += 65536  # RTF writes code points above 32767 as negative 16-bit numbers
        if not 0 <= code <= 0xFFFF:
            code = 0xFFFD
        ch = chr(code)
        if 0xD800 <= code <= 0xDBFF:
            self.high = ch
            return
        if 0xDC00 <= code <= 0xDFFF:
            ch = (self.high + ch).encode("utf-16", "surrogatepass").decode("utf-16") if self.high else "\ufffd"
        self.high = None
        self._text(ch)

    def _flush_hex(self) -> None:
        data, self.hexbuf = bytes(self.hexbuf), bytearray()
        self._text(data.decode(self.codepage, "replace"))

    def _text(self, s: str) -> None:
        st = self.state
        if self.pending_skip and s:
            drop = min(self.pending_skip, len(s))
            s, self.pending_skip = s[drop:], self.pending_skip - drop
        if st.skip or not s:
            return
        if self.high is not None:
            self.high = None
            s = "\ufffd" + s
        if st.dest in _RTF_INFO_TEXT:
            bucket = self.info_text.setdefault(st.dest, [])
            if sum(map(len, bucket)) < MAX_VALUE:
                bucket.append(s)
            return
        if st.dest in ("propname", "staticval"):
            self._userprop(st.dest, s)
            return
        if st.in_info or st.dest in _RTF_TIMES or st.dest == "userprops":
            return
        if self.size < self.limit:
            self.parts.append(s)
            self.size += len(s)

    def _userprop(self, dest: str, s: str) -> None:
        props = self.userprops
        if dest == "propname":
            if props and not props[-1][1]:
                props[-1][0] = _cap(props[-1][0] + s)
            elif len(props) < MAX_META:
                props.append([s, ""])
        elif props:
            props[-1][1] = _cap(props[-1][1] + s)

    def info(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key, parts in self.info_text.items():
            value = "".join(parts).strip().rstrip(";").strip()
            if value:
                out[key] = _cap(value)
        for key, t in self.times.items():
            if "yr" in t:
                out[key] = _rtf_time(t)
                out[key + "_raw"] = self.time_raw.get(key, "")
        out.update(self.numbers)
        return out

    def text(self) -> str:
        if self.hexbuf:
            self._flush_hex()
        lines = (ln.strip() for ln in "".join(self.parts).splitlines())
        return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()


def _rtf_time(t: dict[str, int]) -> str:
    """RTF \\yr\\mo\\dy\\hr\\min\\sec as ISO 8601 local time, seconds only when written."""
    s = f"{t.get('yr', 0):04d}-{t.get('mo', 1):02d}-{t.get('dy', 1):02d}T{t.get('hr', 0):02d}:{t.get('min', 0):02d}"
    return s + (f":{t['sec']:02d}" if "sec" in t else "")


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
