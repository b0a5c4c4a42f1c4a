"""PDF files written by hand: Info dictionary, XMP packet, and an optional incremental update.

Writing the bytes ourselves keeps them reproducible and lets the sample hold the case a forensic reader
must see: a second revision appended after %%EOF (new content stream, redefined page, updated Info, an xref
section and a trailer with /Prev) that changes what the page says while the first revision stays inside.
"""

from __future__ import annotations

import hashlib
import zlib
from dataclasses import dataclass
from datetime import datetime

HEADER = b"%PDF-1.5\n%\xe2\xe3\xcf\xd3\n"


@dataclass
class PdfMeta:
    title: str
    author: str
    creator: str  # the authoring application
    producer: str  # the PDF library
    created: datetime  # aware, local
    modified: datetime
    document_id: str  # 32 hex digits, shared by every revision


def pdf_date(when: datetime) -> str:
    """D:YYYYMMDDHHmmSS+HH'mm' as PDF 1.7 section 7.9.4 writes it."""
    off = when.strftime("%z") or "+0000"
    return f"D:{when:%Y%m%d%H%M%S}{off[0]}{off[1:3]}'{off[3:5]}'"


def _literal(text: str) -> bytes:
    """A PDF text string: PDFDocEncoding-compatible Latin-1 when possible, else UTF-16BE with a BOM."""
    try:
        raw = text.encode("latin-1")
    except UnicodeEncodeError:
        return b"<" + ("\ufeff" + text).encode("utf-16-be").hex().upper().encode() + b">"
    return _escape(raw)


def _escape(raw: bytes) -> bytes:
    out = bytearray(b"(")
    for b in raw:
        if b in b"()\\":
            out += b"\\" + bytes([b])
        elif b < 32 or b > 126:
            out += b"\\%03o" % b
        else:
            out.append(b)
    return bytes(out + b")")


def _content(lines: list[str], title: str) -> bytes:
    """Text drawn with Helvetica (WinAnsiEncoding), one line after another from the top of an A4 page."""
    ops = [b"BT", b"/F1 16 Tf", b"18 TL", b"72 770 Td", _escape(title.encode("cp1252", "replace")) + b" Tj",
           b"T*", b"/F1 11 Tf", b"14 TL", b"T*"]
    for line in lines:
        ops.append(_escape(line.encode("cp1252", "replace")) + b" Tj")
        ops.append(b"T*")
    ops.append(b"ET")
    return b"\n".join(ops) + b"\n"


def _stream(data: bytes, extra: bytes = b"", compress: bool = True) -> bytes:
    if compress:
        data = zlib.compress(data, 6)
        extra += b" /Filter /FlateDecode"
    return b"<< /Length %d%s >>\nstream\n" % (len(data), extra) + data + b"\nendstream"


def _xmp(meta: PdfMeta, modified: datetime) -> bytes:
    def x(s: str) -> str:
        return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    doc = f"uuid:{meta.document_id[:8]}-{meta.document_id[8:12]}-{meta.document_id[12:16]}-" \
          f"{meta.document_id[16:20]}-{meta.document_id[20:32]}"
    inst = hashlib.md5(f"{meta.document_id}/{modified.isoformat()}".encode()).hexdigest()
    return (
        '<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>\n'
        '<x:xmpmeta xmlns:x="adobe:ns:meta/" x:xmptk="Adobe XMP Core 5.4-c005 78.147326, 2012/08/23-13:03:03">\n'
        ' <rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">\n'
        '  <rdf:Description rdf:about="" xmlns:xmp="http://ns.adobe.com/xap/1.0/"'
        ' xmlns:dc="http://purl.org/dc/elements/1.1/" xmlns:pdf="http://ns.adobe.com/pdf/1.3/"'
        ' xmlns:xmpMM="http://ns.adobe.com/xap/1.0/mm/">\n'
        f"   <xmp:CreateDate>{meta.created.isoformat()}</xmp:CreateDate>\n"
        f"   <xmp:ModifyDate>{modified.isoformat()}</xmp:ModifyDate>\n"
        f"   <xmp:MetadataDate>{modified.isoformat()}</xmp:MetadataDate>\n"
        f"   <xmp:CreatorTool>{x(meta.creator)}</xmp:CreatorTool>\n"
        f"   <pdf:Producer>{x(meta.producer)}</pdf:Producer>\n"
        "   <dc:format>application/pdf</dc:format>\n"
        f'   <dc:title><rdf:Alt><rdf:li xml:lang="x-default">{x(meta.title)}</rdf:li></rdf:Alt></dc:title>\n'
        f"   <dc:creator><rdf:Seq><rdf:li>{x(meta.author)}</rdf:li></rdf:Seq></dc:creator>\n"
        f"   <xmpMM:DocumentID>{doc}</xmpMM:DocumentID>\n"
        f"   <xmpMM:InstanceID>uuid:{inst[:8]}-{inst[8:12]}-{inst[12:16]}-{inst[16:20]}-{inst[20:]}"
        "</xmpMM:InstanceID>\n"
        "  </rdf:Description>\n </rdf:RDF>\n</x:xmpmeta>\n" + " " * 200 + '\n<?xpacket end="w"?>'
    ).encode("utf-8")


def _info(meta: PdfMeta, modified: datetime) -> bytes:
    return (b"<< /Title " + _literal(meta.title) + b" /Author " + _literal(meta.author) +
            b" /Creator " + _literal(meta.creator) + b" /Producer " + _literal(meta.producer) +
            b" /CreationDate " + _literal(pdf_date(meta.created)) + b" /ModDate " + _literal(pdf_date(modified)) +
            b" >>")


def _page(contents: int) -> bytes:
    return (b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Resources << /Font << /F1 4 0 R >> >>"
            b" /Contents %d 0 R >>" % contents)


def _objects(out: bytearray, objects: dict[int, bytes]) -> dict[int, int]:
    offsets = {}
    for num in sorted(objects):
        offsets[num] = len(out)
        out += b"%d 0 obj\n" % num + objects[num] + b"\nendobj\n"
    return offsets


def _xref(offsets: dict[int, int], full: bool) -> bytes:
    """An xref table: one section from 0 for a full file, one subsection per run of numbers for an update."""
    if full:
        rows = [b"0 %d\r\n" % (max(offsets) + 1), b"0000000000 65535 f\r\n"]
        rows += [b"%010d 00000 n\r\n" % offsets[n] for n in range(1, max(offsets) + 1)]
        return b"xref\r\n" + b"".join(rows)
    rows, nums = [], sorted(offsets)
    start = 0
    for i in range(1, len(nums) + 1):
        if i == len(nums) or nums[i] != nums[i - 1] + 1:
            run = nums[start:i]
            rows.append(b"%d %d\r\n" % (run[0], len(run)))
            rows += [b"%010d 00000 n\r\n" % offsets[n] for n in run]
            start = i
    return b"xref\r\n" + b"".join(rows)


def _file_id(meta: PdfMeta, modified: datetime) -> bytes:
    second = hashlib.md5(f"{meta.document_id}/{modified.isoformat()}".encode()).hexdigest().upper()
    return b"[<%s><%s>]" % (meta.document_id.upper().encode(), second.encode())


def pdf_document(meta: PdfMeta, pages: list[list[str]]) -> bytes:
    """A complete single-revision PDF: catalog 1, pages 2, XMP 3, font 4, Info 5, then page/content pairs."""
    n = len(pages)
    objects = {
        1: b"<< /Type /Catalog /Pages 2 0 R /Metadata 3 0 R /Lang (fr-FR) >>",
        2: b"<< /Type /Pages /Kids [" + b" ".join(b"%d 0 R" % (6 + 2 * i) for i in range(n)) + b"] /Count %d >>" % n,
        3: _stream(_xmp(meta, meta.modified), b" /Type /Metadata /Subtype /XML", compress=False),
        4: b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>",
        5: _info(meta, meta.modified),
    }
    for i, lines in enumerate(pages):
        objects[6 + 2 * i] = _page(7 + 2 * i)
        objects[7 + 2 * i] = _stream(_content(lines, meta.title if i == 0 else ""))
    out = bytearray(HEADER)
    offsets = _objects(out, objects)
    start = len(out)
    out += _xref(offsets, full=True)
    out += (b"trailer\r\n<< /Size %d /Root 1 0 R /Info 5 0 R /ID " % (max(offsets) + 1) +
            _file_id(meta, meta.modified) + b" >>\r\nstartxref\r\n%d\r\n%%%%EOF\r\n" % start)
    return bytes(out)


def add_revision(pdf: bytes, meta: PdfMeta, pages: int, first_page: list[str], modified: datetime) -> bytes:
    """Append an incremental update that replaces page 1's text and the Info ModDate (XMP left as it was)."""
    prev = int(pdf.rstrip().rsplit(b"startxref", 1)[1].split()[0])
    size = 6 + 2 * pages
    objects = {5: _info(meta, modified), 6: _page(size), size: _stream(_content(first_page, meta.title))}
    out = bytearray(pdf)
    offsets = _objects(out, objects)
    start = len(out)
    out += _xref(offsets, full=False)
    out += (b"trailer\r\n<< /Size %d /Root 1 0 R /Info 5 0 R /ID " % (size + 1) + _file_id(meta, modified) +
            b" /Prev %d >>\r\nstartxref\r\n%d\r\n%%%%EOF\r\n" % (prev, start))
    return bytes(out)
