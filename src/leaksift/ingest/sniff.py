"""Type an item by its content (magic bytes and container structure), never by its name.

The name only breaks ties between text formats that have no magic (CSV or plain text).
"""

from __future__ import annotations

import re
import zipfile

import olefile

from .base import Blob

OCTET = "application/octet-stream"
ZIP = "application/zip"
TAR = "application/x-tar"
GZIP = "application/gzip"
BZIP2 = "application/x-bzip2"
XZ = "application/x-xz"
SEVENZ = "application/x-7z-compressed"
RAR = "application/vnd.rar"
MBOX = "application/mbox"
EML = "message/rfc822"
EMLX = "message/x-emlx"
MSG = "application/vnd.ms-outlook"
PST = "application/vnd.ms-outlook-pst"
OLE = "application/x-ole-storage"
DOC = "application/msword"
XLS = "application/vnd.ms-excel"
PPT = "application/vnd.ms-powerpoint"
PDF = "application/pdf"
DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
PPTX = "application/vnd.openxmlformats-officedocument.presentationml.presentation"
OOXML_OTHER = "application/x-ooxml"
ODF_PREFIX = "application/vnd.oasis.opendocument."
TEXT = "text/plain"
HTML = "text/html"
CSV = "text/csv"
XML = "application/xml"
JSON = "application/json"
RTF = "application/rtf"

ARCHIVES = frozenset({ZIP, TAR, GZIP, BZIP2, XZ, SEVENZ, RAR})
MAILBOXES = frozenset({MBOX, PST})
EMAILS = frozenset({EML, EMLX, MSG})

_MAGIC: list[tuple[int, bytes, str]] = [
    (0, b"%PDF-", PDF),
    (0, b"\x1f\x8b", GZIP),
    (0, b"BZh", BZIP2),
    (0, b"\xfd7zXZ\x00", XZ),
    (0, b"7z\xbc\xaf\x27\x1c", SEVENZ),
    (0, b"Rar!\x1a\x07", RAR),
    (0, b"!BDN", PST),
    (0, b"\xff\xd8\xff", "image/jpeg"),
    (0, b"\x89PNG\r\n\x1a\n", "image/png"),
    (0, b"GIF87a", "image/gif"),
    (0, b"GIF89a", "image/gif"),
    (0, b"II*\x00", "image/tiff"),
    (0, b"MM\x00*", "image/tiff"),
    (0, b"BM", None),  # checked below: too short a magic to trust alone
    (0, b"\x00\x00\x00\x0cjP  \r\n\x87\n", "image/jp2"),
    (0, b"{\\rtf", RTF),
    (0, b"AT&TFORM", "image/vnd.djvu"),
    (0, b"ID3", "audio/mpeg"),
]

_OOXML_MAIN = {
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml": DOCX,
    "application/vnd.ms-word.document.macroEnabled.main+xml": "application/vnd.ms-word.document.macroEnabled.12",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.template.main+xml":
        "application/vnd.openxmlformats-officedocument.wordprocessingml.template",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml": XLSX,
    "application/vnd.ms-excel.sheet.macroEnabled.main+xml": "application/vnd.ms-excel.sheet.macroEnabled.12",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.template.main+xml":
        "application/vnd.openxmlformats-officedocument.spreadsheetml.template",
    "application/vnd.openxmlformats-officedocument.presentationml.presentation.main+xml": PPTX,
    "application/vnd.ms-powerpoint.presentation.macroEnabled.main+xml":
        "application/vnd.ms-powerpoint.presentation.macroEnabled.12",
    "application/vnd.openxmlformats-officedocument.presentationml.slideshow.main+xml":
        "application/vnd.openxmlformats-officedocument.presentationml.slideshow",
    "application/vnd.openxmlformats-officedocument.presentationml.template.main+xml":
        "application/vnd.openxmlformats-officedocument.presentationml.template",
}
OOXML_TYPES = frozenset(_OOXML_MAIN.values()) | {OOXML_OTHER}

_HEADER_LINE = re.compile(rb"^[!-9;-~]{1,76}:[ \t]?", re.M)
_MAIL_HEADERS = re.compile(
    rb"^(from|to|date|subject|message-id|received|return-path|mime-version|delivered-to|"
    rb"x-[a-z0-9-]+|dkim-signature|arc-seal|reply-to|cc|in-reply-to|references|sender|content-type):",
    re.I | re.M,
)
_MBOX_FROM = re.compile(rb"^From \S*\s.*\d{4}\s*\r?$", re.M)


def sniff(blob: Blob, name: str = "") -> str:
    """Return the MIME type of a blob from its bytes."""
    head = blob.head(8192)
    if not head:
        return "application/x-empty"
    for off, magic, mime in _MAGIC:
        if head.startswith(magic, off):
            if mime is None:
                break
            return mime
    if head[:4] == b"PK\x03\x04" or head[:4] == b"PK\x05\x06" or head[:4] == b"PK\x07\x08":
        return _zip_subtype(blob)
    if head[:8] == b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1":
        return _ole_subtype(blob)
    if head[:2] == b"BM" and len(head) > 26 and head[14] in (12, 40, 52, 56, 64, 108, 124):
        return "image/bmp"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    if len(head) >= 262 and head[257:262] == b"ustar":
        return TAR
    if head[4:12] in (b"ftypheic", b"ftypheix", b"ftypmif1"):
        return "image/heic"
    if head[4:8] == b"ftyp":
        return "video/mp4" if b"M4A" not in head[8:12] else "audio/mp4"
    return _text_subtype(head, name, blob.size)


def _zip_subtype(blob: Blob) -> str:
    try:
        with blob.open() as f, zipfile.ZipFile(f) as zf:
            names = zf.namelist()
            if "mimetype" in names:
                info = zf.getinfo("mimetype")
                if info.file_size < 200:
                    mt = zf.read("mimetype").decode("ascii", "replace").strip()
                    if mt.startswith(ODF_PREFIX):
                        return mt
            if "[Content_Types].xml" in names:
                info = zf.getinfo("[Content_Types].xml")
                ct = zf.read(info)[:200_000] if info.file_size < 2_000_000 else b""
                for main, mime in _OOXML_MAIN.items():
                    if main.encode() in ct:
                        return mime
                return OOXML_OTHER
    except (zipfile.BadZipFile, OSError, ValueError, KeyError, NotImplementedError, RuntimeError, EOFError):
        pass
    return ZIP


def _ole_subtype(blob: Blob) -> str:
    try:
        with blob.open() as f:
            ole = olefile.OleFileIO(f)
            try:
                streams = {"/".join(s) for s in ole.listdir(streams=True, storages=True)}
            finally:
                ole.close()
    except (OSError, ValueError, IndexError, KeyError, TypeError, RecursionError, MemoryError):
        return OLE
    tops = {s.split("/")[0] for s in streams}
    if "WordDocument" in tops:
        return DOC
    if "Workbook" in tops or "Book" in tops:
        return XLS
    if "PowerPoint Document" in tops:
        return PPT
    if any(s.startswith("__substg1.0_") for s in tops) or "__properties_version1.0" in tops:
        return MSG
    return OLE


def _looks_like_email(head: bytes) -> bool:
    block = re.split(rb"\r?\n\r?\n", head, maxsplit=1)[0]
    lines = [ln for ln in block.splitlines() if ln and ln[:1] not in b" \t"]
    if not lines or not _HEADER_LINE.match(lines[0]):
        return False
    known = len(_MAIL_HEADERS.findall(block))
    valid = sum(1 for ln in lines if _HEADER_LINE.match(ln))
    return known >= 2 and valid >= 0.8 * len(lines)


def _text_subtype(head: bytes, name: str, size: int) -> str:
    if head.startswith(b"From ") and _MBOX_FROM.match(head.split(b"\n", 1)[0] + b"\n"):
        rest = head.split(b"\n", 1)[1] if b"\n" in head else b""
        if _looks_like_email(rest):
            return MBOX
    first = head.split(b"\n", 1)
    if first[0].strip().isdigit() and len(first) > 1 and _looks_like_email(first[1]):
        return EMLX
    low = head[:2048].lstrip().lower()
    if low.startswith(b"begin:vcalendar"):  # before mail: X-WR-... lines look like headers
        return "text/calendar"
    if low.startswith(b"begin:vcard"):
        return "text/vcard"
    if _looks_like_email(head):
        return EML
    if b"\x00" in head[:4096] and not _utf16(head):
        return OCTET
    if low.startswith((b"<!doctype html", b"<html")) or (b"<html" in low and b"<body" in head.lower()):
        return HTML
    if low.startswith(b"<?xml") or low.startswith(b"<svg"):
        return "image/svg+xml" if b"<svg" in head[:4096].lower() else XML
    if low.startswith((b"{", b"[")) and name.lower().endswith(".json"):
        return JSON
    if _is_text(head):
        if name.lower().endswith((".csv", ".tsv")):
            return CSV
        return TEXT
    return OCTET


def _utf16(head: bytes) -> bool:
    return head[:2] in (b"\xff\xfe", b"\xfe\xff")


def _is_text(head: bytes) -> bool:
    sample = head[:4096]
    if _utf16(sample) or sample.startswith(b"\xef\xbb\xbf"):
        return True
    try:
        sample.decode("utf-8")
        return True
    except UnicodeDecodeError as e:
        if e.start >= len(sample) - 4:  # cut in the middle of a character
            return True
    bad = sum(1 for b in sample if b < 9 or 13 < b < 32)
    return bad < len(sample) * 0.02
