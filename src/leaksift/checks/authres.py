"""Authentication-Results, ARC-Authentication-Results and Received-SPF: what servers wrote, recorded, never proof.

These fields are plain text. A receiving server wrote them, but so can anyone who edits the file: a forger
adds `dkim=pass` as easily as a word of the body. They are kept as findings (so a reader sees what the servers
said) with effect info. Only an ARC-Authentication-Results sealed in a valid ARC chain carries weight, and the
ARC check gives it that weight, not this module.
"""

from __future__ import annotations

import re
from email.errors import HeaderParseError
from email.header import decode_header, make_header

from ..model import Finding

RECORDED = (b"authentication-results", b"arc-authentication-results", b"received-spf")
MAX_RECORDED = 10  # per field name: a hostile message may repeat them thousands of times
MAX_TEXT = 2000

_COMMENT = re.compile(r"\([^()]*\)")
_DKIM_RESULT = re.compile(r"^\s*dkim\s*=\s*([a-z]+)", re.I)
_HEADER_D = re.compile(r"\bheader\.d\s*=\s*\"?([^\s;\"]+)", re.I)
_HEADER_I = re.compile(r"\bheader\.i\s*=\s*\"?([^\s;\"]+)", re.I)


def header_text(value: bytes) -> str:
    """A header value unfolded, as text."""
    return re.sub(r"\s+", " ", value.decode("utf-8", "replace")).strip()


def display_text(value: bytes) -> str:
    """A header value as a mail program shows it: unfolded, RFC 2047 encoded words decoded."""
    text = header_text(value)
    try:
        return str(make_header(decode_header(text)))
    except (HeaderParseError, LookupError, UnicodeDecodeError, ValueError):
        return text


def recorded_findings(headers: list[tuple[bytes, bytes]], check: str) -> list[Finding]:
    """One info finding per Authentication-Results, ARC-Authentication-Results and Received-SPF field."""
    found: list[Finding] = []
    for wanted in RECORDED:
        values = [header_text(v) for n, v in headers if n.lower() == wanted]
        for position, text in enumerate(values[:MAX_RECORDED]):
            label = _LABEL[wanted]
            found.append(Finding(
                check, f"A server wrote {label} into this message; it is recorded as text, not counted as proof.",
                "info", {"field": label, "position": position, "text": text[:MAX_TEXT], "not_proof": True,
                         "dkim": dkim_results(text) if wanted != b"received-spf" else []}))
        if len(values) > MAX_RECORDED:
            found.append(Finding(check, f"{len(values) - MAX_RECORDED} more {_LABEL[wanted]} fields were not "
                                        f"recorded.", "info", {"field": _LABEL[wanted], "skipped": len(values)}))
    return found


_LABEL = {b"authentication-results": "Authentication-Results",
          b"arc-authentication-results": "ARC-Authentication-Results", b"received-spf": "Received-SPF"}


def dkim_results(text: str) -> list[dict[str, str | None]]:
    """The dkim=RESULT entries of an (ARC-)Authentication-Results text, with the domain each is about."""
    out = []
    for part in _COMMENT.sub(" ", text).split(";"):
        m = _DKIM_RESULT.match(part)
        if not m:
            continue
        d = _HEADER_D.search(part)
        i = _HEADER_I.search(part)
        domain = d.group(1) if d else (i.group(1).rpartition("@")[2] if i else None)
        out.append({"result": m.group(1).lower(), "domain": domain.lower().rstrip(".") if domain else None})
    return out


def passes_for(text: str, domain: str) -> bool:
    """Whether the text says dkim=pass for `domain` (a header.i under the domain counts)."""
    domain = domain.lower().rstrip(".")
    return any(r["result"] == "pass" and r["domain"] is not None
               and (r["domain"] == domain or r["domain"].endswith("." + domain))
               for r in dkim_results(text))
