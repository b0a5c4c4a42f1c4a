"""PowerPoint binary presentations (MS-PPT): the Current User stream and the text atoms."""

from __future__ import annotations

import re
import struct
from typing import Any

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
