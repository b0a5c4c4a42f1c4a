"""Excel binary workbooks (BIFF): the globals' BOF and FILEPASS records, and cell text through xlrd."""

from __future__ import annotations

import struct
from typing import Any

import xlrd


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
        if not sheet.row_len(r):  # ragged rows: an empty row has no cells (a sheet may end at row 65,536)
            continue
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


class Sink:
    """xlrd's log goes nowhere (it would print warnings about hostile files to stdout)."""

    def write(self, s: str) -> int:
        return len(s)
