"""A pst message rebuilt as RFC 822: its transport headers as stored (else headers made from MAPI), then a
MIME body of our own with the text bodies and every attachment as a base64 part, streamed in chunks."""

from __future__ import annotations

import base64
import hashlib
import re
from dataclasses import dataclass, field
from email.header import Header
from email.utils import format_datetime, formataddr
from typing import Any, Iterator
from urllib.parse import quote

from ..support.names import UniqueNames
from ..support.rtf import rtf_to_text
from .body import decompress_rtf
from .fields import split_header_fields, unfold
from .mapi import (ATTACH_EMBEDDED_MSG, PFF_ERRORS, PR_ATTACH_CONTENT_ID, PR_ATTACH_METHOD, PR_ATTACH_MIME_TAG,
                   PR_CLIENT_SUBMIT_TIME, PR_DELIVERY_TIME, PR_IN_REPLY_TO_ID, PR_INTERNET_CPID,
                   PR_INTERNET_MESSAGE_ID, PR_INTERNET_REFERENCES, PR_MESSAGE_CODEPAGE, PR_SENDER_NAME,
                   PR_SENT_REPRESENTING_NAME, PffProps, Props, Recipient, attachment_name, charset_of_code_page,
                   pff_message, pff_props, recipient_from, sender_smtp, subject_of)

ATTACH_CHUNK = 57 * 18_396  # ~1 MiB, a multiple of 57 so each chunk encodes to whole base64 lines


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
    for n in range(1, attachment_count(message, log) + 1):
        yield f"\r\n--{boundary}\r\n".encode()
        yield from _attachment_part(message, n, names, log, depth)
    yield f"\r\n--{boundary}--\r\n".encode()


def _transport_headers(message: Any) -> str | None:
    try:
        value = message.transport_headers
    except PFF_ERRORS:
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
            originals.setdefault(low, unfold(value))
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
    except PFF_ERRORS:
        return []


def _body(message: Any, attr: str) -> bytes | None:
    try:
        value = getattr(message, attr)
    except PFF_ERRORS:
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


def attachment_count(message: Any, log: RebuildLog) -> int:
    try:
        return message.number_of_attachments
    except PFF_ERRORS as e:
        log.problems.append(f"attachments unreadable: {pff_message(e)}")
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
    except PFF_ERRORS as e:
        log.problems.append(f"attachment {n} unreadable: {pff_message(e)}")
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
    except PFF_ERRORS as e:
        log.problems.append(f"attachment {n} ({name}) has no readable data: {pff_message(e)}")
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
    except PFF_ERRORS as e:
        log.problems.append(f"attachment {name}: read failed after {size - remaining} bytes: {pff_message(e)}")
    if pending:
        yield _b64(bytes(pending))


def _embedded_part(att: Any, name: str, log: RebuildLog, depth: int) -> Iterator[bytes]:
    """An attached message, as a message/rfc822 part, where pypff exposes it as a sub-item."""
    embedded = None
    try:
        if att.number_of_sub_items > 0:
            embedded = att.get_sub_item(0)
    except PFF_ERRORS:
        embedded = None
    if embedded is None or not hasattr(embedded, "number_of_attachments") or depth >= MAX_EMBED_DEPTH:
        log.problems.append(f"embedded message {name} not readable through pypff")
        yield _error_part(name, "embedded message not readable")
        return
    yield (f"Content-Type: message/rfc822; {_param('name', name)}\r\n"
           f"Content-Disposition: attachment; {_param('filename', name)}\r\n\r\n").encode()
    yield from rfc822_chunks(embedded, pff_props(embedded), log, depth + 1)
