"""Revisions of a PDF, by following the cross-reference chain from the final `startxref` through each
section's /Prev, never by counting `%%EOF` (a tamperer can add or strip those freely).

The parser reads small windows of the file, so a 2 GB PDF is never loaded.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, BinaryIO

from .syntax import Ref, parse_dict, skip_ws

WINDOW = 64 * 1024  # bytes read at once around an offset
TAIL = 64 * 1024  # where `startxref` is looked for, at the end of the file
NEARBY = 1024  # how far from a wrong offset we look for the xref section it meant
MAX_SECTIONS = 4096  # cross-reference sections followed before we call it a loop or a bomb
MAX_TRAILER_SCAN = 256 * 1024 * 1024  # bytes scanned for `trailer` after a malformed xref table
MAX_EOF_SCAN = 64 * 1024 * 1024  # bytes scanned for the `%%EOF` that ends a revision
MAX_SUBSECTIONS = 64  # subsection ranges recorded per xref section
MAX_SUBSECTION_WALK = 100_000  # subsection headers jumped over before we scan for `trailer` instead


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
    pos = skip_ws(buf, 0)
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
        p = skip_ws(buf, 0)
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
    trailer, end = parse_dict(buf, skip_ws(buf, 0))
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
