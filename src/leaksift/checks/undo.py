"""Undoing what storage, mailboxes and mailing lists do to a signed message, before calling it altered.

A signature that fails only because a Unix mailbox stored LF line ends, an mbox escaped `From ` lines, or a
mailing list tagged the subject and appended a footer is not evidence of tampering. Each undo here is tried
only where there is a reason to (what ingest recorded, or a List-Id header), each is named, and the check says
which one made the signature verify:

  lf_to_crlf       LF line ends back to CRLF. dkimpy's parser always does this, so it is never a separate
                   attempt; it is named whenever the stored bytes have bare LFs.
  mboxrd_unescape  one `>` off every `>+From ` body line (mboxrd, reversible);
  mboxo_unescape   `>` off `>From ` body lines (mboxo, lossy: a line that was `>From ` before storage looks
                   the same, so subsets of those lines are tried too, up to MAX_MBOXO_LINES of them);
  list_footer      text a list appended after the signed body (the body hash is looked for at each line end
                   of the tail), or a footer MIME part added before the closing boundary;
  list_subject_tag a `[list] ` tag put in front of the Subject.
Removing header fields added above the signed ones (`drop_added_headers`) is not an innocent undo: when it is
what makes a signature verify, the shown field was added after signing, and dkim.py says so.
"""

from __future__ import annotations

import base64
import binascii
import itertools
import re
from dataclasses import dataclass, field
from typing import Iterator

from dkim.crypto import HASH_ALGORITHMS

from .dkimverify import ArchiveDKIM, Signature

MAX_MBOXO_LINES = 8  # 2**8 body hashes at most
MAX_MBOXO_SUBSET_BODY = 256 * 1024  # above this, only "every line" is tried: 2**8 hashes of a big body is slow
FOOTER_TAIL_BYTES = 64 * 1024  # a list footer is short; the hash is looked for in this tail only
FOOTER_TAIL_LINES = 400

_ESCAPED_LINE = re.compile(rb"^>+From ", re.M)
_MBOXO_LINE = re.compile(rb"^>From ", re.M)
_CRLF = re.compile(rb"\r\n")
_SUBJECT_TAG = re.compile(rb"^(\s*(?:(?:re|fwd?|aw|tr|sv|vs)\s*:\s*)*)\[[^\]\r\n]{1,80}\][ \t]*", re.I)
_CLOSE_DELIMITER = re.compile(rb"^--([^\r\n]{1,70}?)--[ \t]*\r?$", re.M)

# Header fields that RFC 5322 allows once: a second one above the signed one is what a reader sees.
SINGLETONS = (b"from", b"sender", b"reply-to", b"to", b"cc", b"subject", b"date", b"message-id")


@dataclass
class BodyFix:
    """A body variant whose hash is the signed bh=."""

    undo: list[str]
    removed: bytes = b""  # the footer text taken away, as it was in the body


@dataclass
class HeaderFix:
    undo: list[str]
    dropped: list[tuple[str, str]] = field(default_factory=list)  # (name, value) of header fields set aside


def mbox_variants(body: bytes) -> Iterator[tuple[str, bytes]]:
    """Unescaped bodies: mboxrd first (exact), then mboxo with every subset of its candidate lines."""
    if not _ESCAPED_LINE.search(body):
        return
    yield "mboxrd_unescape", _ESCAPED_LINE.sub(lambda m: m.group(0)[1:], body)
    starts = [m.start() for m in _MBOXO_LINE.finditer(body)]
    if not starts:
        return
    if len(starts) > MAX_MBOXO_LINES or len(body) > MAX_MBOXO_SUBSET_BODY:
        yield "mboxo_unescape", _MBOXO_LINE.sub(b"From ", body)
        return
    for size in range(len(starts), 0, -1):  # all lines first: the common case
        for chosen in itertools.combinations(starts, size):
            yield "mboxo_unescape", _drop_at(body, chosen)


def _drop_at(body: bytes, positions: tuple[int, ...]) -> bytes:
    """body without the byte at each position (the escaping `>`)."""
    out, prev = [], 0
    for pos in positions:
        out.append(body[prev:pos])
        prev = pos + 1
    out.append(body[prev:])
    return b"".join(out)


def signed_prefix(dk: ArchiveDKIM, sig: Signature, body: bytes) -> int | None:
    """The length of the canonical body prefix, ending at a line end in the tail, whose hash is bh=; or None.

    One pass: the hash runs along the canonical body and is copied at each line end. A prefix ending in an
    empty line is skipped: canonicalisation never ends a body so, and the shorter prefix was already tried.
    """
    canon = dk.canonical_body(sig, body)
    want = _decoded_bh(sig)
    if want is None:
        return None
    floor = max(0, len(canon) - FOOTER_TAIL_BYTES)
    ends = [m.end() for m in _CRLF.finditer(canon, floor)][-FOOTER_TAIL_LINES:]
    if not ends:
        return None
    hasher = _hasher(sig)
    hasher.update(canon[:ends[0]])
    prev = ends[0]
    for end in ends:
        hasher.update(canon[prev:end])
        prev = end
        if end < len(canon) and not canon.endswith(b"\r\n\r\n", 0, end) and hasher.copy().digest() == want:
            return end
    return None


def drop_last_part(body: bytes) -> tuple[bytes, bytes] | None:
    """(body without its last MIME part, the part) when the body ends with a closing boundary; else None.

    Lists that add a footer to a multipart/mixed message add it as one more part before `--boundary--`.
    """
    closes = list(_CLOSE_DELIMITER.finditer(body))
    if not closes:
        return None
    close = closes[-1]
    delimiter = b"\r\n--" + close.group(1) + b"\r\n"
    start = body.rfind(delimiter, 0, close.start())
    if start < 0:
        return None
    # The delimiter line that opened the last part goes with it; the CRLF before it stays.
    return body[:start + 2] + body[close.start():], body[start + 2:close.start()]


def body_fix(dk: ArchiveDKIM, sig: Signature, transforms: list[str], is_list: bool) -> BodyFix | None:
    """The first undo, or pair of undos, after which the body hash matches; None if none does."""
    bases: list[tuple[list[str], bytes]] = [([], dk.body)]
    if "mbox_from_escaped" in transforms:
        bases += [([name], body) for name, body in mbox_variants(dk.body)]
    for undo, body in bases[1:]:
        if dk.body_matches(sig, body):
            return BodyFix(undo)
    if not is_list or sig.length is not None:  # with l=, text added after the signed length already verifies
        return None
    for undo, body in bases:
        end = signed_prefix(dk, sig, body)
        if end is not None:
            return BodyFix(undo + ["list_footer"], _footer_text(dk, sig, body, end))
        dropped = drop_last_part(body)
        if dropped is not None and dk.body_matches(sig, dropped[0]):
            return BodyFix(undo + ["list_footer"], dropped[1])
    return None


def _footer_text(dk: ArchiveDKIM, sig: Signature, body: bytes, end: int) -> bytes:
    """The canonical text after the signed prefix: what the list appended."""
    return dk.canonical_body(sig, body)[end:]


def untag_subject(headers: list[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]] | None:
    """The headers with a list's `[tag] ` taken off the (last) Subject; None if it has no tag."""
    for i in range(len(headers) - 1, -1, -1):
        name, value = headers[i]
        if name.lower() == b"subject":
            new = _SUBJECT_TAG.sub(lambda m: m.group(1), value, count=1)
            if new == value:
                return None
            return headers[:i] + [(name, new if new.startswith((b" ", b"\t")) else b" " + new)] + headers[i + 1:]
    return None


def added_singletons(headers: list[tuple[bytes, bytes]], include: tuple[bytes, ...]) -> dict[bytes, int]:
    """Singleton field name -> how many of its shown instances the signature cannot cover (the topmost ones).

    dkimpy (like the RFC) picks signed instances from the bottom up, as many as h= names them, so the
    instances above those are unsigned; readers show the topmost one.
    """
    out = {}
    for name in SINGLETONS:
        shown = sum(1 for n, _ in headers if n.lower() == name)
        signed = include.count(name)
        if shown > 1 and shown > signed:
            out[name] = shown - signed
    return out


def drop_added_headers(headers: list[tuple[bytes, bytes]], names: list[bytes],
                       keep: int = 1) -> tuple[list[tuple[bytes, bytes]], list[tuple[bytes, bytes]]] | None:
    """The headers with the topmost instances of each duplicated singleton removed, keeping the bottom `keep`.

    Returns (headers, removed) or None when nothing is duplicated.
    """
    drop: set[int] = set()
    for name in names:
        where = [i for i, (n, _) in enumerate(headers) if n.lower() == name]
        if len(where) > keep:
            drop.update(where[:len(where) - keep])
    if not drop:
        return None
    return ([h for i, h in enumerate(headers) if i not in drop], [h for i, h in enumerate(headers) if i in drop])


def _decoded_bh(sig: Signature) -> bytes | None:
    try:
        return base64.b64decode(sig.body_hash_tag)
    except binascii.Error:
        return None


def _hasher(sig: Signature):  # hashlib's object; its type is private
    return HASH_ALGORITHMS[sig.algorithm.encode()]()
