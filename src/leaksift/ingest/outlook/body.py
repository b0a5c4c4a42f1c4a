"""Outlook bodies as stored: HTML bytes in the message's code page, compressed RTF."""

from __future__ import annotations

import re

import compressed_rtf

from .mapi import charset_of_code_page

_META_CHARSET = re.compile(rb"""charset\s*=\s*["']?([A-Za-z0-9_.:-]+)""", re.I)


def decode_html(data: bytes, cpid: int | None) -> str:
    """HTML bytes as text: the internet code page Outlook wrote them in, else the <meta> charset."""
    names = [charset_of_code_page(cpid)]
    m = _META_CHARSET.search(data[:4096])
    names.append(m.group(1).decode("ascii") if m else None)
    for name in names:
        if not name:
            continue
        try:
            return data.decode(name)
        except (LookupError, UnicodeError):
            continue
    return data.decode("utf-8", "replace")


def decompress_rtf(data: bytes) -> bytes | None:
    if data.startswith(b"{\\rtf"):
        return data  # already plain RTF (pypff may hand it over decompressed)
    try:
        return compressed_rtf.decompress(data)
    except Exception:  # noqa: BLE001 - compressed_rtf raises bare Exception on bad data
        return None
