"""Readers for single messages: RFC 822 files (.eml) and Apple Mail's .emlx.

The MIME tree is walked by hand, iteratively, over byte offsets of the raw
message: an attached message (message/rfc822) is handed on as the exact bytes
it had inside its parent (a later DKIM check needs them), and a hostile tree
nested thousands of levels deep ends as a recorded error, not a RecursionError.
The standard library only parses each part's header block.
"""

from __future__ import annotations

import mmap
import plistlib
import re
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from email import policy as email_policy
from email.message import Message
from email.parser import BytesHeaderParser
from email.utils import getaddresses, parseaddr, parsedate_to_datetime
from typing import Any, Iterator
from xml.parsers.expat import ExpatError

from ..model import EmailFields
from . import sniff
from .base import CORRUPT, TOO_DEEP, TOO_LARGE, TRUNCATED, Blob, BytesBlob, Child, Context, IngestError, MiB
from .support.headers import clean, decode_header_value, decode_text, decode_words, raw_text, unfolded_text
from .support.html import html_to_text
from .support.names import UniqueNames, safe_name
from .support.transfer import Buf, ChunkStream, DecodeError, decoded_chunks

TOO_MANY_PARTS = "too_many_parts"
MAX_HEADER_BLOCK = 1 * MiB  # bytes of one header block handed to the parser
MAX_HEADERS = 1000  # header pairs kept in metadata
MAX_HEADER_CHARS = 8192  # characters kept of one header value
MAX_ADDR_CHARS = 16384  # header text given to the address parser (slow on hostile input)
MAX_DEFECTS = 50
MAX_RECEIVED = 200
MAX_OUTLINE_CHARS = 4000
MAX_PLIST_BYTES = 1 * MiB
# RFC 5322 allows these once; a second one is recorded for a later check.
SINGLETONS = ("from", "sender", "reply-to", "to", "cc", "bcc", "subject", "date", "message-id",
              "in-reply-to", "references")
MESSAGE_TYPES = ("message/rfc822", "message/global")
BODY_TYPES = ("text/plain", "text/html")


# -------------------------------------------------------------- header blocks

_HEADER_START = re.compile(rb"[!-9;-~]+:")


@dataclass
class Headers:
    """One entity's header block: raw (name, value) pairs in order, and a Message for parameters."""

    items: list[tuple[str, bytes]]
    msg: Message
    defects: list[str] = field(default_factory=list)
    unixfrom: str | None = None

    def all(self, name: str) -> list[bytes]:
        name = name.lower()
        return [v for n, v in self.items if n.lower() == name]

    def first(self, name: str) -> bytes | None:
        values = self.all(name)
        return values[0] if values else None


def parse_header_block(block: bytes) -> Headers:
    """Parse one header block; lines that are not headers are dropped and recorded."""
    kept: list[bytes] = []
    defects: list[str] = []
    unixfrom = None
    in_header = False
    for i, line in enumerate(block.split(b"\n")):
        line = line[:-1] if line.endswith(b"\r") else line
        if not line:
            continue
        if i == 0 and line.startswith(b"From "):
            unixfrom = clean(raw_text(line[:1000]))
        elif line[0] in (32, 9):
            if in_header:
                kept.append(line)
            else:
                _defect(defects, f"continuation line without a header: {line[:80]!r}")
        elif _HEADER_START.match(line):
            kept.append(line)
            in_header = True
        else:
            _defect(defects, f"not a header line: {line[:80]!r}")
            in_header = False
    msg = BytesHeaderParser(policy=email_policy.compat32).parsebytes(b"\n".join(kept) + b"\n\n")
    items = [(clean(name), value.encode("ascii", "surrogateescape")) for name, value in msg.raw_items()]
    # Parameters are read from text decoded our way, not from compat32's stand-in for 8-bit bytes.
    for name in ("content-type", "content-disposition"):
        value = next((v for n, v in items if n.lower() == name), None)
        if value is not None:
            msg.replace_header(name, unfolded_text(value))
    return Headers(items=items, msg=msg, defects=defects, unixfrom=unixfrom)


def _defect(defects: list[str], text: str) -> None:
    if len(defects) < MAX_DEFECTS:
        defects.append(clean(text))


# ----------------------------------------------------------------- MIME walk

@dataclass
class Part:
    """One MIME entity, as offsets into the raw message."""

    index: int  # pre-order position; 0 is the message itself
    depth: int
    start: int
    body_start: int
    end: int
    headers: Headers
    ctype: str
    parent: int | None
    children: list[int] = field(default_factory=list)
    leaf: bool = True
    disposition: str | None = None
    filename: str | None = None  # as declared (RFC 2231 collapsed), before sanitising
    charset: str | None = None
    cte: str = ""


@dataclass
class MimeTree:
    parts: list[Part] = field(default_factory=list)
    defects: list[str] = field(default_factory=list)
    error: IngestError | None = None


def walk_mime(buf: Buf, start: int, end: int, max_depth: int, max_parts: int) -> MimeTree:
    """Split a message into its MIME entities, depth first, with an explicit stack."""
    tree = MimeTree()
    stack: list[tuple[int, int, int, int | None, str]] = [(start, end, 0, None, "text/plain")]
    while stack:
        s, e, depth, parent, default = stack.pop()
        if len(tree.parts) >= max_parts:
            tree.error = IngestError(TOO_MANY_PARTS, f"over {max_parts} MIME parts")
            break
        part = _read_entity(buf, s, e, depth, parent, default, len(tree.parts))
        tree.parts.append(part)
        if parent is not None:
            tree.parts[parent].children.append(part.index)
        if not part.ctype.startswith("multipart/"):
            continue
        if depth >= max_depth:
            part.leaf = False  # not descended: neither text nor attachment
            tree.error = IngestError(TOO_DEEP, f"MIME parts nested over {max_depth} levels deep")
            break
        ranges = _split_multipart(buf, part, tree.defects, max_parts - len(tree.parts) + 1)
        if not ranges:
            continue  # kept as a leaf: its body is read as text
        part.leaf = False
        child_default = "message/rfc822" if part.ctype == "multipart/digest" else "text/plain"
        for r_start, r_end in reversed(ranges):
            stack.append((r_start, r_end, depth + 1, part.index, child_default))
    return tree


def _read_entity(buf: Buf, s: int, e: int, depth: int, parent: int | None, default: str, index: int) -> Part:
    hdr_end, body_start = _header_end(buf, s, e)
    block = buf[s:min(hdr_end, s + MAX_HEADER_BLOCK)]
    headers = parse_header_block(block)
    if hdr_end - s > MAX_HEADER_BLOCK:
        _defect(headers.defects, f"header block over {MAX_HEADER_BLOCK} bytes: the rest is ignored")
    if not headers.items and headers.unixfrom is None and block.strip():
        body_start = s  # no header at all, no blank line: the entity is all body
        headers.defects.clear()
        _defect(headers.defects, "part without headers")
    part = Part(index=index, depth=depth, start=s, body_start=body_start, end=e, headers=headers,
                ctype=default, parent=parent)
    _part_params(part, default)
    return part


def _header_end(buf: Buf, s: int, e: int) -> tuple[int, int]:
    """End of the header block and start of the body (after the first empty line)."""
    if buf[s:s + 1] == b"\n":
        return s, s + 1
    if buf[s:s + 2] == b"\r\n":
        return s, s + 2
    found = [(i, n) for i, n in ((buf.find(b"\n\n", s, e), 2), (buf.find(b"\n\r\n", s, e), 3)) if i >= 0]
    if not found:
        return e, e
    i, n = min(found)
    return i + 1, i + n


def _part_params(part: Part, default: str) -> None:
    msg = part.headers.msg
    msg.set_default_type(default)
    try:
        part.ctype = msg.get_content_type()
        part.disposition = msg.get_content_disposition()
        filename = msg.get_filename()
        part.filename = filename or None
        charset = msg.get_content_charset()
        part.charset = clean(charset) if charset else None
    except (ValueError, LookupError, UnicodeError, TypeError, IndexError, AttributeError) as e:
        _defect(part.headers.defects, f"unreadable MIME parameters: {type(e).__name__}")
    cte = part.headers.first("content-transfer-encoding")
    part.cte = decode_header_value(cte).lower()[:100] if cte is not None else ""


def _boundary(part: Part) -> bytes | None:
    try:
        boundary = part.headers.msg.get_boundary()
    except (ValueError, LookupError, UnicodeError, TypeError, IndexError, AttributeError):
        return None
    if not boundary or len(boundary) > 1000:
        return None
    return boundary.encode("utf-8", "surrogateescape")


def _split_multipart(buf: Buf, part: Part, defects: list[str], room: int) -> list[tuple[int, int]]:
    """Byte ranges of the body parts, per RFC 2046: the line break before a delimiter belongs to it.

    At most `room` ranges are returned; the walk reports the part cap when it reaches it.
    """
    boundary = _boundary(part)
    if boundary is None:
        _defect(defects, f"part {part.index}: {part.ctype} without a usable boundary")
        return []
    delim = b"--" + boundary
    s, e = part.body_start, part.end
    ranges: list[tuple[int, int]] = []
    cur: int | None = None  # start of the body part being read
    closed = False
    pos = s
    while len(ranges) < room:
        i = buf.find(delim, pos, e)
        if i < 0:
            break
        line_end = _delimiter_line_end(buf, i, i + len(delim), s, e)
        if line_end is None:
            pos = i + 1
            continue
        if cur is not None:
            ranges.append((cur, _strip_eol(buf, i, cur)))
        if buf[i + len(delim):i + len(delim) + 2] == b"--":
            closed = True
            break
        cur = pos = line_end
    if len(ranges) >= room:
        return ranges
    if not closed and cur is not None:
        ranges.append((cur, e))
        _defect(defects, f"part {part.index}: no closing delimiter")
    if not ranges:
        _defect(defects, f"part {part.index}: {part.ctype} without any delimiter")
    return ranges


def _delimiter_line_end(buf: Buf, i: int, j: int, s: int, e: int) -> int | None:
    """End of the delimiter line starting at i (boundary ends at j), or None if it is not one."""
    if i != s and buf[i - 1:i] != b"\n":
        return None
    if buf[j:j + 2] == b"--":
        j += 2
    while j < e and buf[j] in (32, 9):  # transport padding
        j += 1
    if j >= e:
        return e
    if buf[j] == 13:
        j += 1
        return j + 1 if j < e and buf[j] == 10 else j
    return j + 1 if buf[j] == 10 else None


def _strip_eol(buf: Buf, i: int, lo: int) -> int:
    if i > lo and buf[i - 1] == 10:
        i -= 1
        if i > lo and buf[i - 1] == 13:
            i -= 1
    return i


# ------------------------------------------------------------ message reading

def _is_body_candidate(p: Part) -> bool:
    if p.disposition == "attachment" or p.filename:
        return False
    return p.ctype in BODY_TYPES or (p.leaf and p.ctype.startswith("multipart/"))


def _alternative_score(p: Part) -> int:
    if p.leaf and _is_body_candidate(p):
        return 3 if p.ctype != "text/html" else 1
    return 2 if not p.leaf else 0


def choose_body(parts: list[Part]) -> list[int]:
    """Indices of the parts read as the message text, in document order."""
    chosen: list[int] = []
    stack = [0] if parts else []
    while stack:
        p = parts[stack.pop()]
        if p.leaf:
            if _is_body_candidate(p):
                chosen.append(p.index)
        elif p.ctype == "multipart/alternative":
            best = max(p.children, key=lambda k: (_alternative_score(parts[k]), -k), default=None)
            if best is not None and _alternative_score(parts[best]) > 0:
                stack.append(best)
        else:
            stack.extend(reversed(p.children))
    return chosen


def mime_outline(parts: list[Part]) -> str:
    """A compact outline such as multipart/mixed(text/plain,application/pdf)."""
    out: list[str] = []
    size, prev = 0, -1
    for p in parts:
        if size > MAX_OUTLINE_CHARS:
            out.append("...")
            return "".join(out)
        sep = "(" if p.depth > prev and prev >= 0 else ("," if p.depth == prev else ")" * (prev - p.depth) + ",")
        token = (sep if prev >= 0 else "") + p.ctype[:100]
        out.append(token)
        size += len(token)
        prev = p.depth
    out.append(")" * max(prev, 0))
    return "".join(out)


def _fill_email(headers: Headers, ctx: Context) -> None:
    decoded = [(n, decode_header_value(v)) for n, v in headers.items]
    by_name: dict[str, list[str]] = {}
    for name, value in decoded:
        by_name.setdefault(name.lower(), []).append(value)
    # Addresses are parsed before RFC 2047 decoding: a decoded name may hold commas or brackets.
    undecoded = {n: [clean(unfolded_text(v)) for v in headers.all(n)] for n in ("from", "to", "cc")}

    def first(name: str) -> str | None:
        values = by_name.get(name)
        return values[0][:MAX_HEADER_CHARS] if values else None

    fields = EmailFields()
    fields.from_ = first("from")
    fields.from_addr = _from_addr(undecoded["from"][0] if undecoded["from"] else None)
    fields.to = _addresses(undecoded["to"])
    fields.cc = _addresses(undecoded["cc"])
    fields.date_raw = first("date")
    fields.date = _iso_date(fields.date_raw)
    fields.subject = first("subject")
    fields.message_id = (first("message-id") or "").strip() or None
    fields.in_reply_to = (first("in-reply-to") or "").strip() or None
    refs = first("references") or ""
    fields.references = re.findall(r"<[^<>]*>", refs) or refs.split()
    ctx.out.email = fields

    meta = ctx.out.metadata
    meta["headers"] = [[n, v[:MAX_HEADER_CHARS]] for n, v in decoded[:MAX_HEADERS]]
    if len(decoded) > MAX_HEADERS:
        meta["headers_total"] = len(decoded)
    meta["received"] = [v[:MAX_HEADER_CHARS] for v in by_name.get("received", [])[:MAX_RECEIVED]]
    dups = {n: [v[:MAX_HEADER_CHARS] for v in by_name[n][:20]] for n in SINGLETONS if len(by_name.get(n, [])) > 1}
    if dups:
        meta["duplicate_headers"] = dups
    if headers.unixfrom:
        meta["unixfrom"] = headers.unixfrom


def _from_addr(value: str | None) -> str | None:
    if not value:
        return None
    try:
        addr = parseaddr(value[:MAX_ADDR_CHARS])[1]
    except (ValueError, IndexError, TypeError, AttributeError):
        return None
    return addr.strip().lower() or None


def _addresses(values: list[str]) -> list[str]:
    try:
        pairs = getaddresses([v[:MAX_ADDR_CHARS] for v in values])
    except (ValueError, IndexError, TypeError, AttributeError):
        return []
    return [a.strip().lower() for _, a in pairs if a.strip()]


def _iso_date(value: str | None) -> str | None:
    if not value:
        return None
    try:
        return parsedate_to_datetime(value[:200]).isoformat()
    except (TypeError, ValueError, IndexError, OverflowError):
        return None


def _part_text(buf: Buf, p: Part, cap: int, defects: list[str]) -> str:
    chunks: list[bytes] = []
    total = 0
    try:
        for chunk in decoded_chunks(buf, p.body_start, p.end, p.cte, []):
            chunks.append(chunk)
            total += len(chunk)
            if total >= cap:
                break
    except DecodeError as e:
        _defect(defects, f"part {p.index}: {e}")
    text = decode_text(b"".join(chunks)[:cap], p.charset).replace("\r\n", "\n")
    return html_to_text(text, compact=True) if p.ctype == "text/html" else text


def _child_metadata(p: Part, number: int) -> dict[str, Any]:
    cid = p.headers.first("content-id")
    meta: dict[str, Any] = {
        "part": number,
        "content_type": p.ctype,
        "disposition": p.disposition,
        "content_id": decode_header_value(cid)[:1000] if cid is not None else None,
        "filename": clean(p.filename)[:2000] if p.filename is not None else None,
        "transfer_encoding": p.cte or None,
        "charset": p.charset,
    }
    return {k: v for k, v in meta.items() if v is not None}


def _extract(buf: Buf, p: Part, name: str, number: int, ctx: Context) -> Child:
    meta = _child_metadata(p, number)
    kind = "email" if p.ctype in MESSAGE_TYPES else None
    warnings: list[str] = []
    try:
        blob = ctx.blob_from_stream(ChunkStream(decoded_chunks(buf, p.body_start, p.end, p.cte, warnings)))
    except DecodeError as e:
        return Child(name=name, error=IngestError(CORRUPT, f"{p.cte} decoding failed: {e}"),
                     size=p.end - p.body_start, kind=kind, metadata=meta)
    except IngestError as e:
        return Child(name=name, error=e, size=p.end - p.body_start, kind=kind, metadata=meta)
    if warnings:
        meta["decode_warnings"] = warnings
    return Child(name=name, blob=blob, kind=kind, metadata=meta)


def read_message(buf: Buf, start: int, end: int, ctx: Context) -> Iterator[Child]:
    """Fill ctx.out from one raw message in buf[start:end] and yield its attachments."""
    lim = ctx.limits
    tree = walk_mime(buf, start, end, lim.max_mime_depth, max(1, lim.max_mime_parts))
    root = tree.parts[0]
    _fill_email(root.headers, ctx)
    if buf.find(b"\r\n", start, end) < 0 and buf.find(b"\n", start, end) >= 0:
        ctx.out.transforms.append("lf_line_endings")

    defects = list(tree.defects)
    body = choose_body(tree.parts)
    for i in body:
        ctx.out.add_text(_part_text(buf, tree.parts[i], 4 * lim.max_text_chars, defects), lim.max_text_chars)

    body_set = set(body)
    leaves = [p for p in tree.parts if p.leaf]
    numbers = {p.index: n for n, p in enumerate(leaves, start=1)}
    # The other renderings of a multipart/alternative body are the same text, not attachments.
    alternatives = {k for p in tree.parts if not p.leaf and p.ctype == "multipart/alternative"
                    for k in p.children if tree.parts[k].leaf and _is_body_candidate(tree.parts[k])} - body_set
    attachments = [p for p in leaves if p.index not in body_set and p.index not in alternatives]
    ctx.out.children_expected = len(attachments)

    meta = ctx.out.metadata
    meta["mime_structure"] = mime_outline(tree.parts)
    if alternatives:
        meta["alternative_bodies"] = sorted(tree.parts[k].ctype for k in alternatives)
    for p in tree.parts:
        for d in p.headers.defects:
            _defect(defects, f"part {p.index}: {d}" if p.index else d)
    if defects:
        meta["mime_defects"] = defects

    names = UniqueNames(ignore_case=True)
    for p in attachments:
        number = numbers[p.index]
        declared = ""
        if p.filename:
            declared = safe_name(decode_words(p.filename.replace("\x00", "").encode("utf-8", "surrogateescape")))
        yield _extract(buf, p, names.take(declared or f"part-{number}"), number, ctx)
    if tree.error is not None:
        raise tree.error


@contextmanager
def mapped(blob: Blob, cap: int) -> Iterator[Buf]:
    """The blob's bytes: mapped read-only when it is a file, so a big message is not copied."""
    if isinstance(blob, BytesBlob):
        yield blob.data
        return
    with blob.open() as fh:
        try:
            view: mmap.mmap | None = mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ)
        except (OSError, ValueError):  # no file descriptor (a spooled member) or an empty file
            view = None
        if view is None:
            data = fh.read(cap + 1)
            if len(data) > cap:
                raise IngestError(TOO_LARGE, f"message over {cap} bytes and not mappable")
            yield data
            return
        try:
            yield view
        finally:
            view.close()


def _memory_cap(ctx: Context) -> int:
    return max(ctx.limits.memory_member_bytes, ctx.limits.max_raw_email_bytes)


class EmlReader:
    """message/rfc822: one message; its attachments and attached messages are children."""

    name = "eml"
    mimes = frozenset({sniff.EML})
    container = True

    def read(self, blob: Blob, ctx: Context) -> Iterator[Child]:
        with mapped(blob, _memory_cap(ctx)) as buf:
            yield from read_message(buf, 0, len(buf), ctx)


# ------------------------------------------------------------------- emlx

# Bits of the emlx "flags" integer, as Apple Mail writes them.
_EMLX_BITS = {"read": 0, "deleted": 1, "answered": 2, "encrypted": 3, "flagged": 4, "recent": 5, "draft": 6,
              "forwarded": 8, "redirected": 9, "signed": 23, "junk": 24, "not_junk": 25}
_EMLX_DATES = ("date-received", "date-sent", "date-last-viewed")


def _jsonable(value: Any, depth: int = 0) -> Any:
    if depth > 8:
        return None
    if isinstance(value, dict):
        return {clean(str(k))[:200]: _jsonable(v, depth + 1) for k, v in list(value.items())[:200]}
    if isinstance(value, list):
        return [_jsonable(v, depth + 1) for v in value[:200]]
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, bytes):
        return {"bytes": len(value)}
    if isinstance(value, str):
        return clean(value)[:MAX_HEADER_CHARS]
    if isinstance(value, (bool, int, float)) or value is None:
        return value
    return clean(str(value))[:1000]


def emlx_plist(data: bytes) -> dict[str, Any]:
    """Flags and dates from the property list that follows the message in an emlx."""
    data = data.lstrip()
    if not data:
        return {}
    try:
        plist = plistlib.loads(data[:MAX_PLIST_BYTES], fmt=plistlib.FMT_XML)  # emlx holds XML; never bplist
    except (plistlib.InvalidFileException, ValueError, ExpatError, OverflowError, TypeError, IndexError,
            KeyError, AttributeError, LookupError) as e:  # plistlib trips in many ways on broken XML
        return {"emlx_plist_error": clean(f"{type(e).__name__}: {e}")[:500]}
    if not isinstance(plist, dict):
        return {"emlx_plist_error": "property list is not a dictionary"}
    meta: dict[str, Any] = {"emlx": _jsonable(plist)}
    flags = plist.get("flags")
    if isinstance(flags, int) and not isinstance(flags, bool):
        decoded: dict[str, Any] = {k: bool(flags >> bit & 1) for k, bit in _EMLX_BITS.items()}
        decoded["attachments"] = flags >> 10 & 0x3F
        decoded["priority"] = flags >> 16 & 0x7F
        meta["emlx_flags"] = decoded
    dates = {}
    for key in _EMLX_DATES:
        v = plist.get(key)
        if isinstance(v, (int, float)) and not isinstance(v, bool):
            try:
                dates[key] = datetime.fromtimestamp(v, timezone.utc).isoformat()
            except (OverflowError, OSError, ValueError):
                dates[key] = None
    if dates:
        meta["emlx_dates"] = dates
    return meta


class EmlxReader:
    """Apple Mail .emlx: a byte count line, the message, then an XML property list."""

    name = "emlx"
    mimes = frozenset({sniff.EMLX})
    container = True

    def read(self, blob: Blob, ctx: Context) -> Iterator[Child]:
        with mapped(blob, _memory_cap(ctx)) as buf:
            nl = buf.find(b"\n", 0, 64)
            try:
                count = int(buf[:nl].strip()) if nl >= 0 else -1
            except ValueError:
                count = -1
            if count < 0:
                raise IngestError(CORRUPT, "emlx without a byte count line")
            start = nl + 1
            end = start + count
            truncated = end > len(buf)
            end = min(end, len(buf))
            ctx.out.metadata["emlx_byte_count"] = count
            if not truncated:
                ctx.out.metadata.update(emlx_plist(buf[end:end + MAX_PLIST_BYTES + 64]))
            yield from read_message(buf, start, end, ctx)
            if truncated:
                raise IngestError(TRUNCATED, f"emlx announces {count} message bytes, holds {len(buf) - start}")


READERS: list[type] = [EmlReader, EmlxReader]
