"""One OLE compound file: its directory, property sets, and the text and evidence of Word, Excel,
PowerPoint or an encrypted OOXML package inside it."""

from __future__ import annotations

import struct
from typing import Any, Iterator

import olefile
import xlrd

from ..base import CORRUPT, Context, IngestError, MiB
from .crypto import agile_details, standard_details
from .excel import Sink, scan_biff_globals, sheet_text
from .powerpoint import parse_current_user, ppt_text
from .propset import (DOC_SUMMARY, DOC_SUMMARY_NAMES, FMTID_DOC_SUMMARY, FMTID_SUMMARY, FMTID_USER, SUMMARY,
                      SUMMARY_NAMES, PropertyError, PropertySetParser, filetime_iso, named_section, user_section)
from .word import Fib, doc_text, parse_dop, parse_fib, sttb_strings

MAX_STREAM_BYTES = 512 * MiB  # one stream read into memory for text
MAX_PROPSET_BYTES = 16 * MiB
MAX_DIRECTORY = 10_000
MAX_LISTED = 500

OLE_ERRORS = (OSError, ValueError, IndexError, KeyError, TypeError, struct.error, OverflowError,
              ZeroDivisionError, AttributeError, AssertionError, RecursionError)


class OleDoc:
    """One open OLE file being read: metadata goes to the item's metadata, text is kept up to the cap."""

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
        self.meta["ole"].update(entry_time_span(entries))
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
            book = xlrd.open_workbook(file_contents=wb, on_demand=True, logfile=Sink(),
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


def entry_time_span(entries: list[dict[str, Any]]) -> dict[str, Any]:
    """The earliest and latest non-zero times of the entries under the root (checks compare them with the
    property sets without walking the whole directory); how many entries carry any time at all."""
    # "filetime:N" (out of datetime's range) is left out; the key ignores fractions of a second
    times = sorted((t for e in entries for t in (e.get("created"), e.get("modified"))
                   if isinstance(t, str) and t.endswith("Z")), key=lambda t: t[:19])
    dated = sum(1 for e in entries if e.get("created") or e.get("modified"))
    out: dict[str, Any] = {"entries_dated": dated}
    if times:
        out["entries_earliest"], out["entries_latest"] = times[0], times[-1]
    return out
