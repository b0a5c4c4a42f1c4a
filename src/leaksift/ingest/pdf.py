"""Reader: PDF. Structure and metadata with pikepdf, revisions with our own bounded parser, text with pdfium.

Revisions are counted by following the cross-reference chain from the final `startxref` through each
section's /Prev, never by counting `%%EOF` (a tamperer can add or strip those freely). The chain parser
reads small windows of the file, so a 2 GB PDF is never loaded. qpdf and pdfium are native code: every
call into them is guarded, and nothing is ever written (no save, no repair on disk).
"""

from __future__ import annotations

import io
import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, BinaryIO, Iterator

import pikepdf
import pypdfium2 as pdfium

from . import sniff
from .base import CORRUPT, ENCRYPTED, TRUNCATED, Blob, BytesBlob, Child, Context, IngestError
from .text import qualified_name, xmp_parse

WINDOW = 64 * 1024  # bytes read at once around an offset
TAIL = 64 * 1024  # where `startxref` is looked for, at the end of the file
NEARBY = 1024  # how far from a wrong offset we look for the xref section it meant
MAX_SECTIONS = 4096  # cross-reference sections followed before we call it a loop or a bomb
MAX_TRAILER_SCAN = 256 * 1024 * 1024  # bytes scanned for `trailer` after a malformed xref table
MAX_EOF_SCAN = 64 * 1024 * 1024  # bytes scanned for the `%%EOF` that ends a revision
MAX_TOKENS = 100_000  # tokens in one dictionary we parse ourselves
MAX_DEPTH = 64  # nesting of arrays/dicts in one dictionary we parse ourselves
MAX_SUBSECTIONS = 64  # subsection ranges recorded per xref section
MAX_SUBSECTION_WALK = 100_000  # subsection headers jumped over before we scan for `trailer` instead
MAX_XMP_RAW = 16 * 1024 * 1024  # an unfiltered XMP stream bigger than this is not read
MAX_XMP_FILTERED = 256 * 1024  # a compressed one: flate expands ~1000x, so keep the input small
MAX_FONTS = 200
MAX_NAMES = 200  # names recorded per list (fields, attachments, scripts)
MAX_NODES = 20_000  # objects visited when walking the form field tree
MAX_WARNINGS = 20
MAX_STR = 4096  # characters kept of one metadata string
MAX_ITEMS = 256  # items kept of one array or dictionary value

PIKE_ERRORS = (pikepdf.PikepdfError, ValueError, TypeError, KeyError, AttributeError, IndexError,
               NotImplementedError, RuntimeError, OverflowError, RecursionError, UnicodeError)
PDFIUM_ERRORS = (pdfium.PdfiumError, AssertionError, ValueError, IndexError, OSError, RuntimeError)


# --- PDF dates -------------------------------------------------------------------------------------

_PDF_DATE = re.compile(
    r"^\s*(?:D:)?(\d{4})(\d{2})?(\d{2})?(\d{2})?(\d{2})?(\d{2})?"
    r"\s*(?:(Z)(?:00'?00'?)?|([+-])(\d{2})(?:'?(\d{2}))?'?)?\s*$")


def pdf_date_iso(raw: str) -> str | None:
    """D:20170504120000+02'00' -> 2017-05-04T12:00:00+02:00, keeping the offset as written.

    Missing fields take the defaults of the PDF spec (month and day 01, time 00); a date with no offset
    stays naive. Returns None for anything that is not a valid PDF date.
    """
    m = _PDF_DATE.match(raw)
    if not m:
        return None
    year, month, day, hour, minute, second, zulu, sign, oh, om = m.groups()
    parts = [int(year), int(month or 1), int(day or 1), int(hour or 0), int(minute or 0), int(second or 0)]
    try:
        datetime(*parts)
    except ValueError:
        return None
    iso = "{:04d}-{:02d}-{:02d}T{:02d}:{:02d}:{:02d}".format(*parts)
    if zulu:
        return iso + "Z"
    if sign:
        if int(oh) > 23 or int(om or 0) > 59:
            return None
        return f"{iso}{sign}{oh}:{om or '00'}"
    return iso


# --- a tiny tokenizer for trailer and xref-stream dictionaries ------------------------------------

@dataclass(frozen=True)
class Ref:
    num: int
    gen: int

    def __str__(self) -> str:
        return f"{self.num} {self.gen} R"


class Keyword(str):
    """A bare PDF keyword (obj, stream, R, true ...), told apart from names and strings."""


_WS = b"\x00\t\n\x0c\r "
_DELIMS = b"()<>[]{}/%"
_REGULAR = re.compile(rb"[^\x00\t\n\x0c\r ()<>\[\]{}/%]*")
_NUMBER = re.compile(rb"[+-]?(?:\d+\.?\d*|\.\d+)$")
_ESCAPES = {ord("n"): b"\n", ord("r"): b"\r", ord("t"): b"\t", ord("b"): b"\b", ord("f"): b"\f",
            ord("("): b"(", ord(")"): b")", ord("\\"): b"\\"}


def _skip_ws(buf: bytes, pos: int) -> int:
    """Skip white space and comments."""
    n = len(buf)
    while pos < n:
        c = buf[pos]
        if c in _WS:
            pos += 1
        elif c == 0x25:  # % comment to end of line
            while pos < n and buf[pos] not in b"\r\n":
                pos += 1
        else:
            break
    return pos


def _literal_string(buf: bytes, pos: int) -> tuple[bytes, int]:
    """A (literal) string starting after its opening parenthesis; balanced parentheses nest."""
    out = bytearray()
    depth = 1
    n = len(buf)
    while pos < n:
        c = buf[pos]
        if c == 0x5C and pos + 1 < n:  # backslash
            nxt = buf[pos + 1]
            if nxt in _ESCAPES:
                out += _ESCAPES[nxt]
                pos += 2
            elif 0x30 <= nxt <= 0x37:
                m = re.match(rb"[0-7]{1,3}", buf[pos + 1:pos + 4])
                out.append(int(m.group(), 8) & 0xFF)  # type: ignore[union-attr]
                pos += 1 + len(m.group())  # type: ignore[union-attr]
            elif nxt in b"\r\n":  # line continuation
                pos += 2 + (nxt == 0x0D and pos + 2 < n and buf[pos + 2] == 0x0A)
            else:
                out.append(nxt)
                pos += 2
            continue
        if c == 0x28:
            depth += 1
        elif c == 0x29:
            depth -= 1
            if depth == 0:
                return bytes(out), pos + 1
        out.append(c)
        pos += 1
    raise ValueError("unterminated string")


def _name(raw: bytes) -> str:
    """A name token with its #xx escapes decoded, kept with its leading slash."""
    raw = re.sub(rb"#([0-9A-Fa-f]{2})", lambda m: bytes([int(m.group(1), 16)]), raw)
    return "/" + raw.decode("latin-1")


def _tokens(buf: bytes, pos: int) -> Iterator[tuple[Any, int]]:
    """(token, end) pairs: delimiters as str, names as str with '/', strings as bytes, numbers, Keywords."""
    n = len(buf)
    while True:
        pos = _skip_ws(buf, pos)
        if pos >= n:
            return
        c = buf[pos:pos + 1]
        two = buf[pos:pos + 2]
        if two in (b"<<", b">>"):
            pos += 2
            yield two.decode(), pos
        elif c in (b"[", b"]", b"{", b"}"):
            pos += 1
            yield c.decode(), pos
        elif c == b"/":
            m = _REGULAR.match(buf, pos + 1)
            pos = m.end()  # type: ignore[union-attr]
            yield _name(m.group()), pos  # type: ignore[union-attr]
        elif c == b"(":
            s, pos = _literal_string(buf, pos + 1)
            yield s, pos
        elif c == b"<":
            end = buf.find(b">", pos)
            if end < 0:
                raise ValueError("unterminated hex string")
            digits = re.sub(rb"[^0-9A-Fa-f]", b"", buf[pos + 1:end])
            if len(digits) % 2:
                digits += b"0"
            pos = end + 1
            yield bytes.fromhex(digits.decode()), pos
        elif c in (b")", b">"):
            raise ValueError(f"unexpected {c!r} at {pos}")
        else:
            m = _REGULAR.match(buf, pos)
            word = m.group()  # type: ignore[union-attr]
            pos = m.end()  # type: ignore[union-attr]
            if not word:
                raise ValueError(f"unexpected byte {c!r} at {pos}")
            if _NUMBER.match(word):
                yield (float(word) if b"." in word else int(word)), pos
            else:
                yield Keyword(word.decode("latin-1")), pos


def parse_dict(buf: bytes, pos: int) -> tuple[dict[str, Any], int]:
    """The dictionary starting at buf[pos] ('<<'), without recursion; returns it and its end.

    Keys keep their slash ('/Prev'); references become Ref; strings stay bytes.
    """
    stack: list[tuple[str, list[Any]]] = []
    count = 0
    for tok, end in _tokens(buf, pos):
        count += 1
        if count > MAX_TOKENS:
            raise ValueError("dictionary too long")
        if not stack and tok != "<<":
            raise ValueError(f"no dictionary at {pos}")
        if tok in ("<<", "["):
            if len(stack) >= MAX_DEPTH:
                raise ValueError("dictionary nested too deep")
            stack.append((tok, []))
            continue
        if tok in (">>", "]"):
            kind, items = stack.pop()
            if (kind, tok) not in (("<<", ">>"), ("[", "]")):
                raise ValueError(f"unbalanced {tok} at {end}")
            value: Any = _pairs(items) if kind == "<<" else items
            if not stack:
                return value, end
            stack[-1][1].append(value)
            continue
        if isinstance(tok, Keyword):
            if tok == "R":
                items = stack[-1][1]
                if len(items) >= 2 and type(items[-1]) is int and type(items[-2]) is int:
                    gen = items.pop()
                    items.append(Ref(items.pop(), gen))
                    continue
            tok = {"true": True, "false": False, "null": None}.get(tok, tok)
            if tok in ("stream", "endobj", "obj", "trailer", "xref", "startxref"):
                raise ValueError(f"unexpected keyword {tok} in a dictionary")
        stack[-1][1].append(tok)
    raise ValueError("dictionary not closed in the window read")


def _pairs(items: list[Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for i in range(0, len(items) - 1, 2):
        key = items[i]
        if isinstance(key, str) and key.startswith("/") and not isinstance(key, Keyword):
            out[key] = items[i + 1]
    return out


# --- following the cross-reference chain ----------------------------------------------------------

def read_at(f: BinaryIO, offset: int, n: int = WINDOW) -> bytes:
    f.seek(offset)
    return f.read(n)


def find_startxref(f: BinaryIO, size: int) -> int | None:
    """The offset written after the last `startxref` near the end of the file."""
    start = max(0, size - TAIL)
    tail = read_at(f, start, size - start)
    i = tail.rfind(b"startxref")
    if i < 0:
        return None
    m = re.match(rb"startxref\s*(\d{1,20})", tail[i:i + 64])
    return int(m.group(1)) if m else None


_SUBSECTION = re.compile(rb"(\d{1,10})[ \t]+(\d{1,10})[ \t]*\r?\n?")
_OBJ_HEAD = re.compile(rb"(\d{1,10})\s+(\d{1,5})\s+obj\s*")


@dataclass
class Section:
    """One cross-reference section: a classic table with its trailer, or an xref stream."""

    offset: int
    kind: str  # "table" or "stream"
    trailer: dict[str, Any]
    trailer_end: int  # where to look for the %%EOF that closes this section's revision
    subsections: list[list[int]] = field(default_factory=list)  # [first object, count], capped
    entries: int = 0  # objects the section lists
    eof: int | None = None  # end of the %%EOF line after it, once looked up


def _scan_for(f: BinaryIO, needle: bytes, start: int, limit: int, size: int) -> int:
    """Offset of the first `needle` at or after start, reading chunks, or -1 past limit bytes."""
    pos = start
    keep = len(needle) - 1
    carry = b""
    end = min(size, start + limit)
    step = 4096  # what we look for is usually close: start small, grow to 1 MiB
    while pos < end:
        chunk = read_at(f, pos, min(step, end - pos))
        step = min(step * 2, 1024 * 1024)
        if not chunk:
            break
        data = carry + chunk
        i = data.find(needle)
        if i >= 0:
            return pos - len(carry) + i
        carry = data[-keep:] if keep else b""
        pos += len(chunk)
    return -1


def read_section(f: BinaryIO, offset: int, size: int) -> Section:
    """The cross-reference section at offset (ValueError if there is none)."""
    if not 0 <= offset < size:
        raise ValueError(f"offset {offset} outside the file ({size} bytes)")
    buf = read_at(f, offset)
    pos = _skip_ws(buf, 0)
    if buf.startswith(b"xref", pos):
        return _read_table(f, offset, offset + pos, size)
    m = _OBJ_HEAD.match(buf, pos)
    if m:
        trailer, end = parse_dict(buf, m.end())
        if trailer.get("/Type") != "/XRef":
            raise ValueError(f"object {m.group(1).decode()} at {offset} is not an xref stream")
        sec = Section(offset, "stream", trailer, offset + end)
        index = trailer.get("/Index") or [0, trailer.get("/Size", 0)]
        pairs = [index[i:i + 2] for i in range(0, len(index) - 1, 2)
                 if isinstance(index[i], int) and isinstance(index[i + 1], int)]
        sec.subsections = pairs[:MAX_SUBSECTIONS]
        sec.entries = sum(c for _, c in pairs)
        length = trailer.get("/Length")
        if isinstance(length, int) and length >= 0:
            sec.trailer_end = offset + end + length  # skip the stream data when we can
        return sec
    raise ValueError(f"no xref section at offset {offset}")


def _read_table(f: BinaryIO, offset: int, start: int, size: int) -> Section:
    """A classic table: jump over each subsection's 20-byte entries to its trailer."""
    pos = start + 4
    subsections: list[list[int]] = []
    entries = 0
    trailer_at = -1
    for _ in range(MAX_SUBSECTION_WALK):
        buf = read_at(f, pos, 256)
        p = _skip_ws(buf, 0)
        if buf.startswith(b"trailer", p):
            trailer_at = pos + p
            break
        m = _SUBSECTION.match(buf, p)
        if not m:
            break
        first, count = int(m.group(1)), int(m.group(2))
        entries += count
        if len(subsections) < MAX_SUBSECTIONS:
            subsections.append([first, count])
        pos += m.end() + 20 * count
    if trailer_at < 0:  # entries not 20 bytes long, or junk: look for the keyword instead
        trailer_at = _scan_for(f, b"trailer", start, MAX_TRAILER_SCAN, size)
        if trailer_at < 0:
            raise ValueError(f"xref table at {offset} has no trailer")
    buf = read_at(f, trailer_at + 7)
    trailer, end = parse_dict(buf, _skip_ws(buf, 0))
    return Section(offset, "table", trailer, trailer_at + 7 + end, subsections, entries)


def find_eof(f: BinaryIO, start: int, size: int) -> int | None:
    """The end of the `%%EOF` line after start (the line end included), or None."""
    at = _scan_for(f, b"%%EOF", start, MAX_EOF_SCAN, size)
    if at < 0:
        return None
    end = at + 5
    after = read_at(f, end, 2)
    if after.startswith(b"\r\n"):
        return end + 2
    if after[:1] in (b"\r", b"\n"):
        return end + 1
    return end


_XREF_KEYWORD = re.compile(rb"(?<![a-z])xref\s|\d+\s+\d+\s+obj\s*<<")


def nearby_section(f: BinaryIO, offset: int, size: int) -> Section | None:
    """The xref section closest to a wrong offset, within NEARBY bytes of it, if there is one."""
    centre = min(max(offset, 0), size)
    start = max(0, centre - NEARBY)
    buf = read_at(f, start, 2 * NEARBY)
    found: list[Section] = []
    for m in _XREF_KEYWORD.finditer(buf):
        try:
            found.append(read_section(f, start + m.start(), size))
        except (ValueError, OSError, OverflowError):
            continue
    return min(found, key=lambda s: abs(s.offset - offset), default=None)


def linearization(f: BinaryIO, size: int) -> dict[str, Any] | None:
    """The linearization dictionary, when the file's first object is one."""
    buf = read_at(f, 0, 2048)
    m = _OBJ_HEAD.search(buf, 0, 1024)
    if not m:
        return None
    try:
        d, _ = parse_dict(buf, m.end())
    except ValueError:
        return None
    if "/Linearized" not in d:
        return None
    lin = {k[1:]: v for k, v in d.items() if isinstance(v, (int, float, list))}
    if isinstance(lin.get("L"), int):
        lin["length_matches"] = lin["L"] == size  # False: bytes were added or removed after linearizing
    return lin


def _hex_id(value: Any) -> list[str] | None:
    if isinstance(value, list):
        return [v.hex() for v in value if isinstance(v, bytes)][:2]
    return None


def _ref(value: Any) -> str | None:
    return str(value) if isinstance(value, Ref) else None


def follow_chain(f: BinaryIO, size: int) -> dict[str, Any]:
    """Revisions of the file, by following startxref -> section -> /Prev -> ... ; oldest first."""
    out: dict[str, Any] = {}
    start = find_startxref(f, size)
    if start is None:
        out["revisions_error"] = "no startxref at the end of the file"
        return out
    out["startxref"] = start
    lin = linearization(f, size)
    chain = walk_chain(f, size, start, lin, out)
    if not chain:
        return out
    for secs in chain:
        for sec in secs:
            sec.eof = find_eof(f, sec.trailer_end, size)
    revisions = merge_hybrid_tails(chain[::-1])
    out["revisions"] = len(revisions)
    out["xref_sections"] = describe(revisions)
    last_end = out["xref_sections"][-1].get("end")
    if last_end is not None and last_end < size:
        out["bytes_after_last_eof"] = size - last_end
    if lin is not None:
        out["linearization"] = lin
    return out


def walk_chain(f: BinaryIO, size: int, start: int, lin: dict[str, Any] | None,
               out: dict[str, Any]) -> list[list[Section]]:
    """The sections from startxref along /Prev, grouped by revision, newest first; problems go to out."""
    chain: list[list[Section]] = []
    seen: set[int] = set()
    offset: int | None = start
    merge_next = False
    while offset is not None:
        if offset in seen:
            out["revisions_error"] = f"loop in /Prev: offset {offset} reached twice"
            break
        if len(seen) >= MAX_SECTIONS:
            out["revisions_error"] = f"more than {MAX_SECTIONS} xref sections"
            break
        seen.add(offset)
        try:
            sec = read_section(f, offset, size)
        except (ValueError, OSError, OverflowError) as e:
            out["revisions_error"] = f"xref section at {offset}: {e}"
            sec = nearby_section(f, offset, size)
            if sec is None or sec.offset in seen:
                break
            # Offsets a few bytes off (line ends converted, a byte edited) are common in broken files:
            # follow the section that is there, and say so.
            out["revisions_error"] += f"; followed the section found at {sec.offset} instead"
            seen.add(sec.offset)
        if merge_next:
            chain[-1].append(sec)  # the main table of a linearized file: same revision as its first page
        else:
            chain.append([sec])
        prev = sec.trailer.get("/Prev")
        if prev is not None and not isinstance(prev, int):
            out["revisions_error"] = f"/Prev of section at {sec.offset} is not an offset: {prev!r}"
            break
        merge_next = not merge_next and first_page_section(lin, sec.offset, prev)
        if prev is not None and prev > sec.offset and not merge_next:
            out.setdefault("prev_forward", []).append(sec.offset)
        offset = prev
    return chain


def first_page_section(lin: dict[str, Any] | None, offset: int, prev: int | None) -> bool:
    """Whether a section is a linearized file's first-page table, whose /Prev points forward to the
    main table of the same revision (the one the linearization dictionary's /T locates)."""
    if lin is None or prev is None or prev <= offset:
        return False
    main = lin.get("T")
    return isinstance(main, int) and abs(prev - main) <= NEARBY


def _end(secs: list[Section]) -> int | None:
    known = [s.eof for s in secs if s.eof is not None]
    return max(known) if known else None


def merge_hybrid_tails(revisions: list[list[Section]]) -> list[list[Section]]:
    """Fold a hybrid file's empty tail table into the revision it completes (oldest first).

    Word 2007-2010 write every PDF as two sections: the body with its table, then after %%EOF an empty
    table whose trailer only adds /XRefStm, pointing back into the body. One save, not an update: the
    tail lists no object and the stream it activates lies in the older bytes.
    """
    out: list[list[Section]] = []
    for secs in revisions:
        tail = secs[0]
        stm = tail.trailer.get("/XRefStm")
        older_end = _end(out[-1]) if out else None
        lists_nothing = tail.entries == 0 or tail.subsections == [[0, 1]]  # at most the free-list head
        if (out and tail.kind == "table" and lists_nothing and isinstance(stm, int)
                and older_end is not None and stm < older_end):
            out[-1].extend(secs)
        else:
            out.append(list(secs))
    return out


def describe(revisions: list[list[Section]]) -> list[dict[str, Any]]:
    """One record per revision, oldest first."""
    described: list[dict[str, Any]] = []
    prev_end: int | None = 0
    for secs in revisions:
        first = secs[0]
        trailer = next((s.trailer for s in secs if "/Root" in s.trailer), first.trailer)
        end = _end(secs)
        rec: dict[str, Any] = {
            "offset": first.offset, "kind": first.kind, "end": end,
            "size": end - prev_end if end is not None and prev_end is not None and end > prev_end else None,
            "info": _ref(trailer.get("/Info")), "id": _hex_id(trailer.get("/ID")),
            "root": _ref(trailer.get("/Root")), "prev": first.trailer.get("/Prev"),
            "encrypt": "/Encrypt" in trailer, "entries": first.entries, "subsections": first.subsections,
        }
        if "/XRefStm" in first.trailer:
            rec["xref_stm"] = first.trailer["/XRefStm"]  # hybrid file: same revision, not a new one
        for extra in secs[1:]:
            if extra.offset > first.offset and first.trailer.get("/Prev") == extra.offset:
                rec["linearized_main"] = {"offset": extra.offset, "kind": extra.kind}
            else:
                rec["hybrid_tail"] = {"offset": extra.offset, "xref_stm": extra.trailer.get("/XRefStm")}
        described.append(rec)
        prev_end = end
    return described


def header_version(head: bytes) -> str | None:
    m = re.match(rb"%PDF-(\d+\.\d+)", head)
    return m.group(1).decode() if m else None


# --- converting pikepdf objects ---------------------------------------------------------------------

def pdf_string(obj: Any) -> str:
    """A PDF string decoded (PDFDocEncoding or UTF-16 with BOM), or its bytes as hex if it is neither."""
    try:
        return str(obj)[:MAX_STR]
    except UnicodeError:
        return "hex:" + bytes(obj)[:MAX_STR // 2].hex()


def name_str(obj: Any) -> str:
    """A PDF name with its slash; names that are not UTF-8 keep their #xx escapes as written."""
    try:
        return str(obj)
    except UnicodeError:
        return obj.unparse().decode("latin-1")


def to_json(obj: Any, depth: int = 0) -> Any:
    """A pikepdf value as JSON-able data, bounded in size and depth (references are not followed twice)."""
    if obj is None or isinstance(obj, (bool, int, str)):
        return obj[:MAX_STR] if isinstance(obj, str) else obj
    if isinstance(obj, float):
        return obj
    if isinstance(obj, pikepdf.String):
        return pdf_string(obj)
    if isinstance(obj, pikepdf.Name):
        return name_str(obj)
    if isinstance(obj, pikepdf.Stream):
        return f"<stream {obj.objgen[0]} {obj.objgen[1]} R>" if obj.is_indirect else "<stream>"
    if depth >= 4:
        return "<nested>"
    if isinstance(obj, pikepdf.Array):
        return [to_json(v, depth + 1) for v in list(obj)[:MAX_ITEMS]]
    if isinstance(obj, pikepdf.Dictionary):
        return {k[1:]: to_json(v, depth + 1) for k, v in _items(obj)}
    try:
        return float(obj)  # Decimal (PDF reals)
    except (TypeError, ValueError):
        return str(obj)[:MAX_STR]


def _items(d: Any) -> list[tuple[str, Any]]:
    """(key, value) pairs of a dictionary, capped; keys that are not UTF-8 keep their #xx escapes."""
    out = []
    for key in list(d.keys())[:MAX_ITEMS]:
        out.append((key, d.get(key)))
    return out


def read_info(info: Any) -> tuple[dict[str, Any], dict[str, str]]:
    """Every key of an Info dictionary (slash dropped), and the ISO form of those that are PDF dates."""
    values: dict[str, Any] = {}
    dates: dict[str, str] = {}
    for key, value in _items(info):
        name = key[1:]
        values[name] = to_json(value)
        if isinstance(values[name], str) and (name.endswith("Date") or values[name].startswith("D:")):
            iso = pdf_date_iso(values[name])
            if iso:
                dates[name] = iso
    return values, dates


def _xmp_value(value: Any, prefixes: dict[str, str]) -> Any:
    if isinstance(value, (set, frozenset)):
        return sorted((_xmp_value(v, prefixes) for v in value), key=str)[:MAX_ITEMS]
    if isinstance(value, (list, tuple)):
        return [_xmp_value(v, prefixes) for v in value][:MAX_ITEMS]
    if isinstance(value, dict):
        return {qualified_name(str(k), prefixes): _xmp_value(v, prefixes) for k, v in list(value.items())[:MAX_ITEMS]}
    if value is None or isinstance(value, (bool, int, float)):
        return value
    return str(value)[:MAX_STR]


def _blank(value: Any) -> bool:
    """pikepdf flattens structured properties (xmpMM:History, pdfaExtension:schemas) to white space."""
    if isinstance(value, list):
        return all(_blank(v) for v in value)
    return value is None or (isinstance(value, str) and not value.strip())


def read_xmp(pdf: pikepdf.Pdf, meta: dict[str, Any]) -> None:
    """Every XMP property: pikepdf's reading, completed by our defusedxml reading where pikepdf
    flattened a structured value or could not read the packet at all."""
    stream = pdf.Root.get("/Metadata")
    if stream is None:
        return
    if not isinstance(stream, pikepdf.Stream):
        meta["xmp_error"] = "/Metadata is not a stream"
        return
    length = stream.get("/Length")
    filtered = stream.get("/Filter") is not None
    cap = MAX_XMP_FILTERED if filtered else MAX_XMP_RAW
    if not isinstance(length, int) or length > cap:
        meta["xmp_error"] = f"XMP stream of {length} bytes{' (compressed)' if filtered else ''} not read"
        return
    packet = stream.read_bytes()
    meta["xmp_bytes"] = len(packet)
    ours, prefixes, our_error = xmp_parse(packet)
    props: dict[str, Any] = {}
    try:
        xmp = pdf.open_metadata(set_pikepdf_as_editor=False, update_docinfo=False, strict=True)
        props = {qualified_name(k, prefixes): _xmp_value(xmp[k], prefixes) for k in list(xmp)[:MAX_ITEMS * 4]}
    except PIKE_ERRORS + (SyntaxError,) as e:
        meta["xmp_error"] = f"pikepdf: {type(e).__name__}: {e}"[:500]
        if our_error:
            meta["xmp_error"] += f"; defusedxml: {our_error}"[:500]
    for key, value in ours.items():
        if key not in props or _blank(props[key]):
            props[key] = value
    if props:
        meta["xmp"] = props


# --- structure with pikepdf -------------------------------------------------------------------------

def _guard(meta: dict[str, Any], what: str, fn: Any, *args: Any) -> None:
    """Run one extractor; a failure on hostile structure is recorded under structure_errors."""
    try:
        fn(*args)
    except PIKE_ERRORS as e:
        meta.setdefault("structure_errors", {})[what] = f"{type(e).__name__}: {e}"[:500]


def read_structure(pdf: pikepdf.Pdf, meta: dict[str, Any], ctx: Context) -> None:
    meta["pdf_version"] = str(pdf.pdf_version)
    if pdf.extension_level:
        meta["extension_level"] = int(pdf.extension_level)
    meta["linearized"] = bool(pdf.is_linearized)
    _guard(meta, "encryption", _read_encryption, pdf, meta)
    _guard(meta, "info", _read_info, pdf, meta)
    _guard(meta, "xmp", read_xmp, pdf, meta)
    _guard(meta, "catalog", _read_catalog, pdf, meta)
    _guard(meta, "pages", _read_pages, pdf, meta, ctx.limits.max_pdf_text_pages)
    _guard(meta, "forms", _read_forms, pdf, meta)
    _guard(meta, "attachments", _read_attachments, pdf, meta)
    _guard(meta, "javascript", _read_javascript, pdf, meta)


def _read_encryption(pdf: pikepdf.Pdf, meta: dict[str, Any]) -> None:
    meta["encrypted"] = bool(pdf.is_encrypted)
    if not pdf.is_encrypted:
        return
    enc = pdf.encryption
    encdict = pdf.trailer.get("/Encrypt")
    meta["encryption"] = {
        "filter": name_str(encdict.get("/Filter")) if encdict is not None else None,
        "R": enc.R, "V": enc.V, "P": enc.P, "bits": enc.bits,
        "stream_method": enc.stream_method.name, "string_method": enc.string_method.name,
        "file_method": enc.file_method.name,
        "permissions": {k: bool(getattr(pdf.allow, k)) for k in (
            "accessibility", "extract", "modify_annotation", "modify_assembly", "modify_form",
            "modify_other", "print_lowres", "print_highres")},
    }


def _read_info(pdf: pikepdf.Pdf, meta: dict[str, Any]) -> None:
    info = pdf.trailer.get("/Info")
    if info is None:
        return
    if not isinstance(info, pikepdf.Dictionary):
        meta["info_error"] = "/Info is not a dictionary"
        return
    values, dates = read_info(info)
    meta["info"] = values
    if dates:
        meta["info_dates"] = dates
    for key, field_name in (("Producer", "producer"), ("Creator", "creator")):
        if isinstance(values.get(key), str):
            meta[field_name] = values[key]
    if "CreationDate" in dates:
        meta["created"] = dates["CreationDate"]
    if "ModDate" in dates:
        meta["modified"] = dates["ModDate"]


def _read_catalog(pdf: pikepdf.Pdf, meta: dict[str, Any]) -> None:
    root = pdf.Root
    version = root.get("/Version")
    if version is not None:
        meta["catalog_version"] = name_str(version)[1:]
    for key in ("/Lang", "/PageMode", "/PageLayout"):
        if key in root:
            meta.setdefault("catalog", {})[key[1:]] = to_json(root[key])
    if "/Perms" in root:
        meta["perms"] = sorted(k[1:] for k in list(root.Perms.keys())[:MAX_ITEMS])
    if "/OCProperties" in root:
        meta["optional_content"] = True


def _read_pages(pdf: pikepdf.Pdf, meta: dict[str, Any], max_pages: int) -> None:
    pages = pdf.pages
    meta["pages"] = len(pages)
    fonts: set[str] = set()
    annots: dict[str, int] = {}
    for i, page in enumerate(pages):
        if i >= max_pages:
            meta["pages_scanned"] = i
            break
        _page_fonts(page.obj, fonts)
        _page_annots(page.obj, annots, meta)
    if fonts:
        meta["fonts"] = sorted(fonts)[:MAX_FONTS]
        if len(fonts) > MAX_FONTS:
            meta["fonts_capped"] = True
    if annots:
        meta["annotations"] = annots


def _page_fonts(page: Any, fonts: set[str]) -> None:
    if len(fonts) > MAX_FONTS:
        return
    res = inherited(page, "/Resources")
    font_dict = res.get("/Font") if isinstance(res, pikepdf.Dictionary) else None
    if not isinstance(font_dict, pikepdf.Dictionary):
        return
    for font in list(font_dict.values())[:MAX_ITEMS]:
        if isinstance(font, pikepdf.Dictionary):
            base = font.get("/BaseFont")
            if isinstance(base, pikepdf.Name):
                fonts.add(name_str(base)[1:])


def inherited(page: Any, key: str) -> Any:
    """A page attribute, looked up through /Parent as the spec allows (we open without pushing them down)."""
    node = page
    for _ in range(32):
        if not isinstance(node, pikepdf.Dictionary):
            return None
        if key in node:
            return node.get(key)
        node = node.get("/Parent")
    return None


def _page_annots(page: Any, annots: dict[str, int], meta: dict[str, Any]) -> None:
    arr = page.get("/Annots")
    if not isinstance(arr, pikepdf.Array):
        return
    for annot in list(arr)[:MAX_ITEMS * 4]:
        if not isinstance(annot, pikepdf.Dictionary):
            continue
        sub = name_str(annot.get("/Subtype", pikepdf.Name("/None")))[1:]
        annots[sub] = annots.get(sub, 0) + 1
        if _is_js_action(annot.get("/A")) or "/AA" in annot:
            meta["javascript_actions"] = meta.get("javascript_actions", 0) + 1
        if sub == "FileAttachment":
            name = _filespec_name(annot.get("/FS"))
            if name:
                _add_name(meta, "attachment_annotations", name)


def _is_js_action(action: Any) -> bool:
    return isinstance(action, pikepdf.Dictionary) and action.get("/S") == pikepdf.Name.JavaScript


def _add_name(meta: dict[str, Any], key: str, name: str) -> None:
    names = meta.setdefault(key, [])
    if len(names) < MAX_NAMES:
        names.append(name)


def _filespec_name(spec: Any) -> str | None:
    if isinstance(spec, pikepdf.String):
        return pdf_string(spec)
    if isinstance(spec, pikepdf.Dictionary):
        for key in ("/UF", "/F", "/DOS", "/Unix", "/Mac"):
            if isinstance(spec.get(key), pikepdf.String):
                return pdf_string(spec[key])
    return None


def _read_forms(pdf: pikepdf.Pdf, meta: dict[str, Any]) -> None:
    acro = pdf.Root.get("/AcroForm")
    if not isinstance(acro, pikepdf.Dictionary):
        return
    fields = acro.get("/Fields")
    forms: dict[str, Any] = {"xfa": "/XFA" in acro, "fields": 0, "names": []}
    sigs: list[dict[str, Any]] = []
    stack: list[tuple[Any, str, str | None]] = [(f, "", None) for f in (list(fields) if isinstance(
        fields, pikepdf.Array) else [])][::-1]
    seen: set[tuple[int, int]] = set()
    while stack and len(seen) < MAX_NODES:
        node, parent_name, parent_ft = stack.pop()
        if not isinstance(node, pikepdf.Dictionary):
            continue
        if node.is_indirect:
            if node.objgen in seen:
                continue
            seen.add(node.objgen)
        part = pdf_string(node.T) if isinstance(node.get("/T"), pikepdf.String) else ""
        full = f"{parent_name}.{part}" if parent_name and part else (part or parent_name)
        ft = name_str(node.FT) if isinstance(node.get("/FT"), pikepdf.Name) else parent_ft
        kids = node.get("/Kids")
        if isinstance(kids, pikepdf.Array) and any(isinstance(k, pikepdf.Dictionary) and "/T" in k for k in kids):
            stack.extend((k, full, ft) for k in reversed(list(kids)))
            continue
        forms["fields"] += 1
        if len(forms["names"]) < MAX_NAMES:
            forms["names"].append(full)
        if ft == "/Sig" and len(sigs) < MAX_NAMES:
            sigs.append(_signature(full, node.get("/V")))
        if _is_js_action(node.get("/A")) or "/AA" in node:
            meta["javascript_actions"] = meta.get("javascript_actions", 0) + 1
    meta["forms"] = forms
    if sigs:
        meta["signatures"] = sigs


def _signature(name: str, value: Any) -> dict[str, Any]:
    sig: dict[str, Any] = {"field": name, "signed": isinstance(value, pikepdf.Dictionary)}
    if not sig["signed"]:
        return sig
    for key in ("/Filter", "/SubFilter", "/Name", "/Reason", "/Location", "/ContactInfo", "/M", "/ByteRange"):
        if key in value:
            sig[key[1:].lower()] = to_json(value[key])
    if isinstance(sig.get("m"), str):
        sig["m_iso"] = pdf_date_iso(sig["m"])
    return sig


def _read_attachments(pdf: pikepdf.Pdf, meta: dict[str, Any]) -> None:
    names = pdf.Root.get("/Names")
    if not isinstance(names, pikepdf.Dictionary) or "/EmbeddedFiles" not in names:
        return
    files = []
    for name, spec in pikepdf.NameTree(names.EmbeddedFiles).items():
        if len(files) >= MAX_NAMES:
            break
        files.append(_embedded(name, spec))
    meta["embedded_files"] = files


def _embedded(name: str, spec: Any) -> dict[str, Any]:
    rec: dict[str, Any] = {"name": name, "file_name": _filespec_name(spec)}
    ef = spec.get("/EF") if isinstance(spec, pikepdf.Dictionary) else None
    stream = ef.get("/F") if isinstance(ef, pikepdf.Dictionary) else None
    if isinstance(stream, pikepdf.Stream):
        if isinstance(stream.get("/Subtype"), pikepdf.Name):
            rec["subtype"] = name_str(stream.Subtype)[1:]
        params = stream.get("/Params")
        if isinstance(params, pikepdf.Dictionary):
            for key in ("/Size", "/CreationDate", "/ModDate", "/CheckSum"):
                if key in params:
                    rec[key[1:].lower()] = to_json(params[key])
    return rec


def _read_javascript(pdf: pikepdf.Pdf, meta: dict[str, Any]) -> None:
    root = pdf.Root
    names = root.get("/Names")
    if isinstance(names, pikepdf.Dictionary) and "/JavaScript" in names:
        for name in list(pikepdf.NameTree(names.JavaScript).keys())[:MAX_NAMES]:
            _add_name(meta, "javascript", str(name))
    if _is_js_action(root.get("/OpenAction")):
        _add_name(meta, "javascript", "<OpenAction>")
    if isinstance(root.get("/AA"), pikepdf.Dictionary):
        _add_name(meta, "javascript", "<document AA>")
    meta["has_javascript"] = bool(meta.get("javascript") or meta.get("javascript_actions"))


def _warnings(pdf: pikepdf.Pdf, meta: dict[str, Any]) -> None:
    warns = [str(w) for w in pdf.get_warnings()]
    if warns:
        meta["qpdf_warnings"] = [w[:300] for w in warns[:MAX_WARNINGS]]
        meta["qpdf_warning_count"] = len(warns)


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
                text = _page_text(doc, i)
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


def _page_text(doc: Any, index: int) -> str:
    page = doc[index]
    try:
        textpage = page.get_textpage()
        try:
            return textpage.get_text_range().replace("\r\n", "\n").replace("\r", "\n")
        finally:
            textpage.close()
    finally:
        page.close()


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
        yield from ()

    def _structure(self, blob: Blob, ctx: Context, meta: dict[str, Any]) -> str | None:
        """Fill what pikepdf knows; returns why it could not open the file, if it could not."""
        source = _pike_source(blob)
        try:
            with pikepdf.open(source, inherit_page_attributes=False) as pdf:
                read_structure(pdf, meta, ctx)
                _warnings(pdf, meta)
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


READERS: list[type] = [PdfReader]
