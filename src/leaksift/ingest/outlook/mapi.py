"""MAPI properties of Outlook objects (message, attachment, recipient), read the same way from a .msg
(extract-msg) and from a .pst (pypff), and the helpers that turn them into metadata and names."""

from __future__ import annotations

import codecs
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Iterable, Protocol

from ..support.names import safe_name

RESTORED = "outlook_restored"  # transform: the body is as Outlook re-stored it, not as it travelled
MAX_META_CHARS = 4_096  # one MAPI string in metadata
MAX_META_BINARY = 256  # bytes of one MAPI binary property shown (as hex)
# What pypff raises on a damaged store. MemoryError: pypff's answer when it cannot build an item object from
# damaged data (not a real shortage); AttributeError: an item that is not the type its folder says.
PFF_ERRORS = (OSError, ValueError, TypeError, OverflowError, AttributeError, MemoryError)


def pff_message(e: Exception) -> str:
    # libpff's messages chain every frame of the C call stack; the last one says what failed.
    return " ".join(str(e).split())[-400:]


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
        except PFF_ERRORS:
            return None
        if entry is None or entry.value_type not in value_types:
            return None
        return entry

    def string(self, tag: int) -> str | None:
        entry = self._entry(tag, (0x1F, 0x1E))
        try:
            return _clean_string(entry.data_as_string) if entry is not None else None
        except PFF_ERRORS:
            return None

    def binary(self, tag: int) -> bytes | None:
        entry = self._entry(tag, (0x102,))
        try:
            return entry.data if entry is not None else None
        except PFF_ERRORS:
            return None

    def integer(self, tag: int) -> int | None:
        entry = self._entry(tag, (0x2, 0x3, 0x14, 0xB))
        try:
            if entry is None:
                return None
            return int(entry.data_as_boolean) if entry.value_type == 0xB else entry.data_as_integer
        except PFF_ERRORS:
            return None

    def time(self, tag: int) -> datetime | None:
        entry = self._entry(tag, (0x40,))
        try:
            return _valid_time(entry.data_as_datetime) if entry is not None else None
        except PFF_ERRORS:
            return None


def pff_props(item: Any, index: int = 0) -> PffProps:
    """The properties of a pypff item (its first record set holds them)."""
    try:
        if item.number_of_record_sets > index:
            return PffProps(item.get_record_set(index))
    except PFF_ERRORS:
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


def iso(value: datetime | None) -> str | None:
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
            value = iso(props.time(tag))
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


# --- Code pages ---------------------------------------------------------------------------------------------

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


def attachment_name(props: Props, n: int) -> str:
    """Long file name, else short name, else display name, else attachment-N; without directories."""
    for tag in (PR_ATTACH_LONG_FILENAME, PR_ATTACH_FILENAME, PR_DISPLAY_NAME):
        name = safe_name(props.string(tag) or "")
        if name:
            return name
    return f"attachment-{n}"
