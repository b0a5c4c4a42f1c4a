"""What the item page needs from an email's exact bytes: its HTML body made harmless, and its attachments' bytes.

The bytes come from the case (never from a path); parsing is the standard library's, bounded by the size the
case kept (Limits.max_raw_email_bytes)."""

from __future__ import annotations

import email
import email.policy
import hashlib
import re
from dataclasses import dataclass
from email.message import EmailMessage
from urllib.parse import urlsplit

import nh3

MAX_HTML_CHARS = 2_000_000
# Tags a message body needs to read well; nothing that loads, runs or submits anything.
TAGS = {"a", "abbr", "b", "blockquote", "br", "caption", "code", "dd", "del", "div", "dl", "dt", "em", "font",
        "h1", "h2", "h3", "h4", "h5", "h6", "hr", "i", "img", "ins", "li", "ol", "p", "pre", "q", "s", "small",
        "span", "strike", "strong", "sub", "sup", "table", "tbody", "td", "tfoot", "th", "thead", "tr", "u", "ul"}
ATTRIBUTES = {"img": {"src", "alt", "width", "height", "title"}, "a": {"title"}, "td": {"colspan", "rowspan"},
              "th": {"colspan", "rowspan"}, "font": {"color"}, "*": {"lang", "dir"}}


@dataclass
class Blocked:
    """A remote reference the sanitiser removed: shown to the reader, never fetched."""

    tag: str
    url: str


def message_bytes(raw: bytes, mime: str | None) -> bytes:
    """The RFC 822 message inside what the container held (an .emlx wraps it in a byte count and a plist)."""
    if mime == "message/x-emlx":
        m = re.match(rb"\s*(\d+)\s*\r?\n", raw)
        if m:
            start = m.end()
            return raw[start:start + int(m.group(1))]
    return raw


def parse(raw: bytes, mime: str | None) -> EmailMessage:
    msg = email.message_from_bytes(message_bytes(raw, mime), policy=email.policy.default)
    assert isinstance(msg, EmailMessage)
    return msg


def html_body(msg: EmailMessage) -> str | None:
    part = msg.get_body(preferencelist=("html",))
    if part is None or part.get_content_type() != "text/html":
        return None
    try:
        text = part.get_content()
    except (LookupError, ValueError):  # an unknown charset or a broken transfer encoding
        payload = part.get_payload(decode=True) or b""
        text = payload.decode("utf-8", "replace") if isinstance(payload, bytes) else str(payload)
    return text[:MAX_HTML_CHARS]


def sanitise(html: str) -> tuple[str, list[Blocked]]:
    """nh3 keeps text and harmless markup; every URL that would load something is dropped and listed instead.

    Web schemes pass nh3's own URL filter only so that `keep` sees them: it drops every src but inline images."""
    blocked: list[Blocked] = []

    def keep(tag: str, attr: str, value: str) -> str | None:
        if attr == "src":
            if value.startswith("data:image/"):
                return value
            blocked.append(Blocked(tag, value[:300]))
            return None
        return value

    clean = nh3.clean(html, tags=TAGS, clean_content_tags={"script", "style", "title", "head"},
                      attributes=ATTRIBUTES, attribute_filter=keep, url_schemes={"data", "http", "https", "cid", "ftp"},
                      link_rel=None, strip_comments=True)
    return clean, blocked


def blocked_hosts(blocked: list[Blocked]) -> list[str]:
    hosts = []
    for b in blocked:
        host = urlsplit(b.url).hostname or b.url[:60]
        if host not in hosts:
            hosts.append(host)
    return hosts


def find_part(msg: EmailMessage, sha256: str, cap: int = 500) -> bytes | None:
    """The decoded bytes of the MIME part whose content has this digest (an attachment the case lists)."""
    for n, part in enumerate(msg.walk()):
        if n >= cap:
            break
        if part.is_multipart():
            continue
        payload = part.get_payload(decode=True)
        if isinstance(payload, bytes) and hashlib.sha256(payload).hexdigest() == sha256:
            return payload
    return None
