"""Reader: legacy OLE documents (.doc, .xls, .ppt, other compound files, encrypted OOXML).

Metadata is evidence: both property sets (SummaryInformation, DocumentSummaryInformation with its
second, user-defined section) are decoded here with the file's own code page, by a small parser of
MS-OLEPS that checks every count and offset against the stream; the OLE directory is listed with
each entry's own times. Text comes from the Word piece table, xlrd for Excel and the text atoms of
PowerPoint. Embedded objects (ObjectPool, OLE streams) are listed in the directory, not yet yielded.
"""

from __future__ import annotations

import codecs
import io
import math
import re
import struct
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Iterator

import defusedxml
import defusedxml.ElementTree as DET
import olefile
import xlrd

from . import sniff
from .base import CORRUPT, ENCRYPTED, Blob, Child, Context, IngestError, MiB

MAX_STREAM_BYTES = 512 * MiB  # one stream read into memory for text
MAX_PROPSET_BYTES = 16 * MiB
MAX_DIRECTORY = 10_000
MAX_LISTED = 500
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

OLE_ERRORS = (OSError, ValueError, IndexError, KeyError, TypeError, struct.error, OverflowError,
              ZeroDivisionError, AttributeError, AssertionError, RecursionError)


class PropertyError(Exception):
    """A property set that does not hold together (counts or offsets outside the stream)."""


# --------------------------------------------------------------------------------------------
# Property sets (MS-OLEPS)
# --------------------------------------------------------------------------------------------

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


# --------------------------------------------------------------------------------------------
# The OLE file
# --------------------------------------------------------------------------------------------

class OleDoc:
    def __init__(self, ole: olefile.OleFileIO, ctx: Context, size: int) -> None:
        self.ole, self.ctx, self.size = ole, ctx, size
        self.meta = ctx.out.metadata
        self.text: list[str] = []
        self.text_len = 0
        self.encrypted: str | None = None
        self.corrupt: str | None = None

    def add_text(self, s: str) -> None:
        if s and self.text_len < self.ctx.limits.max_text_chars:
            self.text.append(s)
            self.text_len += len(s)

    @property
    def text_full(self) -> bool:
        return self.text_len >= self.ctx.limits.max_text_chars

    def exists(self, name: str) -> bool:
        try:
            return bool(self.ole.exists(name)) and self.ole.get_type(name) == olefile.STGTY_STREAM
        except OLE_ERRORS:
            return False

    def stream(self, name: str, cap: int = MAX_STREAM_BYTES) -> bytes:
        """A whole stream, refused when it claims more bytes than the file could hold."""
        size = self.ole.get_size(name)
        if size > self.size or size > cap:
            raise IngestError(CORRUPT if size > self.size else "too_large",
                              f"stream {name!r} claims {size} bytes (file {self.size}, cap {cap})")
        with self.ole.openstream(name) as f:
            return f.read(size)

    # --- structure ---------------------------------------------------------------------------

    def read_directory(self) -> None:
        ole = self.ole
        root = ole.root
        self.meta["ole"] = {
            "root_clsid": root.clsid or None,
            "root_created": filetime_iso(root.createTime),
            "root_modified": filetime_iso(root.modifyTime),
            "version": f"{ole.dll_version}.{ole.minor_version}",
            "sector_size": ole.sector_size,
        }
        entries = list(directory_entries(root))
        self.meta["directory"] = entries
        self.meta["directory_count"] = len(entries)
        issues = [f"{getattr(t, '__name__', t)}: {m}" for t, m in getattr(ole, "parsing_issues", [])]
        if issues:
            self.meta["ole_defects"] = issues[:MAX_LISTED]

    def read_properties(self) -> None:
        errors: dict[str, str] = {}
        first_cp: int | None = None
        for stream in (SUMMARY, DOC_SUMMARY):
            if not self.exists(stream):
                continue
            try:
                data = self.stream(stream, MAX_PROPSET_BYTES)
                _, sections = PropertySetParser(data).sections(first_cp)
            except (PropertyError, struct.error, IngestError) as e:
                errors[stream.lstrip("\x05")] = str(e)
                continue
            except OLE_ERRORS as e:
                errors[stream.lstrip("\x05")] = f"{type(e).__name__}: {e}"
                continue
            for sec in sections:
                if sec.errors:
                    errors[f"{stream.lstrip(chr(5))} {sec.fmtid}"] = "; ".join(sec.errors)[:2000]
                first_cp = first_cp or sec.code_page
                if sec.fmtid == FMTID_SUMMARY and "summary" not in self.meta:
                    self.meta["summary"] = named_section(sec, SUMMARY_NAMES)
                elif sec.fmtid == FMTID_DOC_SUMMARY and "doc_summary" not in self.meta:
                    self.meta["doc_summary"] = named_section(sec, DOC_SUMMARY_NAMES)
                elif sec.fmtid == FMTID_USER and "custom" not in self.meta:
                    self.meta["custom"] = user_section(sec)
                else:
                    self.meta.setdefault("other_property_sets", {})[sec.fmtid] = named_section(sec, {})
        cp = (self.meta.get("summary") or {}).get("code_page") or (self.meta.get("doc_summary") or {}).get("code_page")
        if isinstance(cp, int):
            self.meta["code_page"] = cp & 0xFFFF
        if errors:
            self.meta["property_set_errors"] = errors

    # --- encrypted OOXML ---------------------------------------------------------------------

    def read_encrypted_package(self) -> None:
        info = self.stream("EncryptionInfo", MAX_PROPSET_BYTES)
        enc: dict[str, Any] = {"container": "ooxml"}
        if len(info) >= 8:
            major, minor, flags = struct.unpack_from("<HHI", info, 0)
            enc["version"] = f"{major}.{minor}"
            enc["flags"] = flags
            if (major, minor) == (4, 4):
                enc["type"] = "agile"
                enc.update(agile_details(info[8:]))
            elif minor == 2 and major in (2, 3, 4):
                enc["type"] = "standard"
                enc.update(standard_details(info))
            elif minor == 3 and major in (3, 4):
                enc["type"] = "extensible"
            else:
                enc["type"] = "unknown"
        try:
            enc["package_size"] = self.ole.get_size("EncryptedPackage")
        except OLE_ERRORS:
            pass
        self.meta["encryption"] = enc
        self.encrypted = f"password-protected OOXML ({enc.get('type', 'unknown')} encryption)"

    # --- Word --------------------------------------------------------------------------------

    def read_doc(self) -> None:
        wd = self.stream("WordDocument")
        fib = parse_fib(wd)
        self.meta["fib"] = fib.info
        if fib.info.get("wIdent") not in (0xA5EC, 0xA5DC, 0xA699):  # Word 97+, Word 6/95 (0xA699: Far East)
            self.corrupt = f"WordDocument: no Word FIB (wIdent {fib.info.get('wIdent')})"
            return
        table_name = "1Table" if fib.info.get("fWhichTblStm") else "0Table"
        table = self.stream(table_name) if self.exists(table_name) else b""
        if fib.info.get("fEncrypted"):
            enc: dict[str, Any] = {"container": "doc", "type": "xor"}
            if not fib.info.get("fObfuscated") and len(table) >= 4:  # RC4: an EncryptionHeader opens the table
                major, minor = struct.unpack_from("<HH", table, 0)
                enc.update(type="rc4" if major == 1 else "rc4_cryptoapi", version=f"{major}.{minor}")
            self.meta["encryption"] = enc
            self.encrypted = f"password-protected .doc ({enc['type']})"
            return
        self.read_doc_tables(fib, table)
        try:
            text = doc_text(fib, wd, table, self.ctx.limits.max_text_chars)
        except PropertyError as e:
            self.meta["text_error"] = str(e)
            return
        self.add_text(text)

    def read_doc_tables(self, fib: Fib, table: bytes) -> None:
        """Evidence kept in the table stream: DOP dates, saved-by history, revision authors."""
        dop = fib.blob(31, table)
        if dop is not None:
            self.meta["dop"] = parse_dop(dop)
        saved = fib.blob(71, table)
        if saved:
            strings = sttb_strings(saved)
            self.meta["saved_by"] = [{"author": strings[i], "path": strings[i + 1] if i + 1 < len(strings) else None}
                                     for i in range(0, len(strings), 2)][:MAX_LISTED]
        rmark = fib.blob(51, table)
        if rmark:
            self.meta["revision_authors"] = sttb_strings(rmark)[:MAX_LISTED]
        assoc = fib.blob(32, table)
        if assoc:
            strings = sttb_strings(assoc)
            names = {1: "template", 2: "title", 3: "subject", 4: "keywords", 6: "author", 7: "last_revised_by",
                     8: "mail_merge_data_source", 9: "mail_merge_header"}
            self.meta["assoc"] = {n: strings[i] for i, n in names.items() if i < len(strings)}

    # --- Excel -------------------------------------------------------------------------------

    def read_xls(self) -> None:
        name = "Workbook" if self.exists("Workbook") else "Book"
        wb = self.stream(name)
        biff = scan_biff_globals(wb)
        self.meta["biff"] = biff
        if biff.get("filepass"):
            self.meta["encryption"] = {"container": "xls", **biff["filepass"]}
            self.encrypted = f"password-protected .xls ({biff['filepass'].get('type')})"
            return
        self.read_xls_cells(wb)

    def read_xls_cells(self, wb: bytes) -> None:
        try:
            book = xlrd.open_workbook(file_contents=wb, on_demand=True, logfile=_Sink(),
                                      formatting_info=False, ragged_rows=True)
        except xlrd.XLRDError as e:
            self.meta["text_error"] = f"xlrd: {e}"
            return
        except (*OLE_ERRORS, UnicodeError, MemoryError) as e:
            self.meta["text_error"] = f"xlrd: {type(e).__name__}: {e}"
            return
        try:
            self.meta["sheet_names"] = list(book.sheet_names())[:MAX_LISTED]
            self.meta["write_access_user"] = book.user_name or None
            self.meta["xls_codepage"] = book.codepage
            self.meta["biff_version"] = book.biff_version
            hidden: dict[str, str] = {}
            for i in range(book.nsheets):
                if self.text_full:
                    break
                sheet = book.sheet_by_index(i)
                if sheet.visibility:
                    hidden[sheet.name] = {1: "hidden", 2: "veryHidden"}.get(sheet.visibility, str(sheet.visibility))
                self.add_text(sheet_text(sheet, book.datemode, self.ctx.limits.max_text_chars - self.text_len))
                book.unload_sheet(i)
            if hidden:
                self.meta["hidden_sheets"] = hidden
        except xlrd.XLRDError as e:
            self.meta["text_error"] = f"xlrd: {e}"
        except (*OLE_ERRORS, UnicodeError, MemoryError) as e:
            self.meta["text_error"] = f"xlrd: {type(e).__name__}: {e}"
        finally:
            book.release_resources()

    # --- PowerPoint --------------------------------------------------------------------------

    def read_ppt(self) -> None:
        if self.exists("Current User"):
            user = parse_current_user(self.stream("Current User", MAX_PROPSET_BYTES))
            self.meta["current_user"] = user
            if user.get("encrypted"):
                self.encrypted = "password-protected .ppt (CryptoAPI RC4)"
        if self.exists("EncryptedSummary"):
            self.encrypted = "password-protected .ppt (CryptoAPI RC4)"
        doc = self.stream("PowerPoint Document")
        texts, crypt, error = ppt_text(doc, self.ctx.limits.max_text_chars)
        if crypt:
            self.encrypted = "password-protected .ppt (CryptSession10Container)"
        if self.encrypted:
            self.meta["encryption"] = {"container": "ppt", "type": "rc4_cryptoapi"}
            return
        if error:
            self.meta["text_error"] = error
        self.add_text("\n".join(texts))


def directory_entries(root: Any) -> Iterator[dict[str, Any]]:
    """Every storage and stream under the root, depth first, with its own raw times (UTC)."""
    stack: list[tuple[str, Any]] = [("", kid) for kid in reversed(sorted(root.kids, key=lambda k: k.name))]
    seen: set[int] = set()
    count = 0
    while stack and count < MAX_DIRECTORY:
        prefix, entry = stack.pop()
        if id(entry) in seen:
            continue
        seen.add(id(entry))
        count += 1
        name = prefix + entry.name
        storage = entry.entry_type == olefile.STGTY_STORAGE
        out: dict[str, Any] = {"name": name, "type": "storage" if storage else "stream"}
        if not storage:
            out["size"] = entry.size
        out["created"] = filetime_iso(entry.createTime)
        out["modified"] = filetime_iso(entry.modifyTime)
        if entry.clsid:
            out["clsid"] = entry.clsid
        yield out
        if storage:
            stack += [(name + "/", kid) for kid in reversed(sorted(entry.kids, key=lambda k: k.name))]


class _Sink:
    """xlrd's log goes nowhere (it would print warnings about hostile files to stdout)."""

    def write(self, s: str) -> int:
        return len(s)


def agile_details(xml: bytes) -> dict[str, Any]:
    out: dict[str, Any] = {}
    try:
        for _, elem in DET.iterparse(io.BytesIO(xml[:1 * MiB]), events=("end",)):
            name = elem.tag.rsplit("}", 1)[-1]
            if name == "keyData":
                out["cipher"] = elem.get("cipherAlgorithm")
                out["chaining"] = elem.get("cipherChaining")
                out["hash"] = elem.get("hashAlgorithm")
                out["key_bits"] = elem.get("keyBits")
            elif name == "encryptedKey" and elem.get("spinCount"):
                out["spin_count"] = elem.get("spinCount")
                out["password_hash"] = elem.get("hashAlgorithm")
    except (defusedxml.DefusedXmlException, DET.ParseError, ValueError) as e:
        out["xml_error"] = f"{type(e).__name__}: {e}"
    return out


ALG_IDS = {0x6801: "RC4", 0x660E: "AES-128", 0x660F: "AES-192", 0x6610: "AES-256", 0x8004: "SHA-1"}


def standard_details(info: bytes) -> dict[str, Any]:
    if len(info) < 12 + 32:
        return {}
    flags, _extra, alg, alg_hash, key_bits, provider = struct.unpack_from("<IIIIII", info, 12)
    header_size = struct.unpack_from("<I", info, 8)[0]
    csp = info[12 + 32: 12 + min(header_size, 4096)].decode("utf-16-le", "replace").split("\x00", 1)[0]
    return {"cipher": ALG_IDS.get(alg, hex(alg)), "hash": ALG_IDS.get(alg_hash, hex(alg_hash)),
            "key_bits": key_bits, "provider_type": provider, "csp_name": csp, "header_flags": flags}


# --------------------------------------------------------------------------------------------
# Word binary (MS-DOC)
# --------------------------------------------------------------------------------------------

FIB_FLAGS = [(0x0001, "fDot"), (0x0002, "fGlsy"), (0x0004, "fComplex"), (0x0008, "fHasPic"),
             (0x0100, "fEncrypted"), (0x0200, "fWhichTblStm"), (0x0400, "fReadOnlyRecommended"),
             (0x0800, "fWriteReservation"), (0x1000, "fExtChar"), (0x2000, "fLoadOverride"),
             (0x4000, "fFarEast"), (0x8000, "fObfuscated")]


@dataclass
class Fib:
    info: dict[str, Any]
    fclcb: list[tuple[int, int]]  # FibRgFcLcb pairs (fc, lcb), indexed as in FibRgFcLcb97
    ccp: dict[str, int]

    def blob(self, index: int, table: bytes) -> bytes | None:
        """The table-stream bytes of pair `index`, when they lie inside the stream."""
        if index >= len(self.fclcb):
            return None
        fc, lcb = self.fclcb[index]
        if lcb == 0 or fc + lcb > len(table):
            return None
        return table[fc: fc + lcb]


def parse_fib(wd: bytes) -> Fib:
    info: dict[str, Any] = {}
    if len(wd) < 34:
        return Fib({"wIdent": None}, [], {})
    ident, nfib, _unused, lid, _pn, flags, nfib_back, lkey, envr, flags2 = struct.unpack_from("<HHHHHHHIBB", wd, 0)
    info.update({"wIdent": ident, "nFib": nfib, "lid": lid, "nFibBack": nfib_back, "lKey": lkey,
                 "envr": envr, "fMac": bool(flags2 & 0x01), "cQuickSaves": (flags >> 4) & 0xF})
    for bit, name in FIB_FLAGS:
        info[name] = bool(flags & bit)
    pos = 32
    csw = struct.unpack_from("<H", wd, pos)[0]
    pos += 2 + 2 * csw
    ccp: dict[str, int] = {}
    fclcb: list[tuple[int, int]] = []
    if pos + 2 <= len(wd):
        cslw = struct.unpack_from("<H", wd, pos)[0]
        lw_at = pos + 2
        pos = lw_at + 4 * cslw
        if pos <= len(wd) and cslw >= 11:
            lw = struct.unpack_from(f"<{min(cslw, 22)}i", wd, lw_at)
            info["lProductCreated"], info["lProductRevised"] = lw[1], lw[2]
            for i, name in enumerate(("ccpText", "ccpFtn", "ccpHdd", "ccpMcr", "ccpAtn", "ccpEdn", "ccpTxbx",
                                      "ccpHdrTxbx"), start=3):
                ccp[name] = lw[i]
    if pos + 2 <= len(wd):
        cb = struct.unpack_from("<H", wd, pos)[0]
        at = pos + 2
        n = min(cb, (len(wd) - at) // 8)
        fclcb = [struct.unpack_from("<II", wd, at + 8 * i) for i in range(n)]
        pos = at + 8 * cb
        if pos + 4 <= len(wd):
            csw_new = struct.unpack_from("<H", wd, pos)[0]
            if csw_new:
                info["nFibNew"] = struct.unpack_from("<H", wd, pos + 2)[0]
    if ident == 0xA5DC or nfib <= 105:  # Word 6/95: 8-bit text, FIB laid out differently
        info["word6"] = True
        info["fcMin"], info["fcMac"] = struct.unpack_from("<II", wd, 0x18)
        if len(wd) >= 0x1AA:
            info["fcClx"], info["lcbClx"] = struct.unpack_from("<II", wd, 0x1A2)
    info.update(ccp)
    return Fib(info, fclcb, ccp)


_DOC_CONTROLS = str.maketrans({"\r": "\n", "\x07": "\t", "\x0b": "\n", "\x0c": "\n", "\x0e": "\n",
                               "\x1e": "-", "\x1f": None, "\x00": None, "\x01": None, "\x02": None,
                               "\x03": None, "\x04": None, "\x05": None, "\x08": None})


def doc_text(fib: Fib, wd: bytes, table: bytes, limit: int) -> str:
    """The document's characters, from the piece table (CLX) in the table stream."""
    eight_bit = lid_codec(fib.info.get("lid"))
    if fib.info.get("word6"):
        if not fib.info.get("fComplex"):
            lo, hi = fib.info["fcMin"], fib.info["fcMac"]
            if not 0 <= lo <= hi <= len(wd):
                raise PropertyError(f"text range {lo}..{hi} outside WordDocument ({len(wd)} bytes)")
            return clean_doc_text(wd[lo: min(hi, lo + limit)].decode(eight_bit, "replace"))
        fc, lcb, source = fib.info.get("fcClx", 0), fib.info.get("lcbClx", 0), wd  # fast-saved Word 6/95
    elif len(fib.fclcb) > 33:
        (fc, lcb), source = fib.fclcb[33], table
    else:
        raise PropertyError(f"FIB has {len(fib.fclcb)} fc/lcb pairs, no piece table")
    if lcb == 0 or fc + lcb > len(source):
        raise PropertyError(f"piece table at {fc}+{lcb} outside its stream ({len(source)} bytes)")
    return clean_doc_text(pieces_text(source[fc: fc + lcb], wd, limit, eight_bit, bool(fib.info.get("word6"))))


def pieces_text(clx: bytes, wd: bytes, limit: int, eight_bit: str, word6: bool) -> str:
    """Characters of every piece of a CLX: 8-bit pieces ('compressed') or UTF-16LE ones."""
    pos = 0
    while pos < len(clx) and clx[pos] == 0x01:  # Prc: property modifiers, skipped
        if pos + 3 > len(clx):
            raise PropertyError("truncated Prc in the piece table")
        cb = struct.unpack_from("<h", clx, pos + 1)[0]
        if cb < 0:
            raise PropertyError("negative Prc size in the piece table")
        pos += 3 + cb
    if pos + 5 > len(clx) or clx[pos] != 0x02:
        raise PropertyError("no Pcdt in the piece table")
    size = struct.unpack_from("<I", clx, pos + 1)[0]
    plc = clx[pos + 5: pos + 5 + size]
    if size != len(plc) or size < 16 or (size - 4) % 12:
        raise PropertyError(f"PlcPcd of {size} bytes")
    n = (size - 4) // 12
    cps = struct.unpack_from(f"<{n + 1}I", plc, 0)
    out: list[str] = []
    total = 0
    for i in range(n):
        start, stop = cps[i], cps[i + 1]
        if stop < start:
            raise PropertyError(f"piece {i}: character positions go backwards")
        fc_raw = struct.unpack_from("<I", plc, 4 * (n + 1) + 8 * i + 2)[0]
        count = min(stop - start, limit - total)
        if word6:  # Word 6/95 pieces are 8-bit at a byte offset
            off = fc_raw
            raw, enc = wd[off: off + count], eight_bit
            want = count
        elif fc_raw & 0x40000000:
            off = (fc_raw & 0x3FFFFFFF) // 2
            raw, enc = wd[off: off + count], "cp1252"
            want = count
        else:
            off = fc_raw
            raw, enc = wd[off: off + 2 * count], "utf-16-le"
            want = 2 * count
        if len(raw) != want:
            raise PropertyError(f"piece {i} at {off} outside WordDocument ({len(wd)} bytes)")
        out.append(raw.decode(enc, "replace"))
        total += count
        if total >= limit:
            break
    return "".join(out)


# The 8-bit code page of Word 6/95 text follows the document's language (primary language id).
_LID_CODEC = {
    **dict.fromkeys((0x05, 0x0E, 0x15, 0x18, 0x1A, 0x1B, 0x24, 0x1C), "cp1250"),
    **dict.fromkeys((0x19, 0x22, 0x23, 0x02, 0x2F), "cp1251"),
    0x08: "cp1253", 0x1F: "cp1254", 0x0D: "cp1255", 0x01: "cp1256", 0x29: "cp1256", 0x20: "cp1256",
    0x25: "cp1257", 0x26: "cp1257", 0x27: "cp1257", 0x2A: "cp1258", 0x1E: "cp874", 0x11: "cp932",
    0x12: "cp949",
}


def lid_codec(lid: int | None) -> str:
    if lid is None:
        return "cp1252"
    if lid == 0x0804 or lid == 0x1004:
        return "cp936"
    if lid & 0x3FF == 0x04:
        return "cp950"
    return _LID_CODEC.get(lid & 0x3FF, "cp1252")


def clean_doc_text(s: str) -> str:
    """Drop field instructions (between 0x13 and 0x14), keep results; map Word's control marks."""
    out: list[str] = []
    stack: list[bool] = []  # per open field: True once its result (after 0x14) started
    for part in _split_fields(s):
        if part == "\x13":
            stack.append(False)
        elif part == "\x14":
            if stack:
                stack[-1] = True
        elif part == "\x15":
            if stack:
                stack.pop()
        elif all(stack):
            out.append(part)
    return "".join(out).translate(_DOC_CONTROLS)


def _split_fields(s: str) -> Iterator[str]:
    start = 0
    for i, ch in enumerate(s):
        if ch in "\x13\x14\x15":
            if i > start:
                yield s[start:i]
            yield ch
            start = i + 1
    if start < len(s):
        yield s[start:]


def sttb_strings(data: bytes) -> list[str]:
    """An STTB (string table) as a list of strings; extra data per string is skipped."""
    if len(data) < 4:
        return []
    out: list[str] = []
    extended = struct.unpack_from("<H", data, 0)[0] == 0xFFFF
    pos = 2 if extended else 0
    count, extra = struct.unpack_from("<HH", data, pos)
    pos += 4
    for _ in range(count):
        if extended:
            if pos + 2 > len(data):
                break
            cch = struct.unpack_from("<H", data, pos)[0]
            raw = data[pos + 2: pos + 2 + 2 * cch]
            if len(raw) != 2 * cch:
                break
            out.append(raw.decode("utf-16-le", "replace"))
            pos += 2 + 2 * cch + extra
        else:
            if pos + 1 > len(data):
                break
            cch = data[pos]
            raw = data[pos + 1: pos + 1 + cch]
            if len(raw) != cch:
                break
            out.append(raw.decode("cp1252", "replace"))
            pos += 1 + cch + extra
    return out


def dttm_iso(v: int) -> str | None:
    """A Word DTTM (local time, minute precision, no zone) as 'YYYY-MM-DDTHH:MM'."""
    if v == 0:
        return None
    minute, hour, day = v & 0x3F, (v >> 6) & 0x1F, (v >> 11) & 0x1F
    month, year = (v >> 16) & 0xF, ((v >> 20) & 0x1FF) + 1900
    if not (1 <= month <= 12 and 1 <= day <= 31 and hour < 24 and minute < 60):
        return f"dttm:{v:08x}"
    return f"{year:04d}-{month:02d}-{day:02d}T{hour:02d}:{minute:02d}"


def parse_dop(dop: bytes) -> dict[str, Any]:
    """Document properties Word keeps for itself (DopBase): its own dates and counters."""
    if len(dop) < 0x34:
        return {"size": len(dop)}
    created, revised, printed = struct.unpack_from("<III", dop, 0x14)
    revision, edited, words, chars, pages, paras = struct.unpack_from("<hiiihi", dop, 0x20)
    return {"created": dttm_iso(created), "revised": dttm_iso(revised), "last_printed": dttm_iso(printed),
            "revision": revision, "edit_minutes": edited, "words": words, "chars": chars, "pages": pages,
            "paragraphs": paras, "size": len(dop)}


# --------------------------------------------------------------------------------------------
# Excel binary (BIFF)
# --------------------------------------------------------------------------------------------

def scan_biff_globals(wb: bytes) -> dict[str, Any]:
    """The first records of the workbook globals: BOF (version, build) and FILEPASS (encryption)."""
    out: dict[str, Any] = {}
    pos = 0
    for _ in range(10_000):
        if pos + 4 > len(wb):
            break
        rtype, rlen = struct.unpack_from("<HH", wb, pos)
        body = wb[pos + 4: pos + 4 + rlen]
        if rtype in (0x0809, 0x0409, 0x0209, 0x0009) and "version" not in out:
            if len(body) >= 4:
                vers, dt = struct.unpack_from("<HH", body, 0)
                out["version"] = f"{vers:#06x}"
                out["substream"] = dt
            if len(body) >= 8:
                out["build"], out["year"] = struct.unpack_from("<HH", body, 4)
            if len(body) >= 16:
                out["file_history_flags"], out["lowest_version"] = struct.unpack_from("<II", body, 8)
        elif rtype == 0x002F:
            out["filepass"] = filepass_details(body, int(out.get("version", "0x0600"), 16))
        elif rtype == 0x000A:
            break
        pos += 4 + rlen
    return out


def filepass_details(body: bytes, version: int) -> dict[str, Any]:
    if version < 0x0600:  # BIFF5 and older: XOR obfuscation only (key, hash)
        return {"type": "xor"}
    if len(body) < 2:
        return {"type": "unknown"}
    kind = struct.unpack_from("<H", body, 0)[0]
    if kind == 0:
        return {"type": "xor"}
    if len(body) >= 6:
        major, minor = struct.unpack_from("<HH", body, 2)
        return {"type": "rc4" if major == 1 else "rc4_cryptoapi", "version": f"{major}.{minor}"}
    return {"type": f"unknown ({kind})"}


def sheet_text(sheet: Any, datemode: int, limit: int) -> str:
    lines = [sheet.name]
    size = len(sheet.name)
    for r in range(sheet.nrows):
        cells = [cell_text(c, datemode) for c in sheet.row(r)]
        while cells and not cells[-1]:
            cells.pop()
        if cells:
            line = "\t".join(cells)
            lines.append(line)
            size += len(line) + 1
            if size >= limit:
                break
    return "\n".join(lines) + "\n"


def cell_text(cell: Any, datemode: int) -> str:
    ctype, value = cell.ctype, cell.value
    if ctype in (xlrd.XL_CELL_EMPTY, xlrd.XL_CELL_BLANK):
        return ""
    if ctype == xlrd.XL_CELL_TEXT:
        return str(value)
    if ctype == xlrd.XL_CELL_NUMBER:
        return str(int(value)) if float(value).is_integer() and abs(value) < 1e15 else repr(value)
    if ctype == xlrd.XL_CELL_DATE:
        try:
            return xlrd.xldate_as_datetime(value, datemode).isoformat()
        except (xlrd.xldate.XLDateError, ValueError, OverflowError):
            return repr(value)
    if ctype == xlrd.XL_CELL_BOOLEAN:
        return "TRUE" if value else "FALSE"
    if ctype == xlrd.XL_CELL_ERROR:
        return xlrd.error_text_from_code.get(value, "#ERR")
    return str(value)


# --------------------------------------------------------------------------------------------
# PowerPoint binary (MS-PPT)
# --------------------------------------------------------------------------------------------

TEXT_CHARS_ATOM = 0x0FA0


def parse_current_user(data: bytes) -> dict[str, Any]:
    """The CurrentUserAtom: the name of the last user who saved, and whether the file is encrypted."""
    if len(data) < 8 + 20:
        return {"error": "short Current User stream"}
    size, token, offset, name_len, doc_version, major, minor = struct.unpack_from("<IIIHHBB", data, 8)
    out: dict[str, Any] = {"header_token": f"{token:#010x}", "encrypted": token == 0xF3D1C4DF,
                           "doc_file_version": doc_version, "major_version": major, "minor_version": minor,
                           "offset_to_current_edit": offset, "size": size}
    ansi_at = 8 + 20
    out["user_name"] = data[ansi_at: ansi_at + name_len].decode("cp1252", "replace")
    uni_at = ansi_at + name_len + 4  # after relVersion
    uni = data[uni_at: uni_at + 2 * name_len]
    if name_len and len(uni) == 2 * name_len:
        out["user_name_unicode"] = uni.decode("utf-16-le", "replace")
    return out


_TEXT_ATOM = re.compile(rb"\x00\x00[\xa0\xa8]\x0f")  # recVer/recInstance 0, TextCharsAtom or TextBytesAtom
_CRYPT_SESSION = re.compile(rb"\x0f\x00\x14\x2f")  # a CryptSession10Container header


def ppt_text(doc: bytes, limit: int) -> tuple[list[str], bool, str | None]:
    """Text atoms found by their record headers, in stream order.

    A sequential walk of the records loses its way on the gaps real files leave between
    persisted objects; the headers of text atoms are distinctive enough to be found directly.
    Each hit is bounds-checked, and hits inside an atom already read are skipped.
    """
    texts: list[str] = []
    total = 0
    after = 0
    for m in _TEXT_ATOM.finditer(doc):
        pos = m.start()
        if pos < after or pos + 8 > len(doc):
            continue
        rtype, rlen = struct.unpack_from("<HI", doc, pos + 2)
        if pos + 8 + rlen > len(doc) or (rtype == TEXT_CHARS_ATOM and rlen % 2):
            continue
        after = pos + 8 + rlen
        raw = doc[pos + 8: after]
        s = raw.decode("utf-16-le" if rtype == TEXT_CHARS_ATOM else "latin-1", "replace")
        s = s.replace("\r", "\n").replace("\x0b", "\n")
        texts.append(s)
        total += len(s)
        if total >= limit:
            break
    crypt = any(m.start() + 8 <= len(doc) for m in _CRYPT_SESSION.finditer(doc))
    return texts, crypt, None


# --------------------------------------------------------------------------------------------
# The reader
# --------------------------------------------------------------------------------------------

def read_ole(blob: Blob, ctx: Context) -> None:
    f = blob.open()
    try:
        try:
            ole = olefile.OleFileIO(f)
        except OLE_ERRORS as e:
            raise IngestError(CORRUPT, f"not a readable OLE file: {type(e).__name__}: {e}") from None
        try:
            doc = OleDoc(ole, ctx, blob.size)
            ctx.out.metadata["format"] = "ole"
            try:
                read_parts(doc)
            finally:
                if doc.text:
                    ctx.out.add_text("".join(doc.text).strip(), ctx.limits.max_text_chars)
        finally:
            ole.close()
    finally:
        f.close()
    if doc.encrypted:
        raise IngestError(ENCRYPTED, doc.encrypted)
    if doc.corrupt:
        raise IngestError(CORRUPT, doc.corrupt)


def read_parts(doc: OleDoc) -> None:
    try:
        doc.read_directory()
    except OLE_ERRORS as e:
        raise IngestError(CORRUPT, f"OLE directory: {type(e).__name__}: {e}") from None
    doc.read_properties()
    try:
        if doc.exists("EncryptionInfo") and doc.exists("EncryptedPackage"):
            doc.read_encrypted_package()
        elif doc.exists("WordDocument"):
            doc.read_doc()
        elif doc.exists("Workbook") or doc.exists("Book"):
            doc.read_xls()
        elif doc.exists("PowerPoint Document"):
            doc.read_ppt()
    except OLE_ERRORS as e:
        raise IngestError(CORRUPT, f"{type(e).__name__}: {e}") from None


class OleReader:
    name = "ole"
    mimes = frozenset({sniff.DOC, sniff.XLS, sniff.PPT, sniff.OLE})
    container = False

    def read(self, blob: Blob, ctx: Context) -> Iterator[Child]:
        read_ole(blob, ctx)
        return iter(())


READERS: list[type] = [OleReader]
