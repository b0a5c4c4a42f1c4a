"""DomainKeys (RFC 4870), DKIM's predecessor: Yahoo! and Gmail signed mail with it until about 2008.

dkimpy does not read `DomainKey-Signature`, and mail of 2004-2009 in a leak may carry nothing else. The format
is simpler than DKIM's: one RSA-SHA1 signature over the header fields below the signature header (those h=
names, or all of them), an empty line, and the body, canonicalised "simple" (as is, trailing empty lines
dropped) or "nofws" (every space, tab and folding line break removed). There is no separate body hash, so a
failure cannot be split into body and headers. The sending address (Sender, else From, among the signed
fields) must lie in the signing domain, and the key record's g= must match its local part.

SHA-1 and the short keys of that era mean a DomainKeys signature supports a message but never proves it.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from dataclasses import dataclass
from email.utils import getaddresses

from dkim.crypto import DigestTooLargeError, RSASSA_PKCS1_v1_5_verify
from dkim.util import InvalidTagValueList, parse_tag_value

from .dkimverify import MAX_SIGNATURES, KeyUnusable, PublicKey, SignerTags, granularity_matches

DK_HEADER = b"domainkey-signature"


class DkInvalid(Exception):
    """The DomainKey-Signature cannot be evaluated."""


@dataclass
class DkSignature(SignerTags):
    position: int  # index of the signature header among the message's header fields
    tags: dict[bytes, bytes]
    method: str  # simple or nofws
    include: tuple[bytes, ...] | None  # h=, lower-case; None: every field below the signature


def dk_positions(headers: list[tuple[bytes, bytes]]) -> list[int]:
    return [i for i, (n, _) in enumerate(headers) if n.lower() == DK_HEADER][:MAX_SIGNATURES]


def parse_dk(headers: list[tuple[bytes, bytes]], position: int) -> DkSignature:
    """The DomainKey-Signature at `position`, or DkInvalid."""
    try:
        tags = parse_tag_value(headers[position][1])
    except InvalidTagValueList as e:
        raise DkInvalid(f"signature syntax error: {type(e).__name__} {e}") from e
    for required in (b"b", b"d", b"s"):
        if not tags.get(required):
            raise DkInvalid(f"missing {required.decode()}=")
    if tags.get(b"a", b"rsa-sha1").lower() != b"rsa-sha1":
        raise DkInvalid(f"unknown algorithm a={tags[b'a'].decode('ascii', 'replace')}")
    # "dns" is the only query method; Yahoo! and Mail::DKIM treat a missing q= as that default.
    if tags.get(b"q", b"dns").lower() != b"dns":
        raise DkInvalid("q= is not dns")
    method = tags.get(b"c", b"simple").lower().decode("ascii", "replace")
    if method not in ("simple", "nofws"):
        raise DkInvalid(f"unknown canonicalization c={method}")
    include = None
    if b"h" in tags:
        include = tuple(h.strip().lower() for h in re.sub(rb"\s+", b"", tags[b"h"]).split(b":") if h.strip())
    return DkSignature(position, tags, method, include)


def signed_fields(headers: list[tuple[bytes, bytes]], sig: DkSignature) -> list[tuple[bytes, bytes]]:
    """The fields below the signature, in h= order when h= is there, as signers and Mail::DKIM present them.

    A name listed once takes every instance of that field below the signature (RFC 4870 3.3: a verifier must
    include all occurrences); a name listed n times takes the last n instances, one per mention.
    """
    below = headers[sig.position + 1:]
    if sig.include is None:
        return below
    by_name: dict[bytes, list[tuple[bytes, bytes]]] = {}
    for n, v in below:
        by_name.setdefault(n.lower(), []).append((n, v))
    left = {name: sig.include.count(name) for name in sig.include}
    picked: list[list[tuple[bytes, bytes]]] = []
    for name in reversed(sig.include):
        left[name] -= 1
        pool = by_name.get(name, [])
        if left[name] > 0:
            picked.append([pool.pop()] if pool else [])
        else:
            picked.append(list(pool))
            pool.clear()
    return [f for group in reversed(picked) for f in group]


def signed_data(headers: list[tuple[bytes, bytes]], body: bytes, sig: DkSignature) -> bytes:
    """What the signer hashed: canonical signed fields, then the empty line and the body unless it is empty."""
    fields = signed_fields(headers, sig)
    if sig.method == "nofws":
        head = b"".join(re.sub(rb"[ \t\r\n]", b"", n + b":" + v) + b"\r\n" for n, v in fields)
        body = re.sub(rb"[ \t]", b"", body)
    else:
        head = b"".join(n + b":" + v for n, v in fields)
    lines = (b"\r\n" + body)
    while lines.endswith(b"\r\n\r\n"):  # trailing empty lines do not count; the separator is one of them
        lines = lines[:-2]
    return head + (b"" if lines == b"\r\n" else lines)


def sending_address(headers: list[tuple[bytes, bytes]], sig: DkSignature) -> str | None:
    """Sender if signed, else From: the address the signing domain vouches for."""
    fields = signed_fields(headers, sig)
    for wanted in (b"sender", b"from"):
        for n, v in fields:
            if n.lower() == wanted:
                addrs = [a for _, a in getaddresses([v.decode("utf-8", "replace")]) if "@" in a]
                return addrs[0] if addrs else None
    return None


def dk_verify(headers: list[tuple[bytes, bytes]], body: bytes, sig: DkSignature, key: PublicKey) -> bool:
    if key.kind != "rsa":
        raise KeyUnusable(f"DomainKeys needs an RSA key, the record holds {key.kind}")
    try:
        signature = base64.b64decode(re.sub(rb"\s+", b"", sig.tags[b"b"]))
    except binascii.Error:
        return False
    try:
        return RSASSA_PKCS1_v1_5_verify(hashlib.sha1(signed_data(headers, body, sig)), signature, key.key)
    except (DigestTooLargeError, TypeError, ValueError):
        return False


def dk_refusal(headers: list[tuple[bytes, bytes]], sig: DkSignature, key: PublicKey) -> str | None:
    """Why the signing domain does not vouch for this message's sender under this key, or None."""
    address = sending_address(headers, sig)
    if address is None:
        return "no signed Sender or From address"
    local, _, domain = address.rpartition("@")
    domain = domain.lower().rstrip(".")
    if domain != sig.domain and not domain.endswith("." + sig.domain):
        return f"the sending address {address} is not in the signing domain {sig.domain}"
    # Unlike DKIM's, an empty DomainKeys g= restricts nothing (RFC 4870 3.2.3: "if present with a non-zero
    # length value"); a `*` is read as a wildcard, as the signers of the time wrote and Mail::DKIM reads it.
    if key.tags.get(b"g") and not granularity_matches(key.tags[b"g"].decode("ascii", "replace"), local):
        return f"key granularity g={key.tags[b'g'].decode('ascii', 'replace')} does not match {address}"
    return None
