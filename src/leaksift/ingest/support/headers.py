"""Header values and text of unknown charset as readable text: RFC 2047 encoded words, raw 8-bit bytes.

Nothing here raises on hostile input; what cannot be decoded becomes U+FFFD.
"""

from __future__ import annotations

import binascii
import codecs
import re

from .transfer import B64_KEEP, B64_PAD, DecodeError, b64_segment

_SURROGATES = re.compile("[\ud800-\udfff]")
_ASCII_LABELS = frozenset({"", "ascii", "us-ascii", "us_ascii", "ansi_x3.4-1968", "646", "unknown-8bit"})
_ENCODED_WORD = re.compile(rb"=\?([^?\s]{1,64})\?([bBqQ])\?([^?]*)\?=")
_UNFOLD = re.compile(rb"\r?\n(?=[ \t])")


def clean(text: str) -> str:
    """Text safe to store as UTF-8 JSON: no NULs, no lone surrogates."""
    text = text.replace("\x00", "\ufffd")
    return _SURROGATES.sub("\ufffd", text)


def raw_text(data: bytes) -> str:
    """Bytes of unknown charset: UTF-8 when they are valid UTF-8, else Windows-1252."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("cp1252", "replace")


def decode_text(data: bytes, charset: str | None) -> str:
    """Decode with the declared charset; unknown or missing: UTF-8, then Windows-1252."""
    label = (charset or "").strip().strip("\"'").lower()[:64]
    if label not in _ASCII_LABELS:  # 8-bit text labelled ASCII is common: guess instead
        try:
            info = codecs.lookup(label)
            if getattr(info, "_is_text_encoding", True):  # not rot13, base64, zlib ...
                return clean(data.decode(info.name, "replace"))
        except (LookupError, UnicodeError, ValueError, TypeError):
            pass
    return clean(raw_text(data))


def _word_bytes(enc: bytes, text: bytes) -> tuple[bytes, bool]:
    """Decode the payload of one RFC 2047 word; the flag says it was broken."""
    if enc in (b"q", b"Q"):
        return binascii.a2b_qp(text, header=True), True
    out, ok = bytearray(), True
    for seg in B64_PAD.split(B64_KEEP.sub(b"", text)):
        try:
            out += b64_segment(seg)
        except DecodeError:
            ok = False
            out += b64_segment(seg[:-1])
    return bytes(out), ok


def _decode_word_text(data: bytes, charset: str) -> str:
    try:
        info = codecs.lookup(charset)
        if getattr(info, "_is_text_encoding", True):
            return data.decode(info.name, "replace")
    except (LookupError, UnicodeError, ValueError, TypeError):
        pass
    return data.decode("utf-8", "replace")


def decode_words(data: bytes) -> str:
    """Decode RFC 2047 encoded words and raw 8-bit text; never raises."""
    out: list[str] = []
    pending = bytearray()
    pending_cs: str | None = None

    def flush() -> None:
        nonlocal pending_cs
        if pending_cs is not None:
            out.append(_decode_word_text(bytes(pending), pending_cs))
        pending.clear()
        pending_cs = None

    last, prev_word = 0, False
    for m in _ENCODED_WORD.finditer(data):
        gap = data[last:m.start()]
        if gap and not (prev_word and not gap.strip(b" \t\r\n")):  # space between words is dropped
            flush()
            out.append(raw_text(gap))
        charset = m.group(1).split(b"*")[0].decode("ascii", "replace").lower()  # RFC 2231 language
        raw, ok = _word_bytes(m.group(2), m.group(3))
        if charset != pending_cs:  # words of one charset join first: a character may span two
            flush()
            pending_cs = charset
        pending.extend(raw)
        if not ok:
            flush()
            out.append("\ufffd")
        last, prev_word = m.end(), True
    flush()
    if last < len(data):
        out.append(raw_text(data[last:]))
    return clean("".join(out))


def unfold(raw: bytes) -> bytes:
    """A header value, possibly folded, on one line without its outer blanks."""
    return _UNFOLD.sub(b"", raw).replace(b"\r", b"").replace(b"\n", b"").strip(b" \t")


def unfolded_text(raw: bytes) -> str:
    """The unfolded value as text, encoded words left as they are (addresses are parsed from this)."""
    return raw_text(unfold(raw))


def decode_header_value(raw: bytes | str) -> str:
    """A raw header value (possibly folded) as readable text."""
    if isinstance(raw, str):
        raw = clean(raw).encode("utf-8")
    return decode_words(unfold(raw))
