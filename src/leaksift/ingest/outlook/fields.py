"""EmailFields of an Outlook message: from its stored transport headers where present, else from MAPI."""

from __future__ import annotations

import re
from dataclasses import dataclass
from email.utils import getaddresses, parseaddr, parsedate_to_datetime
from typing import Any

from ...model import EmailFields
from ..support.headers import decode_header_value
from .mapi import (PR_CLIENT_SUBMIT_TIME, PR_DELIVERY_TIME, PR_IN_REPLY_TO_ID, PR_INTERNET_MESSAGE_ID,
                   PR_INTERNET_REFERENCES, PR_SENDER_NAME, PR_SENT_REPRESENTING_NAME, Props, Recipient, iso,
                   sender_smtp, subject_of)

MAX_HEADER_FIELDS = 1_000

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


def unfold(value: str) -> str:
    return re.sub(r"\r\n(?=[ \t])", "", value).strip()


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
        out["date_raw"] = unfold(first["date"])
        out["date"] = _header_date(out["date_raw"])
    if "subject" in first:
        out["subject"] = decode_header_value(first["subject"])
    if "message-id" in first:
        out["message_id"] = unfold(first["message-id"]) or None
    if "in-reply-to" in first:
        ids = _MSG_ID.findall(unfold(first["in-reply-to"]))
        out["in_reply_to"] = ids[0] if ids else (unfold(first["in-reply-to"]) or None)
    if "references" in first:
        out["references"] = _MSG_ID.findall(unfold(first["references"]))
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
    out["date"] = iso(props.time(PR_CLIENT_SUBMIT_TIME) or props.time(PR_DELIVERY_TIME))
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
