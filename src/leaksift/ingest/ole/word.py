"""Word binary documents (MS-DOC): the FIB, the piece table's text, and the evidence in the table stream."""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Any, Iterator

from .propset import PropertyError

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
