"""Readers of Outlook files: one message (.msg, an OLE compound file) and a mail store (.pst/.ost).

Outlook keeps a message as MAPI properties, not as the bytes that travelled: the body is re-stored (plain,
HTML or compressed RTF) and only the transport headers survive as they were received. Both readers mark
their output "outlook_restored", so that a later DKIM check knows the body is not the original.
"""

from __future__ import annotations

import base64
import codecs
import hashlib
import io
import re
import struct
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import datetime, timezone
from email.header import Header, decode_header, make_header
from email.errors import HeaderParseError
from email.utils import format_datetime, formataddr, getaddresses, parseaddr, parsedate_to_datetime
from html.parser import HTMLParser
from typing import Any, Iterable, Iterator, Protocol
from urllib.parse import quote

import compressed_rtf
import extract_msg
from olefile.olefile import OleFileError
import pypff
from extract_msg.enums import ErrorBehavior
from extract_msg.exceptions import ExMsgBaseException, InvalidFileFormatError
from extract_msg.msg_classes import MSGFile

from . import sniff
from ..model import EmailFields
from .base import CORRUPT, ENCRYPTED, TOO_DEEP, TRUNCATED, UNSUPPORTED, Blob, Child, Context, IngestError

RESTORED = "outlook_restored"
REEXPORTED = "msg_reexported"  # an embedded .msg rewritten as a standalone OLE file by extract-msg
REFERENCE_ONLY = "reference_only"  # a linked attachment: the file itself is not in the message

MAX_FOLDER_DEPTH = 64
MAX_FOLDERS = 100_000
MAX_TREE_ENTRIES = 1_000  # folders listed in the pst's metadata
MAX_HEADER_FIELDS = 1_000
MAX_META_CHARS = 4_096  # one MAPI string in metadata
MAX_META_BINARY = 256  # bytes of one MAPI binary property shown (as hex)
MAX_MARKUP_CHARS = 20_000_000  # HTML or RTF converted to text; the rest is ignored
ATTACH_CHUNK = 57 * 18_396  # ~1 MiB, a multiple of 57 so each chunk encodes to whole base64 lines

# extract-msg: keep going past broken attachments and standard violations; we report them ourselves.
_MSG_BEHAVIOUR = (ErrorBehavior.ATTACH_SUPPRESS_ALL | ErrorBehavior.RTFDE | ErrorBehavior.STANDARDS_VIOLATION
                  | ErrorBehavior.NAMED_NAME_STREAM)
# What extract-msg and olefile raise on a damaged file (olefile.OleFileError is an OSError).
_MSG_ERRORS = (ExMsgBaseException, OSError, ValueError, KeyError, IndexError, TypeError, struct.error,
               AttributeError, EOFError)
# What pypff raises on a damaged store. MemoryError: pypff's answer when it cannot build an item object from
# damaged data (not a real shortage); AttributeError: an item that is not the type its folder says.
_PFF_ERRORS = (OSError, ValueError, TypeError, OverflowError, AttributeError, MemoryError)


# --- MAPI properties ------------------------------------------------------------------------------------

PR_SUBJECT = 0x0037
PR_TRANSPORT_MESSAGE_HEADERS = 0x007D
PR_MESSAGE_CLASS = 0x001A
PR_CLIENT_SUBMIT_TIME = 0x0039
PR_DELIVERY_TIME = 0x0E06
PR_SENT_REPRESENTING_NAME = 0x0042
PR_SENT_REPRESENTING_ADDRTYPE = 0x0064
PR_SENT_REPRESENTING_EMAIL = 0x0065
PR_SENT_REPRESENTING_SMTP = 0x5D02
PR_SENDER_NAME = 0x0C1A
PR_SENDER_ADDRTYPE = 0x0C1E
PR_SENDER_EMAIL = 0x0C1F
PR_SENDER_SMTP = 0x5D01
PR_INTERNET_MESSAGE_ID = 0x1035
PR_IN_REPLY_TO_ID = 0x1042
PR_INTERNET_REFERENCES = 0x1039
PR_BODY = 0x1000
PR_HTML = 0x1013
PR_RTF_COMPRESSED = 0x1009
PR_INTERNET_CPID = 0x3FDE
PR_MESSAGE_CODEPAGE = 0x3FFD
PR_MESSAGE_LOCALE_ID = 0x3FF1
PR_MESSAGE_SIZE = 0x0E08
PR_DISPLAY_NAME = 0x3001
PR_EMAIL_ADDRESS = 0x3003
PR_ADDRTYPE = 0x3002
PR_SMTP_ADDRESS = 0x39FE
PR_RECIPIENT_TYPE = 0x0C15
PR_ATTACH_FILENAME = 0x3704
PR_ATTACH_LONG_FILENAME = 0x3707
PR_ATTACH_METHOD = 0x3705
PR_ATTACH_MIME_TAG = 0x370E
PR_ATTACH_CONTENT_ID = 0x3712
PR_ATTACH_SIZE = 0x0E20
PR_CREATION_TIME = 0x3007
PR_LAST_MODIFICATION_TIME = 0x3008
ATTACH_EMBEDDED_MSG = 5
MSGFLAG_READ, MSGFLAG_UNSENT, MSGFLAG_HASATTACH = 0x1, 0x8, 0x10

# The properties of a message that matter to forensics and are cheap to read: (key, tag, type).
MESSAGE_PROPERTIES: tuple[tuple[str, int, str], ...] = (
    ("message_class", PR_MESSAGE_CLASS, "string"),
    ("client_submit_time", PR_CLIENT_SUBMIT_TIME, "time"),
    ("delivery_time", PR_DELIVERY_TIME, "time"),
    ("creation_time", PR_CREATION_TIME, "time"),
    ("last_modification_time", PR_LAST_MODIFICATION_TIME, "time"),
    ("last_modifier_name", 0x3FFA, "string"),
    ("creator_name", 0x3FF8, "string"),
    ("sender_name", PR_SENDER_NAME, "string"),
    ("sender_address_type", PR_SENDER_ADDRTYPE, "string"),
    ("sender_address", PR_SENDER_EMAIL, "string"),
    ("sender_smtp_address", PR_SENDER_SMTP, "string"),
    ("sent_representing_name", PR_SENT_REPRESENTING_NAME, "string"),
    ("sent_representing_address_type", PR_SENT_REPRESENTING_ADDRTYPE, "string"),
    ("sent_representing_address", PR_SENT_REPRESENTING_EMAIL, "string"),
    ("sent_representing_smtp_address", PR_SENT_REPRESENTING_SMTP, "string"),
    ("received_by_name", 0x0040, "string"),
    ("received_by_address", 0x0076, "string"),
    ("display_to", 0x0E04, "string"),
    ("display_cc", 0x0E03, "string"),
    ("display_bcc", 0x0E02, "string"),
    ("conversation_topic", 0x0070, "string"),
    ("conversation_index", 0x0071, "binary"),
    ("internet_message_id", PR_INTERNET_MESSAGE_ID, "string"),
    ("internet_code_page", PR_INTERNET_CPID, "integer"),
    ("message_code_page", PR_MESSAGE_CODEPAGE, "integer"),
    ("locale_id", PR_MESSAGE_LOCALE_ID, "integer"),
    ("message_flags", 0x0E07, "integer"),
    ("has_attachments", 0x0E1B, "integer"),
    ("message_size", PR_MESSAGE_SIZE, "integer"),
    ("importance", 0x0017, "integer"),
    ("sensitivity", 0x0036, "integer"),
    ("search_key", 0x300B, "binary"),
    ("record_key", 0x0FF9, "binary"),
    ("change_key", 0x65E2, "binary"),
)

ATTACHMENT_PROPERTIES: tuple[tuple[str, int, str], ...] = (
    ("long_filename", PR_ATTACH_LONG_FILENAME, "string"),
    ("filename", PR_ATTACH_FILENAME, "string"),
    ("display_name", PR_DISPLAY_NAME, "string"),
    ("mime_tag", PR_ATTACH_MIME_TAG, "string"),
    ("content_id", PR_ATTACH_CONTENT_ID, "string"),
    ("method", PR_ATTACH_METHOD, "integer"),
    ("size", PR_ATTACH_SIZE, "integer"),
    ("creation_time", PR_CREATION_TIME, "time"),
    ("last_modification_time", PR_LAST_MODIFICATION_TIME, "time"),
)


class Props(Protocol):
    """Typed access to the MAPI properties of one object (message, attachment, recipient)."""

    def string(self, tag: int) -> str | None: ...
    def binary(self, tag: int) -> bytes | None: ...
    def integer(self, tag: int) -> int | None: ...
    def time(self, tag: int) -> datetime | None: ...


class MsgProps:
    """Properties of an extract-msg object: strings and binaries are streams, the rest a property table.

    8-bit strings are decoded here with the message's code page: extract-msg guesses ISO-8859-15 where
    PR_MESSAGE_CODEPAGE is absent, which garbles e.g. Big5 messages that name their internet code page.
    """

    def __init__(self, obj: Any, codec: str = "cp1252") -> None:
        self._obj = obj
        self.codec = codec

    def string(self, tag: int) -> str | None:
        name = f"__substg1.0_{tag:04X}"
        raw = self._obj.getStream(name + "001F")
        if raw is not None:
            return _clean_string(raw.decode("utf-16-le", "replace"))
        raw = self._obj.getStream(name + "001E")
        return _clean_string(raw.decode(self.codec, "replace")) if raw is not None else None

    def binary(self, tag: int) -> bytes | None:
        return self._obj.getStream(f"__substg1.0_{tag:04X}0102")

    def integer(self, tag: int) -> int | None:
        for ptype in ("0003", "000B", "0014", "0002"):
            prop = self._obj.props.get(f"{tag:04X}{ptype}")
            if prop is not None and isinstance(prop.value, int):
                return int(prop.value)
        return None

    def time(self, tag: int) -> datetime | None:
        prop = self._obj.props.get(f"{tag:04X}0040")
        return _valid_time(prop.value) if prop is not None else None

    def child(self, obj: Any) -> MsgProps:
        """The properties of an attachment or recipient, decoded like this message's."""
        return MsgProps(obj, self.codec)


def msg_props(msg: Any) -> MsgProps:
    """8-bit strings are in PR_MESSAGE_CODEPAGE, else in the ANSI code page of the message's locale
    (PR_INTERNET_CPID is the code page of the HTML body, not of the properties)."""
    props = MsgProps(msg)
    cpid = props.integer(PR_MESSAGE_CODEPAGE) or ansi_code_page(props.integer(PR_MESSAGE_LOCALE_ID))
    codec = charset_of_code_page(cpid)
    if codec and codec not in ("utf-16-le", "utf-16-be", "utf-7"):
        props.codec = codec
    return props


# Windows ANSI code page of a locale, by primary language id (LCID & 0x3FF).
_LANGUAGE_CODE_PAGES = {
    **dict.fromkeys((0x19, 0x22, 0x23, 0x02, 0x2F, 0x3F, 0x50, 0x44), 1251),
    **dict.fromkeys((0x05, 0x15, 0x0E, 0x18, 0x1B, 0x24, 0x1C, 0x1A), 1250),
    0x08: 1253, 0x1F: 1254, 0x2C: 1254, 0x0D: 1255, 0x01: 1256, 0x29: 1256, 0x20: 1256,
    **dict.fromkeys((0x25, 0x26, 0x27), 1257), 0x2A: 1258, 0x1E: 874, 0x11: 932, 0x12: 949,
}


def ansi_code_page(lcid: int | None) -> int:
    if not lcid:
        return 1252
    if lcid & 0x3FF == 0x04:  # Chinese: traditional (TW, HK, MO) or simplified (CN, SG)
        return 950 if lcid in (0x0404, 0x0C04, 0x1404) else 936
    return _LANGUAGE_CODE_PAGES.get(lcid & 0x3FF, 1252)


class PffProps:
    """Properties of a pypff record set (message, attachment or recipient)."""

    def __init__(self, record_set: Any | None) -> None:
        self._rs = record_set

    def _entry(self, tag: int, value_types: tuple[int, ...]) -> Any | None:
        if self._rs is None:
            return None
        try:
            entry = self._rs.get_entry_by_type(tag)
        except _PFF_ERRORS:
            return None
        if entry is None or entry.value_type not in value_types:
            return None
        return entry

    def string(self, tag: int) -> str | None:
        entry = self._entry(tag, (0x1F, 0x1E))
        try:
            return _clean_string(entry.data_as_string) if entry is not None else None
        except _PFF_ERRORS:
            return None

    def binary(self, tag: int) -> bytes | None:
        entry = self._entry(tag, (0x102,))
        try:
            return entry.data if entry is not None else None
        except _PFF_ERRORS:
            return None

    def integer(self, tag: int) -> int | None:
        entry = self._entry(tag, (0x2, 0x3, 0x14, 0xB))
        try:
            if entry is None:
                return None
            return int(entry.data_as_boolean) if entry.value_type == 0xB else entry.data_as_integer
        except _PFF_ERRORS:
            return None

    def time(self, tag: int) -> datetime | None:
        entry = self._entry(tag, (0x40,))
        try:
            return _valid_time(entry.data_as_datetime) if entry is not None else None
        except _PFF_ERRORS:
            return None


def pff_props(item: Any, index: int = 0) -> PffProps:
    """The properties of a pypff item (its first record set holds them)."""
    try:
        if item.number_of_record_sets > index:
            return PffProps(item.get_record_set(index))
    except _PFF_ERRORS:
        pass
    return PffProps(None)


def _clean_string(value: str | None) -> str | None:
    if value is None:
        return None
    value = value.rstrip("\x00")
    return value if value else None


def _valid_time(value: Any) -> datetime | None:
    """A MAPI time, in UTC; None for the 'no date' values (year 1601 or 4500)."""
    if not isinstance(value, datetime) or value.year <= 1601 or value.year >= 4500:
        return None
    return value if value.tzinfo is not None else value.replace(tzinfo=timezone.utc)


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def property_values(props: Props, table: Iterable[tuple[str, int, str]]) -> dict[str, Any]:
    """The properties of `table` that are present, as JSON-able values."""
    out: dict[str, Any] = {}
    for key, tag, kind in table:
        if kind == "string":
            value: Any = props.string(tag)
            if value is not None and len(value) > MAX_META_CHARS:
                value = value[:MAX_META_CHARS] + "…"
        elif kind == "binary":
            raw = props.binary(tag)
            value = raw[:MAX_META_BINARY].hex() if raw is not None else None
        elif kind == "integer":
            value = props.integer(tag)
        else:
            value = _iso(props.time(tag))
        if value is not None:
            out[key] = value
    return out


def mapi_metadata(props: Props) -> dict[str, Any]:
    meta = property_values(props, MESSAGE_PROPERTIES)
    flags = meta.get("message_flags")
    if isinstance(flags, int):
        meta["read"] = bool(flags & MSGFLAG_READ)
        meta["unsent"] = bool(flags & MSGFLAG_UNSENT)  # a draft: never sent from this mailbox
        meta.setdefault("has_attachments", bool(flags & MSGFLAG_HASATTACH))
    if "has_attachments" in meta:
        meta["has_attachments"] = bool(meta["has_attachments"])
    return meta


@dataclass
class Recipient:
    type: int  # 1 To, 2 Cc, 3 Bcc
    name: str | None
    address: str | None  # the SMTP address where known


def recipient_from(props: Props) -> Recipient:
    address = props.string(PR_SMTP_ADDRESS)
    if not address:
        other = props.string(PR_EMAIL_ADDRESS)
        kind = (props.string(PR_ADDRTYPE) or "").upper()
        address = other if other and (kind == "SMTP" or (not kind and "@" in other)) else None
    return Recipient((props.integer(PR_RECIPIENT_TYPE) or 1) & 0x0F, props.string(PR_DISPLAY_NAME), address)


def sender_smtp(props: Props) -> str | None:
    """The From address: 'sent representing' first (that is the From header), then the sender."""
    for smtp_tag, addr_tag, type_tag in ((PR_SENT_REPRESENTING_SMTP, PR_SENT_REPRESENTING_EMAIL,
                                          PR_SENT_REPRESENTING_ADDRTYPE),
                                         (PR_SENDER_SMTP, PR_SENDER_EMAIL, PR_SENDER_ADDRTYPE)):
        smtp = props.string(smtp_tag)
        if smtp and "@" in smtp:
            return smtp
        addr = props.string(addr_tag)
        if addr and (props.string(type_tag) or "").upper() == "SMTP":
            return addr
    return None


def subject_of(props: Props) -> str | None:
    subject = props.string(PR_SUBJECT)
    if subject and subject.startswith("\x01") and len(subject) >= 2:
        subject = subject[2:]  # a pst stores the length of the "Re: " prefix in front
    return subject


# --- Headers and email fields -----------------------------------------------------------------------------

_FIELD_LINE = re.compile(r"([!-9;-~]+):[ \t]?(.*)", re.S)
_MSG_ID = re.compile(r"<[^<>\s]*>")


@dataclass
class HeaderBlock:
    fields: list[tuple[str, str, str]]  # (name, value with folding as stored, raw field text)
    dropped_lines: int = 0  # lines that were neither a field nor a continuation
    text_after_blank: bool = False  # the stored headers went on after an empty line


def split_header_fields(text: str) -> HeaderBlock:
    """Split stored transport headers into fields, tolerating Exchange's preamble lines."""
    block = HeaderBlock(fields=[])
    lines = re.split(r"\r\n|\n|\r", text)
    for i, line in enumerate(lines):
        if not line.strip():
            if block.fields:
                block.text_after_blank = any(rest.strip() for rest in lines[i + 1:])
                break
            continue
        if line[0] in " \t" and block.fields:
            name, value, raw = block.fields[-1]
            block.fields[-1] = (name, value + "\r\n" + line, raw + "\r\n" + line)
        elif m := _FIELD_LINE.fullmatch(line):
            block.fields.append((m.group(1), m.group(2), line))
        else:
            block.dropped_lines += 1
        if len(block.fields) > MAX_HEADER_FIELDS * 10:
            break
    return block


def _unfold(value: str) -> str:
    return re.sub(r"\r\n(?=[ \t])", "", value).strip()


def decode_header_value(value: str) -> str:
    """An RFC 2047 header value, decoded; as stored where it cannot be."""
    value = _unfold(value)
    try:
        return str(make_header(decode_header(value)))
    except (HeaderParseError, LookupError, UnicodeError, ValueError):
        return value


def _addresses(values: list[str]) -> list[str]:
    out = []
    for name, addr in getaddresses([decode_header_value(v) for v in values]):
        if name or addr:
            out.append(mailbox_text(name, addr))
    return out


def fields_from_headers(block: HeaderBlock) -> dict[str, Any]:
    """EmailFields values found in the headers (only those present)."""
    first: dict[str, str] = {}
    every: dict[str, list[str]] = {}
    for name, value, _raw in block.fields:
        low = name.lower()
        first.setdefault(low, value)
        every.setdefault(low, []).append(value)
    out: dict[str, Any] = {}
    if "from" in first:
        out["from_"] = decode_header_value(first["from"])
        addr = parseaddr(out["from_"])[1]
        out["from_addr"] = addr.lower() if "@" in addr else None
    if "to" in every:
        out["to"] = _addresses(every["to"])
    if "cc" in every:
        out["cc"] = _addresses(every["cc"])
    if "date" in first:
        out["date_raw"] = _unfold(first["date"])
        out["date"] = _header_date(out["date_raw"])
    if "subject" in first:
        out["subject"] = decode_header_value(first["subject"])
    if "message-id" in first:
        out["message_id"] = _unfold(first["message-id"]) or None
    if "in-reply-to" in first:
        ids = _MSG_ID.findall(_unfold(first["in-reply-to"]))
        out["in_reply_to"] = ids[0] if ids else (_unfold(first["in-reply-to"]) or None)
    if "references" in first:
        out["references"] = _MSG_ID.findall(_unfold(first["references"]))
    return out


def _header_date(raw: str) -> str | None:
    try:
        when = parsedate_to_datetime(raw)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if when.tzinfo is None and re.search(r"-0000\b", raw):
        return when.isoformat() + "-00:00"  # RFC 3339's "UTC, local offset unknown", as written
    return when.isoformat()


def fields_from_mapi(props: Props, recipients: list[Recipient]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    name = props.string(PR_SENT_REPRESENTING_NAME) or props.string(PR_SENDER_NAME)
    addr = sender_smtp(props)
    if name or addr:
        out["from_"] = mailbox_text(name, addr)
        out["from_addr"] = addr.lower() if addr else None
    out["to"] = [_display(r) for r in recipients if r.type == 1]
    out["cc"] = [_display(r) for r in recipients if r.type == 2]
    out["date"] = _iso(props.time(PR_CLIENT_SUBMIT_TIME) or props.time(PR_DELIVERY_TIME))
    out["subject"] = subject_of(props)
    out["message_id"] = props.string(PR_INTERNET_MESSAGE_ID)
    out["in_reply_to"] = props.string(PR_IN_REPLY_TO_ID)
    out["references"] = _MSG_ID.findall(props.string(PR_INTERNET_REFERENCES) or "")
    return out


def _display(r: Recipient) -> str:
    return mailbox_text(r.name, r.address)


_SPECIALS = re.compile(r'[()<>\[\]:;@\\,."]')


def mailbox_text(name: str | None, addr: str | None) -> str:
    """`Name <addr>`, decoded (formataddr would RFC 2047-encode a non-ASCII name)."""
    if not name or not addr:
        return addr or name or ""
    if _SPECIALS.search(name):
        name = '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return f"{name} <{addr}>"


def email_fields(block: HeaderBlock | None, props: Props, recipients: list[Recipient]) -> EmailFields:
    """Fields from the transport headers where present, else from the MAPI properties."""
    found = fields_from_headers(block) if block is not None else {}
    mapi = fields_from_mapi(props, recipients)
    groups = (("from_", "from_addr"), ("to",), ("cc",), ("date", "date_raw"), ("subject",), ("message_id",),
              ("in_reply_to",), ("references",))
    values: dict[str, Any] = {}
    for group in groups:
        source = found if group[0] in found else mapi
        for key in group:
            if key in source:
                values[key] = source[key]
    return EmailFields(**values)


def header_pairs(block: HeaderBlock) -> list[list[str]]:
    return [[name, value] for name, value, _raw in block.fields[:MAX_HEADER_FIELDS]]


# --- Bodies to text -----------------------------------------------------------------------------------------

_CODE_PAGES = {
    65001: "utf-8", 1200: "utf-16-le", 1201: "utf-16-be", 20127: "us-ascii", 65000: "utf-7",
    932: "shift_jis", 936: "gbk", 949: "euc-kr", 950: "big5", 54936: "gb18030", 52936: "hz-gb-2312",
    50220: "iso-2022-jp", 50221: "iso-2022-jp", 50222: "iso-2022-jp", 51932: "euc-jp", 51949: "euc-kr",
    20866: "koi8-r", 21866: "koi8-u", 10000: "mac_roman", 874: "cp874", 437: "cp437", 850: "cp850",
}


def charset_of_code_page(cpid: int | None) -> str | None:
    """The charset name of a Windows code page, if Python can decode it."""
    if cpid is None:
        return None
    if cpid in _CODE_PAGES:
        name = _CODE_PAGES[cpid]
    elif 1250 <= cpid <= 1258:
        name = f"windows-{cpid}"
    elif 28591 <= cpid <= 28605:
        name = f"iso-8859-{cpid - 28590}"
    else:
        name = f"cp{cpid}"
    try:
        codecs.lookup(name)
    except LookupError:
        return None
    return name


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


_BLOCK_TAGS = frozenset({"p", "div", "br", "tr", "li", "h1", "h2", "h3", "h4", "h5", "h6", "table", "ul", "ol",
                         "blockquote", "pre", "hr", "dt", "dd", "section", "article", "header", "footer"})
_HIDDEN_TAGS = frozenset({"script", "style", "title", "head"})


class _HtmlText(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._hidden = 0

    def handle_starttag(self, tag: str, attrs: Any) -> None:
        if tag == "body":
            self._hidden = 0  # whatever <head> or <style> was left open, the body is shown
        elif tag in _HIDDEN_TAGS:
            self._hidden += 1
        elif tag in _BLOCK_TAGS:
            self.parts.append("\n")
        elif tag in ("td", "th"):
            self.parts.append("\t")

    def handle_endtag(self, tag: str) -> None:
        if tag in _HIDDEN_TAGS:
            self._hidden = max(0, self._hidden - 1)
        elif tag in _BLOCK_TAGS:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if not self._hidden:
            self.parts.append(re.sub(r"\s+", " ", data))


def html_to_text(html: str) -> str:
    parser = _HtmlText()
    parser.feed(html[:MAX_MARKUP_CHARS])
    parser.close()
    return _tidy("".join(parser.parts))


def _tidy(text: str) -> str:
    lines = [line.strip() for line in text.replace("\xa0", " ").replace("\x00", "").split("\n")]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()


_RTF_TOKEN = re.compile(r"\\([a-zA-Z]{1,32})(-?\d{1,10})? ?|\\'([0-9a-fA-F]{2})|\\(.)|([{}])|([\r\n]+)|([^\\{}\r\n]+)",
                        re.S)
_RTF_SKIP = frozenset({"fonttbl", "colortbl", "stylesheet", "info", "pict", "object", "objdata", "header", "footer",
                       "headerl", "headerr", "headerf", "footerl", "footerr", "footerf", "themedata",
                       "colorschememapping", "datastore", "latentstyles", "listtable", "listoverridetable",
                       "rsidtbl", "xmlnstbl", "generator", "mmathPr", "filetbl", "revtbl", "fldinst",
                       "nonshppict", "shppict", "pgdsctbl", "bkmkstart", "bkmkend", "fonttable"})
_RTF_CHARS = {"par": "\n", "line": "\n", "sect": "\n", "page": "\n", "row": "\n", "tab": "\t", "cell": "\t",
              "emdash": "—", "endash": "–", "bullet": "•", "lquote": "‘", "rquote": "’", "ldblquote": "“",
              "rdblquote": "”", "emspace": " ", "enspace": " ", "qmspace": " "}


@dataclass
class _RtfState:
    skip: bool = False
    uc: int = 1  # fallback characters after a \u
    htmlrtf: bool = False  # RTF-only text around encapsulated HTML


class _RtfText:
    def __init__(self) -> None:
        self.out: list[str] = []
        self.pending = bytearray()  # \'hh bytes waiting to be decoded as one run
        self.codepage = "cp1252"
        self.state = _RtfState()
        self.stack: list[_RtfState] = []
        self.to_skip = 0  # fallback characters still to drop after a \u

    def flush(self) -> None:
        if self.pending:
            self.out.append(bytes(self.pending).decode(self.codepage, "replace"))
            self.pending.clear()

    def emit(self, text: str, newline: bool = False) -> None:
        if self.state.skip or (self.state.htmlrtf and not newline):
            return
        self.flush()
        self.out.append(text)

    def control(self, word: str, param: str | None, group_start: bool) -> None:
        if group_start and word in _RTF_SKIP:
            self.state.skip = True
        elif word == "ansicpg" and param:
            name = charset_of_code_page(int(param))
            self.codepage = name or self.codepage
        elif word == "uc" and param:
            self.state.uc = max(0, int(param))
        elif word == "u" and param:
            code = int(param) % 0x10000
            self.emit(chr(code) if not 0xD800 <= code < 0xE000 else "\ufffd")
            self.to_skip = self.state.uc
        elif word == "htmlrtf":
            self.state.htmlrtf = param != "0"
        elif word in _RTF_CHARS:
            self.emit(_RTF_CHARS[word], newline=_RTF_CHARS[word] == "\n")

    def text(self, text: str) -> None:
        if self.to_skip:
            dropped = min(self.to_skip, len(text))
            text, self.to_skip = text[dropped:], self.to_skip - dropped
        if text:
            self.emit(text)

    def run(self, rtf: str) -> str:
        group_start = False
        for m in _RTF_TOKEN.finditer(rtf):
            word, param, hexv, symbol, brace, _newline, text = m.groups()
            if brace == "{":
                self.flush()
                self.stack.append(self.state)
                self.state = _RtfState(self.state.skip, self.state.uc, self.state.htmlrtf)
            elif brace == "}":
                self.flush()
                self.state = self.stack.pop() if self.stack else self.state
                self.to_skip = 0
            elif word:
                self.control(word, param, group_start)
            elif hexv:
                if self.to_skip:
                    self.to_skip -= 1
                elif not self.state.skip and not self.state.htmlrtf:
                    self.pending.append(int(hexv, 16))
            elif symbol:
                self.symbol(symbol)
            elif text:
                self.text(text)
            group_start = brace == "{"
        self.flush()
        return _tidy("".join(self.out))

    def symbol(self, symbol: str) -> None:
        if symbol == "*":
            self.state.skip = True  # an ignorable destination this reader does not know
        elif symbol in "\\{}":
            self.text(symbol)
        elif symbol == "~":
            self.text(" ")
        elif symbol == "_":
            self.text("-")
        elif symbol in "\r\n":
            self.emit("\n", newline=True)


def rtf_to_text(rtf: bytes) -> str:
    """The text of an RTF document (including RTF that encapsulates HTML or plain text)."""
    return _RtfText().run(rtf[:MAX_MARKUP_CHARS].decode("latin-1"))


def decompress_rtf(data: bytes) -> bytes | None:
    if data.startswith(b"{\\rtf"):
        return data  # already plain RTF (pypff may hand it over decompressed)
    try:
        return compressed_rtf.decompress(data)
    except Exception:  # noqa: BLE001 - compressed_rtf raises bare Exception on bad data
        return None


# --- Names --------------------------------------------------------------------------------------------------

def attachment_name(props: Props, n: int) -> str:
    """Long file name, else short name, else display name, else attachment-N; without directories."""
    for tag in (PR_ATTACH_LONG_FILENAME, PR_ATTACH_FILENAME, PR_DISPLAY_NAME):
        name = _safe_name(props.string(tag))
        if name:
            return name
    return f"attachment-{n}"


def _safe_name(raw: str | None) -> str | None:
    if not raw:
        return None
    name = re.sub(r"[\x00-\x1f\x7f]", "", raw)
    name = re.split(r"[\\/]", name)[-1].strip()
    if name in ("", ".", ".."):
        return None
    return name[:255]


class UniqueNames:
    """Gives a name again as `stem~2.ext`, `stem~3.ext`... so siblings keep distinct paths."""

    def __init__(self) -> None:
        self._seen: set[str] = set()

    def take(self, name: str) -> str:
        if name not in self._seen:
            self._seen.add(name)
            return name
        stem, dot, ext = name.rpartition(".")
        if not stem:
            stem, dot, ext = name, "", ""
        k = 2
        while f"{stem}~{k}{dot}{ext}" in self._seen:
            k += 1
        unique = f"{stem}~{k}{dot}{ext}"
        self._seen.add(unique)
        return unique


# --- .msg ---------------------------------------------------------------------------------------------------

_OID_ENVELOPED = bytes.fromhex("06092a864886f70d010703")
_OID_AUTH_ENVELOPED = bytes.fromhex("060b2a864886f70d0109100117")
_OID_SIGNED = bytes.fromhex("06092a864886f70d010702")


def smime_kind(message_class: str | None, attachment_mime: str | None, attachment_head: bytes) -> str | None:
    """What S/MIME (or rights management) did to a message, from its class and its single attachment."""
    cls = (message_class or "").lower()
    if ".rpmsg" in cls:
        return "rights_protected"
    if not cls.startswith(("ipm.note.smime", "ipm.note.secure")):
        return None
    if cls.endswith("multipartsigned") or (attachment_mime or "").lower() == "multipart/signed":
        return "multipart_signed"
    if _OID_ENVELOPED in attachment_head or _OID_AUTH_ENVELOPED in attachment_head:
        return "encrypted"
    if _OID_SIGNED in attachment_head:
        return "opaque_signed"
    return "smime"


class MsgReader:
    """A single Outlook message (.msg): fields, MAPI metadata, body text and attachments."""

    name = "outlook_msg"
    mimes = frozenset({sniff.MSG})
    container = True

    def read(self, blob: Blob, ctx: Context) -> Iterator[Child]:
        with ExitStack() as stack:
            source: Any = str(blob.path) if blob.path is not None else stack.enter_context(blob.open())
            msg = _open_msg(source)
            stack.callback(msg.close)
            yield from _read_msg(msg, ctx)


def _open_msg(source: Any) -> Any:
    options = {"delayAttachments": True, "errorBehavior": _MSG_BEHAVIOUR}
    try:
        return extract_msg.openMsg(source, strict=False, **options)
    except InvalidFileFormatError as e:
        raise IngestError(CORRUPT, f"not an Outlook message: {e}") from None
    except OleFileError as e:
        raise IngestError(CORRUPT, f"unreadable OLE structure: {e}") from None
    except _MSG_ERRORS as e:
        first = e  # e.g. a damaged message class: the generic class still reads every property
    try:
        return MSGFile(source, **options)
    except _MSG_ERRORS:
        raise IngestError(CORRUPT, f"unreadable MSG structure: {type(first).__name__}: {first}") from None


def _read_msg(msg: Any, ctx: Context) -> Iterator[Child]:
    out = ctx.out
    out.kind = "email"
    out.transforms.append(RESTORED)
    try:
        props = msg_props(msg)
        out.children_expected = msg.props.attachmentCount
        headers_text = props.string(PR_TRANSPORT_MESSAGE_HEADERS)
        block = split_header_fields(headers_text) if headers_text else None
        meta: dict[str, Any] = {"body_source": "outlook", "mapi": mapi_metadata(props)}
        if block is not None:
            meta["headers"] = header_pairs(block)
            _note_header_damage(meta, block)
        out.metadata.update(meta)
        out.email = email_fields(block, props, _msg_recipients(msg, props))
        _msg_text(props, ctx)
    except _MSG_ERRORS as e:
        raise IngestError(CORRUPT, f"unreadable message properties: {type(e).__name__}: {e}") from None
    yield from _msg_attachments(msg, props, ctx)


def _note_header_damage(meta: dict[str, Any], block: HeaderBlock) -> None:
    if block.dropped_lines:
        meta["headers_dropped_lines"] = block.dropped_lines
    if block.text_after_blank:
        meta["headers_text_after_blank_line"] = True
    if len(block.fields) > MAX_HEADER_FIELDS:
        meta["headers_truncated_at"] = MAX_HEADER_FIELDS


def _msg_recipients(msg: Any, props: MsgProps) -> list[Recipient]:
    try:
        return [recipient_from(props.child(r)) for r in getattr(msg, "recipients", None) or []]
    except _MSG_ERRORS:
        return []


def _msg_text(props: MsgProps, ctx: Context) -> None:
    """Plain body; else HTML as text; else the compressed RTF body, decompressed and stripped."""
    formats = []
    plain = props.string(PR_BODY)
    html = props.binary(PR_HTML)
    html_str = props.string(PR_HTML) if html is None else None
    rtf = props.binary(PR_RTF_COMPRESSED)
    for label, value in (("plain", plain), ("html", html or html_str), ("rtf", rtf)):
        if value:
            formats.append(label)
    ctx.out.metadata["body_formats"] = formats
    text: str | None = None
    if plain:
        text = plain
    elif html is not None or html_str:
        text = html_to_text(html_str if html is None else decode_html(html, props.integer(PR_INTERNET_CPID)))
    elif rtf:
        raw = decompress_rtf(rtf)
        text = rtf_to_text(raw) if raw else None
        if raw is None:
            ctx.out.metadata["rtf_body_error"] = "compressed RTF body could not be decompressed"
    if text:
        ctx.out.add_text(text, ctx.limits.max_text_chars)


def _msg_attachments(msg: Any, props: MsgProps, ctx: Context) -> Iterator[Child]:
    announced = ctx.out.children_expected or 0
    try:
        dirs = _attachment_dirs(msg)
    except _MSG_ERRORS as e:
        for n in range(1, announced + 1):
            yield Child(f"attachment-{n}", error=IngestError(CORRUPT, f"attachments unreadable: {e}"))
        return
    if len(dirs) != announced:
        ctx.out.metadata["attachments_found"] = len(dirs)  # the property header says otherwise
    protection = _msg_protection(msg, props, dirs)
    if protection:
        ctx.out.metadata["smime"] = protection
    names = UniqueNames()
    for n, folder in enumerate(dirs, start=1):
        yield _msg_attachment(msg, folder, props, n, names, protection, ctx)
    if protection in ("encrypted", "rights_protected"):
        raise IngestError(ENCRYPTED, f"{protection} message: the body is not readable without the key")


def _attachment_dirs(msg: Any) -> list[str]:
    """The attachment storages, loaded one by one below so that one broken attachment spoils only itself
    (extract-msg's `attachments` loads all at once; for a signed message it would also unwrap the MIME
    entity that we keep as stored)."""
    dirs: list[str] = []
    for entry in msg.listDir(False, True, False):
        if entry and entry[0].startswith("__attach") and entry[0] not in dirs:
            dirs.append(entry[0])
    return dirs


def _msg_protection(msg: Any, props: MsgProps, dirs: list[str]) -> str | None:
    cls = props.string(PR_MESSAGE_CLASS)
    if len(dirs) != 1:
        return smime_kind(cls, None, b"")
    try:
        data = msg.getStream([dirs[0], "__substg1.0_37010102"]) or b""
        mime = msg.getStringStream([dirs[0], "__substg1.0_370E"])
        return smime_kind(cls, mime, data[:128])
    except _MSG_ERRORS:
        return smime_kind(cls, None, b"")


def _msg_attachment(msg: Any, folder: str, props: MsgProps, n: int, names: UniqueNames, protection: str | None,
                    ctx: Context) -> Child:
    try:
        att = msg.initAttachmentFunc(msg, folder)
        aprops = props.child(att)
        name = names.take(attachment_name(aprops, n))
        meta = property_values(aprops, ATTACHMENT_PROPERTIES)
    except _MSG_ERRORS as e:
        return Child(names.take(f"attachment-{n}"), error=IngestError(CORRUPT, f"{type(e).__name__}: {e}"))
    try:
        return _msg_attachment_child(att, name, meta, protection, ctx)
    except IngestError as e:
        return Child(name, error=e, size=meta.get("size"), metadata=meta)
    except _MSG_ERRORS as e:
        return Child(name, error=IngestError(CORRUPT, f"{type(e).__name__}: {e}"), size=meta.get("size"),
                     metadata=meta)


def _msg_attachment_child(att: Any, name: str, meta: dict[str, Any], protection: str | None,
                          ctx: Context) -> Child:
    kind = type(att).__name__
    if kind == "EmbeddedMsgAttachment":
        return _embedded_msg_child(att.data, name, meta, ctx)
    if kind == "WebAttachment":
        url = getattr(att, "url", None)
        meta["url"] = url
        return Child(name, error=IngestError(REFERENCE_ONLY, f"linked attachment, not in the message: {url}"),
                     metadata=meta)
    if kind in ("BrokenAttachment", "UnsupportedAttachment"):
        return Child(name, error=IngestError(CORRUPT if kind == "BrokenAttachment" else UNSUPPORTED,
                                             f"extract-msg: {kind}"), metadata=meta)
    data = att.data
    if not isinstance(data, bytes):
        return Child(name, error=IngestError(UNSUPPORTED, f"attachment data of type {type(data).__name__}"),
                     metadata=meta)
    blob = ctx.blob_from_stream(io.BytesIO(data))
    if protection == "multipart_signed" and meta.get("mime_tag", "").lower() == "multipart/signed":
        # The signed MIME entity exactly as received: an email in its own right (RFC 1847).
        meta["smime_entity"] = True
        return Child(name, blob=blob, kind="email", metadata=meta)
    return Child(name, blob=blob, metadata=meta)


def _embedded_msg_child(embedded: Any, name: str, meta: dict[str, Any], ctx: Context) -> Child:
    """An attached message: its own .msg bytes if extract-msg can rebuild them, else an RFC 822 rendering."""
    meta["embedded_message"] = True
    try:
        data = embedded.exportBytes()
        return Child(name, blob=ctx.blob_from_stream(io.BytesIO(data)), transforms=[REEXPORTED], metadata=meta)
    except _MSG_ERRORS as e:
        meta["reexport_error"] = f"{type(e).__name__}: {e}"[:500]
    data = embedded.asEmailMessage().as_bytes()
    return Child(name, blob=ctx.blob_from_stream(io.BytesIO(data)), kind="email", transforms=[RESTORED],
                 metadata=meta)


# --- .pst / .ost --------------------------------------------------------------------------------------------

_PST_FORMATS = {b"SM": "pst", b"SO": "ost", b"AB": "pab"}
_PST_VERSIONS = {14: "ansi", 15: "ansi", 23: "unicode", 36: "unicode_4k"}
_PST_ENCRYPTION = {0: "none", 1: "compressible", 2: "high"}


def pst_header(head: bytes, size: int) -> dict[str, Any]:
    """What the pst header says of itself: format, variant and the size it should have."""
    if len(head) < 200 or not head.startswith(b"!BDN"):
        return {}
    version = struct.unpack_from("<H", head, 10)[0]
    info: dict[str, Any] = {"format": _PST_FORMATS.get(head[8:10], head[8:10].hex()),
                            "variant": _PST_VERSIONS.get(version, f"version {version}"), "version": version}
    if version in (23, 36):
        info["declared_size"] = struct.unpack_from("<Q", head, 184)[0]
    elif version in (14, 15):
        info["declared_size"] = struct.unpack_from("<I", head, 168)[0]
    if info.get("declared_size", 0) > size:
        info["truncated"] = True
    return info


@dataclass
class _Folder:
    path: str
    folder: Any
    messages: int
    subfolders: int


class PstReader:
    """An Outlook mail store (.pst/.ost): every message, rebuilt as an RFC 822 message with its attachments."""

    name = "outlook_pst"
    mimes = frozenset({sniff.PST})
    container = True

    def read(self, blob: Blob, ctx: Context) -> Iterator[Child]:
        header = pst_header(blob.head(512), blob.size)
        with ExitStack() as stack:
            fh = stack.enter_context(blob.open())
            pff = pypff.file()
            try:
                pff.open_file_object(fh)
            except _PFF_ERRORS as e:
                reason = TRUNCATED if header.get("truncated") else CORRUPT
                raise IngestError(reason, f"pypff: {_pff_message(e)}") from None
            stack.callback(pff.close)
            yield from _read_pst(pff, header, blob.size, ctx)


def _pff_message(e: Exception) -> str:
    # libpff's messages chain every frame of the C call stack; the last one says what failed.
    return " ".join(str(e).split())[-400:]


def _read_pst(pff: Any, header: dict[str, Any], size: int, ctx: Context) -> Iterator[Child]:
    meta: dict[str, Any] = {"size": size, **header}
    meta.update(_pff_file_facts(pff))
    try:
        root = pff.get_root_folder()
    except _PFF_ERRORS as e:
        raise IngestError(CORRUPT, f"no root folder: {_pff_message(e)}") from None
    folders, problems = _walk_folders(root)
    ctx.out.children_expected = sum(f.messages for f in folders)
    meta["folders"] = len(folders)
    meta["folder_tree"] = [{"path": f.path or "/", "messages": f.messages, "subfolders": f.subfolders}
                           for f in folders[:MAX_TREE_ENTRIES]]
    if problems:
        meta["folder_problems"] = problems[:100]
    ctx.out.metadata.update(meta)
    for folder in folders:
        for i in range(folder.messages):
            name = f"{folder.path}/{i + 1}" if folder.path else str(i + 1)
            yield _pst_message_child(folder, i, name, ctx)
    if problems:
        reason = TOO_DEEP if all(p.startswith("too deep") for p in problems) else CORRUPT
        raise IngestError(reason, f"{len(problems)} folder problem(s), first: {problems[0]}")


def _pff_file_facts(pff: Any) -> dict[str, Any]:
    facts: dict[str, Any] = {}
    for key, getter in (("encryption", "get_encryption_type"), ("ascii_codepage", "get_ascii_codepage"),
                        ("orphan_items", "get_number_of_orphan_items"), ("content_type", "get_content_type")):
        try:
            facts[key] = getattr(pff, getter)()
        except _PFF_ERRORS:
            continue
    if isinstance(facts.get("ascii_codepage"), bytes):
        facts["ascii_codepage"] = facts["ascii_codepage"].decode("ascii", "replace")
    if isinstance(facts.get("encryption"), int):
        facts["encryption"] = _PST_ENCRYPTION.get(facts["encryption"], str(facts["encryption"]))
    if isinstance(facts.get("content_type"), int):
        facts["content_type"] = chr(facts["content_type"])  # libpff: 'p' pst, 'o' ost, 'a' pab
    return facts


def _walk_folders(root: Any) -> tuple[list[_Folder], list[str]]:
    """Every folder, depth first in stored order, with an explicit stack, a depth cap and a loop guard."""
    found: list[_Folder] = []
    problems: list[str] = []
    seen: set[int] = set()
    stack: list[tuple[str, Any, int]] = [("", root, 0)]
    while stack:
        path, folder, depth = stack.pop()
        ident = _identifier(folder)
        if ident is not None and ident in seen:
            problems.append(f"folder loop at {path or '/'}")
            continue
        if ident is not None:
            seen.add(ident)
        try:
            messages, subfolders = folder.number_of_sub_messages, folder.number_of_sub_folders
        except _PFF_ERRORS as e:
            problems.append(f"folder {path or '/'} unreadable: {_pff_message(e)}")
            continue
        found.append(_Folder(path, folder, messages, subfolders))
        if len(found) >= MAX_FOLDERS:
            problems.append(f"more than {MAX_FOLDERS} folders")
            break
        if subfolders and depth >= MAX_FOLDER_DEPTH:
            problems.append(f"too deep: subfolders of {path} below depth {MAX_FOLDER_DEPTH} not read")
            continue
        stack.extend(reversed(_subfolders(folder, path, subfolders, depth, problems)))
    return found, problems


def _subfolders(folder: Any, path: str, count: int, depth: int, problems: list[str]) -> list[tuple[str, Any, int]]:
    names = UniqueNames()
    subs = []
    for i in range(count):
        try:
            sub = folder.get_sub_folder(i)
            raw = sub.name
        except _PFF_ERRORS as e:
            problems.append(f"subfolder {i + 1} of {path or '/'} unreadable: {_pff_message(e)}")
            continue
        name = names.take(folder_name(raw))
        subs.append((f"{path}/{name}" if path else name, sub, depth + 1))
    return subs


def folder_name(raw: str | bytes | None) -> str:
    """A folder name as one path component: decoded, with "/" as "∕" (U+2215) so it does not split."""
    if isinstance(raw, bytes):
        raw = raw.decode("utf-8", "replace")
    name = re.sub(r"[\x00-\x1f\x7f]", "", raw or "").replace("/", "∕").strip()
    return name or "(unnamed)"


def _identifier(item: Any) -> int | None:
    try:
        return item.identifier
    except _PFF_ERRORS:
        return None


def _pst_message_child(folder: _Folder, index: int, name: str, ctx: Context) -> Child:
    try:
        message = folder.folder.get_sub_message(index)
    except _PFF_ERRORS as e:
        return Child(name, error=IngestError(CORRUPT, f"message unreadable: {_pff_message(e)}"), kind="email",
                     metadata={"folder": folder.path})
    props = pff_props(message)
    meta: dict[str, Any] = {"folder": folder.path, "identifier": _identifier(message)}
    try:
        meta.update(mapi_metadata(props))
        meta["attachments"] = _attachment_count(message, RebuildLog())
        log = RebuildLog()
        stream = ChunkStream(rfc822_chunks(message, props, log))
        blob = ctx.blob_from_stream(stream)
    except IngestError as e:
        return Child(name, error=e, kind="email", size=meta.get("message_size"), metadata=meta)
    except _PFF_ERRORS as e:
        return Child(name, error=IngestError(CORRUPT, f"message unreadable: {_pff_message(e)}"), kind="email",
                     size=meta.get("message_size"), metadata=meta)
    if log.problems:
        meta["rebuild_problems"] = log.problems[:100]
    meta["headers_from"] = "mapi" if log.synthesised_headers else "transport"
    return Child(name, blob=blob, kind="email", transforms=[RESTORED], metadata=meta)


class ChunkStream:
    """A read()-able stream over an iterator of byte chunks, for Context.blob_from_stream."""

    def __init__(self, chunks: Iterator[bytes]) -> None:
        self._chunks = chunks
        self._buf = bytearray()
        self._done = False

    def read(self, n: int = -1) -> bytes:
        while not self._done and (n < 0 or len(self._buf) < n):
            chunk = next(self._chunks, None)
            if chunk is None:
                self._done = True
            else:
                self._buf += chunk
        if n < 0:
            n = len(self._buf)
        out = bytes(self._buf[:n])
        del self._buf[:n]
        return out


# --- Rebuilding a pst message as RFC 822 --------------------------------------------------------------------

@dataclass
class RebuildLog:
    """What rebuilding one pst message could not do faithfully."""

    problems: list[str] = field(default_factory=list)
    synthesised_headers: bool = False  # the message had no transport headers: they were made from MAPI


_REPLACED_HEADERS = ("content-type", "content-transfer-encoding", "mime-version")
_MIME_TAG = re.compile(r"[A-Za-z0-9!#$&^_.+-]{1,64}/[A-Za-z0-9!#$&^_.+-]{1,64}")
MAX_EMBED_DEPTH = 8


def rfc822_chunks(message: Any, props: Props, log: RebuildLog, depth: int = 0) -> Iterator[bytes]:
    """The message as RFC 822 bytes: its transport headers as stored (else headers made from MAPI),
    then a MIME body of our own with the text bodies and every attachment as a base64 part."""
    head = transport_header_block(_transport_headers(message), log)
    if head is None:
        head = synthesised_headers(message, props)
        log.synthesised_headers = log.synthesised_headers or depth == 0
    boundary = "=_leaksift_" + hashlib.sha256(head + str(depth).encode()).hexdigest()[:24]
    yield head
    yield (f'MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary="{boundary}"\r\n\r\n'
           f"--{boundary}\r\n").encode()
    yield from _body_parts(message, props, boundary)
    names = UniqueNames()
    for n in range(1, _attachment_count(message, log) + 1):
        yield f"\r\n--{boundary}\r\n".encode()
        yield from _attachment_part(message, n, names, log, depth)
    yield f"\r\n--{boundary}--\r\n".encode()


def _transport_headers(message: Any) -> str | None:
    try:
        value = message.transport_headers
    except _PFF_ERRORS:
        return None
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    return value or None


def transport_header_block(text: str | None, log: RebuildLog) -> bytes | None:
    """The stored headers without the original MIME framing (it described a body that is gone)."""
    if not text:
        return None
    block = split_header_fields(text)
    if not block.fields:
        log.problems.append("transport headers hold no header field")
        return None
    if block.dropped_lines:
        log.problems.append(f"{block.dropped_lines} transport header line(s) that are not header fields dropped")
    if block.text_after_blank:
        log.problems.append("transport headers went on after an empty line; the rest was dropped")
    lines: list[str] = []
    originals: dict[str, str] = {}
    for name, value, raw in block.fields:
        low = name.lower()
        if low in _REPLACED_HEADERS:
            originals.setdefault(low, _unfold(value))
        else:
            lines.append(raw)
    if "content-type" in originals:
        lines.append("X-Leaksift-Original-Content-Type: " + originals["content-type"])
    if "content-transfer-encoding" in originals:
        lines.append("X-Leaksift-Original-Content-Transfer-Encoding: " + originals["content-transfer-encoding"])
    return ("\r\n".join(lines) + "\r\n").encode("utf-8", "replace")


def _one_line(value: str) -> str:
    return re.sub(r"[\r\n]+", " ", value).strip()


def _encoded(value: str) -> str:
    value = _one_line(value)
    if value.isascii():
        return value
    return Header(value, "utf-8").encode(linesep="\r\n")


def _mailbox(name: str | None, addr: str | None) -> str:
    return formataddr((_one_line(name or ""), _one_line(addr or "")), charset="utf-8")


def synthesised_headers(message: Any, props: Props) -> bytes:
    """Headers made from MAPI properties, for a message whose transport headers were not kept."""
    lines = []
    name = props.string(PR_SENT_REPRESENTING_NAME) or props.string(PR_SENDER_NAME)
    addr = sender_smtp(props)
    if name or addr:
        lines.append("From: " + _mailbox(name, addr))
    recipients = pff_recipients(message)
    for label, rtype in (("To", 1), ("Cc", 2)):
        mailboxes = [_mailbox(r.name, r.address) for r in recipients if r.type == rtype]
        if mailboxes:
            lines.append(f"{label}: " + ",\r\n ".join(mailboxes))
    subject = subject_of(props)
    if subject is not None:
        lines.append("Subject: " + _encoded(subject))
    when = props.time(PR_CLIENT_SUBMIT_TIME) or props.time(PR_DELIVERY_TIME)
    if when is not None:
        lines.append("Date: " + format_datetime(when))
    for label, tag in (("Message-ID", PR_INTERNET_MESSAGE_ID), ("In-Reply-To", PR_IN_REPLY_TO_ID),
                       ("References", PR_INTERNET_REFERENCES)):
        value = props.string(tag)
        if value:
            lines.append(f"{label}: " + _encoded(value))
    lines.append("X-Leaksift-Headers: synthesised from MAPI properties")
    return ("\r\n".join(lines) + "\r\n").encode("utf-8", "replace")


def pff_recipients(message: Any) -> list[Recipient]:
    try:
        recipients = message.recipients
        count = recipients.number_of_record_sets if recipients is not None else 0
        return [recipient_from(PffProps(recipients.get_record_set(i))) for i in range(count)]
    except _PFF_ERRORS:
        return []


def _body(message: Any, attr: str) -> bytes | None:
    try:
        value = getattr(message, attr)
    except _PFF_ERRORS:
        return None
    if isinstance(value, str):
        value = value.encode("utf-8")
    return value or None


def _utf8_text(data: bytes, props: Props) -> bytes:
    """pypff gives plain bodies as UTF-8; an 8-bit body from an ANSI store is re-encoded from its code page."""
    try:
        data.decode("utf-8")
        return data
    except UnicodeDecodeError:
        codec = charset_of_code_page(props.integer(PR_MESSAGE_CODEPAGE)) or "cp1252"
        return data.decode(codec, "replace").encode("utf-8")


def _body_parts(message: Any, props: Props, boundary: str) -> Iterator[bytes]:
    plain = _body(message, "plain_text_body")
    html = _body(message, "html_body")
    if plain is None and html is None:
        rtf = _body(message, "rtf_body")
        raw = decompress_rtf(rtf) if rtf else None
        plain = rtf_to_text(raw).encode("utf-8") if raw else b""
    parts = [_text_part("text/plain", "utf-8", _utf8_text(plain, props))] if plain is not None else []
    if html is not None:
        parts.append(_text_part("text/html", charset_of_code_page(props.integer(PR_INTERNET_CPID)), html))
    if len(parts) == 1:
        yield parts[0]
        return
    alt = boundary + "_alt"
    yield f'Content-Type: multipart/alternative; boundary="{alt}"\r\n\r\n'.encode()
    for part in parts:
        yield f"--{alt}\r\n".encode() + part + b"\r\n"
    yield f"--{alt}--".encode()


def _text_part(mime: str, charset: str | None, data: bytes) -> bytes:
    ctype = f'{mime}; charset="{charset}"' if charset else mime
    return (f"Content-Type: {ctype}\r\nContent-Transfer-Encoding: base64\r\n\r\n".encode()
            + _b64(data).rstrip(b"\r\n"))


def _b64(data: bytes) -> bytes:
    return base64.encodebytes(data).replace(b"\n", b"\r\n")


def _attachment_count(message: Any, log: RebuildLog) -> int:
    try:
        return message.number_of_attachments
    except _PFF_ERRORS as e:
        log.problems.append(f"attachments unreadable: {_pff_message(e)}")
        return 0


def _param(key: str, value: str) -> str:
    """A MIME parameter; RFC 2231 encoding where the value is not plain ASCII."""
    if value.isascii() and value.isprintable() and '"' not in value and "\\" not in value:
        return f'{key}="{value}"'
    return f"{key}*=utf-8''{quote(value, safe='')}"


def _attachment_part(message: Any, n: int, names: UniqueNames, log: RebuildLog, depth: int) -> Iterator[bytes]:
    try:
        att = message.get_attachment(n - 1)
        aprops = pff_props(att)
        name = names.take(attachment_name(aprops, n))
    except _PFF_ERRORS as e:
        log.problems.append(f"attachment {n} unreadable: {_pff_message(e)}")
        yield _error_part(names.take(f"attachment-{n}"), "attachment unreadable")
        return
    if aprops.integer(PR_ATTACH_METHOD) == ATTACH_EMBEDDED_MSG:
        yield from _embedded_part(att, name, log, depth)
        return
    mime = aprops.string(PR_ATTACH_MIME_TAG) or ""
    mime = mime if _MIME_TAG.fullmatch(mime) else "application/octet-stream"
    head = [f"Content-Type: {mime}; {_param('name', name)}",
            f"Content-Disposition: attachment; {_param('filename', name)}", "Content-Transfer-Encoding: base64"]
    cid = aprops.string(PR_ATTACH_CONTENT_ID)
    if cid and re.fullmatch(r"[!-~]{1,250}", cid):
        head.append(f"Content-ID: {cid if cid.startswith('<') else '<' + cid + '>'}")
    try:
        size = att.size
    except _PFF_ERRORS as e:
        log.problems.append(f"attachment {n} ({name}) has no readable data: {_pff_message(e)}")
        yield _error_part(name, "attachment data unreadable")
        return
    yield ("\r\n".join(head) + "\r\n\r\n").encode()
    yield from _base64_stream(att, size, name, log)


def _error_part(name: str, why: str) -> bytes:
    return (f"Content-Type: application/octet-stream; {_param('name', name)}\r\n"
            f"Content-Disposition: attachment; {_param('filename', name)}\r\n"
            f"X-Leaksift-Error: {why}\r\n\r\n").encode()


def _base64_stream(att: Any, size: int, name: str, log: RebuildLog) -> Iterator[bytes]:
    """Attachment data read in chunks and base64-encoded in whole lines, never all in memory."""
    pending = bytearray()
    remaining = size
    try:
        while remaining > 0:
            chunk = att.read_buffer(min(ATTACH_CHUNK, remaining))
            if not chunk:
                log.problems.append(f"attachment {name}: {remaining} of {size} bytes missing")
                break
            remaining -= len(chunk)
            pending += chunk
            whole = len(pending) - len(pending) % 57
            if whole >= ATTACH_CHUNK:
                yield _b64(bytes(pending[:whole]))
                del pending[:whole]
    except _PFF_ERRORS as e:
        log.problems.append(f"attachment {name}: read failed after {size - remaining} bytes: {_pff_message(e)}")
    if pending:
        yield _b64(bytes(pending))


def _embedded_part(att: Any, name: str, log: RebuildLog, depth: int) -> Iterator[bytes]:
    """An attached message, as a message/rfc822 part, where pypff exposes it as a sub-item."""
    embedded = None
    try:
        if att.number_of_sub_items > 0:
            embedded = att.get_sub_item(0)
    except _PFF_ERRORS:
        embedded = None
    if embedded is None or not hasattr(embedded, "number_of_attachments") or depth >= MAX_EMBED_DEPTH:
        log.problems.append(f"embedded message {name} not readable through pypff")
        yield _error_part(name, "embedded message not readable")
        return
    yield (f"Content-Type: message/rfc822; {_param('name', name)}\r\n"
           f"Content-Disposition: attachment; {_param('filename', name)}\r\n\r\n").encode()
    yield from rfc822_chunks(embedded, pff_props(embedded), log, depth + 1)


READERS: list[type] = [MsgReader, PstReader]
