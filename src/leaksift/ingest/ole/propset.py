"""Property sets (MS-OLEPS): SummaryInformation, DocumentSummaryInformation and its user-defined section.

A small parser that checks every count and offset against the stream and decodes strings with the
file's own code page.
"""

from __future__ import annotations

import codecs
import math
import struct
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

MAX_VECTOR = 100_000

SUMMARY = "\x05SummaryInformation"
DOC_SUMMARY = "\x05DocumentSummaryInformation"
FMTID_SUMMARY = "F29F85E0-4FF9-1068-AB91-08002B27B3D9"
FMTID_DOC_SUMMARY = "D5CDD502-2E9C-101B-9397-08002B2CF9AE"
FMTID_USER = "D5CDD505-2E9C-101B-9397-08002B2CF9AE"

SUMMARY_NAMES = {
    2: "title", 3: "subject", 4: "author", 5: "keywords", 6: "comments", 7: "template", 8: "last_author",
    9: "revision", 10: "edit_time", 11: "last_printed", 12: "created", 13: "last_saved", 14: "pages",
    15: "words", 16: "chars", 17: "thumbnail", 18: "app_name", 19: "security",
}
DOC_SUMMARY_NAMES = {
    2: "category", 3: "presentation_format", 4: "bytes", 5: "lines", 6: "paragraphs", 7: "slides", 8: "notes",
    9: "hidden_slides", 10: "multimedia_clips", 11: "scale_crop", 12: "heading_pairs", 13: "titles_of_parts",
    14: "manager", 15: "company", 16: "links_dirty", 17: "chars_with_spaces", 19: "shared_doc",
    22: "hyperlinks_changed", 23: "app_version", 24: "digital_signature", 26: "content_type",
    27: "content_status", 28: "language", 29: "doc_version",
}
SPECIAL_NAMES = {1: "code_page", 0x80000000: "locale", 0x80000003: "behavior"}

VT_NAMES = {
    0: "empty", 1: "null", 2: "i2", 3: "i4", 4: "r4", 5: "r8", 6: "cy", 7: "date", 8: "bstr", 10: "error",
    11: "bool", 12: "variant", 14: "decimal", 16: "i1", 17: "ui1", 18: "ui2", 19: "ui4", 20: "i8", 21: "ui8",
    22: "int", 23: "uint", 30: "lpstr", 31: "lpwstr", 64: "filetime", 65: "blob", 66: "stream",
    67: "storage", 68: "streamed_object", 69: "stored_object", 70: "blob_object", 71: "cf", 72: "clsid",
    73: "versioned_stream",
}
VT_VECTOR = 0x1000
_FIXED = {  # type -> (struct format, size)
    2: ("<h", 2), 3: ("<i", 4), 4: ("<f", 4), 5: ("<d", 8), 10: ("<I", 4), 11: ("<H", 2), 16: ("<b", 1),
    17: ("<B", 1), 18: ("<H", 2), 19: ("<I", 4), 20: ("<q", 8), 21: ("<Q", 8), 22: ("<i", 4),
    23: ("<I", 4), 6: ("<q", 8), 7: ("<d", 8), 64: ("<Q", 8),
}
_CODECS = {1200: "utf-16-le", 1201: "utf-16-be", 65001: "utf-8", 65000: "utf-7", 10000: "mac_roman",
           20127: "ascii", 28591: "latin-1", 10007: "mac_cyrillic", 10006: "mac_greek", 10029: "mac_latin2",
           10079: "mac_iceland", 10081: "mac_turkish"}
FILETIME_EPOCH = datetime(1601, 1, 1)


class PropertyError(Exception):
    """A property set that does not hold together (counts or offsets outside the stream)."""


def codec_for(code_page: int | None) -> str:
    cp = (code_page or 1252) & 0xFFFF
    name = _CODECS.get(cp, f"cp{cp}")
    try:
        codecs.lookup(name)
    except LookupError:
        return "cp1252"
    return name


def filetime_iso(value: int) -> str | None:
    """A FILETIME (100 ns ticks since 1601, UTC) as ISO 8601 with 'Z'; None when unset."""
    if value == 0:
        return None
    try:
        dt = FILETIME_EPOCH + timedelta(microseconds=value // 10)
    except OverflowError:
        return f"filetime:{value}"
    return dt.isoformat(timespec="microseconds" if dt.microsecond else "seconds") + "Z"


def oledate_iso(days: float) -> str | None:
    """VT_DATE: days since 1899-12-30, local time of the writer (no zone)."""
    if not math.isfinite(days):
        return None
    try:
        dt = datetime(1899, 12, 30) + timedelta(days=days)
    except OverflowError:
        return f"oledate:{days}"
    return dt.isoformat(timespec="seconds")


def guid(data: bytes) -> str:
    return str(uuid.UUID(bytes_le=bytes(data))).upper()


@dataclass
class Section:
    fmtid: str
    code_page: int | None = None
    props: dict[int, tuple[int, Any]] = field(default_factory=dict)  # pid -> (vt, value)
    names: dict[int, str] = field(default_factory=dict)  # the dictionary (property 0)
    errors: list[str] = field(default_factory=list)


class PropertySetParser:
    """One property set stream; every read is checked against the section's bounds."""

    def __init__(self, data: bytes) -> None:
        self.data = data

    def u16(self, pos: int, end: int) -> int:
        self.need(pos, 2, end)
        return struct.unpack_from("<H", self.data, pos)[0]

    def u32(self, pos: int, end: int) -> int:
        self.need(pos, 4, end)
        return struct.unpack_from("<I", self.data, pos)[0]

    @staticmethod
    def need(pos: int, n: int, end: int) -> None:
        if pos < 0 or n < 0 or pos + n > end:
            raise PropertyError(f"read of {n} bytes at {pos} past the end ({end})")

    def sections(self, default_cp: int | None = None) -> tuple[str, list[Section]]:
        """All sections; one without a code page of its own decodes with the first one's."""
        data = self.data
        if len(data) < 28:
            raise PropertyError("stream shorter than a property set header")
        byte_order, _version, _sysid = struct.unpack_from("<HHI", data, 0)
        if byte_order != 0xFFFE:
            raise PropertyError(f"byte order mark {byte_order:#06x}")
        clsid = guid(data[8:24])
        count = struct.unpack_from("<I", data, 24)[0]
        if count > (len(data) - 28) // 20:
            raise PropertyError(f"{count} sections announced in {len(data)} bytes")
        out = []
        for i in range(count):
            base = 28 + 20 * i
            fmtid = guid(data[base: base + 16])
            offset = struct.unpack_from("<I", data, base + 16)[0]
            sec = self.section(fmtid, offset, default_cp)
            default_cp = default_cp or sec.code_page
            out.append(sec)
        return clsid, out

    def section(self, fmtid: str, offset: int, default_cp: int | None = None) -> Section:
        sec = Section(fmtid)
        self.u32(offset, len(self.data))  # the declared size: must be there, is not trusted
        end = len(self.data)  # declared section sizes are often wrong; the stream is the bound
        count = self.u32(offset + 4, end)
        if count > (end - offset - 8) // 8:
            raise PropertyError(f"{count} properties announced at {offset} in a {end}-byte stream")
        entries = [(self.u32(offset + 8 + 8 * i, end), self.u32(offset + 12 + 8 * i, end)) for i in range(count)]
        for pid, poff in entries:  # the code page first: strings and the dictionary depend on it
            if pid == 1:
                try:
                    vt, value, _ = self.value(offset, offset + poff, end, None)
                    sec.props[1] = (vt, value)
                    if isinstance(value, int):
                        sec.code_page = value & 0xFFFF
                except PropertyError as e:
                    sec.errors.append(f"code page: {e}")
        cp = sec.code_page if sec.code_page is not None else default_cp
        for pid, poff in entries:
            if pid == 1 or pid in sec.props:
                continue
            try:
                if pid == 0:
                    try:
                        sec.names = self.dictionary(offset, offset + poff, end, cp)
                    except PropertyError:  # some writers put a plain value at id 0 (POI bug 44375)
                        vt, value, _ = self.value(offset, offset + poff, end, cp)
                        sec.props[0] = (vt, value)
                else:
                    vt, value, _ = self.value(offset, offset + poff, end, cp)
                    sec.props[pid] = (vt, value)
            except (PropertyError, struct.error) as e:
                sec.errors.append(f"property {pid}: {e}")
        return sec

    def string(self, pos: int, end: int, code_page: int | None, wide: bool) -> tuple[str, int]:
        """A CodePageString (size in bytes) or UnicodeString (length in characters)."""
        n = self.u32(pos, end)
        nbytes = n * 2 if wide else n
        self.need(pos + 4, nbytes, end)
        raw = self.data[pos + 4: pos + 4 + nbytes]
        enc = "utf-16-le" if wide else codec_for(code_page)
        text = raw.decode(enc, "replace")
        return text.split("\x00", 1)[0], pos + 4 + nbytes

    def pad(self, section: int, pos: int, end: int) -> int:
        """Skip the zero padding to a 4-byte boundary, if it is there (some writers omit it)."""
        while (pos - section) % 4 and pos < end and self.data[pos] == 0:
            pos += 1
        return pos

    def value(self, section: int, pos: int, end: int, code_page: int | None,
              in_vector: bool = False) -> tuple[int, Any, int]:
        """A TypedPropertyValue: (type, decoded value, position after it)."""
        vt = self.u16(pos, end)
        if in_vector and vt & VT_VECTOR:  # MS-OLEPS: no vectors inside a vector (and no deep recursion)
            raise PropertyError("vector nested in a vector")
        return (vt, *self.body(section, vt, pos + 4, end, code_page))

    def body(self, section: int, vt: int, pos: int, end: int, code_page: int | None) -> tuple[Any, int]:
        if vt & VT_VECTOR:
            base = vt & 0x0FFF
            count = self.u32(pos, end)
            if count > min(MAX_VECTOR, (end - pos - 4)):
                raise PropertyError(f"vector of {count} items in {end - pos} bytes")
            pos += 4
            items = []
            for _ in range(count):
                if base == 12:  # VT_VARIANT: each item carries its own type
                    _, item, pos = self.value(section, pos, end, code_page, in_vector=True)
                else:
                    item, pos = self.scalar(section, base, pos, end, code_page, in_vector=True)
                items.append(item)
            return items, pos
        return self.scalar(section, vt, pos, end, code_page, in_vector=False)

    def scalar(self, section: int, vt: int, pos: int, end: int, code_page: int | None,
               in_vector: bool) -> tuple[Any, int]:
        if vt in (0, 1):
            return None, pos
        if vt in _FIXED:
            fmt, size = _FIXED[vt]
            self.need(pos, size, end)
            raw = struct.unpack_from(fmt, self.data, pos)[0]
            step = size if in_vector else max(4, size)
            return self.fixed(vt, raw), pos + step
        if vt in (8, 30):  # VT_BSTR, VT_LPSTR: bytes in the code page
            wide = False
            s, pos = self.string(pos, end, code_page, wide)
            return s, self.pad(section, pos, end)
        if vt == 31:  # VT_LPWSTR
            s, pos = self.string(pos, end, code_page, True)
            return s, self.pad(section, pos, end)
        if vt == 72:  # VT_CLSID
            self.need(pos, 16, end)
            return guid(self.data[pos: pos + 16]), pos + 16
        if vt == 14:  # VT_DECIMAL
            self.need(pos, 16, end)
            scale, sign, hi, lo = struct.unpack_from("<BBIQ", self.data, pos + 2)
            num = (hi << 64) | lo
            return (-num if sign else num) / (10 ** min(scale, 28)), pos + 16
        if vt in (65, 70, 71):  # VT_BLOB, VT_BLOB_OBJECT, VT_CF: keep the size, not the bytes
            n = self.u32(pos, end)
            self.need(pos + 4, n, end)
            out: dict[str, Any] = {"size": n}
            if vt == 71 and n >= 4:
                out["format"] = struct.unpack_from("<i", self.data, pos + 4)[0]
            return out, self.pad(section, pos + 4 + n, end)
        if vt in (66, 67, 68, 69, 73):  # names of streams or storages
            s, pos = self.string(pos, end, code_page, code_page == 1200)
            return {"stream_name": s}, self.pad(section, pos, end)
        raise PropertyError(f"unsupported type {vt:#x}")

    @staticmethod
    def fixed(vt: int, raw: Any) -> Any:
        if vt == 11:
            return raw != 0
        if vt == 6:
            return raw / 10000
        if vt == 7:
            return oledate_iso(raw)
        if vt == 64:
            return ("filetime", raw)  # converted by the caller: a date, or a span for the edit time
        if vt in (4, 5) and not math.isfinite(raw):
            return None
        return raw

    def dictionary(self, section: int, pos: int, end: int, code_page: int | None) -> dict[int, str]:
        count = self.u32(pos, end)
        if count > (end - pos - 4) // 8:
            raise PropertyError(f"dictionary of {count} entries in {end - pos} bytes")
        pos += 4
        names: dict[int, str] = {}
        wide = (code_page or 0) == 1200
        for _ in range(count):
            pid = self.u32(pos, end)
            name, pos = self.string(pos + 4, end, code_page, wide)
            if wide:
                pos = self.pad(section, pos, end)
            names.setdefault(pid, name)
        return names


def plain(vt: int, value: Any, span: bool = False) -> Any:
    """A decoded value as JSON-able data: FILETIMEs as ISO UTC strings, or seconds for a span."""
    if isinstance(value, tuple) and len(value) == 2 and value[0] == "filetime":
        return value[1] // 10_000_000 if span else filetime_iso(value[1])
    if isinstance(value, list):
        return [plain(vt & 0x0FFF, v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def vt_name(vt: int) -> str:
    base = VT_NAMES.get(vt & 0x0FFF, f"{vt & 0x0FFF:#x}")
    return f"vector:{base}" if vt & VT_VECTOR else base


def named_section(sec: Section, names: dict[int, str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for pid, (vt, value) in sec.props.items():
        key = names.get(pid) or SPECIAL_NAMES.get(pid) or f"pid_{pid}"
        if key == "edit_time":
            out["edit_time_seconds"] = plain(vt, value, span=True)
            continue
        out[key] = plain(vt, value)
        if key == "code_page" and isinstance(value, int):
            out[key] = value & 0xFFFF  # written as a signed 16-bit number: 65001 reads as -535
        if key == "app_version" and isinstance(value, int):
            out["app_version_text"] = f"{value >> 16}.{value & 0xFFFF:04d}"
    return out


def user_section(sec: Section) -> dict[str, Any]:
    custom: dict[str, Any] = {}
    for pid, (vt, value) in sec.props.items():
        if pid in SPECIAL_NAMES:
            continue
        name = sec.names.get(pid, f"pid_{pid}")
        key = name if name not in custom else f"{name} (pid {pid})"
        custom[key] = {"type": vt_name(vt), "value": plain(vt, value), "pid": pid}
    return custom
